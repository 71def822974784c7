"""Health in the admin and the Open API through the test client: counting a wave, the rates, the list's
column, pause and resume by hand (who and why; a Marketer cannot), the send dialog's warning, the
delivery list's label, the retry schedule's preview and the form's retry fields."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from api.models import Scope
from api.services import api_key_create
from webhooks import services
from webhooks.engine.http import AttemptResult
from webhooks.health import selectors as health_selectors
from webhooks.health.services import wave_health_record
from webhooks.models import Delivery, Webhook, WebhookHistory
from webhooks.models.health import WebhookHealth, WebhookHealthHour, WebhookIncident
from webhooks.signals import webhook_health_changed

from ..factories import make_customers, make_webhook
from .test_webhook_secret_storage import form_data

pytestmark = pytest.mark.django_db

HOOK_URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def heard():
    signals: list[dict] = []

    def receive(sender, *, webhook, kind, incident_id, facts, **kwargs):
        signals.append({"webhook": webhook.pk, "kind": kind, "incident_id": incident_id, "facts": facts})

    webhook_health_changed.connect(receive, dispatch_uid="test-health-admin")
    yield signals
    webhook_health_changed.disconnect(dispatch_uid="test-health-admin")


def result(ok: bool, at: datetime, status=None) -> AttemptResult:
    return AttemptResult(
        delivery_id="x",
        started_at=at,
        duration_ms=5,
        url=HOOK_URL,
        request_headers={},
        succeeded=ok,
        response_status=status if status is not None else (200 if ok else 500),
        error_message="" if ok else "HTTP 500",
    )


def record(webhook, outcomes, *, now=None, gone=None):
    """Count a wave as record.py does (its transaction and on-commit callbacks run here)."""
    now = now or timezone.now()
    attempts = [(webhook.pk, result(ok, now - timedelta(seconds=len(outcomes) - i))) for i, ok in enumerate(outcomes)]
    wave_health_record(
        webhooks={webhook.pk: Webhook.objects.get(pk=webhook.pk)}, attempts=attempts, gone=gone or {}, now=now
    )


def test_a_wave_counts_its_failures_after_the_last_success(django_capture_on_commit_callbacks):
    webhook = make_webhook(HOOK_URL)
    with django_capture_on_commit_callbacks(execute=True):
        record(webhook, [False, True, False, False])
    health = WebhookHealth.objects.get(webhook=webhook)
    assert health.consecutive_failures == 2
    assert health.failing_since is not None
    assert health.last_success_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        record(webhook, [False])
    health.refresh_from_db()
    assert health.consecutive_failures == 3
    (bucket,) = WebhookHealthHour.objects.filter(webhook=webhook)
    assert (bucket.succeeded, bucket.failed) == (1, 4)
    with django_capture_on_commit_callbacks(execute=True):
        record(webhook, [True])
    health.refresh_from_db()
    assert (health.consecutive_failures, health.failing_since) == (0, None)


def test_failing_is_announced_once_per_incident_then_recovered(heard, django_capture_on_commit_callbacks, settings):
    settings.WEBHOOK_ALERT_AFTER_FAILURES = 3
    webhook = make_webhook(HOOK_URL)
    for _wave in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            record(webhook, [False, False])
    assert [s["kind"] for s in heard] == ["failing"]
    with django_capture_on_commit_callbacks(execute=True):
        record(webhook, [True])
    with django_capture_on_commit_callbacks(execute=True):
        record(webhook, [True])
    assert [s["kind"] for s in heard] == ["failing", "recovered"]
    incident = WebhookIncident.objects.get(webhook=webhook)
    assert incident.ended_at is not None
    assert heard[0]["incident_id"] == heard[1]["incident_id"] == incident.pk
    assert heard[0]["facts"]["consecutive_failures"] == 4  # the wave that crossed the threshold (2 + 2)
    assert heard[0]["facts"]["last_status_code"] == 500
    # A new run of failures is a new incident, announced again.
    for _wave in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            record(webhook, [False, False])
    assert [s["kind"] for s in heard] == ["failing", "recovered", "failing"]
    assert WebhookIncident.objects.filter(webhook=webhook).count() == 2


def test_the_policy_needs_both_the_hours_and_the_failures(django_capture_on_commit_callbacks, settings):
    settings.WEBHOOK_AUTOPAUSE_HOURS = 24
    settings.WEBHOOK_AUTOPAUSE_FAILURES = 5
    webhook = make_webhook(HOOK_URL)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        record(webhook, [False] * 10, now=now)
    assert not Webhook.objects.get(pk=webhook.pk).is_paused  # many failures, but not for 24 hours
    with django_capture_on_commit_callbacks(execute=True):
        record(webhook, [False], now=now + timedelta(hours=25))
    paused = Webhook.objects.get(pk=webhook.pk)
    assert paused.is_paused
    # Stored as the cause code and its facts; worded in the reader's language and zone when read.
    assert paused.pause_reason == ""
    assert "11 failed attempts in a row" in paused.pause_text
    assert "UTC+8" in paused.pause_text
    assert "CST" not in paused.pause_text
    with translation.override("zh-hans"):
        assert "已自动暂停：连续 11 次请求失败" in paused.pause_text  # noqa: RUF001
    off = make_webhook(HOOK_URL, autopause=False)
    with django_capture_on_commit_callbacks(execute=True):
        record(off, [False] * 10, now=now)
        record(off, [False], now=now + timedelta(hours=25))
    assert not Webhook.objects.get(pk=off.pk).is_paused


def test_success_rates_weigh_the_partly_covered_hour():
    webhook = make_webhook(HOOK_URL)
    now = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    WebhookHealthHour.objects.create(webhook=webhook, hour=now.replace(minute=0), succeeded=30, failed=0)
    WebhookHealthHour.objects.create(webhook=webhook, hour=now.replace(hour=7, minute=0), succeeded=0, failed=20)
    WebhookHealthHour.objects.create(webhook=webhook, hour=now.replace(hour=1, minute=0), succeeded=50, failed=0)
    WebhookHealthHour.objects.create(webhook=webhook, hour=now - timedelta(days=3), succeeded=999, failed=999)
    rates = health_selectors.success_rates(webhook_id=webhook.pk, now=now)
    # The last hour: all of 08:00 to 08:30, half of 07:00 to 08:00.
    assert rates["hour"] == {"succeeded": 30, "failed": 10, "rate": 75.0}
    assert rates["day"] == {"succeeded": 80, "failed": 20, "rate": 80.0}


def test_the_daily_prune_deletes_old_hourly_buckets():
    from webhooks.services.retention import prune

    webhook = make_webhook(HOOK_URL)
    now = timezone.now()
    # Kept for the webhook page's 7-day chart (HEALTH_HOURS_KEPT), deleted past it.
    WebhookHealthHour.objects.create(webhook=webhook, hour=now - timedelta(days=9), succeeded=1, failed=0)
    recent = WebhookHealthHour.objects.create(webhook=webhook, hour=now - timedelta(days=6), succeeded=1, failed=0)
    prune(now=now)
    assert list(WebhookHealthHour.objects.values_list("pk", flat=True)) == [recent.pk]


def test_pause_and_resume_by_hand_record_who_and_why(
    admin_client, admin_user, heard, django_capture_on_commit_callbacks
):
    webhook = make_webhook(HOOK_URL, name="CRM")
    page = admin_client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])).content.decode()
    assert 'id="pause-webhook"' in page
    refused = admin_client.post(reverse("admin:webhooks_webhook_pause", args=[webhook.pk]), {"reason": ""})
    assert refused.status_code == 302
    assert not Webhook.objects.get(pk=webhook.pk).is_paused
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:webhooks_webhook_pause", args=[webhook.pk]), {"reason": "CRM migration"})
    webhook.refresh_from_db()
    assert webhook.is_paused
    assert webhook.pause_reason == "CRM migration"
    entry = WebhookHistory.objects.get(webhook=webhook, action=WebhookHistory.Action.PAUSED)
    assert entry.actor == admin_user.username
    assert "CRM migration" in entry.details
    page = admin_client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])).content.decode()
    assert 'id="resume-webhook"' in page
    assert "CRM migration" in page
    assert 'data-health="paused"' in page
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:webhooks_webhook_resume", args=[webhook.pk]))
    assert not Webhook.objects.get(pk=webhook.pk).is_paused
    assert WebhookHistory.objects.filter(
        webhook=webhook, action=WebhookHistory.Action.RESUMED, actor=admin_user.username
    ).exists()
    assert [(s["kind"], s["facts"]["by"]) for s in heard] == [
        ("paused", admin_user.username),
        ("recovered", admin_user.username),
    ]
    assert heard[0]["facts"]["reason"] == "CRM migration"
    assert heard[0]["facts"]["cause"] == "person"


def test_a_marketer_cannot_pause_or_resume(marketer_client):
    webhook = make_webhook(HOOK_URL)
    page = marketer_client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])).content.decode()
    assert 'id="webhook-health"' in page  # the health is shown to everyone who sees the webhook
    assert 'id="pause-webhook"' not in page
    assert (
        marketer_client.post(reverse("admin:webhooks_webhook_pause", args=[webhook.pk]), {"reason": "x"}).status_code
        == 403
    )
    services.webhook_pause(webhook=webhook, reason="by an admin")
    assert marketer_client.post(reverse("admin:webhooks_webhook_resume", args=[webhook.pk])).status_code == 403
    assert Webhook.objects.get(pk=webhook.pk).is_paused


def test_the_list_shows_each_webhooks_health(admin_client, django_capture_on_commit_callbacks):
    healthy = make_webhook(HOOK_URL, name="healthy one")
    failing = make_webhook(HOOK_URL, name="failing one")
    paused = make_webhook(HOOK_URL, name="paused one")
    make_webhook(HOOK_URL, name="new one")
    with django_capture_on_commit_callbacks(execute=True):
        record(healthy, [True])
        record(failing, [True, False])
    services.webhook_pause(webhook=paused, reason="maintenance")
    page = admin_client.get(reverse("admin:webhooks_webhook_changelist")).content.decode()
    assert page.count('data-health="healthy"') == 1
    assert page.count('data-health="failing"') == 1
    assert page.count('data-health="paused"') == 1
    assert page.count('data-health="unknown"') == 1
    assert "failing since" in page
    assert 'title="maintenance"' in page


def test_a_paused_webhook_warns_in_the_send_dialog_and_its_deliveries_wait(admin_client):
    webhook = make_webhook(HOOK_URL, name="CRM")
    services.webhook_pause(webhook=webhook, reason="CRM migration")
    dialog = admin_client.get(reverse("admin:webhooks_webhook_send", args=[webhook.pk]) + "?fragment=1")
    assert 'id="send-paused-warning"' in dialog.content.decode()
    assert "CRM migration" in dialog.content.decode()
    (customer,) = make_customers(1)
    services.message_publish(event="form/submit", webhooks=[webhook], customer=customer)
    listing = admin_client.get(reverse("admin:webhooks_delivery_changelist")).content.decode()
    assert "Waiting: webhook paused" in listing
    assert Delivery.objects.get(webhook=webhook).status == Delivery.Status.PENDING
    services.webhook_resume(webhook=Webhook.objects.get(pk=webhook.pk))
    dialog = admin_client.get(reverse("admin:webhooks_webhook_send", args=[webhook.pk]) + "?fragment=1")
    assert 'id="send-paused-warning"' not in dialog.content.decode()
    assert (
        "Waiting: webhook paused"
        not in admin_client.get(reverse("admin:webhooks_delivery_changelist")).content.decode()
    )


def test_the_retry_schedule_preview_uses_the_engines_rules(admin_client):
    url = reverse("admin:webhooks_webhook_retry_schedule")
    dmhub = admin_client.get(url, {"retry_policy": "dmhub", "auto_retry": "1"}).json()
    assert dmhub["lines"][0] == "Retry 1: 30 minutes after the failure"
    custom = admin_client.get(url, {"retry_policy": "custom", "retry_delays": "1m, 2h", "auto_retry": "1"}).json()
    assert custom["lines"][:2] == ["Retry 1: 1 minute after the failure", "Retry 2: 2 hours after the failure"]
    bad = admin_client.get(url, {"retry_policy": "custom", "retry_delays": "soon", "auto_retry": "1"}).json()
    assert "soon" in bad["error"]
    off = admin_client.get(url, {"retry_policy": "extended", "auto_retry": "0"}).json()
    assert off["lines"] == ["Automatic retry is off: a failed delivery is not retried."]


def test_the_form_saves_the_retry_and_pause_settings(admin_client):
    add = reverse("admin:webhooks_webhook_add")
    page = admin_client.post(add, form_data(retry_policy="custom", retry_delays=""))
    assert page.status_code == 200
    assert "Enter at least one delay" in page.content.decode()
    admin_client.post(
        add,
        form_data(
            auto_retry="on",
            retry_policy="custom",
            retry_delays="1m, 10m, 1h",
            autopause="on",
            autopause_hours="2",
            autopause_failures="10",
        ),
    )
    webhook = Webhook.objects.get()
    assert (webhook.retry_policy, webhook.retry_delays) == ("custom", [60, 600, 3600])
    assert (webhook.autopause, webhook.autopause_hours, webhook.autopause_failures) == (True, 2.0, 10)
    page = admin_client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])).content.decode()
    assert 'value="1m, 10m, 1h"' in page
    assert "Retry 3: 1 hour after the failure" in page


def test_the_open_api_exposes_the_policy_and_the_health(client, admin_user):
    key, secret = api_key_create(name="ops", scopes=[Scope.WEBHOOKS_READ, Scope.WEBHOOKS_WRITE], user=admin_user)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    webhook = make_webhook(HOOK_URL)
    answer = client.patch(
        f"/api/v1/webhooks/{webhook.pk}",
        {"retry_policy": "custom", "retry_delays": [30, 90], "autopause_failures": 7},
        content_type="application/json",
        **headers,
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["retry_policy"], body["retry_delays"], body["autopause_failures"]) == ("custom", [30, 90], 7)
    assert body["health"]["state"] == "unknown"
    refused = client.patch(
        f"/api/v1/webhooks/{webhook.pk}",
        {"retry_policy": "custom", "retry_delays": []},
        content_type="application/json",
        **headers,
    )
    assert refused.status_code == 400
    assert "retry_delays" in refused.json()["error"]["fields"]
    paused = client.post(f"/api/v1/webhooks/{webhook.pk}/pause", **headers).json()
    assert paused["health"]["state"] == "paused"
    incident = WebhookIncident.objects.get(webhook=webhook)
    assert incident.paused_by == str(key.actor)
    assert paused["health"]["incident_id"] == incident.pk


def test_the_last_error_is_stored_as_a_code_and_read_in_the_readers_language(django_capture_on_commit_callbacks):
    webhook = make_webhook(HOOK_URL)
    failed = result(False, timezone.now(), status=503)
    failed.error_code, failed.error_params = "http_status", {"status": 503}
    failed.error_message = "接收方出错（HTTP 503）。"  # noqa: RUF001 - as a Chinese worker wrote it
    with django_capture_on_commit_callbacks(execute=True):
        wave_health_record(webhooks={webhook.pk: webhook}, attempts=[(webhook.pk, failed)], gone={}, now=timezone.now())
    health = WebhookHealth.objects.get(webhook=webhook)
    assert health.last_error_code == "http_status"
    assert health.last_error_params == {"status": 503}
    with translation.override("en"):
        english = health.last_error_text
    with translation.override("zh-hans"):
        chinese = health.last_error_text
    assert "503" in english
    assert "接收方" not in english
    assert "503" in chinese
    assert english != chinese
