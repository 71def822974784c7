"""Claiming due deliveries: the database schedules, one statement a wave.

A wave is deliveries of one webhook, at most as many as the webhook has free slots (its concurrency
cap across every worker, less what is in flight) and as its rate limit allows. The claim moves them
to `sending`, stamped with the drain that holds them. The drain's heartbeat (a `DrainLease` row,
renewed from a thread of its own) says it is alive; the claims of a drain whose heartbeat stopped are
taken back (see record.leases_expired_record).

What is in flight is kept as a number (`WebhookLoad`), added to here and taken from by the record,
so a claim reads no row a finished delivery left behind (docs/engine.md).

PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers on many machines claim side by side without waiting
for each other; the webhook row is locked for the count-then-claim, so the cap holds across them.
SQLite (the single-worker development default) serialises writers anyway.
"""

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from webhooks.engine import due
from webhooks.models import Delivery, DrainLease, GroupSend, Webhook, WebhookLoad

claims_log = logging.getLogger("webhookhub.claims")

WAITING = (Delivery.Status.PENDING.value, Delivery.Status.RETRYING.value)
REALTIME = (Delivery.Priority.REALTIME.value, Delivery.Priority.REALTIME_RETRY.value)
BULK = (Delivery.Priority.BULK.value, Delivery.Priority.BULK_RETRY.value)
# A claim cursor trails the latest due time claimed by this much: a row stamped before a slower
# transaction committed it is still found (and a drain lives at most its budget, so one this late
# waits for the next drain at worst).
CURSOR_SLACK = timedelta(seconds=5)


@dataclass
class Claimed:
    """A delivery as the drain holds it: what the request and the record need."""

    id: str
    webhook_id: int
    message_id: int
    event: str
    body: str
    attempt_count: int
    retry_count: int
    redeliver_requested_by_id: int | None
    priority: int
    claimed_at: datetime
    # When it fell due: the drain's claim cursor (see deliveries_claim).
    due_at: datetime | None = None


