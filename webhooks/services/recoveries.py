"""Bulk recover: failed and cancelled deliveries sent again in bulk, with the same delivery ids.

A recovery is a row. `recovery_create` only counts and records it (a web request never writes the
100,000 deliveries it may name); the drain's upkeep then moves them back to due, a batch of at most
`BATCH` rows a short transaction (`recovery_move_batch`), in the bulk lane and stamped with the
recovery, so the drain claims them round-robin alongside the group sends, at each webhook's limits
(claim.py), behind every realtime delivery. Each next attempt is recorded as a redelivery by the
person who asked (record.py reads `redeliver_requested_by`). The database is the one truth: a
recovery still moving is due work (claim.work_due), so a Redis that lost its bell only delays it.

What is sent again: failed and cancelled deliveries whose body is kept, of active webhooks, that
existed when the recovery was asked for. Not sent again, and counted as skipped: deliveries already
pending or being sent, succeeded ones, test sends (a person's check at one moment, never retried,
not resent in bulk either), those whose body is gone (retention, or never rendered) and those of
inactive webhooks. Deliveries of a paused webhook are moved and wait, like all its work, until it is
resumed. A stop moves and claims no more at once (the request only marks it, so it returns at once
whatever the size); the drains' upkeep then cancels what it moved and has not sent (with the reason). At
most the wave in flight when the stop commits still reaches its receiver.
"""

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from webhookhub.errors import HubError
from webhooks import selectors
from webhooks.content.events import Event
from webhooks.engine import doorbell
from webhooks.models import Delivery, GroupSend, Recovery, Webhook
from webhooks.selectors import deliveries_filter, deliveries_of_send

logger = logging.getLogger(__name__)
Status = Delivery.Status
RECOVERABLE = (Status.FAILED, Status.CANCELLED)
OPEN = (Status.PENDING, Status.RETRYING, Status.SENDING)
# Rows moved per transaction: each batch locks at most this many deliveries, for milliseconds.
BATCH = 1000
MAX_IDS = 1000
FILTER_KEYS = ("webhook_id", "status", "event", "send_id", "customer", "created_after", "created_before")
# After a stop, waves still in flight are recorded within a drain's job timeout; a failed one that
# was set to retry meanwhile is cancelled until then.
SETTLE_SECONDS = 900


# --- What a recovery names -----------------------------------------------------------------------


def _moment(value) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = value if isinstance(value, datetime) else parse_datetime(str(value))
    except ValueError:
        moment = None
    if moment is None:
        raise HubError(_("Not a date and time: %(value)s") % {"value": value})
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _id(value) -> int:
    try:
        number = int(str(value).strip().lstrip("#"))
    except ValueError:
        number = 0
    if not 0 < number < 2**63:
        raise HubError(_("Not an id: %(value)s") % {"value": value})
    return number


def criteria_clean(*, kind: str, criteria: dict) -> dict:
    """The criteria as stored (JSON): checked, with only the keys of its kind; HubError when not usable."""
    if kind == Recovery.Kind.SELECTION:
        ids = [str(pk) for pk in criteria.get("ids") or [] if str(pk).strip()]
        if not ids:
            raise HubError(_("Select at least one delivery."))
        if len(ids) > MAX_IDS:
            raise HubError(_("At most %(max)s deliveries by id; use filters for more.") % {"max": MAX_IDS})
        return {"ids": sorted(set(ids))}
    if kind == Recovery.Kind.SEND:
        send_id = _id(criteria.get("send_id"))
        if not GroupSend.objects.filter(pk=send_id).exists():
            raise HubError(_("There is no such group send."))
        return {"send_id": send_id}
    if kind == Recovery.Kind.WEBHOOK:
        webhook_id, since = _id(criteria.get("webhook_id")), _moment(criteria.get("since"))
        if not Webhook.objects.filter(pk=webhook_id).exists():
            raise HubError(_("There is no such webhook."))
        if since is None:
            raise HubError(_("Choose since when failed deliveries are sent again."))
        return {"webhook_id": webhook_id, "since": since.isoformat()}
    if kind == Recovery.Kind.FILTER:
        cleaned = {key: criteria[key] for key in FILTER_KEYS if criteria.get(key) not in (None, "")}
        if not cleaned:
            raise HubError(_("Name at least one filter (webhook, status, event, send, customer or time)."))
        for key in ("webhook_id", "send_id"):
            if key in cleaned:
                cleaned[key] = _id(cleaned[key])
        for key in ("created_after", "created_before"):
            moment = _moment(cleaned[key]) if key in cleaned else None
            if moment is not None:
                cleaned[key] = moment.isoformat()
        return cleaned
    raise HubError(_("Unknown kind of recovery."))


