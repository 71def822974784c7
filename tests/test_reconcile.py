"""Reconcile: due work that is in no queue goes back on one; the worker's reconcile and its work
horses never share a database connection."""

from datetime import timedelta

import django_rq
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rq.job import Job

from webhooks import queueing, services, worker
from webhooks.models import Delivery, GroupSend

from .conftest import run_worker
from .factories import make_customers, make_group, make_webhook

pytestmark = [pytest.mark.django_db(transaction=True)]


def queued_ids() -> set[str]:
    ids = set()
    for name in ("test", "deliveries"):
        for job in django_rq.get_queue(name).get_jobs():
            ids.update(job.args[0])
    return ids


def test_reconcile_command_queues_due_deliveries_redis_lost(receiver, redis_conn):
    customers = make_customers(5)
    webhook = make_webhook(receiver.url())
    for customer in customers:
        services.message_publish(event="form/submit", webhooks=[webhook], customer=customer)
    test_delivery = services.message_test_send(webhook=webhook, customer=customers[0])
    redis_conn.flushdb()  # Redis restarted empty
    assert queued_ids() == set()

    call_command("reconcile")
    assert queued_ids() == set(Delivery.objects.values_list("id", flat=True))
    assert test_delivery.id in {i for job in django_rq.get_queue("test").get_jobs() for i in job.args[0]}
    call_command("reconcile")  # alive jobs are left alone: nothing queued twice
    assert sum(len(job.args[0]) for job in django_rq.get_queue("deliveries").get_jobs()) == 5

    run_worker(timeout=60)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert len(receiver.received) == 6


def test_reconcile_reclaims_deliveries_of_a_dead_job_after_the_lease(settings, redis_conn):
    settings.WEBHOOK_CLAIM_LEASE = 60
    (customer,) = make_customers(1)
    message = services.message_publish(
        event="form/submit", webhooks=[make_webhook("https://example.test/h")], customer=customer
    )
    delivery = message.deliveries.get()
    # Claimed by a job whose worker was killed: still `sending`, its job marked started in rq.
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENDING, claimed_at=timezone.now() - timedelta(seconds=30)
    )
    assert services.deliveries_reconcile()["reclaimed"] == 0  # within the lease: it may still run
    Delivery.objects.filter(pk=delivery.pk).update(claimed_at=timezone.now() - timedelta(seconds=61))
    counts = services.deliveries_reconcile()
    assert counts["reclaimed"] == 1 and counts["deliveries"] == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING and delivery.job_id
    assert queued_ids() == {delivery.id}


def test_a_started_job_older_than_the_lease_counts_as_dead(settings, redis_conn):
    settings.WEBHOOK_CLAIM_LEASE = 60
    queue = django_rq.get_queue("deliveries")
    job = queue.enqueue(queueing.DELIVER_BATCH, ["x"], job_id="started-long-ago")
    job.set_status("started")
    job.started_at = timezone.now() - timedelta(seconds=120)
    job.save()
    fresh = queue.enqueue(queueing.DELIVER_BATCH, ["y"], job_id="started-now")
    fresh.set_status("started")
    fresh.started_at = timezone.now()
    fresh.save()
    lease = timedelta(seconds=60)
    assert queueing.jobs_alive(["started-long-ago", "started-now"], running_for_at_most=lease) == {"started-now"}
    assert queueing.jobs_alive(["started-long-ago"]) == {"started-long-ago"}
    assert Job.fetch("started-long-ago", connection=redis_conn)


def test_reconcile_completes_a_send_whose_worker_died_before_completing_it(redis_conn):
    customers = make_customers(2)
    webhook = make_webhook("https://example.test/h")
    send = services.group_send_create(webhook=webhook, group=make_group(customers))
    GroupSend.objects.filter(pk=send.pk).update(status=GroupSend.Status.SENDING, fanout_done=True)
    Delivery.objects.bulk_create(
        [
            Delivery(
                message=send.message,
                webhook=webhook,
                customer=c,
                event=send.message.event,
                body="{}",
                status=Delivery.Status.SUCCEEDED,
            )
            for c in customers
        ]
    )
    assert services.deliveries_reconcile()["completed"] == 1
    assert GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.COMPLETED


def test_work_horse_is_forked_with_no_database_connection_open(monkeypatch, redis_conn):
    from rq.worker import Worker

    state = {}
    monkeypatch.setattr(
        Worker, "fork_work_horse", lambda self, job, queue: state.update(open=connection.connection is not None)
    )
    hub = worker.HubWorker([django_rq.get_queue("deliveries")], connection=redis_conn)
    connection.ensure_connection()
    assert connection.connection is not None
    hub.fork_work_horse(None, None)
    assert state == {"open": False}


def test_reconcile_in_the_worker_closes_its_connection(redis_conn):
    connection.ensure_connection()
    worker.reconcile_once(redis_conn)
    assert connection.connection is None
    connection.ensure_connection()
    worker.reconcile_once(redis_conn)  # another worker holds the lock this interval: nothing runs
    assert connection.connection is not None
