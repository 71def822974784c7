"""Publishing realtime messages: events, form submits, flow steps, test sends, redeliveries.

Each writes its message and deliveries in one transaction and rings the realtime doorbell after it
commits; the drain sends them before any bulk work (docs/contract.md section 7).
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from webhookhub import tracing
from webhookhub.errors import HubError
from webhooks.content.events import Event
from webhooks.content.failures import Code
from webhooks.content.payloads import fixed_event_payload, message_context
from webhooks.content.signing import canonical_json
from webhooks.content.templating import TemplateError, compile_template
from webhooks.engine import doorbell
from webhooks.engine.bulk import rows_insert
from webhooks.engine.claim import webhooks_claimable_any
from webhooks.models import Delivery, Message, Webhook, new_delivery_id
from webhooks.signals import event_published


def template_for(webhook: Webhook):
    return compile_template(webhook.body_template, message_type=webhook.message_type, empty_text=webhook.empty_text)


def delivery_for_customer(*, message, webhook, template, customer, context, now, priority) -> dict:
    """A delivery row (attnames, for bulk.rows_insert) with its body rendered for the customer; one that
    cannot render fails alone, with the reason.

    A row, not a model instance: a fan-out builds 100,000 of these, and `Model.__init__` cost four times
    the rendering (bulk.py).
    """
    row = {
        "id": new_delivery_id(),
        "message_id": message.pk,
        "webhook_id": webhook.pk,
        "customer_id": customer.pk if customer else None,
        "event": message.event,
        "next_attempt_at": now,
        "priority": priority,
        "status": Delivery.Status.PENDING,
    }
    try:
        row["body"] = template.render(context)
    except TemplateError as exc:
        # Kept, so the failure and its reason are visible; never queued.
        row.update(
            body="",
            status=Delivery.Status.FAILED,
            last_error=str(exc),
            last_error_code=Code.TEMPLATE_ERROR,
            last_error_params={"detail": str(exc)},
            next_attempt_at=None,
        )
    return row


def _deliveries_write(rows: list[dict]) -> None:
    rows_insert(Delivery, rows)
    waiting = {row["webhook_id"] for row in rows if row["status"] == Delivery.Status.PENDING}
    if waiting and webhooks_claimable_any(waiting):
        doorbell.ring_on_commit(doorbell.REALTIME_QUEUE)


@transaction.atomic
def message_publish(*, event: str, webhooks, customer=None, context: dict | None = None, user=None) -> Message:
    """A non-fixed message (form submit, flow step) for one customer to each given webhook."""
    context = context or {}
    message = Message.objects.create(
        event=event, context=_plain(context), created_by=user, trace_context=tracing.trigger(event)
    )
    full_context = message_context(customer=customer, **context)
    now = timezone.now()
    deliveries = [
        delivery_for_customer(
            message=message,
            webhook=webhook,
            template=template_for(webhook),
            customer=customer,
            context=full_context,
            now=now,
            priority=Delivery.Priority.REALTIME,
        )
        for webhook in webhooks
    ]
    _deliveries_write(deliveries)
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
    trace_context = tracing.trigger("event", events=len(payloads))
    messages = Message.objects.bulk_create(
        [
            Message(event=payload["event"], context=payload, created_by=user, trace_context=trace_context)
            for payload in payloads
        ],
        batch_size=500,
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
    bodies: dict[int, str] = {}
    deliveries = [
        {
            "id": new_delivery_id(),
            "message_id": message.pk,
            "webhook_id": webhook.pk,
            "customer_id": getattr(customers.get(payload.get("membershipId") or ""), "pk", None),
            "event": payload["event"],
            "body": bodies.setdefault(message.pk, canonical_json(payload)),
            "next_attempt_at": now,
            "priority": Delivery.Priority.REALTIME,
            "status": Delivery.Status.PENDING,
        }
        for message, payload, webhook in pairs
    ]
    _deliveries_write(deliveries)

    def announce():
        for message, payload in zip(messages, payloads, strict=True):
            event_published.send(
                sender=Message,
                message=message,
                event=payload["event"],
                payload=payload,
                customer=customers.get(payload.get("membershipId") or ""),
            )

    transaction.on_commit(announce)
    return messages


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


@transaction.atomic
def message_test_send(*, webhook: Webhook, customer: Customer, user=None) -> Delivery:
    """One message to one customer, in the realtime lane: a person watches for its result."""
    if webhook.is_fixed:
        raise HubError(_("A fixed-event webhook sends only when its loyalty event happens."))
    message = Message.objects.create(
        event=Event.TEST_SEND,
        context={"customerId": customer.pk},
        created_by=user,
        trace_context=tracing.trigger(Event.TEST_SEND, webhook_id=webhook.pk),
    )
    row = delivery_for_customer(
        message=message,
        webhook=webhook,
        template=template_for(webhook),
        customer=customer,
        context=message_context(customer=customer),
        now=timezone.now(),
        priority=Delivery.Priority.REALTIME,
    )
    _deliveries_write([row])
    return Delivery.objects.get(pk=row["id"])


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
    if not delivery.body:
        # Blanked by webhooks/services/retention.py: sending it again would send an empty message.
        raise HubError(
            _("The body of this delivery is no longer kept (retention period, or its customer was deleted).")
        )
    now = timezone.now()
    delivery.status = Delivery.Status.PENDING
    delivery.next_attempt_at = now
    delivery.redeliver_requested_by = user
    # A person waits: the redelivery goes in the realtime lane, whatever lane the message came in.
    delivery.priority = Delivery.Priority.REALTIME
    delivery.save(update_fields=["status", "next_attempt_at", "redeliver_requested_by", "priority", "updated_at"])
    if webhooks_claimable_any([delivery.webhook_id]):
        doorbell.ring_on_commit(doorbell.REALTIME_QUEUE)
    return delivery


# --- Group sends ----------------------------------------------------------------------------------
