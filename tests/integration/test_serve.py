"""bin/serve end to end, as production runs it: DEBUG off, gunicorn, whitenoise, a hub worker with its
scheduler, against the suite's database (PostgreSQL in CI's second pass); then SIGTERM stops it all."""

import contextlib
import gzip
import http.cookiejar
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.contrib.auth import get_user_model

from webhooks.models import Delivery

from ..factories import make_customers, make_webhook
from ..support.ports import free_port
from ..support.waiting import wait_until
from ..support.workers import ROOT, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "serve-test-Passw0rd!"


class Browser:
    """Just enough of a browser: cookies, the CSRF token, redirects followed, any status returned."""

    def __init__(self, base: str):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, path, data=None, headers=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def csrf(self) -> str:
        return next(cookie.value for cookie in self.cookies if cookie.name == "csrftoken")


def test_bin_serve_runs_web_and_workers_with_debug_off_and_stops_on_sigterm(receiver, redis_conn, tmp_path):
    user = get_user_model().objects.create_superuser("operator", "op@example.com", PASSWORD)
    assert user.pk
    webhook = make_webhook(receiver.url(), secret_key="s3cr3t")
    customer = make_customers(1)[0]
    port = free_port()
    env = worker_env(
        DJANGO_SETTINGS_MODULE="webhookhub.settings",
        ENV_FILE=str(tmp_path / "no.env"),
        DEBUG="0",
        PORT=port,
        ALLOWED_HOSTS="127.0.0.1",
        STATIC_ROOT=str(tmp_path / "static"),
        # bin/serve empties this directory at start: the test's own, not the checkout's var/prometheus.
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        WEB_CONCURRENCY=1,
        WORKER_COUNT=1,
        STOP_TIMEOUT=20,
        METRICS_TOKEN="serve-metrics-token",
        LANGUAGE_CODE="en",
    )
    started = time.monotonic()
    serve = subprocess.Popen(
        [str(ROOT / "bin" / "serve")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(serve.stdout), daemon=True)
    reader.start()
    log = lambda: "".join(lines)  # noqa: E731
    pids: list[int] = []
    try:
        pid_line = wait_until(
            lambda: (serve.poll() is None and re.search(r"pids ([\d ]+)", log())) or serve.poll() is not None,
            timeout=90,
            message="bin/serve to start its processes",
        )
        assert serve.poll() is None, log()[-3000:]
        pids = [int(pid) for pid in pid_line.group(1).split()]
        assert len(pids) == 2
        browser = Browser(f"http://127.0.0.1:{port}")
        wait_until(lambda: _answers(browser), timeout=30, interval=0.2, message="gunicorn answering")

        # Log in through the admin's own form, CSRF and all.
        status, _headers, page = browser.request("/admin/login/")
        assert status == 200
        assert b"csrfmiddlewaretoken" in page
        status, _headers, page = browser.request(
            "/admin/login/?next=/admin/",
            {"username": "operator", "password": PASSWORD, "csrfmiddlewaretoken": browser.csrf(), "next": "/admin/"},
        )
        assert status == 200, page[:500]
        assert b"WebhookHub" in page, page[:500]
        assert b"operator" in page, page[:500]

        # DEBUG off: static files are hashed by collectstatic and served, compressed, by whitenoise.
        stylesheet = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
        assert stylesheet, page[:2000]
        status, headers, css = browser.request(stylesheet.group(1).decode(), headers={"Accept-Encoding": "gzip"})
        assert status == 200
        assert headers["Content-Type"].startswith("text/css")
        assert headers.get("Content-Encoding") == "gzip"
        assert b"body" in gzip.decompress(css)
        assert "immutable" in headers.get("Cache-Control", "")
        # Unknown pages are plain 404s, not Django's debug page.
        status, _headers, missing = browser.request("/admin/no-such-page/")
        assert status == 404
        assert b"Django tried these URL patterns" not in missing

        for path in (
            "/admin/webhooks/webhook/",
            f"/admin/webhooks/webhook/{webhook.pk}/change/",
            "/admin/webhooks/delivery/",
            "/admin/customers/customer/",
        ):
            status, _headers, _page = browser.request(path)
            assert status == 200, path

        # A test send from the admin, delivered by the hub worker to the receiver on 127.0.0.1.
        status, _headers, body = browser.request(
            f"/admin/webhooks/webhook/{webhook.pk}/send/test/",
            {"customer": customer.pk, "csrfmiddlewaretoken": browser.csrf()},
            headers={"X-CSRFToken": browser.csrf()},
        )
        assert status == 201, body[:500]
        wait_until(lambda: receiver.received, timeout=20, message="the test message at the receiver")
        assert receiver.received[0].signature_ok is True
        delivery = wait_until(
            lambda: Delivery.objects.filter(webhook=webhook, status=Delivery.Status.SUCCEEDED).first(),
            timeout=20,
            message="the delivery recorded as succeeded",
        )
        assert delivery.attempts.count() == 1

        # The worker and its scheduler report in: healthy.
        status, _headers, health = browser.request("/healthz", headers={"Authorization": "Bearer serve-metrics-token"})
        assert status == 200, health
    finally:
        if serve.poll() is None:
            os.kill(serve.pid, signal.SIGTERM)
        try:
            serve.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            for pid in pids:
                _kill_quietly(pid)
            raise
        reader.join(5)
    assert serve.returncode == 0, log()[-3000:]
    assert "stopped" in log()
    # Every process it started is gone, and the port is free again.
    for pid in pids:
        assert not _alive(pid), f"process {pid} outlived bin/serve:\n{log()[-2000:]}"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2)
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"bin/serve test took {elapsed:.0f}s"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone but for its parent's wait; bin/serve waited for its children.
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().split()[2] != "Z"


def _kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _answers(browser: Browser) -> bool:
    try:
        return browser.request("/admin/login/")[0] == 200
    except urllib.error.URLError:
        return False
