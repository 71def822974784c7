"""The engine's promises under faults, through real worker processes, Redis and receivers on 127.0.0.1:
stop means stop, a slow receiver cannot outlive a job, 410 and 3xx are final, no scheduler still
sends, realtime work overtakes a busy bulk send, and a Redis outage does not end a busy worker."""

import time

import pytest

from webhooks import services
from webhooks.models import Attempt, Delivery, GroupSend, Webhook

from ..factories import make_customers, make_group, make_webhook
from ..support.receivers import ScriptedServer
from ..support.waiting import wait_until
from ..support.workers import WorkerHandle, running_worker, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def send_status(send):
    return GroupSend.objects.get(pk=send.pk).status


def test_stop_mid_send_starts_no_request_after_it_returned(redis_conn):
    delay = 0.1
    with ScriptedServer(delay=delay) as server:
        group = make_group(make_customers(1500))
        webhook = make_webhook(server.url(), max_concurrency=20)
        with running_worker(WEBHOOK_WAVE_SIZE="20") as worker:
            send = services.group_send_create(webhook=webhook, group=group)
            wait_until(lambda: len(server.posts()) >= 100, timeout=30, message="the send under way")
            services.group_send_cancel(send=send)
            stopped_at = time.monotonic()
            wait_until(
                lambda: not Delivery.objects.exclude(status__in=Delivery.FINAL_STATUSES).exists(),
                timeout=20,
                message="every delivery final",
            )
            time.sleep(1)
            log = worker.log
        hits = server.posts()
    arrived_after = [hit for hit in hits if hit.at - delay > stopped_at + 0.05]
    assert arrived_after == [], log[-2000:]
    in_flight_at_stop = [hit for hit in hits if hit.at > stopped_at]
    assert len(in_flight_at_stop) <= 20  # at most the webhook's concurrency was still on its way
    assert send_status(send) == GroupSend.Status.CANCELLED
    cancelled = Delivery.objects.filter(status=Delivery.Status.CANCELLED).count()
    assert cancelled > 0
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == len(hits)
    assert not Delivery.objects.filter(status=Delivery.Status.RETRYING).exists()


def test_a_receiver_slower_than_a_drain_is_allowed_still_ends_final_and_seen_once(redis_conn):
    # Each answer takes 3 s; a drain claims new work for 1 s only: waves, not the job, bound the work.
    with ScriptedServer(delay=3) as server:
        group = make_group(make_customers(12))
        webhook = make_webhook(server.url(), max_concurrency=4, read_timeout=10)
        with running_worker(WEBHOOK_DRAIN_BUDGET="1") as worker:
            send = services.group_send_create(webhook=webhook, group=group)
            wait_until(
                lambda: send_status(send) == GroupSend.Status.COMPLETED, timeout=60, message="the send completed"
            )
            log = worker.log
        hits = server.posts()
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 12, log[-2000:]
    assert len(hits) == 12
    assert len({hit.delivery_id for hit in hits}) == 12
    assert server.max_in_flight["/hook"] <= 4
    assert Attempt.objects.count() == 12


def test_410_fails_at_once_and_pauses_the_webhook_302_names_its_location(redis_conn):
    def answer(hit):
        if hit.path == "/gone":
            return 410, {}, b"gone"
        return 302, {"Location": "https://new.example.test/hook"}, b""

    with ScriptedServer(answer) as server:
        customers = make_customers(2)
        gone = make_webhook(server.url("/gone"), auto_retry=True)
        moved = make_webhook(server.url("/moved"), auto_retry=True)
        with running_worker(WEBHOOK_RETRY_DELAYS="1,1,1"):
            services.message_publish(event="form/submit", webhooks=[gone, moved], customer=customers[0])
            wait_until(
                lambda: Delivery.objects.filter(status=Delivery.Status.FAILED).count() == 2,
                timeout=15,
                message="both failed",
            )
            # A second message to the gone webhook waits: it is paused.
            services.message_publish(event="form/submit", webhooks=[gone], customer=customers[1])
            time.sleep(3)  # three retry delays: nothing is retried, nothing more is sent
        hits = server.posts()
    assert [hit.path for hit in hits].count("/gone") == 1
    assert [hit.path for hit in hits].count("/moved") == 1
    gone.refresh_from_db()
    assert gone.is_paused
    assert gone.gone_at
    assert "410" in gone.pause_text
    failed_gone = Delivery.objects.get(webhook=gone, status=Delivery.Status.FAILED)
    assert failed_gone.attempt_count == 1
    assert "410" in failed_gone.last_error
    failed_moved = Delivery.objects.get(webhook=moved)
    assert failed_moved.attempt_count == 1
    assert "https://new.example.test/hook" in failed_moved.last_error
    assert Delivery.objects.filter(webhook=gone, status=Delivery.Status.PENDING).count() == 1
    services.webhook_resume(webhook=Webhook.objects.get(pk=gone.pk))
    assert not Webhook.objects.get(pk=gone.pk).is_paused