def _db_time(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _aware(value) -> datetime | None:
    # Raw SQL gives SQLite's timestamps as text and PostgreSQL's as aware datetimes.
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(value)
    return parsed.replace(tzinfo=UTC) if parsed and parsed.tzinfo is None else parsed


def cursor_after(claimed: list["Claimed"], *, exact: bool) -> dict[int, datetime]:
    """Where a drain's next claim of the same lane starts, per priority: a due time.

    `exact` (a group send's lane): the latest due time claimed. The fan-out writes a send's rows chunk
    after committed chunk and gives each row its own due time, a microsecond apart (group_sends.py),
    so none can appear behind the cursor and the next scan starts at the last row claimed. Elsewhere
    (events published side by side, recoveries), the latest due time claimed less a margin for rows
    that committed late.
    """
    latest: dict[int, datetime] = {}
    for delivery in claimed:
        if delivery.due_at is None:
            continue
        if delivery.priority not in latest or delivery.due_at > latest[delivery.priority]:
            latest[delivery.priority] = delivery.due_at
    if exact:
        return latest
    return {priority: at - CURSOR_SLACK for priority, at in latest.items()}


def webhook_claimable(webhook: Webhook, *, now: datetime) -> bool:
    """Active, not paused, not slowed down by its receiver: its waiting deliveries may be claimed now."""
    throttled = webhook.throttled_until is not None and webhook.throttled_until > now
    return webhook.is_active and not webhook.is_paused and not throttled


def webhooks_claimable_any(webhook_ids) -> bool:
    """Can any of these webhooks be claimed now? Writers ring the doorbell only then: a paused, inactive
    or slowed-down webhook's deliveries wait without waking a worker (its resume or slow-down's end does)."""
    now = timezone.now()
    return (
        Webhook.objects.filter(pk__in=set(webhook_ids), is_active=True, paused_at__isnull=True)
        .exclude(throttled_until__gt=now)
        .exists()
    )


def in_flight_read(webhook_id: int) -> int:
    """The webhook's in-flight number, read under the webhook row's lock (which no other claim passes).

    Not locked itself: a record that has not committed yet still counts its wave, which only makes
    this claim take fewer, and the claim's own addition waits only for such a record's commit.
    The row is made on a webhook's first claim from the `sending` rows (once).
    """
    in_flight = WebhookLoad.objects.filter(webhook_id=webhook_id).values_list("in_flight", flat=True).first()
    if in_flight is None:
        in_flight = Delivery.objects.filter(webhook_id=webhook_id, status=Delivery.Status.SENDING).count()
        WebhookLoad.objects.create(webhook_id=webhook_id, in_flight=in_flight)
    return in_flight


def in_flight_add(*, webhook_id: int, count: int) -> None:
    """What a claim moved to `sending` (count > 0), or what a record moved out of it (count < 0)."""
    if count:
        WebhookLoad.objects.filter(webhook_id=webhook_id).update(in_flight=Greatest(F("in_flight") + count, 0))


def in_flight_correct() -> int:
    """A safety net, now and then: each webhook's in-flight number set to its `sending` rows' count.

    Only the claim, the record and the take-back move rows in or out of `sending`, and each keeps the
    number in its own transaction; a row changed by hand in the database would otherwise hold a slot
    for ever. Exact: under the webhook's lock no claim runs, and under the number's lock a record that
    has not committed still shows its rows as `sending` and takes them off after this commits.
    """
    corrected = 0
    for webhook_id in WebhookLoad.objects.filter(in_flight__gt=0).values_list("webhook_id", flat=True):
        with transaction.atomic():
            Webhook.objects.select_for_update().filter(pk=webhook_id).first()
            load = WebhookLoad.objects.select_for_update().filter(webhook_id=webhook_id).first()
            if load is None:
                continue
            sending = Delivery.objects.filter(webhook_id=webhook_id, status=Delivery.Status.SENDING).count()
            if sending != load.in_flight:
                WebhookLoad.objects.filter(webhook_id=webhook_id).update(in_flight=sending)
                corrected += 1
    return corrected


def share_left(webhook: Webhook, *, drains: int, held: int) -> int:
    """What one drain may still take of a webhook's cap in bulk: an equal share of the live drains'.

    Without it one drain took every slot of a busy webhook and the others, finding it full, ended and
    started again every few seconds (each end reading the waiting rows to see what is due): one
    worker's CPU did a send that both had.
    """
    return -(-webhook.effective_max_concurrency // max(drains, 1)) - held


def _free_slots(webhook: Webhook, *, limit: int, now: datetime) -> int:
    """How many requests this webhook may take now: its cap less what is in flight, and its rate."""
    if not webhook_claimable(webhook, now=now):
        return 0
    free = min(limit, webhook.effective_max_concurrency - in_flight_read(webhook.pk))
    if free > 0 and webhook.rate_limit:
        # Generic cell rate algorithm with a burst of one second's worth.
        tat = max(webhook.rate_tat or now, now)
        allowed = int((now + timedelta(seconds=1) - tat).total_seconds() * webhook.rate_limit)
        free = min(free, allowed)
        if free > 0:
            webhook.rate_tat = tat + timedelta(seconds=free / webhook.rate_limit)
            Webhook.objects.filter(pk=webhook.pk).update(rate_tat=webhook.rate_tat)
    return max(free, 0)


def deliveries_claim(
    *,
    webhook_id: int,
    priorities: tuple[int, ...],
    limit: int,
    token: str,
    message_id: int | None = None,
    recovery_id: int | None = None,
    after: dict[int, datetime] | None = None,
    share: tuple[int, int] | None = None,
) -> list[Claimed]:
    """Claim up to `limit` due deliveries of one webhook (of one message, for a group send; of one
    bulk recover, for a recovery).

    `share` (bulk lanes): (live drains, what this drain holds of the webhook), see share_left.

    `after` (per priority): the drain's cursor, due times before which it already claimed what there
    was. The index range starts there instead of at the entries every earlier wave left behind, which
    no scan may skip while an old snapshot is open (docs/engine.md): the scan's length is the wave's,
    not the send's history.
    """
    from webhooks.services.recoveries import recovery_running_lock

    now = timezone.now()
    began = time.perf_counter()
    statement_s = 0.0
    with transaction.atomic():
        webhook = Webhook.objects.select_for_update().filter(pk=webhook_id).first()
        if webhook is None:
            return []
        # A stopped recovery is claimed from no more: its stop waits for this claim's commit.
        if recovery_id is not None and not recovery_running_lock(recovery_id=recovery_id):
            return []
        if share is not None:
            limit = min(limit, share_left(webhook, drains=share[0], held=share[1]))
        count = _free_slots(webhook, limit=limit, now=now) if limit > 0 else 0
        if count <= 0:
            return []
        table = Delivery._meta.db_table
        skip_locked = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
        by_message = " AND message_id = %s" if message_id is not None else ""
        by_message += " AND recovery_id = %s" if recovery_id is not None else ""
        # One statement per priority, in claim order: with `priority = %s` the claim index yields the rows
        # already ordered by due time and the LIMIT stops the scan. `priority IN (2, 3) ORDER BY priority,
        # next_attempt_at` made PostgreSQL read and sort every waiting row of the send for each wave
        # (340 ms a wave with 600,000 waiting).
        # Table and column names come from the models; every value is a bound parameter.
        stamp = _db_time(now)
        rows: list[tuple] = []
        with connection.cursor() as cursor:
            for priority in priorities:
                start_at = (after or {}).get(priority)
                start = " AND next_attempt_at >= %s" if start_at is not None else ""
                sql = (
                    f"UPDATE {table} SET status = %s, claimed_by = %s, claimed_at = %s, updated_at = %s "  # noqa: S608
                    f"WHERE id IN (SELECT id FROM {table} WHERE status IN (%s, %s) AND priority = %s "
                    f"AND next_attempt_at <= %s{start} AND webhook_id = %s{by_message} "
                    f"ORDER BY next_attempt_at LIMIT %s{skip_locked}) "
                    "RETURNING id, webhook_id, message_id, event, body, attempt_count, retry_count, "
                    "redeliver_requested_by_id, priority, next_attempt_at"
                )
                params = [Delivery.Status.SENDING.value, token, stamp, stamp, *WAITING, priority, stamp]
                if start_at is not None:
                    params.append(_db_time(start_at))
                params.append(webhook_id)
                if message_id is not None:
                    params.append(message_id)
                if recovery_id is not None:
                    params.append(recovery_id)
                params.append(count - len(rows))
                statement_began = time.perf_counter()
                cursor.execute(sql, params)
                rows += cursor.fetchall()
                statement_s += time.perf_counter() - statement_began
                if len(rows) >= count:
                    break
        in_flight_add(webhook_id=webhook_id, count=len(rows))
    claims_log.debug(
        "claim webhook=%s claimed=%s statement_ms=%.3f transaction_ms=%.3f",
        webhook_id,
        len(rows),
        statement_s * 1000,
        (time.perf_counter() - began) * 1000,
    )
    return [
        Claimed(
            id=row[0],
            webhook_id=row[1],
            message_id=row[2],
            event=row[3],
            body=row[4],
            attempt_count=row[5],
            retry_count=row[6],
            redeliver_requested_by_id=row[7],
            priority=row[8],
            claimed_at=now,
            due_at=_aware(row[9]),
        )
        for row in rows
    ]


def realtime_due(*, after: dict[int, datetime] | None = None) -> list[tuple[int, int]]:
    """(priority, webhook) of the realtime deliveries due now, fresh first (an index range: cheap when none).

    `after` (per priority): the drain's cursor, as in deliveries_claim.
    """
    now = timezone.now()
    found: list[tuple[int, int]] = []
    for priority in REALTIME:
        rows = Delivery.objects.filter(status__in=WAITING, priority=priority, next_attempt_at__lte=now)
        start = (after or {}).get(priority)
        if start is not None:
            rows = rows.filter(next_attempt_at__gte=start)
        found += [(priority, pk) for pk in rows.values_list("webhook_id", flat=True).distinct().order_by()]
    return found


def sends_active() -> list[tuple[int, int, int]]:
    """(send id, message id, webhook id) of every group send being sent, oldest first."""
    return list(
        GroupSend.objects.filter(status=GroupSend.Status.SENDING)
        .order_by("pk")
        .values_list("pk", "message__pk", "webhook_id")
    )


def drain_lease_renew(*, token: str) -> None:
    """The drain's heartbeat: it is alive, the claims it holds are not to be taken back.

    A lease row a take-back deleted while the drain still ran (its heartbeat held up longer than
    WEBHOOK_DRAIN_TIMEOUT) is made again: the drain goes on claiming under it.
    """
    now = timezone.now()
    if not DrainLease.objects.filter(token=token).update(heartbeat_at=now):
        DrainLease.objects.get_or_create(
            token=token, defaults={"heartbeat_at": now, "host": socket.gethostname()[:255], "pid": os.getpid()}
        )


def drains_alive() -> int:
    """Drains whose heartbeat is fresh: the bulk lanes' cap is shared among them (share_left)."""
    timeout = timedelta(seconds=settings.WEBHOOK_DRAIN_TIMEOUT)
    return DrainLease.objects.filter(heartbeat_at__gte=timezone.now() - timeout).count()


def drain_lease_end(*, token: str) -> None:
    """A drain that recorded every wave it claimed ends: nothing of it is left to take back."""
    DrainLease.objects.filter(token=token).delete()


def webhooks_unclaimable(*, now: datetime) -> list[int]:
    """Webhooks whose waiting deliveries cannot be claimed now: inactive, paused, slowed down, or with
    every slot in flight (the record that frees one rings, and a dead drain's slots are due work)."""
    held = Q(is_active=False) | Q(paused_at__isnull=False) | Q(throttled_until__gt=now)
    blocked = set(Webhook.objects.filter(held).values_list("pk", flat=True))
    loads = dict(WebhookLoad.objects.filter(in_flight__gt=0).values_list("webhook_id", "in_flight"))
    for pk, cap in Webhook.objects.filter(pk__in=list(loads)).values_list("pk", "max_concurrency"):
        if loads[pk] >= (cap or settings.WEBHOOK_MAX_CONCURRENCY):
            blocked.add(pk)
    return sorted(blocked)


def deliveries_due(*, now: datetime) -> bool:
    """Is a delivery due that a claim would take? Those of paused, inactive, slowed-down webhooks are not:
    they ring no doorbell (resuming, or the end of the slow-down, rings it).

    Read backwards from now, per priority: the rows due last are claimed last, so a busy send answers
    at the first entry. From the start of the range the look walked over an entry per row claimed
    since the oldest open snapshot (0.13 s at 300,000 with one held).
    """
    unclaimable = webhooks_unclaimable(now=now)
    for priority in REALTIME + BULK:
        due = Delivery.objects.filter(status__in=WAITING, priority=priority, next_attempt_at__lte=now)
        if due.exclude(webhook_id__in=unclaimable).order_by("-next_attempt_at").values_list("pk", flat=True)[:1]:
            return True
    return False


def drains_dead_due() -> bool:
    """A drain whose heartbeat stopped: its claims are to be taken back."""
    timeout = timedelta(seconds=settings.WEBHOOK_DRAIN_TIMEOUT)
    return DrainLease.objects.filter(heartbeat_at__lt=timezone.now() - timeout).exists()


def claims_orphaned_due() -> bool:
    """A claim older than the lease of no known drain (see record.leases_expired_record)."""
    lease = timedelta(seconds=settings.WEBHOOK_CLAIM_LEASE)
    return (
        Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=timezone.now() - lease)
        .exclude(claimed_by__in=DrainLease.objects.values("token"))
        .exists()
    )


def work_due() -> bool:
    """Is anything due that a drain would do? The worker's tick asks this when Redis may have lost the bell."""
    return deliveries_due(now=timezone.now()) or any(work.due() for work in due.due_work())


def next_due_at() -> datetime | None:
    """When the next waiting delivery, slow-down's end or registered work falls due (the scheduler's bell)."""
    # One look-up per priority, each the first entry of an index range from now on: what is due already
    # is rung for by work_due, and the range before now holds an entry per row claimed since the oldest
    # open snapshot (see deliveries_claim).
    now = timezone.now()
    times = [
        Delivery.objects.filter(status__in=WAITING, priority=priority, next_attempt_at__gt=now)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
        for priority in REALTIME + BULK
    ]
    # A slow-down's end: its webhook's waiting deliveries fall due then, and no bell rang for them.
    times += [
        Webhook.objects.filter(throttled_until__gt=timezone.now(), is_active=True, paused_at__isnull=True)
        .order_by("throttled_until")
        .values_list("throttled_until", flat=True)
        .first()
    ]
    times += [work.next_at() for work in due.due_work()]
    known: list[datetime] = [t for t in times if t is not None]
    return min(known) if known else None
