"""Recording a wave: one attempt row per request, each delivery's next state, the webhook's slow-down.

A wave is recorded as soon as it ends, in one transaction that re-reads, under the row locks, whether
each delivery is still this drain's and whether its group send was stopped meanwhile. A dropped
connection, a deadlock or a serialization failure is retried on a fresh connection (`db_retry`, the
engine's one retry loop): a wave that reached its receiver is recorded, not sent again.

The record runs in named steps: whose deliveries are still ours (`_ours_locked`), what the wave
needs to know of its webhooks and messages (`_wave_facts`), one attempt row per request
(`_attempt_row`), each delivery's new state (`_delivery_change`), then the writes
(`_deliveries_write`, `_webhooks_write`).

Taking back the claims of a dead drain (`leases_expired_record`) goes through the same record with
a "worker lost" result, but only for the deliveries that take-back itself moved out of `sending`.
"""

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from webhookhub import telemetry
from webhooks.content.events import Event, FixedEvent
from webhooks.content.failures import Code
from webhooks.engine.bulk import rows_insert
from webhooks.engine.claim import Claimed, in_flight_add
from webhooks.engine.http import AttemptResult
from webhooks.engine.outcome import AttemptFacts, outcome_decide
from webhooks.engine.retry_policy import policy_of
from webhooks.health.services import wave_health_record
from webhooks.models import Attempt, Delivery, DrainLease, GroupSend, Message, Webhook
from webhooks.services.samples import sample_message_ids

logger = logging.getLogger(__name__)

ERROR_LIMIT = 2000
LOST = "WorkerLost"
DB_TRIES = 4
# A take-back moves at most this many deliveries per transaction (a drain holds at most its worker's
# concurrency, 256 by default).
TAKE_BACK_BATCH = 1000


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


@dataclass
class _WaveFacts:
    """What the record needs to know of the wave's webhooks and messages, read once per wave."""

    webhooks: dict[int, Webhook]
    policies: dict[int, Any]
    no_retry: set
    cancelled: set


