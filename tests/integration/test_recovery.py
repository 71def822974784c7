"""Recovery without Redis's memory: the database holds the work, a worker's tick rings for it, an
expired claim is taken back with an attempt 'worker lost', and worker and work horse never share a
database connection."""

from datetime import timedelta

import django_rq
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from webhooks import services
from webhooks.engine import claim, record, worker
from webhooks.engine.http import AttemptResult
from webhooks.models import Attempt, Delivery, DrainLease, GroupSend
from webhooks.services import group_sends

from ..factories import make_customers, make_group, make_webhook

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_due_deliveries_go_out_after_redis_lost_every_bell(receiver, redis_conn, run_worker):
    customers = make_customers(3)
    webhook = make_webhook(receiver.url())
    for customer in customers:
        services.message_publish(event="form/submit", webhooks=[webhook], customer=customer)
    redis_conn.flushdb()  # the bells are gone; the rows are not
    assert django_rq.get_queue("realtime").count == 0
    call_command("reconcile", stdout=open("/dev/null", "w"))  # noqa: SIM115 - what a person would run
    run_worker()
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 3
    assert len(receiver.received) == 3


def test_a_worker_tick_finds_due_work_without_any_bell(receiver, redis_conn, run_worker):
    (customer,) = make_customers(1)
    services.message_publish(event="form/submit", webhooks=[make_webhook(receiver.url())], customer=customer)
    redis_conn.flushdb()
    hub = worker.HubWorker([django_rq.get_queue("realtime"), django_rq.get_queue("bulk")], connection=redis_conn)
    hub.run_maintenance_tasks()
    assert django_rq.get_queue("bulk").count == 1
    run_worker()
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED


def test_an_expired_claim_is_taken_back_with_an_attempt_that_counts_towards_retries(settings, redis_conn):
    settings.WEBHOOK_CLAIM_LEASE = 60
    settings.WEBHOOK_RETRY_DELAYS = [30]  # one retry: the lost attempt takes it
    (customer,) = make_customers(1)
    webhook = make_webhook("https://example.test/h", auto_retry=True)
    delivery = services.message_publish(event="form/submit", webhooks=[webhook], customer=customer).deliveries.get()
    claimed_at = timezone.now() - timedelta(seconds=61)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENDING, claimed_by="dead-drain", claimed_at=claimed_at
    )
    assert record.leases_expired_record() == 1
    delivery.refresh_from_db()
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.error_class == "WorkerLost"
    assert attempt.started_at == claimed_at
    assert "may have received it" in attempt.error_message
    assert delivery.status == Delivery.Status.RETRYING
    assert delivery.attempt_count == 1
    # Taken back once more, the retry is spent: failed, never a loop.
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENDING, claimed_by="dead-again", claimed_at=claimed_at
    )
    record.leases_expired_record()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempt_count == 2


def test_an_expired_claim_of_a_stopped_send_is_cancelled_not_sent_again(redis_conn):
    customers = make_customers(2)
    webhook = make_webhook("https://example.test/h", auto_retry=True)
    send = services.group_send_create(webhook=webhook, group=make_group(customers))
    group_sends.group_sends_start_due()
    while group_sends.group_send_fanout_step(send_id=send.pk):
        pass
    Delivery.objects.update(
        status=Delivery.Status.SENDING, claimed_by="dead", claimed_at=timezone.now() - timedelta(hours=1)
    )
    services.group_send_cancel(send=send)
    record.leases_expired_record()
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.CANCELLED}


def test_a_send_whose_deliveries_are_all_final_completes(redis_conn):
    customers = make_customers(2)
    webhook = make_webhook("https://example.test/h")
    send = services.group_send_create(webhook=webhook, group=make_group(customers))
    group_sends.group_sends_start_due()
    while group_sends.group_send_fanout_step(send_id=send.pk):
        pass
    assert group_sends.group_sends_complete() == 0
    Delivery.objects.update(status=Delivery.Status.SUCCEEDED)
    assert group_sends.group_sends_complete() == 1
    assert GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.COMPLETED


