"""Retention (webhooks/services/retention.py): the prune, its batches and slices, the daily run, a customer deleted."""

import io
import re
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from webhookhub.errors import HubError
from webhooks import services
from webhooks.content.events import Event
from webhooks.engine import claim, doorbell, record
from webhooks.engine.bulk import rows_insert
from webhooks.models import Attempt, Delivery, Message, PruneState, new_delivery_id
from webhooks.services import retention

from ..factories import make_customers, make_webhook
from ..support.waiting import wait_until
from ..support.workers import run_worker, running_worker

Status = Delivery.Status


def old_rows(webhook, *, count, days_old, status=Status.SUCCEEDED, attempts_each=1, customer=None) -> list[str]:
    """`count` deliveries created `days_old` days ago, each with `attempts_each` attempts, bulk-inserted."""
    message = Message.objects.create(event=Event.GROUP_SEND)
    created = timezone.now() - timedelta(days=days_old)
    deliveries = [
        Delivery(
            id=new_delivery_id(),
            message_id=message.pk,
            webhook_id=webhook.pk,
            customer_id=customer.pk if customer else None,
            event=Event.GROUP_SEND,
            body=f'{{"n":{i},"mobile":"13900000000"}}',
            status=status,
            attempt_count=attempts_each,
            next_attempt_at=None if status in Delivery.FINAL_STATUSES else created,
        )
        for i in range(count)
    ]
    rows_insert(Delivery, deliveries)
    # created_at is auto_now_add: the insert stamps now; the rows are then aged in one statement.
    Delivery.objects.filter(message=message).update(created_at=created, updated_at=created)
    rows_insert(
        Attempt,
        [
            Attempt(
                delivery_id=delivery.id,
                number=number,
                trigger=Attempt.Trigger.FIRST if number == 1 else Attempt.Trigger.RETRY,
                started_at=created + timedelta(minutes=number),
                duration_ms=40,
                url=webhook.url,
                request_headers={"X-Clab-Event": Event.GROUP_SEND, "X-Clab-Hmac-Signature": "ab" * 32},
                response_status=200 if number == attempts_each else 500,
                response_headers={"Set-Cookie": "session=secret-ish"},
                response_body='{"echo":"13900000000"}',
                response_size=22,
                succeeded=number == attempts_each,
            )
            for delivery in deliveries
            for number in range(1, attempts_each + 1)
        ],
    )
    return [delivery.id for delivery in deliveries]


def blanked(delivery_ids) -> bool:
    deliveries = Delivery.objects.filter(pk__in=delivery_ids)
    attempts = Attempt.objects.filter(delivery_id__in=delivery_ids)
    return (
        deliveries.count() == len(delivery_ids)
        and all(d.body == "" for d in deliveries)
        and all(a.response_body == "" and a.response_headers == {} and a.request_headers == {} for a in attempts)
    )


def untouched(delivery_ids) -> bool:
    deliveries = list(Delivery.objects.filter(pk__in=delivery_ids))
    attempts = list(Attempt.objects.filter(delivery_id__in=delivery_ids))
    return (
        len(deliveries) == len(delivery_ids)
        and all(d.body.startswith('{"n":') for d in deliveries)
        and all(a.response_body and a.request_headers and a.response_headers for a in attempts)
    )


@pytest.fixture
def webhook():
    return make_webhook("http://127.0.0.1:9/hook")