def deliveries_named(*, kind: str, criteria: dict):
    """Every delivery the criteria name, whatever its state (what the person asked for)."""
    if kind == Recovery.Kind.SELECTION:
        return Delivery.objects.filter(id__in=criteria["ids"])
    if kind == Recovery.Kind.SEND:
        return deliveries_of_send(Delivery.objects.all(), criteria["send_id"])
    if kind == Recovery.Kind.WEBHOOK:
        return Delivery.objects.filter(webhook_id=criteria["webhook_id"], created_at__gte=_moment(criteria["since"]))
    filters = dict(criteria)
    for key in ("created_after", "created_before"):
        if key in filters:
            filters[key] = _moment(filters[key])
    return deliveries_filter(**filters)


def _recoverable(queryset):
    active = Webhook.objects.filter(is_active=True).values("pk")
    return (
        queryset.filter(status__in=RECOVERABLE, webhook_id__in=active).exclude(body="").exclude(event=Event.TEST_SEND)
    )


def recovery_preview(*, kind: str, criteria: dict) -> dict:
    """What a recovery would do, for its confirmation: how many are sent again (per webhook), how many not, why."""
    named = deliveries_named(kind=kind, criteria=criteria)
    counts = named.aggregate(
        named=Count("pk"),
        open=Count("pk", filter=Q(status__in=OPEN)),
        succeeded=Count("pk", filter=Q(status=Status.SUCCEEDED)),
    )
    per_webhook = dict(
        _recoverable(named).values("webhook_id").annotate(n=Count("pk")).order_by().values_list("webhook_id", "n")
    )
    names = dict(Webhook.objects.filter(pk__in=list(per_webhook)).values_list("pk", "name"))
    total = sum(per_webhook.values())
    skipped = counts["named"] - total
    return {
        "total": total,
        "named": counts["named"],
        "skipped": skipped,
        "skipped_open": counts["open"],
        "skipped_succeeded": counts["succeeded"],
        "skipped_other": max(skipped - counts["open"] - counts["succeeded"], 0),
        "webhooks": [{"id": pk, "name": names.get(pk, f"#{pk}"), "count": n} for pk, n in sorted(per_webhook.items())],
    }


# --- Asking, moving, completing, stopping --------------------------------------------------------


@transaction.atomic
def recovery_create(*, kind: str, criteria: dict, user=None) -> Recovery:
    """Record a recovery (counted, nothing moved yet); the drain's upkeep does the rest in batches."""
    criteria = criteria_clean(kind=kind, criteria=criteria)
    preview = recovery_preview(kind=kind, criteria=criteria)
    if not preview["total"]:
        raise HubError(_("None of these deliveries can be sent again: only failed or cancelled ones can."))
    recovery = Recovery.objects.create(
        kind=kind,
        criteria=criteria,
        created_by=user,
        created_at=timezone.now(),
        webhook_ids=[w["id"] for w in preview["webhooks"]],
        total=preview["total"],
        skipped=preview["skipped"],
    )
    doorbell.ring_on_commit(doorbell.BULK_QUEUE)
    return recovery


