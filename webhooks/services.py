"""Every state change of webhooks, sends and deliveries, each in one named function.

Deliveries are written before any job is queued, and jobs are queued only after the transaction
commits; `deliveries_reconcile` puts back on the queue whatever is due but in no queue.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, GroupEntry, MembershipLevel
from webhookhub.errors import HubError

from . import queueing
from .bulk import rows_insert
from .events import Event
from .models import Delivery, GroupSend, Message, Webhook
from .payloads import CONTEXT_FIELDS, fixed_event_payload, message_context
from .signals import event_published
from .signing import canonical_json
from .templating import TemplateError, compile_template

logger = logging.getLogger(__name__)


# --- Deliveries -----------------------------------------------------------------------------------


def _template_for(webhook: Webhook):
    return compile_template(webhook.body_template, message_type=webhook.message_type, empty_text=webhook.empty_text)


def _delivery_for_customer(*, message, webhook, template, customer, context, now, job_id) -> Delivery:
    # Ids, not objects: a fan-out builds 100,000 of these, and the relation descriptors cost.
    delivery = Delivery(
        message_id=message.pk,
        webhook_id=webhook.pk,
        customer_id=customer.pk if customer else None,
        event=message.event,
        next_attempt_at=now,
        job_id=job_id,
        created_at=now,
        updated_at=now,
    )
    try:
        delivery.body = template.render(context)
    except TemplateError as exc:
        # Kept, so the failure and its reason are visible; never queued.
        delivery.body, delivery.status, delivery.last_error = "", Delivery.Status.FAILED, str(exc)
        delivery.next_attempt_at, delivery.job_id = None, ""
    return delivery


def _queue_deliveries(deliveries, *, queue_name=queueing.DELIVERY_QUEUE) -> None:
    """Bulk-write deliveries whose job ids are set, then queue one job per batch after commit."""
    rows_insert(Delivery, deliveries)
    batches: dict[str, list[str]] = {}
    for delivery in deliveries:
        if delivery.status == Delivery.Status.PENDING:
            batches.setdefault(delivery.job_id, []).append(delivery.id)
    queueing.batches_enqueue_on_commit(list(batches.items()), queue_name=queue_name)


def _batched_job_ids(count: int):
    size = settings.WEBHOOK_BATCH_SIZE
    job_id = None
    for index in range(count):
        if index % size == 0:
            job_id = queueing.new_job_id()
        yield job_id


@transaction.atomic
def message_publish(*, event: str, webhooks, customer=None, context: dict | None = None, user=None) -> Message:
    """A non-fixed message (form submit, flow step) for one customer to each given webhook."""
    context = context or {}
    message = Message.objects.create(event=event, context=_plain(context), created_by=user)
    full_context = message_context(customer=customer, **context)
    now = timezone.now()
    job_id = queueing.new_job_id()
    deliveries = [
        _delivery_for_customer(
            message=message,
            webhook=webhook,
            template=_template_for(webhook),
            customer=customer,
            context=full_context,
            now=now,
            job_id=job_id,
        )
        for webhook in webhooks
    ]
    _queue_deliveries(deliveries)
    return message


def _plain(context: dict) -> dict:
    return {key: value for key, value in context.items() if value is not None}


def event_publish(*, event: str, data: dict, user=None) -> Message:
    """A fixed loyalty event to every active webhook subscribed to it, with the seed's payload."""
    return events_publish(events=[(event, data)], user=user)[0]


@transaction.atomic
def events_publish(*, events: list[tuple[str, dict]], user=None) -> list[Message]:
    """Many fixed events at once (an Open API list of 1,000): a handful of queries, not a few per event."""
    payloads = [fixed_event_payload(event, data) for event, data in events]
    messages = Message.objects.bulk_create(
        [Message(event=payload["event"], context=payload, created_by=user) for payload in payloads], batch_size=500
    )
    membership_ids = {p["membershipId"] for p in payloads if p.get("membershipId")}
    customers = {}
    for chunk in _chunks(sorted(membership_ids), 900):
        customers.update({c.membership_id: c for c in Customer.objects.filter(membership_id__in=chunk)})
    subscribers: dict[str, list[Webhook]] = {}
    for webhook in Webhook.objects.filter(
        trigger_type=Webhook.TriggerType.FIXED, event__in={p["event"] for p in payloads}, is_active=True
    ):
        subscribers.setdefault(webhook.event, []).append(webhook)
    now = timezone.now()
    pairs = [
        (message, payload, webhook)
        for message, payload in zip(messages, payloads, strict=True)
        for webhook in subscribers.get(payload["event"], ())
    ]
    job_ids = _batched_job_ids(len(pairs))
    bodies = {}
    deliveries = [
        Delivery(
            message=message,
            webhook=webhook,
            customer=customers.get(payload.get("membershipId")),
            event=payload["event"],
            body=bodies.setdefault(message.pk, canonical_json(payload)),
            next_attempt_at=now,
            job_id=next(job_ids),
        )
        for message, payload, webhook in pairs
    ]
    _queue_deliveries(deliveries)

    def announce():
        for message, payload in zip(messages, payloads, strict=True):
            event_published.send(
                sender=Message,
                message=message,
                event=payload["event"],
                payload=payload,
                customer=customers.get(payload.get("membershipId")),
            )

    transaction.on_commit(announce)
    return messages


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


