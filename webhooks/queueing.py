"""Putting work on rq, always after the database has committed it (the database is the truth)."""

import logging
import uuid
from datetime import UTC, datetime, timedelta

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq.job import Job, JobStatus

logger = logging.getLogger(__name__)

TEST_QUEUE = "test"  # test sends and redeliveries: a person is waiting
DEFAULT_QUEUE = "default"  # group send start and fan-out, flow steps, reconcile
DELIVERY_QUEUE = "deliveries"
RETRY_QUEUE = "retries"  # a failing endpoint's retries wait behind fresh deliveries

JOB_TIMEOUT = 300
ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def new_job_id() -> str:
    return uuid.uuid4().hex


def redis():
    return django_rq.get_connection(DEFAULT_QUEUE)


def delivery_job_timeout() -> int:
    """A batch job never outlives the claim lease: past the lease, reconcile hands its deliveries on."""
    return max(5, min(JOB_TIMEOUT, settings.WEBHOOK_CLAIM_LEASE * 3 // 4))


def _timeout_for(func: str) -> int:
    return delivery_job_timeout() if func == DELIVER_BATCH else JOB_TIMEOUT


def _enqueue(queue_name: str, func: str, args: tuple, job_id: str, at: datetime | None) -> None:
    queue = django_rq.get_queue(queue_name)
    options = {"job_id": job_id, "job_timeout": _timeout_for(func), "result_ttl": 600, "failure_ttl": 86400}
    if at is None:
        queue.enqueue(func, *args, **options)
    else:
        queue.enqueue_at(at, func, *args, **options)


def _after_commit(enqueue) -> None:
    """Queue after commit; if Redis is unreachable the work is committed and reconcile queues it."""

    def run():
        try:
            enqueue()
        except RedisError as exc:
            logger.warning("queueing failed (%s); the next reconcile queues the work", type(exc).__name__)

    transaction.on_commit(run)


def enqueue_on_commit(queue_name: str, func: str, *args, job_id: str, at: datetime | None = None) -> None:
    _after_commit(lambda: _enqueue(queue_name, func, args, job_id, at))


def batches_enqueue_on_commit(batches: list[tuple[str, list[str]]], *, queue_name: str, at=None) -> None:
    """Queue delivery batch jobs (job id, delivery ids) in one Redis round trip after commit."""
    if not batches:
        return

    def enqueue():
        queue = django_rq.get_queue(queue_name)
        if at is not None:
            for job_id, ids in batches:
                _enqueue(queue_name, DELIVER_BATCH, (ids,), job_id, at)
            return
        timeout = delivery_job_timeout()
        queue.enqueue_many(
            [
                queue.prepare_data(
                    DELIVER_BATCH, args=(ids,), job_id=job_id, timeout=timeout, result_ttl=600, failure_ttl=86400
                )
                for job_id, ids in batches
            ]
        )

    _after_commit(enqueue)


def jobs_alive(job_ids, *, running_for_at_most: timedelta | None = None) -> set[str]:
    """Of these job ids, the ones rq still holds and will run (queued, scheduled or running).

    rq marks a job whose worker was killed as started for a long while (its heartbeat TTL); a job
    that cannot run longer than `running_for_at_most` but started before that is counted dead.
    """
    job_ids = [job_id for job_id in set(job_ids) if job_id]
    if not job_ids:
        return set()
    alive = set()
    oldest_start = timezone.now() - running_for_at_most if running_for_at_most else None
    for job in Job.fetch_many(job_ids, connection=redis()):
        if job is None:
            continue
        status = job.get_status(refresh=False)
        if status not in ALIVE:
            continue
        if status == JobStatus.STARTED and oldest_start and job.started_at:
            started_at = job.started_at
            if started_at.tzinfo is None:
                started_at = started_at.replace(tzinfo=UTC)
            if started_at < oldest_start:
                continue
        alive.add(job.id)
    return alive


DELIVER_BATCH = "webhooks.jobs.deliver_batch"
GROUP_SEND_START = "webhooks.jobs.group_send_start"
