"""The delivery engine: claim a batch of deliveries, attempt them over HTTP, record every attempt.

trigger → message → deliveries (services) → job (jobs) → here → HTTP (transport) → attempts.
"""

import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from . import queueing
from .bulk import rows_insert
from .events import Event
from .models import Attempt, Delivery, GroupSend, Message, Webhook
from .transport import Endpoint, Outgoing, TokenCache, attempt_batch

logger = logging.getLogger(__name__)

ERROR_LIMIT = 2000
# A retry job due now may reach a worker a moment early by the database's clock.
CLOCK_TOLERANCE = timedelta(seconds=2)


def _claim(delivery_ids: list[str], job_id: str) -> list[Delivery]:
    """Move due deliveries to `sending` once: a duplicate job finds nothing left to claim."""
    now = timezone.now()
    Delivery.objects.filter(
        id__in=delivery_ids,
        status__in=Delivery.WAITING_STATUSES,
        next_attempt_at__lte=now + CLOCK_TOLERANCE,
    ).update(status=Delivery.Status.SENDING, claimed_at=now, job_id=job_id, updated_at=now)
    # Every field the recording writes back is loaded here: a deferred one costs a query per row.
    return list(
        Delivery.objects.filter(id__in=delivery_ids, status=Delivery.Status.SENDING, job_id=job_id).only(
            "id",
            "webhook_id",
            "event",
            "body",
            "status",
            "attempt_count",
            "retry_count",
            "redeliver_requested_by_id",
            "message_id",
            "job_id",
            "claimed_at",
            "next_attempt_at",
            "last_error",
            "last_status_code",
            "updated_at",
        )
    )


def _trigger(delivery: Delivery) -> str:
    if delivery.redeliver_requested_by_id:
        return Attempt.Trigger.REDELIVER
    return Attempt.Trigger.FIRST if delivery.attempt_count == 0 else Attempt.Trigger.RETRY


def deliveries_process(*, delivery_ids: list[str], job_id: str) -> dict:
    """Deliver one batch: returns counts of succeeded, retrying and failed deliveries."""
    claimed = _claim(delivery_ids, job_id)
    if not claimed:
        return {"claimed": 0}
    webhooks = {w.pk: w for w in Webhook.objects.filter(pk__in={d.webhook_id for d in claimed})}
    endpoints = {pk: Endpoint.from_webhook(webhook) for pk, webhook in webhooks.items()}
    pairs = [(endpoints[d.webhook_id], Outgoing(d.id, d.event, d.body)) for d in claimed]
    results = attempt_batch(
        pairs, concurrency_per_endpoint=settings.WEBHOOK_MAX_CONCURRENCY, token_cache=TokenCache(queueing.redis())
    )
    return _record(claimed, results, webhooks, job_id)


def _no_retry_message_ids(message_ids) -> set:
    """Messages whose failed deliveries are not retried: test sends, and sends a person cancelled."""
    return set(
        Message.objects.filter(pk__in=message_ids)
        .filter(Q(event=Event.TEST_SEND) | Q(group_send__status=GroupSend.Status.CANCELLED))
        .values_list("pk", flat=True)
    )


def _record(claimed, results, webhooks, job_id) -> dict:
    with transaction.atomic():
        return _record_locked(claimed, results, webhooks, job_id)