def test_workers_without_the_scheduler_still_send_due_retries_and_scheduled_sends(redis_conn):
    from datetime import timedelta

    from django.utils import timezone

    answers = {"n": 0}

    def answer(hit):
        answers["n"] += 1
        return (500, {}, b"") if hit.path == "/flaky" and answers["n"] == 1 else (200, {}, b"ok")

    with ScriptedServer(answer) as server:
        customers = make_customers(3)
        flaky = make_webhook(server.url("/flaky"), auto_retry=True)
        group_hook = make_webhook(server.url("/group"))
        with running_worker(scheduler=False, WEBHOOK_RETRY_DELAYS="2", WEBHOOK_TICK_INTERVAL="1") as worker:
            services.message_publish(event="form/submit", webhooks=[flaky], customer=customers[0])
            send = services.group_send_create(
                webhook=group_hook, group=make_group(customers[1:]), scheduled_at=timezone.now() + timedelta(seconds=2)
            )
            wait_until(
                lambda: (
                    send_status(send) == GroupSend.Status.COMPLETED
                    and Delivery.objects.get(webhook=flaky).status == Delivery.Status.SUCCEEDED
                ),
                timeout=30,
                message="the retry and the scheduled send went out",
            )
            assert "scheduler" not in worker.log.lower() or "Scheduler" not in worker.log
    assert Delivery.objects.get(webhook=flaky).attempt_count == 2


def test_realtime_work_overtakes_a_busy_bulk_send(redis_conn):
    with ScriptedServer(delay=0.5) as slow, ScriptedServer() as fast:
        group = make_group(make_customers(2000))
        bulk = make_webhook(slow.url(), max_concurrency=100)
        realtime = make_webhook(fast.url())
        (visitor,) = make_customers(1, start=90000)
        with running_worker():
            send = services.group_send_create(webhook=bulk, group=group)
            wait_until(lambda: len(slow.posts()) >= 200, timeout=30, message="the bulk send under way")
            published = time.monotonic()
            services.message_publish(event="form/submit", webhooks=[realtime], customer=visitor)
            wait_until(lambda: fast.posts(), timeout=10, interval=0.01, message="the realtime delivery")
            latency = fast.posts()[0].at - published
            assert send_status(send) == GroupSend.Status.SENDING  # the bulk send was still going
            services.group_send_cancel(send=send)
    assert latency < 3.0  # generous: the benchmark measures it


def test_a_busy_worker_survives_a_redis_outage_and_finishes_the_send(own_redis, redis_conn):
    with ScriptedServer(delay=0.05) as server:
        group = make_group(make_customers(1200))
        webhook = make_webhook(server.url(), max_concurrency=10)
        process = start_worker(burst=False, scheduler=True, REDIS_URL=own_redis.url, LANGUAGE_CODE="en")
        worker = WorkerHandle(process)
        try:
            wait_until(lambda: own_redis.client.keys("rq:worker:*"), timeout=20, message="the worker up")
            send = services.group_send_create(webhook=webhook, group=group)
            wait_until(lambda: len(server.posts()) >= 100, timeout=30, message="the send under way")
            own_redis.stop()
            time.sleep(10)
            own_redis.start()
            wait_until(
                lambda: send_status(send) == GroupSend.Status.COMPLETED, timeout=90, message="the send completed"
            )
            assert process.poll() is None, worker.log[-3000:]  # the same worker process, no restart
        finally:
            worker.stop()
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 1200
    assert len({hit.delivery_id for hit in server.posts()}) == 1200
