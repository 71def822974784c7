"""Recording a wave: one attempt row per request, each delivery's next state, the webhook's slow-down.

A wave is recorded as soon as it ends, in one transaction that re-reads, under the row locks, whether
each delivery is still this drain's and whether its group send was stopped meanwhile. A dropped
connection, a deadlock or a serialization failure is retried on a fresh connection: a wave that
reached its receiver is recorded, not sent again.
"""

import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from webhookhub import telemetry
from webhooks.content.events import Event, FixedEvent
from webhooks.content.failures import Code
from webhooks.engine.bulk import rows_insert
from webhooks.engine.claim import Claimed
from webhooks.engine.http import AttemptResult
from webhooks.engine.outcome import AttemptFacts, outcome_decide
from webhooks.engine.retry_policy import policy_of
from webhooks.health.services import wave_health_record
from webhooks.models import Attempt, Delivery, GroupSend, Message, Webhook
from webhooks.services.samples import sample_message_ids

logger = logging.getLogger(__name__)

ERROR_LIMIT = 2000
LOST = "WorkerLost"
RECORD_TRIES = 4


def _trigger(delivery: Claimed) -> str:
    if delivery.redeliver_requested_by_id:
        return Attempt.Trigger.REDELIVER
    return Attempt.Trigger.FIRST if delivery.attempt_count == 0 else Attempt.Trigger.RETRY


def _counts_as_retry(trigger: str, *, lost: bool) -> bool:
    # A lost redelivery keeps its trigger for the next attempt, so it counts here: one that kills
    # its worker each time still runs out of retries.
    return trigger == Attempt.Trigger.RETRY or (lost and trigger == Attempt.Trigger.REDELIVER)


def _messages_state(message_ids) -> tuple[set, set]:
    """Of these messages: those not retried (test sends), and those whose group send was stopped.

    The group send rows are read under a key-share lock: a stop (which locks its send FOR UPDATE)
    either committed before, and is seen here, or waits until this record has committed. The fan-out
    (FOR NO KEY UPDATE while it writes a chunk) does not conflict with it: waves keep being recorded.
    """
    rows = list(Message.objects.filter(pk__in=message_ids).values_list("pk", "event", "group_send_id"))
    no_retry = {pk for pk, event, _send in rows if event == Event.TEST_SEND}
    no_retry |= sample_message_ids(pk for pk, event, _send in rows if event in FixedEvent.values)
    send_ids = {send for _pk, _event, send in rows if send}
    cancelled = set()
    if send_ids:
        table = GroupSend._meta.db_table
        lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
        marks = ", ".join(["%s"] * len(send_ids))
        with connection.cursor() as cursor:
            sql = f"SELECT id, status FROM {table} WHERE id IN ({marks}){lock}"  # noqa: S608 - values bound
            cursor.execute(sql, list(send_ids))
            stopped = {pk for pk, status in cursor.fetchall() if status == GroupSend.Status.CANCELLED}
        cancelled = {pk for pk, _event, send in rows if send in stopped}
    return no_retry, cancelled