@dataclass
class _Writes:
    """What a wave changes, collected before anything is written."""

    attempts: list[dict] = field(default_factory=list)
    succeeded: dict[tuple, list[str]] = field(default_factory=lambda: defaultdict(list))
    changed: list[Delivery] = field(default_factory=list)
    # Deliveries moved out of `sending`, per webhook: what the in-flight number gives back.
    released: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    # The receiver's answers, for its health: a lost worker is not the receiver's doing (health.py).
    answered: list[tuple[int, AttemptResult]] = field(default_factory=list)
    throttle: dict[int, datetime] = field(default_factory=dict)
    gone: dict[int, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # One entry per attempt for the metrics and the attempt log line (webhookhub/telemetry.py).
    observed: list[dict] = field(default_factory=list)


_WEBHOOK_FIELDS = (
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


def _ours_locked(claimed: list[Claimed], *, token: str | None) -> set[str]:
    """The deliveries still this drain's, locked until the record commits.

    A claim taken back meanwhile is not ours: only its attempt is recorded. On PostgreSQL the drain's
    lease row is held `FOR KEY SHARE` while it records, so no take-back declares this drain dead
    half-way (the heartbeat's update does not conflict with that lock).
    """
    if token is not None and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = DrainLease._meta.db_table
            cursor.execute(f"SELECT 1 FROM {table} WHERE token = %s FOR KEY SHARE", [token])  # noqa: S608
    ours_filter: dict[str, Any] = {"id__in": [d.id for d in claimed], "status": Delivery.Status.SENDING}
    if token is not None:
        ours_filter["claimed_by"] = token
    return set(Delivery.objects.select_for_update().filter(**ours_filter).values_list("id", flat=True))


def _wave_facts(claimed: list[Claimed]) -> _WaveFacts:
    webhooks = {w.pk: w for w in Webhook.objects.filter(pk__in={d.webhook_id for d in claimed}).only(*_WEBHOOK_FIELDS)}
    policies = {pk: policy_of(kind=w.retry_policy, custom_delays=w.retry_delays) for pk, w in webhooks.items()}
    no_retry, cancelled = _messages_state({d.message_id for d in claimed})
    return _WaveFacts(webhooks=webhooks, policies=policies, no_retry=no_retry, cancelled=cancelled)


def _attempt_row(delivery: Claimed, result: AttemptResult) -> dict:
    """The attempt's row (attnames, for bulk.rows_insert: a model instance per request costs more than its copy)."""
    return {
        "delivery_id": delivery.id,
        "number": delivery.attempt_count + 1,
        "trigger": _trigger(delivery),
        "requested_by_id": delivery.redeliver_requested_by_id,
        "started_at": result.started_at,
        "duration_ms": result.duration_ms,
        "url": result.url,
        "request_headers": result.request_headers,
        "response_status": result.response_status,
        "response_headers": result.response_headers,
        "response_body": result.response_body,
        "response_size": result.response_size,
        "response_cut": result.response_cut,
        "succeeded": result.succeeded,
        "error_class": result.error_class,
        "error_message": result.error_message[:ERROR_LIMIT],
        "error_code": result.error_code,
        "error_params": result.error_params,
    }


def _outcome(delivery: Claimed, result: AttemptResult, facts: _WaveFacts, *, now: datetime):
    webhook = facts.webhooks[delivery.webhook_id]
    return outcome_decide(
        facts=AttemptFacts(
            succeeded=result.succeeded,
            status_code=result.response_status,
            retry_after=result.retry_after,
            location=result.location,
            worker_lost=result.error_class == LOST,
        ),
        auto_retry=webhook.auto_retry,
        policy=facts.policies[delivery.webhook_id],
        delivery_id=delivery.id,
        retries_done=delivery.retry_count + int(_counts_as_retry(_trigger(delivery), lost=result.error_class == LOST)),
        retryable_message=delivery.message_id not in facts.no_retry,
        cancelled=delivery.message_id in facts.cancelled,
        now=now,
    )


def _delivery_change(delivery: Claimed, result: AttemptResult, outcome, writes: _Writes, *, now: datetime) -> None:
    """The delivery's new state: succeeded ones are written together per answer, the others one by one."""
    trigger = _trigger(delivery)
    was_retry = trigger == Attempt.Trigger.RETRY
    lost = result.error_class == LOST
    writes.counts[outcome.status] += 1
    writes.released[delivery.webhook_id] += 1
    if outcome.status == Delivery.Status.SUCCEEDED:
        writes.succeeded[(result.response_status, was_retry)].append(delivery.id)
        return
    error = result.error_message
    if outcome.final_reason:
        error = f"{error} — {outcome.final_reason}"
    writes.changed.append(
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


def _observed(delivery: Claimed, result: AttemptResult, outcome, *, final: bool) -> dict:
    return {
        "delivery_id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "message_id": delivery.message_id,
        "event": delivery.event,
        "priority": delivery.priority,
        "attempt": delivery.attempt_count + 1,
        "trigger": _trigger(delivery),
        "status_code": result.response_status,
        "duration_ms": result.duration_ms,
        "succeeded": result.succeeded,
        "outcome": outcome.status,
        "error_code": result.error_code,
        "error_class": result.error_class,
        "final": final,
    }


def _deliveries_write(writes: _Writes, *, now: datetime) -> None:
    # Metrics and the attempt log line, once this transaction commits (webhookhub/telemetry.py).
    telemetry.wave_observe(writes.observed)
    rows_insert(Attempt, writes.attempts)
    for (status_code, was_retry), ids in writes.succeeded.items():
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
    if writes.changed:
        Delivery.objects.bulk_update(
            writes.changed,
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


def _webhooks_write(writes: _Writes, facts: _WaveFacts, *, now: datetime) -> None:
    # Health first: its row is locked before the webhook's, as a pause by hand locks them (health.py);
    # it also marks 410 Gone and pauses.
    wave_health_record(webhooks=facts.webhooks, attempts=writes.answered, gone=writes.gone, now=now)
    for webhook_id, until in sorted(writes.throttle.items()):
        Webhook.objects.filter(pk=webhook_id).exclude(throttled_until__gte=until).update(throttled_until=until)
    # Last, after the webhook row: a claim locks the webhook row, then this number.
    for webhook_id, count in sorted(writes.released.items()):
        in_flight_add(webhook_id=webhook_id, count=-count)


def _record(claimed: list[Claimed], results: list[AttemptResult], *, token: str | None, lost: bool = False) -> dict:
    """Record a wave in one transaction. `lost`: the results are a take-back's "worker lost", written
    only for the deliveries still ours (the take-back's own token), never beside another's answer."""
    now = timezone.now()
    by_id = {d.id: d for d in claimed}
    ours = _ours_locked(claimed, token=token)
    facts = _wave_facts(claimed)
    writes = _Writes()
    for result in results:
        delivery = by_id[result.delivery_id]
        if lost and delivery.id not in ours:
            continue
        outcome = _outcome(delivery, result, facts, now=now)
        writes.attempts.append(_attempt_row(delivery, result))
        writes.observed.append(_observed(delivery, result, outcome, final=delivery.id in ours))
        if result.error_class != LOST:
            writes.answered.append((delivery.webhook_id, result))
        if outcome.throttle_until:
            writes.throttle[delivery.webhook_id] = max(
                outcome.throttle_until, writes.throttle.get(delivery.webhook_id, now)
            )
        if outcome.webhook_gone:
            writes.gone[delivery.webhook_id] = outcome.final_reason
        if delivery.id in ours:
            _delivery_change(delivery, result, outcome, writes, now=now)
    _deliveries_write(writes, now=now)
    _webhooks_write(writes, facts, now=now)
    return dict(writes.counts)


def db_retry(func: Callable, /, *args, atomic: bool = False, **kwargs):
    """Run a database call; after a dropped connection, a deadlock or a serialization failure, again
    on a fresh connection. `atomic`: in one transaction, which a failure rolled back, so it is safe
    to repeat (a claim, a record, a take-back)."""
    for attempt_no in range(1, DB_TRIES + 1):
        try:
            if atomic:
                with transaction.atomic():
                    return func(*args, **kwargs)
            return func(*args, **kwargs)
        except DatabaseError as exc:
            if attempt_no == DB_TRIES or not _transient(exc):
                raise
            logger.warning("database call %s failed (%s); retrying on a fresh connection", func.__name__, exc)
            connection.close()
            time.sleep(0.2 * attempt_no)
    raise AssertionError("unreachable")


def wave_record(*, claimed: list[Claimed], results: list[AttemptResult], token: str | None) -> dict:
    """Record a wave's attempts and outcomes; retried on a fresh connection after a transient error."""
    return db_retry(_record, claimed, results, token=token, atomic=True)


def _transient(exc: Exception) -> bool:
    """A dropped connection, a deadlock, a serialization failure: worth another try."""
    if isinstance(exc, InterfaceError | OperationalError):
        return True
    sqlstate = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
    return sqlstate in {"40001", "40P01"}


def _drains_dead_delete(*, now: datetime) -> list[str]:
    """Delete the lease rows of drains whose heartbeat stopped; the tokens deleted are this take-back's.

    PostgreSQL: `SKIP LOCKED`, so a drain recording right now (its row held `FOR KEY SHARE`) is
    skipped, and two take-backs never get the same drain.
    """
    cutoff = now - timedelta(seconds=settings.WEBHOOK_DRAIN_TIMEOUT)
    if connection.vendor != "postgresql":
        tokens = list(DrainLease.objects.filter(heartbeat_at__lt=cutoff).values_list("token", flat=True)[:100])
        return [t for t in tokens if DrainLease.objects.filter(token=t, heartbeat_at__lt=cutoff).delete()[0]]
    table = DrainLease._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE token IN (SELECT token FROM {table} WHERE heartbeat_at < %s "  # noqa: S608
            "LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING token",
            [connection.ops.adapt_datetimefield_value(cutoff)],
        )
        return [row[0] for row in cursor.fetchall()]


def _lost_result(delivery: Claimed) -> AttemptResult:
    return AttemptResult(
        delivery_id=delivery.id,
        started_at=delivery.claimed_at,
        duration_ms=0,
        url="",
        request_headers={},
        error_class=LOST,
        error_code=Code.WORKER_LOST,
        error_params={"claimed_at": delivery.claimed_at.isoformat(timespec="seconds")},
        error_message=_(
            "The worker sending this delivery stopped before recording the answer (claimed at %(time)s); "
            "the receiver may have received it."
        )
        % {"time": timezone.localtime(delivery.claimed_at).isoformat(timespec="seconds")},
    )


def _claims_take_back(*, orphans: bool) -> int:
    """One take-back, in one transaction: the claims of dead drains move to this take-back's own token
    (a conditional update: a row another take-back or its live owner moved meanwhile no longer
    matches), and only those get their "worker lost" attempt."""
    now = timezone.now()
    dead = _drains_dead_delete(now=now)
    lease = timedelta(seconds=settings.WEBHOOK_CLAIM_LEASE)
    lost = Q(claimed_by__in=dead)
    if orphans:
        # After the lease, claims of no known drain: a drain of an older version, or one whose lease
        # row a take-back deleted while it still ran (then its own record wins, see _ours_locked).
        lost |= Q(claimed_at__lt=now - lease) & ~Q(claimed_by__in=DrainLease.objects.values("token"))
    elif not dead:
        return 0
    # All of the dead drains' claims at once (a drain holds at most its worker's concurrency): their
    # lease rows are gone, so a later batch would no longer find them by token.
    candidates = list(
        Delivery.objects.filter(claimed_by__in=dead, status=Delivery.Status.SENDING).values_list("id", flat=True)
    )
    if orphans:
        candidates += list(
            Delivery.objects.filter(lost, status=Delivery.Status.SENDING)
            .exclude(claimed_by__in=dead)
            .values_list("id", flat=True)[:TAKE_BACK_BATCH]
        )
    if not candidates:
        return 0
    token = uuid.uuid4().hex
    Delivery.objects.filter(lost, id__in=candidates, status=Delivery.Status.SENDING).update(claimed_by=token)
    rows = Delivery.objects.filter(claimed_by=token, status=Delivery.Status.SENDING).values_list(
        "id",
        "webhook_id",
        "message_id",
        "event",
        "attempt_count",
        "retry_count",
        "redeliver_requested_by_id",
        "priority",
        "claimed_at",
    )
    claimed = [
        Claimed(pk, webhook_id, message_id, event, "", attempts, retries, by_user, priority, claimed_at or now)
        for pk, webhook_id, message_id, event, attempts, retries, by_user, priority, claimed_at in rows
    ]
    if claimed:
        _record(claimed, [_lost_result(d) for d in claimed], token=token, lost=True)
    return len(claimed)


def leases_expired_record(*, orphans: bool = True) -> int:
    """Take back deliveries whose drain stopped its heartbeat (killed, or its host lost), exactly once.

    Their request may have reached the receiver: each gets an attempt "worker lost", which counts
    towards its retries, so a delivery that kills its worker cannot loop for ever. `orphans`: also
    look for claims of no known drain (a scan of every claim: the drain's upkeep does it now and then).
    """
    taken = 0
    while True:
        batch = db_retry(_claims_take_back, orphans=orphans, atomic=True)
        taken += batch
        if batch < TAKE_BACK_BATCH:
            break
    if taken:
        logger.warning("took back %s deliveries whose worker stopped", taken)
    return taken


def claims_dead_take_back() -> int:
    """Due work: the claims of drains whose heartbeat stopped."""
    return leases_expired_record(orphans=False)


def claims_orphaned_take_back() -> int:
    """Due work, now and then: claims older than the lease of no known drain."""
    return leases_expired_record(orphans=True)
