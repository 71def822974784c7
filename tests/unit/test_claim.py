"""The claim: per-webhook concurrency across workers, rate limit, pause, Retry-After slow-down, lanes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from webhooks import services
from webhooks.engine import claim, record
from webhooks.engine.http import AttemptResult
from webhooks.models import Delivery, Webhook, WebhookLoad

from ..factories import make_customers, make_webhook

pytestmark = [pytest.mark.django_db]


def publish(webhook, count):
    for customer in make_customers(count, start=webhook.pk * 1000):
        services.message_publish(event="form/submit", webhooks=[webhook], customer=customer)


def take(webhook, limit=100, token="drain-1"):  # noqa: S107 - a drain id, not a secret
    return claim.deliveries_claim(webhook_id=webhook.pk, priorities=claim.REALTIME, limit=limit, token=token)


def test_a_webhook_never_has_more_in_flight_than_its_cap_whoever_claims(settings):
    slow = make_webhook("https://slow.example.test/h", max_concurrency=3)
    fast = make_webhook("https://fast.example.test/h")
    publish(slow, 12)
    publish(fast, 3)
    assert len(take(slow, token="worker-a")) == 3
    assert take(slow, token="worker-b") == []  # another worker: the cap is the webhook's, not the worker's
    assert len(take(fast)) == 3  # the slow webhook's cap takes nothing from the others
    held = take(slow, token="worker-c", limit=1)
    assert held == []
    first = Delivery.objects.filter(webhook=slow, status=Delivery.Status.SENDING).first()
    # Its answer recorded, the slot is free again: the in-flight number goes down with the record.
    record.wave_record(claimed=claim_of(first), results=[answered(first.pk)], token="worker-a")
    assert WebhookLoad.objects.get(webhook=slow).in_flight == 2
    assert len(take(slow, token="worker-b")) == 1
    assert WebhookLoad.objects.get(webhook=slow).in_flight == 3


def claim_of(delivery):
    return [
        claim.Claimed(
            id=delivery.pk,
            webhook_id=delivery.webhook_id,
            message_id=delivery.message_id,
            event=delivery.event,
            body=delivery.body,
            attempt_count=delivery.attempt_count,
            retry_count=delivery.retry_count,
            redeliver_requested_by_id=None,
            priority=delivery.priority,
            claimed_at=delivery.claimed_at,
        )
    ]


def answered(delivery_id):
    return AttemptResult(
        delivery_id=delivery_id,
        started_at=datetime.now(UTC),
        duration_ms=5,
        url="https://slow.example.test/h",
        request_headers={},
        succeeded=True,
        response_status=200,
    )


def test_a_paused_or_throttled_webhook_is_not_claimed_and_its_deliveries_wait():
    webhook = make_webhook("https://example.test/h")
    publish(webhook, 2)
    Webhook.objects.filter(pk=webhook.pk).update(paused_at=timezone.now())
    assert take(webhook) == []
    Webhook.objects.filter(pk=webhook.pk).update(paused_at=None, throttled_until=timezone.now() + timedelta(minutes=1))
    assert take(webhook) == []
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 2
    Webhook.objects.filter(pk=webhook.pk).update(throttled_until=None)
    assert len(take(webhook)) == 2


def test_the_rate_limit_allows_a_second_of_requests_at_a_time():
    webhook = make_webhook("https://example.test/h", rate_limit=5)
    publish(webhook, 12)
    assert len(take(webhook)) == 5
    assert take(webhook) == []  # the next second's requests are not due yet


def test_fresh_realtime_work_is_claimed_before_retries():
    webhook = make_webhook("https://example.test/h")
    publish(webhook, 4)
    old = list(Delivery.objects.order_by("created_at").values_list("pk", flat=True)[:2])
    Delivery.objects.filter(pk__in=old).update(
        status=Delivery.Status.RETRYING,
        priority=Delivery.Priority.REALTIME_RETRY,
        next_attempt_at=timezone.now() - timedelta(hours=1),
    )
    first_two = {d.id for d in take(webhook, limit=2)}
    assert first_two.isdisjoint(old)


def test_the_webhook_form_sets_the_limits_and_refuses_nonsense(admin_client):
    from .test_webhook_secret_storage import form_data

    response = admin_client.post("/admin/webhooks/webhook/add/", form_data(max_concurrency="5", rate_limit="20"))
    assert response.status_code == 302
    webhook = Webhook.objects.get()
    assert webhook.max_concurrency == 5
    assert webhook.rate_limit == 20
    assert webhook.effective_max_concurrency == 5
    refused = admin_client.post("/admin/webhooks/webhook/add/", form_data(name="x", max_concurrency="0"))
    assert refused.status_code == 200
    assert Webhook.objects.count() == 1


def test_a_drifted_in_flight_number_is_set_back_to_the_sending_rows():
    webhook = make_webhook("https://example.test/h", max_concurrency=3)
    publish(webhook, 4)
    assert len(take(webhook)) == 3
    # A row changed by hand in the database: the number still holds its slot, until the safety net runs.
    Delivery.objects.filter(webhook=webhook, status=Delivery.Status.SENDING).update(status=Delivery.Status.CANCELLED)
    assert take(webhook) == []
    assert claim.in_flight_correct() == 1
    assert WebhookLoad.objects.get(webhook=webhook).in_flight == 0
    assert len(take(webhook)) == 1


def test_a_drain_takes_its_share_of_a_busy_webhook_in_bulk_and_realtime_ignores_the_share():
    webhook = make_webhook("https://shared.example.test/h", max_concurrency=10)
    publish(webhook, 12)

    def shared(held):
        # Two drains alive, this one holding `held` of the webhook: it may have 5 of the 10 slots.
        kwargs = {"priorities": claim.REALTIME, "limit": 100, "token": "drain-1", "share": (2, held)}
        return claim.deliveries_claim(webhook_id=webhook.pk, **kwargs)

    assert len(shared(0)) == 5
    assert shared(5) == []
    # Without a share (the realtime lane) the cap's other half, then the cap holds.
    assert len(take(webhook, token="drain-1")) == 5
    assert take(webhook, token="drain-2") == []
    webhook.refresh_from_db()
    assert [claim.share_left(webhook, drains=n, held=0) for n in (0, 1, 3)] == [10, 10, 4]