def _record(claimed: list[Claimed], results: list[AttemptResult], *, token: str | None) -> dict:
    now = timezone.now()
    by_id = {d.id: d for d in claimed}
    ours_filter = {"id__in": list(by_id), "status": Delivery.Status.SENDING}
    if token is not None:
        ours_filter["claimed_by"] = token
    # Still ours? A claim whose lease ran out was taken back: only the attempt is recorded here.
    ours = set(Delivery.objects.select_for_update().filter(**ours_filter).values_list("id", flat=True))
    webhooks = {
        w.pk: w
        for w in Webhook.objects.filter(pk__in={d.webhook_id for d in claimed}).only(
            "pk",
            "name",
            "auto_retry",
            "retry_policy",
            "retry_delays",
            "throttled_until",
            "paused_at",
            "gone_at",
            "autopause",
            "autopause_hours",
            "autopause_failures",
            "alert_after_failures",
        )
    }
    policies = {pk: policy_of(kind=w.retry_policy, custom_delays=w.retry_delays) for pk, w in webhooks.items()}
    no_retry, cancelled = _messages_state({d.message_id for d in claimed})
    attempts, succeeded, changed = [], defaultdict(list), []
    # The receiver's answers, for its health: a lost worker is not the receiver's doing (health.py).
    answered: list[tuple[int, AttemptResult]] = []
    throttle: dict[int, datetime] = {}
    gone: dict[int, str] = {}
    counts: dict[str, int] = defaultdict(int)
    observed: list[dict] = []
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
                response_status=result.response_status,
                response_headers=result.response_headers,
                response_body=result.response_body,
                response_size=result.response_size,
                response_cut=result.response_cut,
                succeeded=result.succeeded,
                error_class=result.error_class,
                error_message=result.error_message[:ERROR_LIMIT],
                error_code=result.error_code,
                error_params=result.error_params,
            )
        )
        webhook = webhooks[delivery.webhook_id]
        lost = result.error_class == LOST
        outcome = outcome_decide(
            facts=AttemptFacts(
                succeeded=result.succeeded,
                status_code=result.response_status,
                retry_after=result.retry_after,
                location=result.location,
                worker_lost=lost,
            ),
            auto_retry=webhook.auto_retry,
            policy=policies[delivery.webhook_id],
            delivery_id=delivery.id,
            retries_done=delivery.retry_count + int(_counts_as_retry(trigger, lost=lost)),
            retryable_message=delivery.message_id not in no_retry,
            cancelled=delivery.message_id in cancelled,
            now=now,
        )
        observed.append(
            {
                "delivery_id": delivery.id,
                "webhook_id": delivery.webhook_id,
                "message_id": delivery.message_id,
                "event": delivery.event,
                "priority": delivery.priority,
                "attempt": delivery.attempt_count + 1,
                "trigger": trigger,
                "status_code": result.response_status,
                "duration_ms": result.duration_ms,
                "succeeded": result.succeeded,
                "outcome": outcome.status,
                "error_code": result.error_code,
                "error_class": result.error_class,
                "final": delivery.id in ours,
            }
        )
        if result.error_class != LOST:
            answered.append((delivery.webhook_id, result))
        if outcome.throttle_until:
            throttle[delivery.webhook_id] = max(outcome.throttle_until, throttle.get(delivery.webhook_id, now))
        if outcome.webhook_gone:
            gone[delivery.webhook_id] = outcome.final_reason
        if delivery.id not in ours:
            continue
        counts[outcome.status] += 1
        if outcome.status == Delivery.Status.SUCCEEDED:
            succeeded[(result.response_status, trigger == Attempt.Trigger.RETRY)].append(delivery.id)
            continue
        error = result.error_message
        if outcome.final_reason:
            error = f"{error} — {outcome.final_reason}"
        changed.append(
            Delivery(
                id=delivery.id,
                status=outcome.status,
                attempt_count=delivery.attempt_count + 1,
                retry_count=delivery.retry_count + int(_counts_as_retry(trigger, lost=lost)),
                next_attempt_at=outcome.next_attempt_at,
                last_error=error[:ERROR_LIMIT],
                last_error_code=result.error_code,
                last_error_params=result.error_params,
                last_status_code=result.response_status,
                claimed_at=None,
                claimed_by="",
                # A redelivery whose worker was lost is still that person's: the next attempt says so.
                redeliver_requested_by_id=delivery.redeliver_requested_by_id
                if lost and outcome.status in Delivery.WAITING_STATUSES
                else None,
                # A retry waits behind fresh work of its lane.
                priority=Delivery.Priority.BULK_RETRY
                if delivery.priority >= Delivery.Priority.BULK
                else Delivery.Priority.REALTIME_RETRY,
                updated_at=now,
            )
        )

    # Metrics and the attempt log line, once this transaction commits (webhookhub/telemetry.py).
    telemetry.wave_observe(observed)
    rows_insert(Attempt, attempts)
    for (status_code, was_retry), ids in succeeded.items():
        Delivery.objects.filter(id__in=ids).update(
            status=Delivery.Status.SUCCEEDED,
            attempt_count=F("attempt_count") + 1,
            retry_count=F("retry_count") + int(was_retry),
            next_attempt_at=None,
            last_error="",
            last_error_code="",
            last_error_params={},
            last_status_code=status_code,
            claimed_at=None,
            claimed_by="",
            redeliver_requested_by=None,
            updated_at=now,
        )
    if changed:
        Delivery.objects.bulk_update(
            changed,
            [
                "status",
                "attempt_count",
                "retry_count",
                "next_attempt_at",
                "last_error",
                "last_error_code",
                "last_error_params",
                "last_status_code",
                "claimed_at",
                "claimed_by",
                "redeliver_requested_by",
                "priority",
                "updated_at",
            ],
            batch_size=500,
        )
    # Health first: its row is locked before the webhook's, as a pause by hand locks them (health.py);
    # it also marks 410 Gone and pauses.
    wave_health_record(webhooks=webhooks, attempts=answered, gone=gone, now=now)
    for webhook_id, until in sorted(throttle.items()):
        Webhook.objects.filter(pk=webhook_id).exclude(throttled_until__gte=until).update(throttled_until=until)
    return dict(counts)


