"""Unattended operation through real workers, Redis and receivers on 127.0.0.1: a receiver failing past
the policy pauses its webhook, announced once per kind, and loses nothing; 410 pauses at once; the
extended retry policy's retry goes out at its (test-sized) time. Run on SQLite and with PG=1."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks import services
from webhooks.engine.retry_policy import RetryPolicyKind, policy_of, retry_delay
from webhooks.models import Attempt, Delivery, Webhook, WebhookHistory
from webhooks.models.health import WebhookHealth, WebhookIncident
from webhooks.signals import webhook_health_changed

from ..factories import make_customers, make_webhook
from ..support import signal_log
from ..support.receivers import ScriptedServer
from ..support.waiting import wait_until
from ..support.workers import running_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signals(tmp_path):
    """Every webhook_health_changed: those the workers sent (their log file) and this process's own."""
    path = tmp_path / "signals.jsonl"
    here: list[dict] = []

    def receive(sender, *, webhook, kind, incident_id, facts, **kwargs):
        here.append({"webhook": webhook.pk, "kind": kind, "incident_id": incident_id, "facts": facts})

    webhook_health_changed.connect(receive, dispatch_uid="test-health-here")

    class Signals:
        env = {signal_log.ENV: str(path)}

        def all(self) -> list[dict]:
            return signal_log.read(path) + here

        def kinds(self, webhook) -> list[str]:
            return sorted(s["kind"] for s in self.all() if s["webhook"] == webhook.pk)

    yield Signals()
    webhook_health_changed.disconnect(dispatch_uid="test-health-here")


def publish(webhook, customers):
    for customer in customers:
        services.message_publish(event="form/submit", webhooks=[webhook], customer=customer)


def test_a_failing_receiver_is_paused_by_the_policy_announced_once_per_kind_and_loses_nothing(redis_conn, signals):
    state = {"up": False}
    lock = threading.Lock()

    def answer(hit):
        with lock:
            return (200, {}, b"ok") if state["up"] else (500, {}, b"down for maintenance")

    customers = make_customers(30)
    with ScriptedServer(answer) as server:
        webhook = make_webhook(
            server.url(),
            auto_retry=True,
            alert_after_failures=4,
            autopause_failures=12,
            autopause_hours=0,
            max_concurrency=4,
        )
        # Two workers record waves of the same webhook side by side (small waves: many of them).
        env = {"WEBHOOK_RETRY_DELAYS": "1,1,1,1,1", "WEBHOOK_WAVE_SIZE": "2", **signals.env}
        with running_worker(**env) as first, running_worker(**env) as second:
            publish(webhook, customers[:10])
            wait_until(lambda: Webhook.objects.get(pk=webhook.pk).is_paused, timeout=60, message="paused by the policy")
            wait_until(
                lambda: not Delivery.objects.filter(webhook=webhook, status=Delivery.Status.SENDING).exists(),
                timeout=30,
                message="what was in flight when it paused recorded",
            )
            sent_before = len(server.posts())
            # Accepted and recorded while paused: these wait.
            publish(webhook, customers[10:20])
            new_ids = set(Delivery.objects.filter(customer__in=customers[10:20]).values_list("id", flat=True))
            time.sleep(3)  # three retry delays: nothing goes out while paused, retries included
            assert len(server.posts()) == sent_before, first.log[-2000:] + second.log[-2000:]
            waiting = set(
                Delivery.objects.filter(webhook=webhook, status__in=Delivery.WAITING_STATUSES).values_list(
                    "id", flat=True
                )
            )
            assert len(waiting) >= 10  # the new ones, and the earlier ones still to be retried
            with lock:
                state["up"] = True
            resumed_at = time.monotonic()
            services.webhook_resume(webhook=Webhook.objects.get(pk=webhook.pk), user="ops@example.com")
            wait_until(
                lambda: (
                    not Delivery.objects.filter(webhook=webhook, pk__in=waiting)
                    .exclude(status=Delivery.Status.SUCCEEDED)
                    .exists()
                ),
                timeout=60,
                message="every waiting delivery sent after the resume",
            )
            time.sleep(1)
        hits = server.posts()
    after = [hit.delivery_id for hit in hits if hit.at > resumed_at]
    assert sorted(after) == sorted(waiting)  # every one once, none twice
    assert new_ids <= waiting
    seen = {hit.delivery_id for hit in hits}
    assert set(Delivery.objects.filter(webhook=webhook).values_list("id", flat=True)) <= seen
    assert signals.kinds(webhook) == ["failing", "paused", "recovered"], signals.all()
    incident = WebhookIncident.objects.get(webhook=webhook)
    assert incident.pause_cause == WebhookIncident.PauseCause.POLICY
    assert incident.ended_at is not None
    assert incident.resumed_by == "ops@example.com"
    by_kind = {s["kind"]: s for s in signals.all()}
    assert all(s["incident_id"] == incident.pk for s in by_kind.values())
    paused = by_kind["paused"]["facts"]
    assert paused["cause"] == "policy"
    assert paused["consecutive_failures"] >= 12
    assert paused["last_status_code"] == 500
    assert "down for maintenance" in paused["last_error"] or "500" in paused["last_error"]
    assert paused["reason"] == ""  # the cause code is the why; the alert words it
    assert "Paused automatically" in incident.pause_text
    assert by_kind["failing"]["facts"]["consecutive_failures"] >= 4
    assert by_kind["recovered"]["facts"]["by"] == "ops@example.com"
    actions = list(WebhookHistory.objects.filter(webhook=webhook).values_list("action", "actor"))
    assert (WebhookHistory.Action.PAUSED, "") in actions
    assert (WebhookHistory.Action.RESUMED, "ops@example.com") in actions
    health = WebhookHealth.objects.get(webhook=webhook)
    assert health.consecutive_failures == 0
    assert health.last_success_at is not None
    assert health.incident_id is None


