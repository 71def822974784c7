"""Group sends (群发): one webhook's message to every customer of a group, now or at a set time.

A send is a row; the drain starts it when due, writes its deliveries chunk by chunk (the fan-out,
resumable from its cursor) and sends them in the bulk lane; a stop cancels what is not yet sent.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, GroupEntry, MembershipLevel
from webhookhub import tracing
from webhookhub.errors import HubError
from webhooks.content.events import Event
from webhooks.content.failures import Code
from webhooks.content.payloads import CONTEXT_FIELDS, CustomerFacts, message_context
from webhooks.engine import doorbell
from webhooks.engine.bulk import rows_insert
from webhooks.engine.claim import webhook_claimable
from webhooks.models import Delivery, GroupSend, Message, Webhook
from webhooks.services.publishing import delivery_for_customer, template_for


@transaction.atomic
def group_send_create(*, webhook: Webhook, group, scheduled_at=None, user=None) -> GroupSend:
    """A group send, now (scheduled_at empty) or at a future time."""
    if webhook.is_fixed:
        raise HubError(_("A fixed-event webhook sends only when its loyalty event happens."))
    if not webhook.is_active:
        raise HubError(_("This webhook is not active; activate it before sending."))
    now = timezone.now()
    if scheduled_at is not None and scheduled_at <= now:
        raise HubError(_("The scheduled time is in the past; choose a later time."))
    send = GroupSend.objects.create(
        webhook=webhook,
        group=group,
        created_by=user,
        scheduled_at=scheduled_at or now,
        total=GroupEntry.objects.filter(group=group).count(),
    )
    Message.objects.create(
        event=Event.GROUP_SEND,
        group_send=send,
        context={"sendId": send.pk},
        created_by=user,
        trace_context=tracing.trigger(Event.GROUP_SEND, webhook_id=send.webhook_id, send_id=send.pk),
    )
    if scheduled_at is None:
        doorbell.ring_on_commit(doorbell.BULK_QUEUE)
    else:
        doorbell.ring_at_on_commit(scheduled_at)
    return send


def group_sends_start_due() -> int:
    """scheduled → sending for every send whose time has come (the drain's upkeep)."""
    now = timezone.now()
    return GroupSend.objects.filter(status=GroupSend.Status.SCHEDULED, scheduled_at__lte=now).update(
        status=GroupSend.Status.SENDING, started_at=now, fanout_heartbeat=None
    )


def group_sends_due() -> bool:
    """A scheduled send whose time has come (the tick rings for it)."""
    return GroupSend.objects.filter(status=GroupSend.Status.SCHEDULED, scheduled_at__lte=timezone.now()).exists()


def group_sends_next_at() -> datetime | None:
    """When the next scheduled send starts (the scheduler's bell)."""
    return (
        GroupSend.objects.filter(status=GroupSend.Status.SCHEDULED)
        .order_by("scheduled_at")
        .values_list("scheduled_at", flat=True)
        .first()
    )


def _fanout_free(now: datetime) -> Q:
    lease = timedelta(seconds=settings.WEBHOOK_CLAIM_LEASE)
    return Q(fanout_heartbeat__isnull=True) | Q(fanout_heartbeat__lt=now - lease)


def group_send_fanouts_due() -> bool:
    """A running send whose fan-out no live drain is writing."""
    free = _fanout_free(timezone.now())
    return GroupSend.objects.filter(free, status=GroupSend.Status.SENDING, fanout_done=False).exists()


def group_send_fanout_run() -> int:
    """Take over one fan-out and write it to its end (on the drain's fan-out thread); 1 if one was written.

    A failure half-way leaves its heartbeat to expire: the next drain takes it over at its cursor.
    """
    send_id = group_send_fanout_take()
    if send_id is None:
        return 0
    while group_send_fanout_step(send_id=send_id):
        pass
    return 1


def group_send_fanout_take() -> int | None:
    """Take over the fan-out of one running send that no live drain is writing; its id, or None."""
    now = timezone.now()
    free = _fanout_free(now)
    for send_id in (
        GroupSend.objects.filter(free, status=GroupSend.Status.SENDING, fanout_done=False)
        .order_by("pk")
        .values_list("pk", flat=True)[:5]
    ):
        # Conditional: of two drains, one wins the send.
        if GroupSend.objects.filter(free, pk=send_id, fanout_done=False).update(fanout_heartbeat=now):
            return send_id
    return None


def group_send_fanout_step(*, send_id: int) -> bool:
    """Write the next chunk of the send's deliveries; True while more remain.

    The cursor (last customer id written) commits with its chunk, so a fan-out killed half-way is
    taken over where it stopped and writes no recipient twice. Each chunk rings the bulk doorbell,
    so idle workers start sending while the rest is written.
    """
    with transaction.atomic():
        # FOR NO KEY UPDATE: a stop (FOR UPDATE) waits for the chunk, the waves' records (FOR KEY SHARE) do not.
        sends = GroupSend.objects.select_for_update(of=("self",), no_key=True).select_related("webhook", "message")
        send = sends.get(pk=send_id)
        if send.status != GroupSend.Status.SENDING or send.fanout_done:
            return False
        # The next chunk's ids from the (group, customer) index, then those customers: a join ordered by
        # customer id made PostgreSQL read the whole group for every chunk (3 s a chunk at 1,000,000).
        ids = list(
            GroupEntry.objects.filter(group_id=send.group_id, customer_id__gt=send.fanout_cursor)
            .order_by("customer_id")
            .values_list("customer_id", flat=True)[: settings.WEBHOOK_FANOUT_CHUNK]
        )
        rows = Customer.objects.filter(pk__in=ids).order_by("pk").values_list(*CONTEXT_FIELDS)
        customers = [CustomerFacts(*row) for row in rows]
        now = timezone.now()
        if not ids:
            send.fanout_done = True
            send.total = Delivery.objects.filter(message=send.message).count()
            send.fanout_heartbeat = now
            send.save(update_fields=["fanout_done", "total", "fanout_heartbeat"])
            return False
        template = template_for(send.webhook)
        levels = {level.pk: level for level in MembershipLevel.objects.all()}
        deliveries = [
            delivery_for_customer(
                message=send.message,
                webhook=send.webhook,
                template=template,
                customer=customer,
                context=message_context(customer=customer, send_id=send.pk, levels=levels),
                now=now,
                priority=Delivery.Priority.BULK,
            )
            for customer in customers
        ]
        # Each row its own due time, a microsecond apart in fan-out order (a chunk takes far longer
        # to write than its rows' microseconds): the claim's cursor then starts exactly at the last row
        # claimed, without walking over those claimed before it (claim.cursor_after).
        for offset, row in enumerate(deliveries):
            if row["next_attempt_at"] is not None:
                row["next_attempt_at"] = now + timedelta(microseconds=offset)
        rows_insert(Delivery, deliveries)
        send.fanout_cursor = ids[-1]
        send.fanout_heartbeat = now
        send.save(update_fields=["fanout_cursor", "fanout_heartbeat"])
        if webhook_claimable(send.webhook, now=now):
            doorbell.ring_on_commit(doorbell.BULK_QUEUE)
    return True


def group_send_open(*, message_id: int) -> bool:
    """Has the send a delivery still waiting or in flight? Read so that it costs the same late in a send.

    Waiting rows from the end of the send's claim index (its latest due times are claimed last): the
    start of that index, and of the (message, status) index, holds an entry for every row claimed
    since the oldest open snapshot, and `exists()` walked over all of them, once a second per drain
    (docs/engine.md). The rows in flight are looked for only when none waits: at the send's end.
    """
    # Retries first: while any waits, the fresh rows' range (all claimed, late in a send) is not read.
    for priority in reversed(Delivery.Priority.values):
        waiting = Delivery.objects.filter(
            message_id=message_id, status__in=Delivery.WAITING_STATUSES, priority=priority
        )
        if waiting.order_by("-next_attempt_at").values_list("pk", flat=True)[:1]:
            return True
    return Delivery.objects.filter(message_id=message_id, status=Delivery.Status.SENDING).exists()


def group_sends_complete() -> int:
    """sending → completed for every send whose fan-out is done and whose deliveries are all final."""
    completed = 0
    for send_id, message_id in GroupSend.objects.filter(status=GroupSend.Status.SENDING, fanout_done=True).values_list(
        "pk", "message__pk"
    ):
        if group_send_open(message_id=message_id):
            continue
        completed += GroupSend.objects.filter(pk=send_id, status=GroupSend.Status.SENDING).update(
            status=GroupSend.Status.COMPLETED, finished_at=timezone.now()
        )
    return completed


@transaction.atomic
def group_send_cancel(*, send: GroupSend, user=None) -> GroupSend:
    """Cancel a scheduled send, or stop a running one.

    What waits is cancelled here; no drain claims from a stopped send again, and a wave in flight
    records its deliveries as cancelled (the recording re-reads this under a lock), so nothing of
    the send is retried. At most the requests already in flight (one wave) still reach the receiver.
    """
    send = GroupSend.objects.select_for_update().get(pk=send.pk)
    if send.status not in (GroupSend.Status.SCHEDULED, GroupSend.Status.SENDING):
        raise HubError(_("Only a scheduled or running send can be cancelled."))
    now = timezone.now()
    # On the message id, not through a join: Django writes a join as `id IN (subquery)`, and PostgreSQL
    # re-checks only the outer condition on a row a claim changed meanwhile, so it would cancel a
    # delivery already claimed and on its way. A plain condition on status is re-checked.
    message_ids = list(Message.objects.filter(group_send_id=send.pk).values_list("pk", flat=True))
    Delivery.objects.filter(message_id__in=message_ids, status__in=Delivery.WAITING_STATUSES).update(
        status=Delivery.Status.CANCELLED,
        next_attempt_at=None,
        updated_at=now,
        last_error=_("Cancelled by %(user)s.") % {"user": user or "?"},
        last_error_code=Code.CANCELLED,
        last_error_params={"user": str(user or "?")},
    )
    send.status = GroupSend.Status.CANCELLED
    send.cancelled_by = user
    send.finished_at = now
    send.save(update_fields=["status", "cancelled_by", "finished_at"])
    return send
