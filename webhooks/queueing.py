"""Putting work on rq, always after the database has committed it (the database is the truth)."""

import uuid
from datetime import datetime

import django_rq
from django.db import transaction
from rq.job import Job, JobStatus

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


def _enqueue(queue_name: str, func: str, args: tuple, job_id: str, at: datetime | None) -> None:
    queue = django_rq.get_queue(queue_name)
    if at is None:
        queue.enqueue(func, *args, job_id=job_id, job_timeout=JOB_TIMEOUT, result_ttl=600, failure_ttl=86400)
    else:
        queue.enqueue_at(at, func, *args, job_id=job_id, job_timeout=JOB_TIMEOUT, result_ttl=600, failure_ttl=86400)


def enqueue_on_commit(queue_name: str, func: str, *args, job_id: str, at: datetime | None = None) -> None:
    transaction.on_commit(lambda: _enqueue(queue_name, func, args, job_id, at))


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
        queue.enqueue_many(
            [
                queue.prepare_data(
                    DELIVER_BATCH, args=(ids,), job_id=job_id, timeout=JOB_TIMEOUT, result_ttl=600, failure_ttl=86400
                )
                for job_id, ids in batches
            ]
        )

    transaction.on_commit(enqueue)


def jobs_alive(job_ids) -> set[str]:
    """Of these job ids, the ones rq still holds and will run (queued, scheduled or running)."""
    job_ids = [job_id for job_id in set(job_ids) if job_id]
    if not job_ids:
        return set()
    alive = set()
    for job in Job.fetch_many(job_ids, connection=redis()):
        if job is not None and job.get_status(refresh=False) in ALIVE:
            alive.add(job.id)
    return alive


DELIVER_BATCH = "webhooks.jobs.deliver_batch"
SEND_START = "webhooks.jobs.send_start"