@transaction.atomic
def message_test_send(*, webhook: Webhook, customer: Customer, user=None) -> Delivery:
    """One message to one customer on the test queue, which group sends cannot hold up."""
    if webhook.is_fixed:
        raise HubError(_("A fixed-event webhook sends only when its loyalty event happens."))
    message = Message.objects.create(event=Event.TEST_SEND, context={"customerId": customer.pk}, created_by=user)
    delivery = _delivery_for_customer(
        message=message,
        webhook=webhook,
        template=_template_for(webhook),
        customer=customer,
        context=message_context(customer=customer),
        now=timezone.now(),
        job_id=queueing.new_job_id(),
    )
    _queue_deliveries([delivery], queue_name=queueing.TEST_QUEUE)
    return delivery


@transaction.atomic
def delivery_redeliver(*, delivery: Delivery, user=None) -> Delivery:
    """Send a delivery again by hand: same delivery id, a new attempt, recorded as the user's."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status == Delivery.Status.SENDING:
        raise HubError(_("This delivery is being sent right now; wait for the attempt to finish."))
    if not delivery.body and delivery.status == Delivery.Status.FAILED and not delivery.attempt_count:
        raise HubError(
            _("This message could not be rendered, so there is nothing to send: %(error)s")
            % {"error": delivery.last_error}
        )
    now = timezone.now()
    delivery.status = Delivery.Status.PENDING
    delivery.next_attempt_at = now
    delivery.redeliver_requested_by = user
    delivery.job_id = queueing.new_job_id()
    delivery.save(update_fields=["status", "next_attempt_at", "redeliver_requested_by", "job_id", "updated_at"])
    queueing.batches_enqueue_on_commit([(delivery.job_id, [delivery.id])], queue_name=queueing.TEST_QUEUE)
    return delivery


# --- Group sends ----------------------------------------------------------------------------------


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
        job_id=queueing.new_job_id(),
    )
    Message.objects.create(event=Event.GROUP_SEND, group_send=send, context={"sendId": send.pk}, created_by=user)
    queueing.enqueue_on_commit(
        queueing.DEFAULT_QUEUE, queueing.GROUP_SEND_START, send.pk, job_id=send.job_id, at=scheduled_at
    )
    return send


def group_send_start(*, send_id: int) -> None:
    """Run by the job at the send's time: scheduled → sending, then the fan-out."""
    now = timezone.now()
    GroupSend.objects.filter(
        pk=send_id, status=GroupSend.Status.SCHEDULED, scheduled_at__lte=now + timedelta(seconds=2)
    ).update(status=GroupSend.Status.SENDING, started_at=now, fanout_heartbeat=now)
    group_send_fanout(send_id=send_id)


def group_send_fanout(*, send_id: int) -> None:
    """Write the send's deliveries chunk by chunk, each chunk queued as it commits.

    The cursor (last customer id written) commits with its chunk, so a fan-out killed half-way is
    resumed by reconcile where it stopped and writes no recipient twice.
    """
    send = GroupSend.objects.select_related("webhook").get(pk=send_id)
    template = _template_for(send.webhook)
    levels = {level.pk: level for level in MembershipLevel.objects.all()}
    while True:
        with transaction.atomic():
            send = (
                GroupSend.objects.select_for_update(of=("self",)).select_related("webhook", "message").get(pk=send_id)
            )
            if send.status != GroupSend.Status.SENDING or send.fanout_done:
                return
            members = list(
                Customer.objects.filter(group_entries__group_id=send.group_id, pk__gt=send.fanout_cursor)
                .only(*CONTEXT_FIELDS)
                .order_by("pk")[: settings.WEBHOOK_FANOUT_CHUNK]
            )
            now = timezone.now()
            if not members:
                send.fanout_done = True
                send.total = Delivery.objects.filter(message=send.message).count()
                send.save(update_fields=["fanout_done", "total"])
                transaction.on_commit(lambda: group_send_complete_if_done(send_id=send_id))
                return
            job_ids = _batched_job_ids(len(members))
            deliveries = [
                _delivery_for_customer(
                    message=send.message,
                    webhook=send.webhook,
                    template=template,
                    customer=customer,
                    context=message_context(customer=customer, send_id=send.pk, levels=levels),
                    now=now,
                    job_id=next(job_ids),
                )
                for customer in members
            ]
            _queue_deliveries(deliveries)
            send.fanout_cursor = members[-1].pk
            send.fanout_heartbeat = now
            send.save(update_fields=["fanout_cursor", "fanout_heartbeat"])