def _record_locked(claimed, results, webhooks, job_id) -> dict:
    now = timezone.now()
    by_id = {d.id: d for d in claimed}
    attempts, succeeded_by_status, failed = [], defaultdict(list), []
    retry_batches: dict = defaultdict(list)
    message_ids = {d.message_id for d in claimed}
    no_retry = _no_retry_message_ids(message_ids)
    cancelled_sends = set(
        Message.objects.filter(pk__in=message_ids, group_send__status=GroupSend.Status.CANCELLED).values_list(
            "pk", flat=True
        )
    )
    # Still claimed by this job? If reconcile handed a delivery on (its lease ran out), only the
    # attempt is recorded here: the job that holds the delivery now decides its state.
    ours = set(
        Delivery.objects.select_for_update()
        .filter(id__in=list(by_id), status=Delivery.Status.SENDING, job_id=job_id)
        .values_list("id", flat=True)
    )
    delays = settings.WEBHOOK_RETRY_DELAYS
    for result in results:
        delivery = by_id[result.delivery_id]
        trigger = _trigger(delivery)
        attempts.append(
            Attempt(
                delivery_id=delivery.id,
                number=delivery.attempt_count + 1,
                trigger=trigger,
                requested_by_id=delivery.redeliver_requested_by_id,
                started_at=result.started_at,
                duration_ms=result.duration_ms,
                url=result.url,
                request_headers=result.request_headers,
                request_body=result.request_body,
                response_status=result.response_status,
                response_headers=result.response_headers,
                response_body=result.response_body,
                response_size=result.response_size,
                succeeded=result.succeeded,
                error_class=result.error_class,
                error_message=result.error_message[:ERROR_LIMIT],
            )
        )
        if delivery.id not in ours:
            continue
        if result.succeeded:
            succeeded_by_status[(result.response_status, trigger == Attempt.Trigger.RETRY)].append(delivery.id)
            continue
        delivery.attempt_count += 1
        if trigger == Attempt.Trigger.RETRY:
            delivery.retry_count += 1
        delivery.last_error = result.error_message[:ERROR_LIMIT]
        delivery.last_status_code = result.response_status
        delivery.claimed_at = None
        delivery.redeliver_requested_by_id = None
        webhook = webhooks[delivery.webhook_id]
        if delivery.message_id in cancelled_sends:
            # The send was cancelled while this attempt was in flight: no retry follows.
            delivery.status = Delivery.Status.CANCELLED
            delivery.next_attempt_at = None
        elif webhook.auto_retry and delivery.message_id not in no_retry and delivery.retry_count < len(delays):
            # Retry-After honoured up to a day: a huge one would overflow the datetime and fail the record.
            delay = max(delays[delivery.retry_count], min(result.retry_after or 0, 86400))
            delivery.status = Delivery.Status.RETRYING
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            # Deliveries due in the same second share one retry job.
            due = delivery.next_attempt_at.replace(microsecond=0) + timedelta(seconds=1)
            retry_batches[due].append(delivery)
        else:
            delivery.status = Delivery.Status.FAILED
            delivery.next_attempt_at = None
        delivery.updated_at = now
        failed.append(delivery)

    rows_insert(Attempt, attempts)
    for (status_code, was_retry), ids in succeeded_by_status.items():
        Delivery.objects.filter(id__in=ids, status=Delivery.Status.SENDING, job_id=job_id).update(
            status=Delivery.Status.SUCCEEDED,
            attempt_count=F("attempt_count") + 1,
            retry_count=F("retry_count") + int(was_retry),
            next_attempt_at=None,
            last_error="",
            last_status_code=status_code,
            claimed_at=None,
            redeliver_requested_by=None,
            updated_at=now,
        )
    retries = []
    for due, deliveries in retry_batches.items():
        retry_job_id = queueing.new_job_id()
        for delivery in deliveries:
            delivery.job_id = retry_job_id
        retries.append((due, retry_job_id, [d.id for d in deliveries]))
    Delivery.objects.bulk_update(
        failed,
        [
            "status",
            "attempt_count",
            "retry_count",
            "next_attempt_at",
            "last_error",
            "last_status_code",
            "claimed_at",
            "redeliver_requested_by",
            "job_id",
            "updated_at",
        ],
        batch_size=500,
    )
    # rq's scheduler moves each retry job onto the retries queue when it is due: no worker sleeps.
    for due, retry_job_id, ids in retries:
        queueing.batches_enqueue_on_commit([(retry_job_id, ids)], queue_name=queueing.RETRY_QUEUE, at=due)
    transaction.on_commit(lambda: _sends_complete(message_ids))
    return {
        "claimed": len(claimed),
        "succeeded": sum(len(ids) for ids in succeeded_by_status.values()),
        "retrying": sum(len(ds) for ds in retry_batches.values()),
        "failed": sum(1 for d in failed if d.status == Delivery.Status.FAILED),
        "cancelled": sum(1 for d in failed if d.status == Delivery.Status.CANCELLED),
    }


def _sends_complete(message_ids) -> None:
    from .services import group_send_complete_if_done

    for send_id in Message.objects.filter(pk__in=message_ids, group_send__isnull=False).values_list(
        "group_send_id", flat=True
    ):
        group_send_complete_if_done(send_id=send_id)