def recovery_move_batch(*, recovery_id: int) -> bool:
    """Move the recovery's next batch back to due, in one short transaction; True while more remain."""
    with transaction.atomic():
        recovery = Recovery.objects.select_for_update().filter(pk=recovery_id).first()
        if recovery is None or recovery.status != Recovery.Status.RUNNING or recovery.moving_done:
            return False
        named = deliveries_named(kind=recovery.kind, criteria=recovery.criteria)
        # Only what existed when it was asked for: a delivery that fails later is not this recovery's.
        queryset = _recoverable(named).filter(
            created_at__lte=recovery.created_at, webhook_id__in=[int(pk) for pk in recovery.webhook_ids]
        )
        if recovery.cursor_at is not None:
            queryset = queryset.filter(
                Q(created_at__gt=recovery.cursor_at) | Q(created_at=recovery.cursor_at, id__gt=recovery.cursor_id)
            )
        rows = list(queryset.order_by("created_at", "id").values_list("id", "created_at")[:BATCH])
        if not rows:
            recovery.moving_done = True
            recovery.skipped += max(recovery.total - recovery.moved, 0)
            recovery.total = recovery.moved
            recovery.save(update_fields=["moving_done", "total", "skipped"])
            return False
        now = timezone.now()
        # The status again in the UPDATE: a delivery redelivered by hand meanwhile is left alone.
        moved = Delivery.objects.filter(id__in=[pk for pk, _at in rows], status__in=RECOVERABLE).update(
            status=Status.PENDING,
            next_attempt_at=now,
            priority=Delivery.Priority.BULK,
            redeliver_requested_by_id=recovery.created_by_id,
            recovery_id=recovery.pk,
            claimed_by="",
            claimed_at=None,
            updated_at=now,
        )
        recovery.moved += moved
        recovery.cursor_id, recovery.cursor_at = rows[-1]
        recovery.save(update_fields=["moved", "cursor_id", "cursor_at"])
        doorbell.ring_on_commit(doorbell.BULK_QUEUE)
    return True


def recoveries_advance() -> int:
    """The drain's upkeep: one batch of each recovery still moving (so each upkeep stays short)."""
    moved = 0
    for recovery_id in Recovery.objects.filter(status=Recovery.Status.RUNNING, moving_done=False).values_list(
        "pk", flat=True
    )[:20]:
        try:
            moved += int(recovery_move_batch(recovery_id=recovery_id))
        except (HubError, KeyError, TypeError, ValueError):
            # Criteria that no longer make sense must not stop the drain's upkeep for everyone else.
            logger.exception("bulk recover %s could not move its next batch", recovery_id)
    return moved


