"""Claiming due deliveries: the database schedules, one statement a wave.

A wave is deliveries of one webhook, at most as many as the webhook has free slots (its concurrency
cap across every worker, less what is in flight) and as its rate limit allows. The claim moves them
to `sending`, stamped with the drain that holds them; a heartbeat renews the stamp, and a claim
whose stamp is older than the lease belongs to a dead worker (see record.leases_expired_record).

PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers on many machines claim side by side without waiting
for each other; the webhook row is locked for the count-then-claim, so the cap holds across them.
SQLite (the single-worker development default) serialises writers anyway.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from webhooks.engine import due
from webhooks.models import Delivery, GroupSend, Webhook

WAITING = (Delivery.Status.PENDING.value, Delivery.Status.RETRYING.value)
REALTIME = (Delivery.Priority.REALTIME.value, Delivery.Priority.REALTIME_RETRY.value)
BULK = (Delivery.Priority.BULK.value, Delivery.Priority.BULK_RETRY.value)


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


def _db_time(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _free_slots(webhook: Webhook, *, limit: int, now: datetime) -> int:
    """How many requests this webhook may take now: its cap less what is in flight, and its rate."""
    if webhook.is_paused or not webhook.is_active or (webhook.throttled_until and webhook.throttled_until > now):
        return 0
    in_flight = Delivery.objects.filter(webhook_id=webhook.pk, status=Delivery.Status.SENDING).count()
    free = min(limit, webhook.effective_max_concurrency - in_flight)
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
) -> list[Claimed]:
    """Claim up to `limit` due deliveries of one webhook (of one message, for a group send; of one
    bulk recover, for a recovery)."""
    from webhooks.services.recoveries import recovery_running_lock

    now = timezone.now()
    with transaction.atomic():
        webhook = Webhook.objects.select_for_update().filter(pk=webhook_id).first()
        if webhook is None:
            return []
        # A stopped recovery is claimed from no more: its stop waits for this claim's commit.
        if recovery_id is not None and not recovery_running_lock(recovery_id=recovery_id):
            return []
        count = _free_slots(webhook, limit=limit, now=now)
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
        sql = (
            f"UPDATE {table} SET status = %s, claimed_by = %s, claimed_at = %s, updated_at = %s "  # noqa: S608
            f"WHERE id IN (SELECT id FROM {table} WHERE status IN (%s, %s) AND priority = %s "
            f"AND next_attempt_at <= %s AND webhook_id = %s{by_message} "
            f"ORDER BY next_attempt_at LIMIT %s{skip_locked}) "
            "RETURNING id, webhook_id, message_id, event, body, attempt_count, retry_count, redeliver_requested_by_id, "
            "priority"
        )
        stamp = _db_time(now)
        rows: list[tuple] = []
        with connection.cursor() as cursor:
            for priority in priorities:
                params = [Delivery.Status.SENDING.value, token, stamp, stamp, *WAITING, priority, stamp, webhook_id]
                if message_id is not None:
                    params.append(message_id)
                if recovery_id is not None:
                    params.append(recovery_id)
                params.append(count - len(rows))
                cursor.execute(sql, params)
                rows += cursor.fetchall()
                if len(rows) >= count:
                    break
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
        )
        for row in rows
    ]


def realtime_due() -> list[tuple[int, int]]:
    """(priority, webhook) of the realtime deliveries due now, fresh first (an index range: cheap when none)."""
    return list(
        Delivery.objects.filter(status__in=WAITING, priority__in=REALTIME, next_attempt_at__lte=timezone.now())
        .values_list("priority", "webhook_id")
        .distinct()
        .order_by("priority")
    )


def sends_active() -> list[tuple[int, int, int]]:
    """(send id, message id, webhook id) of every group send being sent, oldest first."""
    return list(
        GroupSend.objects.filter(status=GroupSend.Status.SENDING)
        .order_by("pk")
        .values_list("pk", "message__pk", "webhook_id")
    )


def claims_renew(*, token: str, ids: list[str]) -> int:
    """The heartbeat: this drain is alive, the deliveries it holds in flight are not to be taken back.

    Only those it holds: a claim whose answer never reached the drain (a connection lost at commit)
    is left to expire and be taken back, never kept alive by a drain that does not know it.
    """
    if not ids:
        return 0
    return Delivery.objects.filter(id__in=ids, status=Delivery.Status.SENDING, claimed_by=token).update(
        claimed_at=timezone.now()
    )


def work_due() -> bool:
    """Is anything due that a drain would do? The worker's tick asks this when Redis may have lost the bell."""
    now = timezone.now()
    lease = timedelta(seconds=settings.WEBHOOK_CLAIM_LEASE)
    if Delivery.objects.filter(status__in=WAITING, priority__in=REALTIME + BULK, next_attempt_at__lte=now).exists():
        return True
    if Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=now - lease).exists():
        return True
    if any(work.due() for work in due.due_work()):
        return True
    from webhooks.services.recoveries import recoveries_due

    if recoveries_due():
        return True
    return GroupSend.objects.filter(
        Q(status=GroupSend.Status.SCHEDULED, scheduled_at__lte=now)
        | Q(status=GroupSend.Status.SENDING, fanout_done=False)
        & (Q(fanout_heartbeat__isnull=True) | Q(fanout_heartbeat__lt=now - lease))
    ).exists()


def next_due_at() -> datetime | None:
    """When the next waiting delivery or scheduled send falls due (for the scheduler's doorbell)."""
    # One look-up per priority: each is the first entry of an index range (see deliveries_claim).
    times = [
        Delivery.objects.filter(status__in=WAITING, priority=priority)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
        for priority in REALTIME + BULK
    ]
    times += [
        GroupSend.objects.filter(status=GroupSend.Status.SCHEDULED)
        .order_by("scheduled_at")
        .values_list("scheduled_at", flat=True)
        .first(),
    ]
    times += [work.next_at() for work in due.due_work()]
    known: list[datetime] = [t for t in times if t is not None]
    return min(known) if known else None
