"""/metrics (Prometheus) and /healthz, for operators; closed unless METRICS_TOKEN or METRICS_ALLOWED_IPS open them.

Every figure is read at scrape time from the database and from rq's registries in Redis, so any web
process answers for the whole installation (workers are separate processes and keep no counters).
The reads are bounded: waiting rows through the due index, the last METRICS_WINDOW_SECONDS of
deliveries through the created_at index, the newest METRICS_ATTEMPT_SAMPLE attempts by primary key.
"""

import hmac
import logging
import time
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, InfoMetricFamily
from redis.exceptions import RedisError

from webhooks import selectors

from .net import address_allowed, client_address

logger = logging.getLogger(__name__)

# Seconds; an attempt is bounded by the connect and read timeouts (5 + 15 by default).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)


def access_allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    allowed = settings.METRICS_ALLOWED_IPS
    return bool(allowed) and address_allowed(client_address(request), allowed)


def _closed() -> HttpResponse:
    return HttpResponse("Forbidden\n", status=403, content_type="text/plain; charset=utf-8")


def _redis():
    return django_rq.get_connection(settings.WORKER_QUEUES[0])


class HubCollector:
    """A prometheus-client collector that reads the installation's state on each scrape."""

    def collect(self):
        started = time.monotonic()
        now = timezone.now()
        webhooks = selectors.webhook_states()

        info = InfoMetricFamily("webhookhub_webhook", "Each webhook: its name and state.", labels=["webhook"])
        states = {"active": 0, "inactive": 0, "paused": 0}
        for webhook in webhooks:
            info.add_metric(
                [str(webhook["id"])],
                {
                    "name": webhook["name"],
                    "active": str(webhook["active"]).lower(),
                    "paused": str(webhook["paused"]).lower(),
                },
            )
            states["paused" if webhook["paused"] else "active" if webhook["active"] else "inactive"] += 1
        yield info
        by_state = GaugeMetricFamily("webhookhub_webhooks", "Webhooks by state.", labels=["state"])
        for state, count in states.items():
            by_state.add_metric([state], count)
        yield by_state

        window = settings.METRICS_WINDOW_SECONDS
        deliveries = GaugeMetricFamily(
            "webhookhub_deliveries",
            f"Deliveries created in the last {window} s (webhookhub_window_seconds), by webhook and current status.",
            labels=["webhook", "status"],
        )
        for webhook_id, status, count in selectors.delivery_counts_recent(since=now - timedelta(seconds=window)):
            deliveries.add_metric([str(webhook_id), status], count)
        yield deliveries
        yield GaugeMetricFamily(
            "webhookhub_window_seconds", "The window of webhookhub_deliveries and the attempt histogram.", value=window
        )

        durations = selectors.attempt_durations_recent(
            since=now - timedelta(seconds=window), limit=settings.METRICS_ATTEMPT_SAMPLE
        )
        yield _duration_histogram(durations)

        backlog = selectors.due_backlog(now=now)
        due = GaugeMetricFamily(
            "webhookhub_due_backlog", "Deliveries due and not yet claimed, by lane.", labels=["lane"]
        )
        oldest = GaugeMetricFamily(
            "webhookhub_due_oldest_seconds", "How long the oldest due delivery has waited, by lane.", labels=["lane"]
        )
        for lane, figures in backlog.items():
            due.add_metric([lane], figures["count"])
            oldest.add_metric([lane], figures["oldest_due_seconds"])
        yield due
        yield oldest
        yield GaugeMetricFamily(
            "webhookhub_retries_scheduled",
            "Deliveries waiting for an automatic retry.",
            value=selectors.retries_scheduled_count(),
        )

        yield from self._rq_metrics()
        yield GaugeMetricFamily(
            "webhookhub_scrape_seconds", "Time this scrape took to read the figures.", value=time.monotonic() - started
        )

    def _rq_metrics(self):
        up = GaugeMetricFamily("webhookhub_redis_up", "1 if Redis answered this scrape.")
        try:
            rq = selectors.rq_state(connection=_redis(), queue_names=settings.WORKER_QUEUES)
        except RedisError as exc:
            logger.warning("metrics: Redis unreadable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        silence = settings.HEALTH_MAX_SILENCE
        seen = [w for w in rq["workers"] if w["silent_seconds"] is not None and w["silent_seconds"] <= silence]
        workers = GaugeMetricFamily(
            "webhookhub_workers", f"Workers that reported within {silence} s, by state.", labels=["state"]
        )
        for state in sorted({w["state"] for w in seen} | {"busy", "idle"}):
            workers.add_metric([state], sum(1 for w in seen if w["state"] == state))
        yield workers
        quiet = [w["silent_seconds"] for w in rq["workers"] if w["silent_seconds"] is not None]
        yield GaugeMetricFamily(
            "webhookhub_worker_freshest_heartbeat_seconds",
            "Seconds since the most recent heartbeat of any worker (-1: no worker registered).",
            value=min(quiet) if quiet else -1,
        )
        scheduler = GaugeMetricFamily(
            "webhookhub_scheduler_up", "1 if rq's scheduler holds this queue's lock.", labels=["queue"]
        )
        queued = GaugeMetricFamily("webhookhub_rq_queued_jobs", "Jobs waiting in rq's queue.", labels=["queue"])
        scheduled = GaugeMetricFamily(
            "webhookhub_rq_scheduled_jobs", "Jobs in rq's scheduled registry (retries, waits).", labels=["queue"]
        )
        for name in settings.WORKER_QUEUES:
            scheduler.add_metric([name], int(rq["scheduler_locks"][name]))
            queued.add_metric([name], rq["queues"][name]["queued"])
            scheduled.add_metric([name], rq["queues"][name]["scheduled"])
        yield scheduler
        yield queued
        yield scheduled


def _duration_histogram(durations_ms: list[int]) -> GaugeHistogramMetricFamily:
    # A gauge histogram: the window's attempts, not a running total, so buckets may go down between
    # scrapes; histogram_quantile() reads it as it is, without rate().
    seconds = sorted(ms / 1000 for ms in durations_ms)
    buckets, index = [], 0
    for bound in DURATION_BUCKETS:
        while index < len(seconds) and seconds[index] <= bound:
            index += 1
        buckets.append((str(bound), index))
    buckets.append(("+Inf", len(seconds)))
    return GaugeHistogramMetricFamily(
        "webhookhub_attempt_duration_seconds",
        "HTTP attempts' durations: the newest METRICS_ATTEMPT_SAMPLE attempts within the window.",
        buckets=buckets,
        gsum_value=sum(seconds),
    )


def _registry() -> CollectorRegistry:
    # A registry of our own: the web process's own default collectors (its CPU, its GC) say nothing
    # about the installation and differ with whichever gunicorn worker answers.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector())
    return registry


@never_cache
@require_GET
def metrics_view(request):
    if not access_allowed(request):
        return _closed()
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def health_checks() -> dict:
    """Each check's outcome; the installation is healthy when all are ok."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except DatabaseError as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        redis = _redis()
        redis.ping()
        checks["redis"] = {"ok": True}
        rq = selectors.rq_state(connection=redis, queue_names=settings.WORKER_QUEUES)
    except RedisError as exc:
        checks["redis"] = {"ok": False, "error": type(exc).__name__}
        rq = None
    if rq is not None:
        silence = settings.HEALTH_MAX_SILENCE
        fresh = [w for w in rq["workers"] if w["silent_seconds"] is not None and w["silent_seconds"] <= silence]
        checks["workers"] = {"ok": bool(fresh), "seen": len(fresh), "max_silence_seconds": silence}
        missing = [name for name, held in rq["scheduler_locks"].items() if not held]
        checks["scheduler"] = {"ok": not missing, "queues_without_scheduler": missing}
    else:
        checks["workers"] = {"ok": False, "error": "redis"}
        checks["scheduler"] = {"ok": False, "error": "redis"}
    return checks


@never_cache
@require_GET
def healthz_view(request):
    if not access_allowed(request):
        return _closed()
    checks = health_checks()
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "failing", "checks": checks}, status=200 if healthy else 503)
