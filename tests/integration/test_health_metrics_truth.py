"""/healthz and /metrics tell the truth: workers counted from their own heartbeat rows (a Redis restarted
empty changes nothing), a dependency that is down named in JSON, counters that rise by exactly what a
send did, across processes (prometheus-client's multiprocess mode)."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from django.conf import settings as django_settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from webhooks import services
from webhooks.models import Attempt, Delivery

from ..factories import make_customers, make_group, make_webhook
from ..support.ports import free_port
from ..support.receivers import ScriptedServer
from ..support.waiting import wait_until
from ..support.workers import ROOT, running_worker, worker_env

AUTH = {"HTTP_AUTHORIZATION": "Bearer health-token"}


def scrape(client: Client) -> dict:
    response = client.get("/metrics", **AUTH)
    assert response.status_code == 200, response.content[:300]
    samples: dict = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict, name: str, **labels) -> float:
    wanted = set(labels.items())
    return sum(v for (n, key), v in samples.items() if n == name and wanted <= set(key))


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_redis_restarted_empty_leaves_healthz_and_the_worker_gauge_right_within_15_s(
    settings, own_redis, tmp_path, monkeypatch
):
    settings.METRICS_TOKEN = "health-token"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    client = Client()
    with running_worker(scheduler=True, REDIS_URL=own_redis.url, PROMETHEUS_MULTIPROC_DIR=tmp_path) as worker:
        wait_until(
            lambda: client.get("/healthz", **AUTH).status_code == 200, timeout=60, message="healthz 200: " + worker.log
        )
        samples = scrape(client)
        assert total(samples, "webhookhub_workers") == 1
        # The worker process's own memory, from another process (the multiprocess directory).
        assert total(samples, "webhookhub_process_resident_memory_bytes", role="worker") > 10_000_000

        own_redis.stop()
        down = client.get("/healthz", **AUTH)
        assert down.status_code == 503
        assert down.json()["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
        samples = scrape(client)
        assert total(samples, "webhookhub_redis_up") == 0
        # The worker still runs and writes its heartbeat row: the series are there, not gone.
        assert total(samples, "webhookhub_workers") == 1
        for queue in django_settings.WORKER_QUEUES:
            assert samples[("webhookhub_scheduler_up", (("queue", queue),))] == 0

        own_redis.start()  # the same port, empty: rq's set of workers and the scheduler's locks are gone
        restarted = time.monotonic()
        wait_until(
            lambda: client.get("/healthz", **AUTH).status_code == 200,
            timeout=15,
            interval=0.2,
            message="healthz 200 within 15 s of Redis restarted empty: " + worker.log[-3000:],
        )
        print(f"healthz back to 200 {time.monotonic() - restarted:.1f} s after Redis restarted empty")
        samples = scrape(client)
        assert total(samples, "webhookhub_workers") == 1
        assert total(samples, "webhookhub_scheduler_up") == len(django_settings.WORKER_QUEUES)


def _answer_through(database_url: str, path: str) -> tuple[int, str, str]:
    code = (
        "import django; django.setup(); from django.test import Client; "
        f"r = Client().get({path!r}, HTTP_AUTHORIZATION='Bearer health-token'); "
        "print(r.status_code); print(r['Content-Type']); print(r.content.decode())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=worker_env(
            DJANGO_SETTINGS_MODULE="tests.settings",
            DATABASE_URL=database_url,
            METRICS_TOKEN="health-token",
            ALLOWED_HOSTS="testserver",
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    status, content_type, body = result.stdout.split("\n", 2)
    return int(status), content_type, body


@pytest.mark.integration
def test_an_unreachable_database_is_a_json_503_naming_it_on_metrics_and_healthz():
    # Nothing listens on this port: the database is down, not misconfigured.
    unreachable = f"postgres://postgres@127.0.0.1:{free_port()}/webhookhub"
    for path in ("/metrics", "/healthz"):
        status, content_type, body = _answer_through(unreachable, path)
        assert status == 503, (path, body[:500])
        assert content_type == "application/json", (path, body[:500])
        answer = json.loads(body)
        assert answer["status"] == "failing"
        assert answer["checks"]["database"] == {"ok": False, "error": "OperationalError"}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_counters_rise_by_exactly_the_attempts_and_final_deliveries_of_a_send(
    settings, redis_conn, run_worker, tmp_path, monkeypatch
):
    settings.METRICS_TOKEN = "health-token"
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    # This process reads what the worker processes (and their work horses) wrote there.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc))
    client = Client()
    worker_kwargs = {"PROMETHEUS_MULTIPROC_DIR": str(multiproc), "LANGUAGE_CODE": "en"}

    with ScriptedServer() as ok, ScriptedServer(lambda hit: (500, {}, b"down")) as down:
        good = make_webhook(ok.url(), name="good")
        bad = make_webhook(down.url(), name="bad", auto_retry=False)
        services.group_send_create(webhook=good, group=make_group(make_customers(12)))
        run_worker(**worker_kwargs)
        before = scrape(client)
        attempts_before = Attempt.objects.count()
        assert total(before, "webhookhub_attempts_total") == attempts_before == 12

        services.group_send_create(webhook=good, group=make_group(make_customers(20, start=100), name="b"))
        services.group_send_create(webhook=bad, group=make_group(make_customers(7, start=200), name="c"))
        run_worker(**worker_kwargs)
        after = scrape(client)

    assert Attempt.objects.count() - attempts_before == 27
    rose = {
        labels: after[("webhookhub_attempts_total", labels)] - before.get(("webhookhub_attempts_total", labels), 0)
        for name, labels in after
        if name == "webhookhub_attempts_total"
    }
    assert rose == {(("lane", "bulk"), ("outcome", "succeeded")): 20, (("lane", "bulk"), ("outcome", "failed")): 7}
    succeeded = (("outcome", "succeeded"), ("webhook", str(good.pk)))
    failed = (("outcome", "failed"), ("webhook", str(bad.pk)))
    assert after[("webhookhub_deliveries_total", succeeded)] - before[("webhookhub_deliveries_total", succeeded)] == 20
    assert after[("webhookhub_deliveries_total", failed)] == 7
    assert Delivery.objects.filter(webhook=bad, status=Delivery.Status.FAILED).count() == 7
    # Every attempt's duration observed once, in its lane.
    assert total(after, "webhookhub_attempt_duration_seconds_count", lane="bulk") == 39
    # A worker's work horses share one file: a few files per process, not one per drain.
    assert len(list(multiproc.iterdir())) <= 8, sorted(p.name for p in multiproc.iterdir())


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_a_machine_of_its_own_serves_its_metrics_on_its_port(redis_conn, tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "hubworker", "--metrics-port", str(port)],
        env=worker_env(PROMETHEUS_MULTIPROC_DIR=tmp_path),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def worker_series():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    text = response.read().decode()
            except OSError:
                return None
            return "webhookhub_process_resident_memory_bytes{" in text and 'role="worker"' in text and text

        text = wait_until(worker_series, timeout=60, interval=0.5, message="the worker's own metrics port")
        assert "webhookhub_process_cpu_seconds" in text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