def group_send_complete_if_done(*, send_id: int) -> bool:
    """sending → completed once the fan-out is done and every delivery is final."""
    send = GroupSend.objects.filter(pk=send_id, status=GroupSend.Status.SENDING, fanout_done=True).first()
    if send is None:
        return False
    open_deliveries = Delivery.objects.filter(message__group_send_id=send_id).exclude(
        status__in=Delivery.FINAL_STATUSES
    )
    if open_deliveries.exists():
        return False
    return bool(
        GroupSend.objects.filter(pk=send_id, status=GroupSend.Status.SENDING).update(
            status=GroupSend.Status.COMPLETED, finished_at=timezone.now()
        )
    )


@transaction.atomic
def group_send_cancel(*, send: GroupSend, user=None) -> GroupSend:
    """Cancel a scheduled send, or stop a running one: its deliveries not yet sent are cancelled."""
    send = GroupSend.objects.select_for_update().get(pk=send.pk)
    if send.status not in (GroupSend.Status.SCHEDULED, GroupSend.Status.SENDING):
        raise HubError(_("Only a scheduled or running send can be cancelled."))
    now = timezone.now()
    Delivery.objects.filter(message__group_send=send, status__in=Delivery.WAITING_STATUSES).update(
        status=Delivery.Status.CANCELLED,
        next_attempt_at=None,
        updated_at=now,
        last_error=_("Cancelled by %(user)s.") % {"user": user or "?"},
    )
    send.status = GroupSend.Status.CANCELLED
    send.cancelled_by = user
    send.finished_at = now
    send.save(update_fields=["status", "cancelled_by", "finished_at"])
    return send


# --- Reconcile ------------------------------------------------------------------------------------


def deliveries_reconcile() -> dict:
    """Queue every piece of work that is due but in no queue: Redis lost it, or a worker died."""
    now = timezone.now()
    lease = timedelta(seconds=settings.WEBHOOK_CLAIM_LEASE)
    counts = {"reclaimed": 0, "sends": 0, "fanouts": 0, "deliveries": 0, "completed": 0}

    # Claimed by a job that has not reported for longer than any job may run: its worker died.
    counts["reclaimed"] = Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=now - lease).update(
        status=Delivery.Status.PENDING, claimed_at=None, next_attempt_at=now, job_id="", updated_at=now
    )

    due_sends = list(
        GroupSend.objects.filter(
            Q(status=GroupSend.Status.SCHEDULED, scheduled_at__lte=now)
            | Q(status=GroupSend.Status.SENDING, fanout_done=False)
        ).values_list("pk", "status", "job_id", "fanout_heartbeat")
    )
    alive = queueing.jobs_alive(job_id for _pk, _status, job_id, _beat in due_sends)
    for pk, status, job_id, heartbeat in due_sends:
        stalled = status == GroupSend.Status.SENDING and heartbeat is not None and heartbeat < now - lease
        if job_id in alive and not stalled:
            continue
        with transaction.atomic():
            new_job_id = queueing.new_job_id()
            fields = {"job_id": new_job_id}
            if stalled:
                fields["fanout_heartbeat"] = now
            GroupSend.objects.filter(pk=pk).update(**fields)
            queueing.enqueue_on_commit(queueing.DEFAULT_QUEUE, queueing.GROUP_SEND_START, pk, job_id=new_job_id)
        counts["sends" if status == GroupSend.Status.SCHEDULED else "fanouts"] += 1

    due = Delivery.objects.filter(status__in=Delivery.WAITING_STATUSES, next_attempt_at__lte=now)
    job_ids = set(due.values_list("job_id", flat=True).distinct())
    # A batch job cannot run longer than its timeout (under the lease): one started before that died.
    dead = job_ids - queueing.jobs_alive(job_ids, running_for_at_most=lease)
    if dead:
        rows = list(due.filter(job_id__in=dead).values_list("id", "event", "redeliver_requested_by_id").order_by("id"))
        # A person waits for test sends and redeliveries: they go back on their own queue.
        waiting = [row[0] for row in rows if row[1] == Event.TEST_SEND or row[2] is not None]
        rest = [row[0] for row in rows if not (row[1] == Event.TEST_SEND or row[2] is not None)]
        size = settings.WEBHOOK_BATCH_SIZE
        for ids, queue_name in ((waiting, queueing.TEST_QUEUE), (rest, queueing.DELIVERY_QUEUE)):
            for start in range(0, len(ids), size):
                chunk = ids[start : start + size]
                with transaction.atomic():
                    job_id = queueing.new_job_id()
                    Delivery.objects.filter(id__in=chunk, status__in=Delivery.WAITING_STATUSES).update(job_id=job_id)
                    queueing.batches_enqueue_on_commit([(job_id, chunk)], queue_name=queue_name)
        counts["deliveries"] = len(rows)

    # A worker killed between recording a send's last deliveries and completing the send.
    for send_id in GroupSend.objects.filter(status=GroupSend.Status.SENDING, fanout_done=True).values_list(
        "pk", flat=True
    ):
        counts["completed"] += int(group_send_complete_if_done(send_id=send_id))
    if any(counts.values()):
        logger.info("reconcile: %s", counts)
    return counts