def test_work_horse_is_forked_with_no_database_connection_open(monkeypatch, redis_conn):
    from rq.worker import Worker

    state = {}
    monkeypatch.setattr(
        Worker, "fork_work_horse", lambda self, job, queue: state.update(open=connection.connection is not None)
    )
    hub = worker.HubWorker([django_rq.get_queue("bulk")], connection=redis_conn)
    connection.ensure_connection()
    assert connection.connection is not None
    hub.fork_work_horse(None, None)
    assert state == {"open": False}


def test_the_tick_in_the_worker_closes_its_connection(redis_conn):
    hub = worker.HubWorker([django_rq.get_queue("bulk")], connection=redis_conn)
    connection.ensure_connection()
    hub.run_maintenance_tasks()
    assert connection.connection is None


def test_a_redelivery_taken_back_after_a_crash_stays_the_persons_until_it_ends(settings, redis_conn, django_user_model):
    """A bulk recover's (or a person's) redelivery whose worker died: the next attempt is still theirs."""
    settings.WEBHOOK_CLAIM_LEASE = 60
    settings.WEBHOOK_RETRY_DELAYS = [30, 30]
    user = django_user_model.objects.create_user("xiaowang")
    (customer,) = make_customers(1)
    webhook = make_webhook("https://example.test/h", auto_retry=True)
    delivery = services.message_publish(event="form/submit", webhooks=[webhook], customer=customer).deliveries.get()
    claimed_at = timezone.now() - timedelta(seconds=61)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENDING,
        claimed_by="dead-drain",
        claimed_at=claimed_at,
        attempt_count=1,
        redeliver_requested_by=user,
    )
    assert record.leases_expired_record() == 1
    delivery.refresh_from_db()
    lost = Attempt.objects.get(delivery=delivery)
    assert (lost.error_class, lost.trigger, lost.requested_by) == ("WorkerLost", Attempt.Trigger.REDELIVER, user)
    assert delivery.status == Delivery.Status.RETRYING
    assert delivery.redeliver_requested_by == user  # kept: the delivery has not ended
    assert delivery.retry_count == 1  # and the lost attempt counts, so a crashing delivery cannot loop
    # Its next attempt, whenever it goes, is recorded as that person's redelivery.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    (held,) = claim.deliveries_claim(webhook_id=webhook.pk, priorities=claim.REALTIME, limit=1, token="live")
    result = AttemptResult(
        delivery_id=held.id,
        started_at=timezone.now(),
        duration_ms=5,
        url=webhook.url,
        request_headers={},
        succeeded=True,
        response_status=200,
    )
    record.wave_record(claimed=[held], results=[result], token="live")
    delivery.refresh_from_db()
    second = Attempt.objects.filter(delivery=delivery).order_by("number").last()
    assert (second.trigger, second.requested_by, second.succeeded) == (Attempt.Trigger.REDELIVER, user, True)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.redeliver_requested_by is None  # ended: nothing more to credit


def _sending(*, token: str, claimed_at, count: int = 2):
    webhook = make_webhook("https://example.test/h", auto_retry=True)
    for customer in make_customers(count):
        services.message_publish(event="form/submit", webhooks=[webhook], customer=customer)
    Delivery.objects.update(status=Delivery.Status.SENDING, claimed_by=token, claimed_at=claimed_at)


def test_the_claims_of_a_live_drain_are_not_taken_back_however_old(settings, redis_conn):
    settings.WEBHOOK_CLAIM_LEASE = 60
    long_ago = timezone.now() - timedelta(hours=1)
    _sending(token="live-drain", claimed_at=long_ago)
    DrainLease.objects.create(token="live-drain", heartbeat_at=timezone.now())
    assert record.leases_expired_record() == 0
    assert not Attempt.objects.exists()


def test_the_claims_of_a_dead_drain_are_taken_back_once_each(settings, redis_conn):
    settings.WEBHOOK_DRAIN_TIMEOUT = 8
    _sending(token="dead-drain", claimed_at=timezone.now())  # claimed a moment ago: the heartbeat decides
    DrainLease.objects.create(token="dead-drain", heartbeat_at=timezone.now() - timedelta(seconds=9))
    assert claim.drains_dead_due()
    assert record.claims_dead_take_back() == 2
    assert record.claims_dead_take_back() == 0  # a second take-back finds nothing to move
    assert not DrainLease.objects.exists()
    assert Attempt.objects.filter(error_class="WorkerLost").count() == 2
    assert all(d.attempt_count == 1 for d in Delivery.objects.all())
