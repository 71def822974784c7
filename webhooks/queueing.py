"""Flow runs' wake-up jobs on rq, queued after the database has committed them.

Deliveries and group sends no longer use this: their work is the due rows themselves and rq only
rings a doorbell (webhooks/doorbell.py). Flow waits still name their rq job in the row and are
re-queued by `flow_runs_reconcile` when Redis lost them; they move to the doorbell next.
"""

import logging
import uuid
from datetime import UTC, datetime, timedelta

import django_rq
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq.job import Job, JobStatus

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"  # flow runs

JOB_TIMEOUT = 300
ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def new_job_id() -> str:
    return uuid.uuid4().hex


def redis():
    return django_rq.get_connection(DEFAULT_QUEUE)


def _enqueue(queue_name: str, func: str, args: tuple, job_id: str, at: datetime | None) -> None:
    queue = django_rq.get_queue(queue_name)
    options = {"job_id": job_id, "job_timeout": JOB_TIMEOUT, "result_ttl": 600, "failure_ttl": 86400}
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
