"""The public JavaScript `standardwebhooks` package (npm, tests/js/receiver.js under Node.js) verifies
real deliveries through a real worker, also while the secret rotates, and refuses a replay outside the
5-minute window. bin/test installs the package (tests/js/package-lock.json) with npm."""

import re
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from webhooks import services
from webhooks.content.signing import standard_sign
from webhooks.models import Delivery, Webhook

from ..factories import make_customers
from ..support.ports import free_port
from ..support.prerequisites import APT, require_executable, require_files
from ..support.waiting import wait_until
from ..support.workers import running_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JS_DIR = Path(__file__).resolve().parents[1] / "js"
LINE = re.compile(r"^([0-9a-f]{32}) ok=(true|false)(?: (.*))?$")


@pytest.fixture
def node():
    node = require_executable("node", install=f"{APT} nodejs npm")
    require_files([JS_DIR / "node_modules" / "standardwebhooks"], install="npm ci --prefix tests/js (bin/test runs it)")
    return node


class NodeReceiver:
    def __init__(self, node: str, port: int, secret: str):
        self.process = subprocess.Popen(
            [node, str(JS_DIR / "receiver.js"), str(port), secret],
            cwd=JS_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(20):
            self.stop()
            raise AssertionError("Node receiver did not start:\n" + "\n".join(self.lines))

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("READY"):
                self._ready.set()

    def results(self) -> dict[str, tuple[bool, str]]:
        return {m.group(1): (m.group(2) == "true", m.group(3) or "") for m in map(LINE.match, self.lines) if m}

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(5)


def _send(webhook, customers) -> list[str]:
    ids = [services.message_test_send(webhook=webhook, customer=customer).pk for customer in customers]
    wait_until(
        lambda: Delivery.objects.filter(pk__in=ids, status__in=Delivery.FINAL_STATUSES).count() == len(ids),
        timeout=30,
        message="the deliveries final",
    )
    return ids


def test_the_npm_package_verifies_real_deliveries_and_refuses_a_replay(node, redis_conn):
    customers = make_customers(3)
    port = free_port()
    template = '{"customerId":${customerId},"name":"${customer.name}","note":"满 100 减 20 & <VIP>"}'
    webhook, secret = services.webhook_save(
        webhook=Webhook(name="JS", url=f"http://127.0.0.1:{port}/hook", body_template=template, standard_webhooks=True)
    )
    receiver = NodeReceiver(node, port, secret)
    try:
        with running_worker():
            before = _send(webhook, customers)
            webhook, _new = services.webhook_standard_secret_rotate(webhook=webhook, overlap=timedelta(hours=1))
            during = _send(webhook, customers[:1])  # the receiver still holds the old secret
            services.webhook_rotation_end(webhook=webhook)
            after = _send(webhook, customers[:1])
        results = receiver.results()
        assert all(results[delivery_id] == (True, "") for delivery_id in before + during), receiver.lines
        assert Delivery.objects.filter(pk__in=before + during, status="succeeded").count() == 4
        # The overlap is over: a receiver left on the old secret refuses.
        assert results[after[0]][0] is False
        assert Delivery.objects.get(pk=after[0]).last_status_code == 401

        delivery = Delivery.objects.get(pk=before[0])
        url = f"http://127.0.0.1:{port}/hook"
        old = int(time.time()) - 360
        headers = {
            "webhook-id": delivery.pk,
            "webhook-timestamp": str(old),
            "webhook-signature": standard_sign(secret, delivery.pk, old, delivery.body),
        }
        assert requests.post(url, data=delivery.body.encode(), headers=headers, timeout=5).status_code == 401
        wait_until(lambda: len(receiver.lines) >= 7, timeout=5, message="the receiver's line")
        assert receiver.lines[-1].endswith("Message timestamp too old")
    finally:
        receiver.stop()
