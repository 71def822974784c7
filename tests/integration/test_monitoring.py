"""/metrics and /healthz: closed by default, figures read from the database and rq's registries."""

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from webhookhub import telemetry
from webhooks import selectors
from webhooks.content.events import Event
from webhooks.engine.bulk import rows_insert
from webhooks.models import Delivery, Message, new_delivery_id

from ..factories import make_webhook
from ..support.waiting import wait_until
from ..support.workers import ROOT, running_worker

Status = Delivery.Status
Priority = Delivery.Priority


def scrape(client: Client, **extra) -> dict:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, metric, **labels):
    return samples.get((metric, tuple(sorted(labels.items()))))


def deliveries(webhook, *, event, status, count, due_ago=None, created_ago=timedelta(0)):
    # The lane as publishing sets it: group sends are bulk, the rest realtime; retries behind each.
    bulk, retry = event == Event.GROUP_SEND, status == Status.RETRYING
    priority = [[Priority.REALTIME, Priority.REALTIME_RETRY], [Priority.BULK, Priority.BULK_RETRY]][bulk][retry]
    message = Message.objects.create(event=event)
    now = timezone.now()
    rows = [
        Delivery(
            id=new_delivery_id(),
            message_id=message.pk,
            webhook_id=webhook.pk,
            event=event,
            body="{}",
            status=status,
            priority=priority,
            next_attempt_at=now - due_ago if due_ago is not None else None,
        )
        for _ in range(count)
    ]
    rows_insert(Delivery, rows)
    Delivery.objects.filter(message=message).update(created_at=now - created_ago)
    return rows


@pytest.mark.django_db
def test_metrics_and_healthz_are_closed_unless_a_token_or_an_address_opens_them(settings, redis_conn):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    for path in ("/metrics", "/healthz"):
        assert Client().get(path).status_code == 403
        assert Client(REMOTE_ADDR="127.0.0.1").get(path).status_code == 403

    settings.METRICS_TOKEN = "scrape-token-123"
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="scrape-token-123").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-123").status_code == 200
    assert Client().get("/healthz", HTTP_AUTHORIZATION="Bearer scrape-token-123").status_code in (200, 503)

    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "192.0.2.7"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 403
    # Behind the proxy the allow-list applies to the client the proxy saw, not to the proxy.
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    proxied = Client(REMOTE_ADDR="10.0.0.2")
    assert proxied.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert proxied.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.9.9.9").status_code == 200


@pytest.mark.django_db
def test_metrics_read_backlog_retries_webhooks_and_the_dashboard_series_exist(settings, redis_conn):
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    crm = make_webhook("http://127.0.0.1:9/crm", name="CRM")
    shop = make_webhook("http://127.0.0.1:9/shop", name="商城")
    make_webhook("http://127.0.0.1:9/old", name="old", is_active=False)
    make_webhook("http://127.0.0.1:9/held", name="held", paused_at=timezone.now(), pause_reason="410 Gone")

    deliveries(crm, event=Event.MEMBERSHIP_LEVEL_UP, status=Status.PENDING, count=2, due_ago=timedelta(seconds=90))
    deliveries(crm, event=Event.TEST_SEND, status=Status.PENDING, count=1, due_ago=timedelta(seconds=5))
    deliveries(shop, event=Event.GROUP_SEND, status=Status.PENDING, count=3, due_ago=timedelta(seconds=600))
    # Not due yet, and waiting for a retry: not in the backlog.
    deliveries(shop, event=Event.GROUP_SEND, status=Status.RETRYING, count=4, due_ago=-timedelta(minutes=30))
    # What a worker observes as it records attempts (webhookhub/telemetry.py), in this process here.
    telemetry.ATTEMPTS.labels(lane="bulk", outcome="succeeded").inc(0)
    telemetry.DELIVERIES.labels(webhook=str(crm.pk), outcome="succeeded").inc(0)
    telemetry.DURATION.labels(lane="bulk").observe(0.03)
    telemetry.process_sample(role="web")

    client = Client(REMOTE_ADDR="127.0.0.1")
    scrape(client)  # a first request, so the web's request metrics have samples
    samples = scrape(client)

    assert value(samples, "webhookhub_due_backlog", lane="realtime") == 3
    assert value(samples, "webhookhub_due_backlog", lane="bulk") == 3
    assert 85 <= value(samples, "webhookhub_due_oldest_seconds", lane="realtime") < 120
    assert 595 <= value(samples, "webhookhub_due_oldest_seconds", lane="bulk") < 630
    assert value(samples, "webhookhub_retries_scheduled") == 4
    assert value(samples, "webhookhub_webhooks", state="active") == 2
    assert value(samples, "webhookhub_webhooks", state="inactive") == 1
    assert value(samples, "webhookhub_webhooks", state="paused") == 1
    assert value(samples, "webhookhub_webhook_info", webhook=str(shop.pk), name="商城", active="true", paused="false")
    assert value(samples, "webhookhub_redis_up") == 1
    # No worker runs: none seen, no scheduler on any queue.
    assert value(samples, "webhookhub_workers", state="idle") == 0
    assert value(samples, "webhookhub_workers", state="busy") == 0
    assert value(samples, "webhookhub_worker_freshest_heartbeat_seconds") == -1
    for queue in django_settings.WORKER_QUEUES:
        assert value(samples, "webhookhub_scheduler_up", queue=queue) == 0
    assert value(samples, "django_http_responses_total_by_status_total", status="200") >= 1

    # The Grafana dashboard in docs/deploy/ reads only metrics that exist.
    dashboard = json.loads((ROOT / "docs" / "deploy" / "grafana-dashboard.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"(?:webhookhub|django)_[a-z_]+", target["expr"])
    }
    exposed = {name for name, _labels in samples}
    assert used, used - exposed
    assert used <= exposed, used - exposed
    # Counters are what rate() is for: every counter on the dashboard is read through rate() or increase().
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"[a-z_]+_(?:total|bucket)\b", target["expr"]):
                assert re.search(rf"(?:rate|increase)\({name}\b", target["expr"]), (panel["title"], name)