def test_resume_sends_what_waited_oldest_first(redis_conn, signals):
    customers = make_customers(8)
    with ScriptedServer() as server:
        webhook = make_webhook(server.url(), max_concurrency=1)
        services.webhook_pause(webhook=webhook, reason="CRM migration", user="ops")
        publish(webhook, customers)
        created = list(Delivery.objects.filter(webhook=webhook).order_by("created_at").values_list("id", flat=True))
        with running_worker(**signals.env):
            time.sleep(2)
            assert server.posts() == []
            services.webhook_resume(webhook=Webhook.objects.get(pk=webhook.pk), user="ops")
            wait_until(lambda: len(server.posts()) == 8, timeout=30, message="all eight sent")
        assert [hit.delivery_id for hit in server.posts()] == created
    assert signals.kinds(webhook) == ["paused", "recovered"]


def test_resume_releases_retries_waiting_for_their_time_every_waiting_id_at_once_and_once(redis_conn, signals):
    """Auto-paused by the policy with retries 10 minutes away: the resume sends them all within seconds."""
    state = {"up": False}
    lock = threading.Lock()

    def answer(hit):
        with lock:
            return (200, {}, b"ok") if state["up"] else (503, {}, b"maintenance")

    customers = make_customers(12)
    with ScriptedServer(answer) as server:
        webhook = make_webhook(
            server.url(),
            auto_retry=True,
            alert_after_failures=2,
            autopause_failures=4,
            autopause_hours=0,
            max_concurrency=1,
        )
        env = {"WEBHOOK_RETRY_DELAYS": "600", "WEBHOOK_WAVE_SIZE": "1", **signals.env}
        with running_worker(**env) as worker:
            publish(webhook, customers[:6])
            wait_until(lambda: Webhook.objects.get(pk=webhook.pk).is_paused, timeout=60, message="paused by the policy")
            wait_until(
                lambda: not Delivery.objects.filter(webhook=webhook, status=Delivery.Status.SENDING).exists(),
                timeout=30,
                message="what was in flight when it paused recorded",
            )
            publish(webhook, customers[6:])
            waiting = Delivery.objects.filter(webhook=webhook, status__in=Delivery.WAITING_STATUSES)
            retrying = set(waiting.filter(status=Delivery.Status.RETRYING).values_list("id", flat=True))
            # Retries wait for their time: ten minutes from now, far past this test.
            assert len(retrying) >= 4
            assert all(
                at > timezone.now() + timedelta(minutes=5)
                for at in waiting.filter(pk__in=retrying).values_list("next_attempt_at", flat=True)
            )
            waiting_ids = list(waiting.order_by("created_at").values_list("id", flat=True))
            with lock:
                state["up"] = True
            resumed_at = time.monotonic()
            resumed = services.webhook_resume(webhook=Webhook.objects.get(pk=webhook.pk), user="ops")
            assert resumed.released == len(waiting_ids) == 12  # each retrying or never tried
            wait_until(
                lambda: (
                    not waiting.model.objects.filter(pk__in=waiting_ids)
                    .exclude(status=Delivery.Status.SUCCEEDED)
                    .exists()
                ),
                timeout=20,
                message="every waiting delivery sent within seconds of the resume",
            )
            time.sleep(1)  # anything sent twice would arrive now
            assert worker.log.count("Traceback") == 0, worker.log[-2000:]
        hits = [hit for hit in server.posts() if hit.at > resumed_at]
    # Each waiting id exactly once, oldest first (one at a time: the cap is 1), retries included.
    assert [hit.delivery_id for hit in hits] == waiting_ids
    assert max(hit.at for hit in hits) - resumed_at < 15
    history = WebhookHistory.objects.get(webhook=webhook, action=WebhookHistory.Action.RESUMED)
    assert history.data["released"] == len(waiting_ids)
    assert str(len(waiting_ids)) in history.details


