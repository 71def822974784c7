"""/metrics (Prometheus) and /healthz, for operators; closed unless METRICS_TOKEN or METRICS_ALLOWED_IPS open them.

Two kinds of figures:
- counters and histograms each process keeps as it works (webhookhub/telemetry.py: attempts, final
  deliveries, attempt durations; django-prometheus: web requests; each process's memory and CPU),
  added up across the machine's processes through PROMETHEUS_MULTIPROC_DIR (prometheus-client's
  multiprocess mode); a worker on another machine serves its own with `hubworker --metrics-port`;
- gauges of the installation's state read at scrape time: webhooks, the due backlog per lane, retries
  waiting, the workers' heartbeat rows in the database, and rq's scheduler locks and queues in Redis.
  The reads are bounded and cheap (the due index, a count on a partial index, one row per webhook and
  per worker), so a scrape stays fast during a large send.

A dependency that does not answer is said in JSON with status 503 naming it, never as an error page.
"""

import hmac
import logging
import time

import django_rq
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from redis.exceptions import RedisError

from webhooks import selectors
from webhooks.health import selectors as health_selectors

from . import telemetry
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
        yield from self._worker_metrics(now)
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

    def _worker_metrics(self, now):
        silence = settings.HEALTH_MAX_SILENCE
        seen = health_selectors.workers_seen(within=silence, now=now)
        workers = GaugeMetricFamily(
            "webhookhub_workers", f"Workers whose heartbeat row is at most {silence} s old, by state.", labels=["state"]
        )
        for state, count in sorted(seen["by_state"].items()):
            workers.add_metric([state], count)
        yield workers
        freshest = seen["freshest_seconds"]
        yield GaugeMetricFamily(
            "webhookhub_worker_freshest_heartbeat_seconds",
            "Seconds since the most recent heartbeat of any worker (-1: no worker has written one).",
            value=-1 if freshest is None else freshest,
        )

    def _rq_metrics(self):
        up = GaugeMetricFamily("webhookhub_redis_up", "1 if Redis answered this scrape.")
        scheduler = GaugeMetricFamily(
            "webhookhub_scheduler_up",
            "1 if rq's scheduler holds this queue's lock (0 while Redis is down).",
            labels=["queue"],
        )
        try:
            rq = selectors.rq_queues_state(connection=_redis(), queue_names=settings.WORKER_QUEUES)
        except RedisError as exc:
            logger.warning("metrics: Redis unreadable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            for name in settings.WORKER_QUEUES:
                scheduler.add_metric([name], 0)
            yield up
            yield scheduler
            return
        up.add_metric([], 1)
        yield up
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


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector())
    registry.register(_Machine())
    return registry


class _Machine:
    # The processes' own figures: every process of this machine in multiprocess mode, else this one.
    def collect(self):
        telemetry.process_sample(role="web")
        yield from telemetry.machine_registry().collect()


def _failing(name: str, exc: Exception) -> JsonResponse:
    checks = {name: {"ok": False, "error": type(exc).__name__}}
    return JsonResponse({"status": "failing", "checks": checks}, status=503)


@never_cache
@require_GET
def metrics_view(request):
    if not access_allowed(request):
        return _closed()
    try:
        body = generate_latest(_registry())
    except DatabaseError as exc:
        logger.warning("metrics: the database is unreadable (%s)", type(exc).__name__)
        return _failing("database", exc)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def health_checks() -> dict:
    """Each check's outcome; the installation is healthy when all are ok."""
    checks: dict[str, dict] = {}
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
        rq = selectors.rq_queues_state(connection=redis, queue_names=settings.WORKER_QUEUES)
    except RedisError as exc:
        checks["redis"] = {"ok": False, "error": type(exc).__name__}
        rq = None
    if rq is not None:
        missing = [name for name, held in rq["scheduler_locks"].items() if not held]
        checks["scheduler"] = {"ok": not missing, "queues_without_scheduler": missing}
    else:
        checks["scheduler"] = {"ok": False, "error": "redis"}
    if checks["database"]["ok"]:
        silence = settings.HEALTH_MAX_SILENCE
        seen = health_selectors.workers_seen(within=silence)["seen"]
        checks["workers"] = {"ok": bool(seen), "seen": seen, "max_silence_seconds": silence}
    else:
        checks["workers"] = {"ok": False, "error": "database"}
    return checks


@never_cache
@require_GET
def healthz_view(request):
    if not access_allowed(request):
        return _closed()
    checks = health_checks()
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "failing", "checks": checks}, status=200 if healthy else 503)
