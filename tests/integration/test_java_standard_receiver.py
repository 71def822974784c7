"""The Java Standard Webhooks receiver of docs/receivers.md (tests/java/StandardReceiver.java, JDK only)
verifies real deliveries through a real worker before, during and after a rotation of the secret, and
refuses a replayed request whose timestamp is outside the 5-minute window."""

import re
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from customers.models import Customer
from webhooks import services
from webhooks.content.signing import standard_sign
from webhooks.models import Attempt, Delivery, Webhook

from ..factories import make_customers
from ..support.ports import free_port
from ..support.prerequisites import APT, require_executable
from ..support.waiting import wait_until
from ..support.workers import running_worker

pytestmark = [pytest.mark.java, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JAVA_SOURCE = Path(__file__).resolve().parents[1] / "java" / "StandardReceiver.java"
LINE = re.compile(r"^([0-9a-f]{32}) ok=(true|false) signatures=(\d+)$")
TEMPLATE = '{"customerId":${customerId},"name":"${customer.name}","note":"满 100 减 20 <限时> & \'VIP\'"}'


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory):
    javac = require_executable("javac", install=f"{APT} default-jdk-headless")
    require_executable("java", install=f"{APT} default-jdk-headless")
    out = tmp_path_factory.mktemp("java-standard")
    compiled = subprocess.run(
        [javac, "-nowarn", "-d", str(out), str(JAVA_SOURCE)], capture_output=True, text=True, timeout=120
    )
    assert compiled.returncode == 0, compiled.stderr
    return str(out)


class JavaReceiver:
    def __init__(self, classpath: str, port: int, *secrets: str):
        self.process = subprocess.Popen(
            ["java", "-cp", classpath, "StandardReceiver", str(port), *secrets],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(30):
            self.stop()
            raise AssertionError("Java receiver did not start:\n" + "\n".join(self.lines))

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("READY"):
                self._ready.set()

    def results(self) -> list[tuple[str, bool, int]]:
        return [
            (m.group(1), m.group(2) == "true", int(m.group(3))) for m in map(LINE.match, self.lines) if m is not None
        ]

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


def test_java_receiver_verifies_before_during_and_after_a_rotation_and_refuses_a_replay(java_classes, redis_conn):
    customers = make_customers(4)
    for customer, name in zip(customers, ["王 小明", 'quote " back\\ slash', "李\u3000四", "emoji 😀"], strict=True):
        customer.name = name
    Customer.objects.bulk_update(customers, ["name"])
    port = free_port()
    webhook, first = services.webhook_save(
        webhook=Webhook(
            name="Java", url=f"http://127.0.0.1:{port}/hook", body_template=TEMPLATE, standard_webhooks=True
        )
    )
    receiver = JavaReceiver(java_classes, port, first)
    try:
        with running_worker():
            before = _send(webhook, customers)
            webhook, second = services.webhook_standard_secret_rotate(webhook=webhook, overlap=timedelta(hours=24))
            during_old = _send(webhook, customers[:2])  # the receiver still knows only the old secret
            receiver.stop()
            receiver = JavaReceiver(java_classes, port, second)
            during_new = _send(webhook, customers[2:])  # it switched to the new one
            services.webhook_rotation_end(webhook=webhook)
            after = _send(webhook, customers[:1])
            receiver.stop()
            receiver = JavaReceiver(java_classes, port, first)  # a receiver left on the old secret
            stale = _send(webhook, customers[1:2])
        results = {delivery_id: (ok, count) for delivery_id, ok, count in receiver.results()}
        assert Delivery.objects.filter(pk__in=before + during_old + during_new + after, status="succeeded").count() == 9
        assert results[stale[0]] == (False, 1)
        assert Delivery.objects.get(pk=stale[0]).last_status_code == 401

        # A captured request replayed 6 minutes later: correctly signed, but refused for its timestamp.
        delivery = Delivery.objects.get(pk=after[0])
        old = int(time.time()) - 360
        headers = {
            "webhook-id": delivery.pk,
            "webhook-timestamp": str(old),
            "webhook-signature": standard_sign(first, delivery.pk, old, delivery.body),
            "Content-Type": "application/json; charset=utf-8",
        }
        url = f"http://127.0.0.1:{port}/hook"
        assert requests.post(url, data=delivery.body.encode(), headers=headers, timeout=5).status_code == 401
        fresh = int(time.time())
        headers.update(
            {
                "webhook-timestamp": str(fresh),
                "webhook-signature": standard_sign(first, delivery.pk, fresh, delivery.body),
            }
        )
        assert requests.post(url, data=delivery.body.encode(), headers=headers, timeout=5).status_code == 204
    finally:
        receiver.stop()
    counts = [attempt.request_headers["webhook-signature"].count("v1,") for attempt in _attempts(during_old)]
    assert counts == [2, 2]


def _attempts(ids):
    return list(Attempt.objects.filter(delivery_id__in=ids).order_by("started_at"))
