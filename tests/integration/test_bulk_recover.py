"""Bulk recover through the real engine: a real rq worker (with rq's scheduler), Redis, receivers on
127.0.0.1 and the test database (SQLite, or PostgreSQL with PG=1).

- The failed deliveries of a 5,000-recipient send are sent again with their own ids, each seen once
  more by the receiver, each new attempt recorded as the user's, in batches that never hold a lock
  long: a concurrent test send's transaction is measured all along.
- Realtime first: a test send during a large recovery is delivered promptly.
- A stop is a stop: nothing new starts after it returns.
- Redis losing the bell only delays a recovery: the workers' tick finds it in the database.
"""

import threading
import time
from collections import Counter

import django_rq
import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from webhooks import services
from webhooks.engine import worker as hub_worker
from webhooks.models import Attempt, Delivery, GroupSend, Message, Recovery
from webhooks.services import recoveries

from ..factories import make_customers, make_group, make_webhook
from ..support.receivers import ScriptedServer
from ..support.waiting import wait_until
from ..support.workers import running_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class Switch:
    """A receiver that fails (500) until it is told to heal."""

    def __init__(self):
        self.healthy = False

    def __call__(self, hit):
        return (200, {}, b"ok") if self.healthy else (500, {}, b"down")


def _send_and_wait(webhook, group, *, timeout):
    send = services.group_send_create(webhook=webhook, group=group)
    wait_until(
        lambda: GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.COMPLETED,
        timeout=timeout,
        interval=0.5,
        message="the group send completed",
    )
    return send


class TransactionProbe(threading.Thread):
    """Another writer, all along: a test send (its own write transaction) every 100 ms, each timed."""

    def __init__(self, webhook, customer):
        super().__init__(daemon=True)
        self.webhook, self.customer = webhook, customer
        self.timings: list[float] = []
        self.stop = threading.Event()

    def run(self):
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                services.message_test_send(webhook=self.webhook, customer=self.customer)
                self.timings.append(time.monotonic() - started)
                time.sleep(0.1)
        finally:
            connection.close()


