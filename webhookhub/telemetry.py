"""What each recorded attempt tells the operator: Prometheus counters and a histogram, and one log line.

webhooks/engine/record.py hands every wave's attempts to `wave_observe` as it records them; the figures are
counted and the lines written once the wave's transaction has committed, so a record retried after a
dropped connection counts once, and a rolled-back one not at all.

Series (their labels are bounded; docs/deploy/README.md, "Metrics"):
- webhookhub_attempts_total{lane, outcome}: HTTP attempts (and "worker lost" take-backs) by the state
  the delivery went to (succeeded, retrying, failed, cancelled) and lane (realtime, bulk);
- webhookhub_deliveries_total{webhook, outcome}: deliveries that reached a final state (succeeded,
  failed, cancelled) by webhook id: one series per webhook and outcome, never a name, URL or customer;
- webhookhub_attempt_duration_seconds{lane}: the HTTP attempts' durations (take-backs have none);
- webhookhub_process_{resident_memory_bytes,cpu_seconds,open_fds}{role, pid}: each live web and worker
  process, sampled every PROCESS_SAMPLE_SECONDS while it works (prometheus-client's own process
  metrics describe only the process that answers a scrape).

Processes: with PROMETHEUS_MULTIPROC_DIR set, every process on the machine writes its figures there
and /metrics (or a worker's --metrics-port) adds them up (prometheus-client's multiprocess mode). A
hub worker forks a work horse per drain and runs one at a time: its horses share one file named after
the worker, so the directory holds a few files per process, not one per drain.
"""

import logging
import os
import time

from django.db import transaction
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values
from prometheus_client.process_collector import ProcessCollector

logger = logging.getLogger("webhookhub.attempts")

# Seconds; an attempt is bounded by the connect and read timeouts (5 + 15 by default).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)
FINAL = frozenset({"succeeded", "failed", "cancelled"})

# Set in a hub worker's work horse (webhooks/engine/worker.py): the pid of the worker that forked it.
_horse_of: int | None = None


def _process_identifier() -> str:
    return f"horse{_horse_of}" if _horse_of else str(os.getpid())


def horse_started(*, worker_pid: int) -> None:
    """Called first thing in a work horse: its figures go to the file its worker's horses share."""
    global _horse_of
    _horse_of = worker_pid


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Before any metric exists (this module is imported when the apps are ready).
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identifier)

ATTEMPTS = Counter(
    "webhookhub_attempts",
    "HTTP attempts recorded, by lane and the state each left its delivery in.",
    ["lane", "outcome"],
)
DELIVERIES = Counter(
    "webhookhub_deliveries", "Deliveries that reached a final state, by webhook id and outcome.", ["webhook", "outcome"]
)
DURATION = Histogram(
    "webhookhub_attempt_duration_seconds", "HTTP attempts' durations, by lane.", ["lane"], buckets=DURATION_BUCKETS
)

_PROCESS = {
    name: Gauge(f"webhookhub_process_{name}", text, ["role", "pid"], multiprocess_mode="liveall")
    for name, text in (
        ("resident_memory_bytes", "Resident memory of each live web and worker process."),
        ("cpu_seconds", "CPU seconds each live web and worker process has used (use rate())."),
        ("open_fds", "Open file descriptors of each live web and worker process."),
    )
}
PROCESS_SAMPLE_SECONDS = 10.0
_sampled = {"at": 0.0}


def process_sample(*, role: str) -> None:
    """Note this process's memory, CPU and descriptors (at most every PROCESS_SAMPLE_SECONDS)."""
    if time.monotonic() - _sampled["at"] < PROCESS_SAMPLE_SECONDS:
        return
    _sampled["at"] = time.monotonic()
    read = {
        "process_resident_memory_bytes": "resident_memory_bytes",
        "process_cpu_seconds": "cpu_seconds",
        "process_open_fds": "open_fds",
    }
    pid = str(os.getpid())
    for family in ProcessCollector(registry=None).collect():
        if family.name in read and family.samples:
            _PROCESS[read[family.name]].labels(role=role, pid=pid).set(family.samples[0].value)


def process_exited(pid: int) -> None:
    """A process of this machine ended: its live gauges go (gunicorn's child_exit, the worker's stop)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


def machine_registry() -> CollectorRegistry:
    """The counters of every process on this machine (multiprocess mode), or of this process alone."""
    from prometheus_client import REGISTRY

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def lane_of(priority: int) -> str:
    # Delivery.Priority: 0 and 1 realtime (and its retries), 2 and 3 bulk.
    return "bulk" if priority >= 2 else "realtime"


def wave_observe(entries: list[dict]) -> None:
    """Count and log a wave's attempts once its record commits.

    Each entry: delivery_id, webhook_id, message_id, event, priority, attempt, trigger, status_code,
    duration_ms, succeeded, outcome, error_code, error_class, final (the delivery reached `outcome` now).
    """
    if entries:
        transaction.on_commit(lambda: _emit(entries))


def _emit(entries: list[dict]) -> None:
    from webhooks.models import Message

    sends = dict(
        Message.objects.filter(pk__in={e["message_id"] for e in entries}, group_send__isnull=False).values_list(
            "pk", "group_send_id"
        )
    )
    for entry in entries:
        lane = lane_of(entry["priority"])
        ATTEMPTS.labels(lane=lane, outcome=entry["outcome"]).inc()
        if entry["final"] and entry["outcome"] in FINAL:
            DELIVERIES.labels(webhook=str(entry["webhook_id"]), outcome=entry["outcome"]).inc()
        if entry["error_class"] != "WorkerLost":
            DURATION.labels(lane=lane).observe(entry["duration_ms"] / 1000)
        logger.info(
            "delivery=%s webhook=%s status=%s duration_ms=%s outcome=%s error=%s",
            entry["delivery_id"],
            entry["webhook_id"],
            entry["status_code"] or "-",
            entry["duration_ms"],
            entry["outcome"],
            entry["error_code"] or "-",
            extra={
                "delivery_id": entry["delivery_id"],
                "webhook_id": entry["webhook_id"],
                "group_send_id": sends.get(entry["message_id"]),
                "event": entry["event"],
                "lane": lane,
                "attempt": entry["attempt"],
                "trigger": entry["trigger"],
                "status_code": entry["status_code"],
                "duration_ms": entry["duration_ms"],
                "succeeded": entry["succeeded"],
                "outcome": entry["outcome"],
                "error_code": entry["error_code"],
                "error_class": entry["error_class"],
            },
        )