@pytest.mark.django_db
def test_prune_deletes_past_retention_and_blanks_bodies_past_their_days(webhook, redis_conn):
    ancient = old_rows(webhook, count=3, days_old=200, attempts_each=2)
    ancient_failed = old_rows(webhook, count=2, days_old=181, status=Status.FAILED)
    ancient_waiting = old_rows(webhook, count=1, days_old=200, status=Status.PENDING, attempts_each=0)
    middle = old_rows(webhook, count=4, days_old=40, attempts_each=2)
    recent = old_rows(webhook, count=2, days_old=29)

    report = retention.prune()

    assert report.finished
    assert (report.deliveries_deleted, report.attempts_deleted) == (5, 8)
    assert (report.bodies_blanked, report.attempts_blanked) == (4, 8)
    assert not Delivery.objects.filter(pk__in=ancient + ancient_failed).exists()
    assert not Attempt.objects.filter(delivery_id__in=ancient + ancient_failed).exists()
    # Unfinished deliveries are never deleted nor blanked, however old: they still have to be sent.
    assert Delivery.objects.get(pk=ancient_waiting[0]).body.startswith('{"n":')
    assert blanked(middle)
    # The rest of a blanked row stays: status, counts, the attempt's status code and timing.
    attempt = Attempt.objects.filter(delivery_id=middle[0]).order_by("number").last()
    assert (attempt.response_status, attempt.duration_ms, attempt.succeeded) == (200, 40, True)
    assert Delivery.objects.get(pk=middle[0]).status == Status.SUCCEEDED
    assert untouched(recent)

    # A second run finds nothing more to do.
    again = retention.prune()
    assert [again.deliveries_deleted, again.attempts_deleted, again.bodies_blanked, again.attempts_blanked] == [0] * 4


@pytest.mark.django_db
def test_a_waiting_delivery_pins_the_watermark_until_it_finishes(webhook, redis_conn):
    waiting = old_rows(webhook, count=1, days_old=40, status=Status.RETRYING, attempts_each=1)
    later = old_rows(webhook, count=2, days_old=35)
    report = retention.prune()
    assert report.bodies_blanked == 2
    assert blanked(later)
    assert untouched(waiting)
    # It finishes (a paused webhook resumed, say): the next prune blanks it, though it is behind the
    # rows already done.
    Delivery.objects.filter(pk__in=waiting).update(status=Status.SUCCEEDED)
    assert retention.prune().bodies_blanked == 1
    assert blanked(waiting)
    # Nothing waits any more: the watermark moves past everything, and the next run reads no row.
    assert retention.prune().batches == 0


@pytest.mark.django_db
def test_prune_works_in_batches_and_stops_between_them_when_out_of_time(webhook, redis_conn, settings):
    settings.RETENTION_BATCH_SIZE = 4
    ids = old_rows(webhook, count=10, days_old=190)
    first = retention.prune(time_budget=0)
    # At least one batch per call, so slices always make progress.
    assert (first.finished, first.batches, first.deliveries_deleted) == (False, 1, 4)
    assert Delivery.objects.filter(pk__in=ids).count() == 6
    second = retention.prune(time_budget=0)
    assert (second.finished, second.deliveries_deleted) == (False, 4)
    rest = retention.prune()
    assert rest.finished
    assert rest.deliveries_deleted == 2
    assert rest.batches == 1
    assert not Delivery.objects.filter(pk__in=ids).exists()


@pytest.mark.django_db
def test_prune_command_reports_what_it_removed_and_the_webhook_page_shows_the_policy(webhook, redis_conn, admin_client):
    old_rows(webhook, count=3, days_old=200, attempts_each=2)
    old_rows(webhook, count=2, days_old=60)
    out = io.StringIO()
    call_command("prune", stdout=out)
    assert "prune: deleted 3 deliveries and 6 attempts; blanked the bodies of 2 deliveries and 2 attempts" in (
        out.getvalue()
    )

    html = admin_client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])).content.decode()
    section = html[html.index('id="retention"') :]
    assert "180 days after they were created, then deleted" in section
    assert "30 days, then blanked; at once when the customer is deleted" in section
    assert "every day at 03:30" in section
    last = re.search(r'id="retention-last-run">([^<]*)<', section).group(1)
    assert "3 deliveries and 6 attempts deleted, 2 bodies blanked" in last