def test_410_pauses_at_once_and_the_incident_says_why(redis_conn, signals):
    with ScriptedServer(lambda hit: (410, {}, b"endpoint removed")) as server:
        customers = make_customers(3)
        webhook = make_webhook(server.url("/gone"), auto_retry=True)
        with running_worker(WEBHOOK_RETRY_DELAYS="1,1,1", **signals.env):
            publish(webhook, customers[:1])
            wait_until(lambda: Webhook.objects.get(pk=webhook.pk).is_paused, timeout=20, message="paused on 410")
            publish(webhook, customers[1:])
            time.sleep(2)
        assert len(server.posts()) == 1
    webhook.refresh_from_db()
    assert webhook.gone_at is not None
    incident = WebhookIncident.objects.get(webhook=webhook)
    assert incident.pause_cause == WebhookIncident.PauseCause.GONE
    assert incident.last_status_code == 410
    assert "410" in incident.pause_text
    assert signals.kinds(webhook) == ["paused"]  # one failure: below the alert threshold, paused at once
    (paused,) = signals.all()
    assert paused["facts"]["cause"] == "gone"
    assert paused["facts"]["last_status_code"] == 410
    assert paused["facts"]["reason"] == ""  # the cause code "gone" is the why
    assert Delivery.objects.filter(webhook=webhook, status=Delivery.Status.PENDING).count() == 2


def test_an_extended_policy_retry_goes_out_at_its_time(redis_conn):
    answers = []

    def answer(hit):
        answers.append(hit)
        return (503, {}, b"busy") if len(answers) == 1 else (200, {}, b"ok")

    with ScriptedServer(answer) as server:
        (customer,) = make_customers(1)
        webhook = make_webhook(server.url(), auto_retry=True, retry_policy=RetryPolicyKind.EXTENDED)
        with running_worker(WEBHOOK_RETRY_BASE_DELAY="2", WEBHOOK_TICK_INTERVAL="1"):
            publish(webhook, [customer])
            wait_until(
                lambda: Delivery.objects.get(webhook=webhook).status == Delivery.Status.SUCCEEDED,
                timeout=30,
                message="the retry succeeded",
            )
        hits = server.posts()
    delivery = Delivery.objects.get(webhook=webhook)
    assert (delivery.attempt_count, delivery.retry_count) == (2, 1)
    first, second = Attempt.objects.filter(delivery=delivery).order_by("number")
    assert second.trigger == Attempt.Trigger.RETRY

    # The first retry of the extended policy: the base delay, moved by this delivery's own jitter.
    class Base:
        WEBHOOK_RETRY_DELAYS = [1]
        WEBHOOK_RETRY_BASE_DELAY = 2

    expected = retry_delay(policy_of(kind=RetryPolicyKind.EXTENDED, settings=Base), 1, delivery.pk)
    assert expected == 2  # 2 s ± 10 %, rounded
    gap = (second.started_at - first.started_at).total_seconds()
    assert gap >= expected - 0.2, (gap, expected)
    assert len(hits) == 2
    assert {hit.delivery_id for hit in hits} == {delivery.pk}


def test_waves_recorded_at_the_same_moment_announce_an_incident_once(settings, signals):
    """Eight transactions cross the alert threshold and the policy together (on PostgreSQL truly side by
    side): the health row's lock lets one incident open, and each kind goes out once."""
    from django.db import connection, transaction

    from webhooks.engine.http import AttemptResult
    from webhooks.health.services import wave_health_record

    settings.WEBHOOK_ALERT_AFTER_FAILURES = 5
    webhook = make_webhook("http://127.0.0.1:9/hook", autopause_hours=0, autopause_failures=10)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def wave():
        try:
            now = timezone.now()
            attempts = [
                (webhook.pk, AttemptResult("x", now, 1, "http://127.0.0.1:9/hook", {}, response_status=500))
                for _ in range(3)
            ]
            start.wait(10)
            with transaction.atomic():
                wave_health_record(
                    webhooks={webhook.pk: Webhook.objects.get(pk=webhook.pk)}, attempts=attempts, gone={}, now=now
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wave) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert WebhookHealth.objects.get(webhook=webhook).consecutive_failures == 24
    assert WebhookIncident.objects.filter(webhook=webhook).count() == 1
    assert signals.kinds(webhook) == ["failing", "paused"]
    assert Webhook.objects.get(pk=webhook.pk).is_paused
    assert WebhookHistory.objects.filter(webhook=webhook, action=WebhookHistory.Action.PAUSED).count() == 1