def wave_record(*, claimed: list[Claimed], results: list[AttemptResult], token: str | None) -> dict:
    """Record a wave's attempts and outcomes; retried on a fresh connection after a transient error."""
    for attempt_no in range(1, RECORD_TRIES + 1):
        try:
            with transaction.atomic():
                return _record(claimed, results, token=token)
        except (OperationalError, InterfaceError, DatabaseError) as exc:
            if attempt_no == RECORD_TRIES or not _transient(exc):
                raise
            logger.warning("recording a wave failed (%s); retrying on a fresh connection", type(exc).__name__)
            connection.close()
            time.sleep(0.2 * attempt_no)
    raise AssertionError("unreachable")


def _transient(exc: Exception) -> bool:
    """A dropped connection, a deadlock, a serialization failure: worth another try."""
    if isinstance(exc, InterfaceError | OperationalError):
        return True
    sqlstate = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
    return sqlstate in {"40001", "40P01"}


def leases_expired_record() -> int:
    """Take back deliveries whose drain stopped renewing its claim (killed, or its host lost).

    Their request may have reached the receiver: each gets an attempt "worker lost", which counts
    towards its retries, so a delivery that kills its worker cannot loop for ever.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.WEBHOOK_CLAIM_LEASE)
    rows = list(
        Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=now - lease).values_list(
            "id",
            "webhook_id",
            "message_id",
            "event",
            "attempt_count",
            "retry_count",
            "redeliver_requested_by_id",
            "priority",
            "claimed_at",
            "claimed_by",
        )[:1000]
    )
    by_token: dict[str, list[Claimed]] = defaultdict(list)
    for pk, webhook_id, message_id, event, attempts, retries, by_user, priority, claimed_at, token in rows:
        # claimed_at is set on every `sending` row (the claim writes it); the filter above required it.
        by_token[token].append(
            Claimed(pk, webhook_id, message_id, event, "", attempts, retries, by_user, priority, claimed_at or now)
        )
    for token, claimed in by_token.items():
        results = [
            AttemptResult(
                delivery_id=d.id,
                started_at=d.claimed_at,
                duration_ms=0,
                url="",
                request_headers={},
                error_class=LOST,
                error_code=Code.WORKER_LOST,
                error_params={"claimed_at": d.claimed_at.isoformat(timespec="seconds")},
                error_message=_(
                    "The worker sending this delivery stopped before recording the answer (claimed at %(time)s); "
                    "the receiver may have received it."
                )
                % {"time": timezone.localtime(d.claimed_at).isoformat(timespec="seconds")},
            )
            for d in claimed
        ]
        wave_record(claimed=claimed, results=results, token=token)
    if rows:
        logger.warning("took back %s deliveries whose worker stopped renewing its claim", len(rows))
    return len(rows)
