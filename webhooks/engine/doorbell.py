"""Telling workers that work is due: rq is the doorbell, never the store of work.

Every piece of work lives in the database (due deliveries, scheduled group sends). A doorbell is a
drain job on the `realtime` or `bulk` queue, rung after a commit, by rq's scheduler at the next due
time, and by each worker's tick when it finds due work (so a Redis that lost everything, or workers
without --with-scheduler, cost latency, never a message). Ringing twice is harmless: a drain that
finds nothing due ends at once, and a queue never holds more than a few bells.

A leaf: it talks to rq and Redis only. What is due is the engine's to say (drain.drain_after after a
drain, worker.tick when idle).
"""

import contextlib
import logging
from datetime import datetime

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

REALTIME_QUEUE = "realtime"  # a person or a system waits: events, forms, flows, test sends, redeliveries
BULK_QUEUE = "bulk"  # group sends and bulk recovers
DRAIN = "webhooks.engine.jobs.drain"
# Bells waiting on a queue beyond this many wake no one more.
BELLS_PER_QUEUE = 2
# "A worker was here": renewed by idle workers' ticks and by running drains; the admin's banner reads it.
BEACON_KEY = "webhookhub:worker-seen"
BEACON_SECONDS = 60


def redis():
    return django_rq.get_connection(REALTIME_QUEUE)


def drain_job_timeout() -> int:
    """A drain claims nothing new after its budget; what is in flight ends by its deadline (≤ 362 s)."""
    longest_wave = 300 + 60 + 2  # the form's longest response and connect timeouts, and the margin
    return int(settings.WEBHOOK_DRAIN_BUDGET + longest_wave + 30)


def beacon() -> None:
    # Without Redis the banner says no worker was seen, which is what an administrator needs to know.
    with contextlib.suppress(RedisError):
        redis().set(BEACON_KEY, "1", ex=max(BEACON_SECONDS, 4 * settings.WEBHOOK_TICK_INTERVAL))


def ring(queue_name: str = BULK_QUEUE) -> bool:
    """Wake a worker now. False when Redis cannot be reached: the workers' tick finds the work."""
    try:
        queue = django_rq.get_queue(queue_name)
        if queue.count >= BELLS_PER_QUEUE:
            return True
        queue.enqueue(DRAIN, job_timeout=drain_job_timeout(), result_ttl=60, failure_ttl=86400)
        return True
    except RedisError as exc:
        logger.warning("ringing the %s doorbell failed (%s); the workers' tick finds the work", queue_name, exc)
        return False


def ring_on_commit(queue_name: str = BULK_QUEUE) -> None:
    transaction.on_commit(lambda: ring(queue_name))


def ring_at(when: datetime) -> None:
    """Ask rq's scheduler to wake a worker when `when` comes (one bell per second of due time)."""
    when = max(when, timezone.now())
    second = int(when.timestamp()) + 1
    try:
        django_rq.get_queue(BULK_QUEUE).enqueue_at(
            datetime.fromtimestamp(second, tz=when.tzinfo),
            DRAIN,
            job_id=f"webhookhub-bell-{second}",
            job_timeout=drain_job_timeout(),
            result_ttl=60,
            failure_ttl=86400,
        )
    except RedisError as exc:
        logger.warning("scheduling a doorbell failed (%s); the workers' tick finds the work", exc)


def ring_at_on_commit(when: datetime) -> None:
    transaction.on_commit(lambda: ring_at(when))