@pytest.mark.django_db
def test_deleting_a_customer_blanks_their_bodies_and_cancels_what_still_waits(webhook, redis_conn, admin_client):
    gone, kept = make_customers(2)
    # One delivery per message and customer (the unique constraint), as sends make them.
    sent = [old_rows(webhook, count=1, days_old=days, customer=gone, attempts_each=2)[0] for days in (1, 2)]
    waiting = old_rows(webhook, count=1, days_old=0, customer=gone, status=Status.PENDING, attempts_each=0)
    others = [old_rows(webhook, count=1, days_old=days, customer=kept)[0] for days in (1, 2)]

    response = admin_client.post(reverse("admin:customers_customer_delete", args=[gone.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Customer.objects.filter(pk=gone.pk).exists()

    # The rows stay (a send's progress does not move), without body and without the customer.
    assert blanked(sent + waiting)
    assert set(Delivery.objects.filter(pk__in=sent).values_list("status", "customer_id")) == {(Status.SUCCEEDED, None)}
    cancelled = Delivery.objects.get(pk=waiting[0])
    assert (cancelled.status, cancelled.next_attempt_at) == (Status.CANCELLED, None)
    assert untouched(others)

    # Nothing is left to send again: redelivery says why instead of posting an empty body.
    with pytest.raises(HubError, match="no longer kept"):
        services.delivery_redeliver(delivery=Delivery.objects.get(pk=sent[0]))
    page = admin_client.get(reverse("admin:webhooks_delivery_change", args=[sent[0]])).content.decode()
    assert 'id="body-not-kept"' in page
    assert "kept 30 days" in page


def prune_state() -> PruneState:
    return PruneState.objects.get(pk=1)


def prune_due_now() -> None:
    """The daily run's time has come (as if RETENTION_PRUNE_AT had just passed)."""
    retention.prune_slice_run()  # the first look reckons the next run
    PruneState.objects.filter(pk=1).update(due_at=timezone.now() - timedelta(minutes=1))


@pytest.mark.django_db
def test_the_daily_prune_is_due_work_kept_in_the_database(redis_conn, settings):
    settings.RETENTION_PRUNE_AT = "03:30"
    # Never looked at: due, so that a drain reckons its time; the look itself prunes nothing.
    assert retention.prune_due()
    assert retention.prune_slice_run() == 0
    due = prune_state().due_at
    local_due = timezone.localtime(due)
    assert (local_due.hour, local_due.minute) == (3, 30)
    assert timedelta(0) < due - timezone.now() <= timedelta(days=1)
    assert not retention.prune_due()
    # The scheduler's bell is set for it, with the engine's other due work.
    assert retention.prune_next_at() == due
    assert claim.next_due_at() <= due
    # Redis emptied: nothing of the prune was there.
    redis_conn.flushdb()
    assert (retention.prune_due(), retention.prune_next_at()) == (False, due)

    # Its time comes: due, unless a live slice runs it; a slice whose time ran out (its worker killed) is taken over.
    PruneState.objects.filter(pk=1).update(due_at=timezone.now() - timedelta(seconds=1))
    assert retention.prune_due()
    PruneState.objects.filter(pk=1).update(running_until=timezone.now() + timedelta(minutes=1))
    assert not retention.prune_due()
    assert retention.prune_slice_run() == 0  # another drain's slice holds it: this one does nothing
    PruneState.objects.filter(pk=1).update(running_until=timezone.now() - timedelta(seconds=1))
    assert retention.prune_due()
    retention.prune_slice_run()
    state = prune_state()
    assert (state.running_until, state.run_started_at, state.due_at) == (None, None, due)
    assert state.last_report["finished"]

    # Another time of day is reckoned anew, once the run under way (a slice of it running now) is over;
    # none switches it off.
    settings.RETENTION_PRUNE_AT = "23:05"
    PruneState.objects.filter(pk=1).update(
        run_started_at=timezone.now(), running_until=timezone.now() + timedelta(minutes=1)
    )
    assert not retention.prune_due()
    PruneState.objects.filter(pk=1).update(run_started_at=None, running_until=None)
    assert retention.prune_due()
    retention.prune_slice_run()
    assert timezone.localtime(prune_state().due_at).strftime("%H:%M") == "23:05"
    settings.RETENTION_PRUNE_AT = ""
    assert (retention.prune_due(), retention.prune_next_at(), retention.next_run_at()) == (False, None, None)
    assert retention.prune_slice_run() == 0


@pytest.mark.django_db(transaction=True)  # db_retry closes the connection, as after a dropped one
def test_a_slice_that_fails_lets_go_of_the_run_so_its_retry_prunes_at_once(webhook, monkeypatch):
    ids = old_rows(webhook, count=3, days_old=200)
    prune_due_now()
    real_prune = retention.prune
    failures = []

    def locked_once(**kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("database is locked")
        return real_prune(**kwargs)

    monkeypatch.setattr(retention, "prune", locked_once)
    # The drain's second thread runs each piece of long work through db_retry, as here.
    record.db_retry(retention.prune_slice_run)
    assert failures == [1]
    assert not Delivery.objects.filter(pk__in=ids).exists()
    state = prune_state()
    assert (state.running_until, state.last_report["deliveries_deleted"]) == (None, 3)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_drain_runs_the_due_prune_in_slices_and_reckons_the_next_run(webhook, redis_conn):
    ids = old_rows(webhook, count=12, days_old=200)
    old_rows(webhook, count=3, days_old=45)
    prune_due_now()
    # A worker's tick rings for due work; here the bell is rung at once. Five deliveries per batch and
    # no time per slice: each slice does one batch, and the drain runs the next at once.
    doorbell.ring(doorbell.BULK_QUEUE)
    log = run_worker(RETENTION_BATCH_SIZE=5, RETENTION_SLICE_SECONDS=0)
    assert not Delivery.objects.filter(pk__in=ids).exists()
    state = prune_state()
    last = state.last_report
    assert (last["deliveries_deleted"], last["attempts_deleted"], last["bodies_blanked"]) == (12, 12, 3), log[-2000:]
    assert last["finished"]
    assert last["batches"] == 4
    assert len(re.findall(r"prune of \S+: a slice done", log)) == 4, log[-3000:]
    # Between runs the book is clean and the next run is tomorrow's (or today's) 03:30.
    assert (state.running_until, state.run_started_at, state.run_report) == (None, None, {})
    assert timezone.now() < state.due_at <= timezone.now() + timedelta(days=1)
    assert retention.policy()["last_run"] == last


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_prune_of_100000_old_rows_runs_while_sends_go_on(receiver, redis_conn):
    webhook = make_webhook(receiver.url(), secret_key="s3cr3t")
    customers = make_customers(3)
    clock = time.monotonic()
    # 50,000 deliveries and their 50,000 attempts: 100,000 rows past retention.
    old = []
    for _ in range(5):
        old += old_rows(webhook, count=10_000, days_old=200)
    setup_s = time.monotonic() - clock
    assert Attempt.objects.filter(delivery_id__in=old[:10]).count() == 10

    prune_due_now()
    with running_worker() as worker:
        wait_until(lambda: "Listening on" in worker.log, timeout=30, message="the worker listening")
        # The worker's tick finds the prune due and rings for it; a drain runs it on its second thread.
        wait_until(lambda: prune_state().run_started_at is not None, timeout=30, message="the prune started by a drain")
        # Test sends while the prune runs: each is delivered and recorded in its usual time, by the same
        # worker whose drain prunes.
        sent_during = []
        for round_number in range(30):
            if prune_state().last_report:
                break
            customer = customers[round_number % len(customers)]
            started = time.monotonic()
            delivery = services.message_test_send(webhook=webhook, customer=customer)
            wait_until(
                lambda d=delivery: Delivery.objects.filter(pk=d.pk, status=Status.SUCCEEDED).exists(),
                timeout=10,
                interval=0.05,
                message="a test send during the prune",
            )
            sent_during.append((time.monotonic() - started, not prune_state().last_report))
        wait_until(lambda: prune_state().last_report, timeout=300, message="the prune finished")
    last = prune_state().last_report
    assert (last["deliveries_deleted"], last["attempts_deleted"]) == (50_000, 50_000), worker.log[-2000:]
    # Sends went on while the prune was still running, each delivered within a couple of seconds.
    during = [seconds for seconds, running in sent_during if running]
    assert len(during) >= 2, (sent_during, last)
    assert max(during) < 5, sent_during
    # Short transactions: no batch holds its locks for long.
    assert last["longest_batch_ms"] < 3000, last
    assert not Delivery.objects.filter(pk__in=old[:1000]).exists()
    assert Delivery.objects.filter(event=Event.TEST_SEND, status=Status.SUCCEEDED).count() == len(sent_during)
    summary = retention.PruneReport(**{k: v for k, v in last.items() if k != "at"}).summary()
    print(f"set-up {setup_s:.1f}s; sends during the prune: {sent_during}; {summary}")