def _counts(recovery_ids) -> dict[int, dict]:
    rows = (
        Delivery.objects.filter(recovery_id__in=list(recovery_ids))
        .values("recovery_id")
        .annotate(
            succeeded=Count("pk", filter=Q(status=Status.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
            cancelled=Count("pk", filter=Q(status=Status.CANCELLED)),
            open=Count("pk", filter=Q(status__in=OPEN)),
        )
        .order_by()
    )
    return {row.pop("recovery_id"): row for row in rows}


def recoveries_complete() -> int:
    """running → completed when every delivery is moved and final; its counts are kept with it."""
    completed = 0
    for recovery in Recovery.objects.filter(status=Recovery.Status.RUNNING, moving_done=True):
        open_statuses = (*Delivery.WAITING_STATUSES, Status.SENDING)
        if Delivery.objects.filter(recovery_id=recovery.pk, status__in=open_statuses).exists():
            continue
        counts = _counts([recovery.pk]).get(recovery.pk, {})
        completed += Recovery.objects.filter(pk=recovery.pk, status=Recovery.Status.RUNNING).update(
            status=Recovery.Status.COMPLETED,
            finished_at=timezone.now(),
            succeeded=counts.get("succeeded", 0),
            failed=counts.get("failed", 0),
            cancelled=counts.get("cancelled", 0),
        )
    return completed


def _stopped_reason(recovery: Recovery) -> str:
    return _("Bulk recover #%(id)s was stopped by %(user)s; not sent again.") % {
        "id": recovery.pk,
        "user": recovery.stopped_by or "?",
    }


def recoveries_settle() -> int:
    """The drain's upkeep after a stop: what the recovery moved and has not sent is cancelled, a batch a turn.

    Also a wave in flight at the stop that set a delivery to retry: cancelled here, so a stop stays a stop.
    """
    since = timezone.now() - timedelta(seconds=SETTLE_SECONDS)
    settled = 0
    for recovery in Recovery.objects.filter(status=Recovery.Status.STOPPED, finished_at__gte=since).select_related(
        "stopped_by"
    ):
        settled += _cancel_waiting(recovery)
    return settled


def _cancel_waiting(recovery: Recovery) -> int:
    waiting = Delivery.objects.filter(recovery_id=recovery.pk, status__in=Delivery.WAITING_STATUSES)
    ids = list(waiting.values_list("pk", flat=True)[:BATCH])
    if not ids:
        return 0
    # The status again in the UPDATE: PostgreSQL re-checks it on a row a claim changed meanwhile.
    return waiting.filter(pk__in=ids).update(
        status=Status.CANCELLED,
        next_attempt_at=None,
        redeliver_requested_by=None,
        last_error=_stopped_reason(recovery),
        updated_at=timezone.now(),
    )


@transaction.atomic
def recovery_stop(*, recovery: Recovery, user=None) -> Recovery:
    """Stop a running recovery: nothing more is moved or claimed; what it moved and has not sent is cancelled.

    The row lock waits for a claim of its deliveries under way (claim.py reads the recovery under a
    share lock), so no claim starts after this returns; the wave already in flight is recorded. The
    request only marks the stop, whatever the recovery's size: the drains' upkeep cancels what it had
    moved (recoveries_settle, within a second or so), and the progress counts nothing of it as pending.
    """
    recovery = Recovery.objects.select_for_update().get(pk=recovery.pk)
    if recovery.status != Recovery.Status.RUNNING:
        raise HubError(_("Only a running recovery can be stopped."))
    recovery.status = Recovery.Status.STOPPED
    recovery.stopped_by = user
    recovery.finished_at = timezone.now()
    recovery.save(update_fields=["status", "stopped_by", "finished_at"])
    doorbell.ring_on_commit(doorbell.BULK_QUEUE)
    return recovery


def recovery_running_lock(*, recovery_id: int) -> bool:
    """Inside a claim's transaction: is the recovery still running? Held (FOR SHARE) until the claim commits."""
    table = Recovery._meta.db_table
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status FROM {table} WHERE id = %s{lock}", [recovery_id])  # noqa: S608 - bound
        row = cursor.fetchone()
    return bool(row) and row[0] == Recovery.Status.RUNNING


def recoveries_active() -> list[tuple[int, int]]:
    """(recovery id, webhook id) of every running recovery, oldest first: the drain's bulk lanes."""
    lanes = []
    for pk, webhook_ids in (
        Recovery.objects.filter(status=Recovery.Status.RUNNING).order_by("pk").values_list("pk", "webhook_ids")
    ):
        lanes += [(pk, int(webhook_id)) for webhook_id in webhook_ids or []]
    return lanes


def recoveries_due() -> bool:
    """A recovery still moving its deliveries is work due now (the worker's tick rings for it)."""
    return Recovery.objects.filter(status=Recovery.Status.RUNNING, moving_done=False).exists()


# --- Progress --------------------------------------------------------------------------------------


def recoveries_with_progress(recoveries) -> list[Recovery]:
    """Set each recovery's `progress` (the group sends' progress shape) from one aggregate query."""
    recoveries = list(recoveries)
    live = _counts([r.pk for r in recoveries if r.status != Recovery.Status.COMPLETED])
    for recovery in recoveries:
        if recovery.status == Recovery.Status.COMPLETED:
            counts = {"succeeded": recovery.succeeded, "failed": recovery.failed, "cancelled": recovery.cancelled}
        else:
            counts = live.get(recovery.pk, {"succeeded": 0, "failed": 0, "cancelled": 0})
        stopped = recovery.status == Recovery.Status.STOPPED
        summary = selectors.progress_shape(
            total=max(recovery.total, counts["succeeded"] + counts["failed"] + counts["cancelled"]),
            counts=counts,
            running=recovery.status == Recovery.Status.RUNNING,
            rest_cancelled=False,
            stopped=stopped,
        )
        if stopped:
            # What a stop left unmoved is not pending: it will not be sent.
            summary["pending"] = summary["pending_pct"] = 0
        recovery.progress = summary
    return recoveries