def test_failed_deliveries_of_a_5000_send_are_sent_again_with_their_ids_without_long_locks(redis_conn):
    user = get_user_model().objects.create_user("marketer", password="pw")
    answer = Switch()
    with ScriptedServer(answer) as server, ScriptedServer() as other, running_worker() as worker:
        customers = make_customers(5000)
        group = make_group(customers)
        webhook = make_webhook(server.url())
        send = _send_and_wait(webhook, group, timeout=240)
        assert Delivery.objects.filter(message__group_send=send, status=Delivery.Status.FAILED).count() == 5000
        first_ids = Counter(hit.delivery_id for hit in server.posts())
        assert len(first_ids) == 5000

        answer.healthy = True
        probe = TransactionProbe(make_webhook(other.url("/probe"), name="probe"), customers[0])
        probe.start()
        try:
            recovery = services.recovery_create(kind=Recovery.Kind.SEND, criteria={"send_id": send.pk}, user=user)
            assert (recovery.total, recovery.skipped, recovery.moved) == (5000, 0, 0)  # counted, nothing moved
            done = wait_until(
                lambda: (r := Recovery.objects.get(pk=recovery.pk)).status == Recovery.Status.COMPLETED and r,
                timeout=240,
                interval=0.5,
                message="the recovery completed",
            )
        finally:
            probe.stop.set()
            probe.join(30)
        log = worker.log

    counts = (done.total, done.moved, done.succeeded, done.failed, done.cancelled)
    assert counts == (5000, 5000, 5000, 0, 0), log[-3000:]
    again = Counter(hit.delivery_id for hit in server.posts()) - first_ids
    assert set(again) == set(first_ids), "every delivery id seen again"
    assert set(again.values()) == {1}, "each exactly once more"
    deliveries = Delivery.objects.filter(message__group_send=send)
    assert set(deliveries.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert set(deliveries.values_list("attempt_count", flat=True)) == {2}
    second = Attempt.objects.filter(delivery__message__group_send=send, number=2)
    assert second.count() == 5000
    assert set(second.values_list("trigger", "requested_by")) == {(Attempt.Trigger.REDELIVER, user.pk)}
    # The batches and waves never held the other writer back long (generous: a loaded 2-core machine).
    assert len(probe.timings) > 10, probe.timings
    print(f"concurrent test send: {len(probe.timings)} transactions, slowest {max(probe.timings):.3f} s")
    assert max(probe.timings) < 1.0, sorted(probe.timings)[-5:]
    progress = recoveries.recoveries_with_progress([done])[0].progress
    assert (progress["succeeded"], progress["pending"], progress["succeeded_pct"]) == (5000, 0, 100.0)


def test_a_test_send_during_a_large_recovery_is_delivered_promptly(redis_conn):
    user = get_user_model().objects.create_user("marketer", password="pw")
    answer = Switch()
    # Slow answers keep the recovery's waves in flight: the realtime delivery must not wait behind them.
    with ScriptedServer(answer, delay=0.2) as server, running_worker() as worker:
        customers = make_customers(2000)
        webhook = make_webhook(server.url(), max_concurrency=50)
        send = _send_and_wait(webhook, make_group(customers), timeout=240)
        answer.healthy = True
        recovery = services.recovery_create(kind=Recovery.Kind.SEND, criteria={"send_id": send.pk}, user=user)
        wait_until(
            lambda: Delivery.objects.filter(recovery=recovery, status=Delivery.Status.SUCCEEDED).count() >= 100,
            timeout=60,
            interval=0.1,
            message="the recovery under way",
        )
        started = time.monotonic()
        test = services.message_test_send(webhook=webhook, customer=customers[0], user=user)
        wait_until(
            lambda: Delivery.objects.get(pk=test.pk).status == Delivery.Status.SUCCEEDED,
            timeout=30,
            interval=0.02,
            message="the test send",
        )
        took = time.monotonic() - started
        left = Delivery.objects.filter(recovery=recovery, status__in=recoveries.OPEN).count()
        print(f"test send delivered after {took:.3f} s with {left} recovered deliveries still to send")
        services.recovery_stop(recovery=recovery, user=user)
        log = worker.log
    assert left > 500, "the recovery was still large when the test send went out"
    assert took < 5.0, log[-3000:]


def test_a_stopped_recovery_starts_nothing_after_the_stop_returns(redis_conn):
    user = get_user_model().objects.create_user("marketer", password="pw")
    answer = Switch()
    with ScriptedServer(answer, delay=0.3) as server, running_worker() as worker:
        # Enough that most of the recovery is still to send when it is stopped (> 500 cancelled below).
        customers = make_customers(800)
        webhook = make_webhook(server.url(), max_concurrency=20)
        send = _send_and_wait(webhook, make_group(customers), timeout=240)
        answer.healthy = True
        recovery = services.recovery_create(kind=Recovery.Kind.SEND, criteria={"send_id": send.pk}, user=user)
        wait_until(
            lambda: Delivery.objects.filter(recovery=recovery, status=Delivery.Status.SUCCEEDED).count() >= 60,
            timeout=60,
            interval=0.1,
            message="the recovery under way",
        )
        asked_at = time.monotonic()
        services.recovery_stop(recovery=recovery, user=user)
        stopped_at = time.monotonic()
        print(f"the stop returned in {stopped_at - asked_at:.3f} s")
        # Claimed before the stop committed: the wave in flight (still sending, or recorded since; asked in
        # that order, nothing claimed before is missed), which may still reach the receiver.
        in_flight = set(
            Delivery.objects.filter(recovery=recovery, status=Delivery.Status.SENDING).values_list("id", flat=True)
        )
        started = in_flight | set(
            Attempt.objects.filter(delivery__recovery=recovery, number=2).values_list("delivery_id", flat=True)
        )
        time.sleep(4)  # longer than a wave (20 × 0.3 s at most) and several drain turns and upkeeps
        late = {hit.delivery_id for hit in server.posts() if hit.at > stopped_at}
        log = worker.log
    stopped = Recovery.objects.get(pk=recovery.pk)
    assert stopped.status == Recovery.Status.STOPPED
    assert stopped.stopped_by == user
    assert len(in_flight) <= 20
    assert late <= started, (late - started, log[-3000:])
    assert Attempt.objects.filter(delivery__recovery=recovery, number=2).count() == len(started)
    rows = Delivery.objects.filter(recovery=recovery)
    assert not rows.filter(status__in=recoveries.OPEN).exists(), "nothing waits to be sent"
    cancelled = rows.filter(status=Delivery.Status.CANCELLED)
    assert cancelled.count() > 500
    assert "stopped by marketer" in cancelled.first().last_error
    # What the stop left unmoved stays failed; the moved and unsent are cancelled with the reason.
    assert Delivery.objects.filter(message__group_send=send, status=Delivery.Status.SUCCEEDED).count() < 800


def test_a_recovery_whose_bell_redis_lost_is_found_by_the_workers_tick(receiver, redis_conn, run_worker):
    webhook = make_webhook(receiver.url())
    customers = make_customers(20)
    message = Message.objects.create(event="form/submit")
    Delivery.objects.bulk_create(
        [
            Delivery(message=message, webhook=webhook, customer=c, event="form/submit", body="{}", status="failed")
            for c in customers
        ]
    )
    recovery = services.recovery_create(kind=Recovery.Kind.FILTER, criteria={"webhook_id": webhook.pk})
    redis_conn.flushdb()  # the bell is gone; the recovery's row is not
    hub = hub_worker.HubWorker([django_rq.get_queue("realtime"), django_rq.get_queue("bulk")], connection=redis_conn)
    hub.run_maintenance_tasks()
    assert django_rq.get_queue("bulk").count == 1
    run_worker()
    recovery.refresh_from_db()
    assert (recovery.status, recovery.succeeded) == (Recovery.Status.COMPLETED, 20)
    assert sorted(r.headers["X-Clab-Delivery-Id"] for r in receiver.received) == sorted(
        Delivery.objects.values_list("pk", flat=True)
    )