@pytest.mark.django_db
def test_due_backlog_counts_each_lane_with_its_retries(redis_conn):
    webhook = make_webhook("http://127.0.0.1:9/hook")
    deliveries(webhook, event=Event.FORM_SUBMIT, status=Status.RETRYING, count=2, due_ago=timedelta(seconds=30))
    deliveries(webhook, event=Event.GROUP_SEND, status=Status.PENDING, count=1, due_ago=timedelta(seconds=10))
    deliveries(webhook, event=Event.GROUP_SEND, status=Status.SENDING, count=5, due_ago=timedelta(seconds=10))
    backlog = selectors.due_backlog()
    assert backlog["realtime"]["count"] == 2
    assert 29 <= backlog["realtime"]["oldest_due_seconds"] < 60
    assert backlog["bulk"]["count"] == 1
    # A bounded read at any backlog: the count stops at the cap, the oldest is still the oldest.
    capped = selectors.due_backlog(cap=1)
    assert capped["realtime"]["count"] == 1
    assert capped["realtime"]["oldest_due_seconds"] == pytest.approx(backlog["realtime"]["oldest_due_seconds"], abs=2)
    assert selectors.retries_scheduled_count(cap=1) == 1
    Delivery.objects.all().delete()
    assert selectors.due_backlog() == {
        "realtime": {"count": 0, "oldest_due_seconds": 0.0},
        "bulk": {"count": 0, "oldest_due_seconds": 0.0},
    }


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_healthz_wants_a_worker_and_its_scheduler(settings, redis_conn):
    settings.METRICS_TOKEN = "health-token"
    auth = {"HTTP_AUTHORIZATION": "Bearer health-token"}
    response = Client().get("/healthz", **auth)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["redis"] == {"ok": True}
    assert checks["workers"]["ok"] is False
    assert checks["workers"]["seen"] == 0
    assert checks["scheduler"]["queues_without_scheduler"] == list(django_settings.WORKER_QUEUES)

    with running_worker(scheduler=True):
        healthy = wait_until(
            lambda: (r := Client().get("/healthz", **auth)).status_code == 200 and r,
            timeout=30,
            interval=0.2,
            message="healthz 200 with a worker running",
        )
        assert healthy.json()["status"] == "ok"
        samples = scrape(Client(), **auth)
        # One worker seen, whatever its state at that moment (started, idle, busy).
        seen = {key[1]: count for key, count in samples.items() if key[0] == "webhookhub_workers"}
        assert sum(seen.values()) == 1, seen
        assert 0 <= value(samples, "webhookhub_worker_freshest_heartbeat_seconds") < 60
        for queue in django_settings.WORKER_QUEUES:
            assert value(samples, "webhookhub_scheduler_up", queue=queue) == 1
