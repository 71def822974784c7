"""Sample events: a fixed-event webhook tested with its event's exact payload, built for one real member.

The payload is the seed's (docs/contract.md section 5, built by payloads.fixed_event_payload) from the
member's real level and coupons; what the member does not have is filled with sample values that say
so. Nothing of the member changes and no loyalty event is raised: the message goes to this one webhook,
is not announced (no flow starts) and, like a test send, is never retried. Its context carries
`"sample": true`, which the delivery list and page show.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import CouponCode, Customer, MembershipLevel
from webhookhub import tracing
from webhookhub.errors import HubError
from webhooks.content.events import FixedEvent
from webhooks.content.payloads import fixed_event_payload
from webhooks.content.signing import canonical_json
from webhooks.engine import doorbell
from webhooks.engine.bulk import rows_insert
from webhooks.models import Delivery, Message, Webhook

SAMPLE_LEVEL_ID = 0
SAMPLE_COUPON_ID = "0"
SAMPLE_COUPON_CODE = "SAMPLE000000"
SAMPLE_BATCH_ID = "SAMPLE-BATCH"

LEVEL_EVENTS = (FixedEvent.MEMBERSHIP_LEVEL_UP, FixedEvent.MEMBERSHIP_LEVEL_DOWN)


@dataclass
class SamplePayload:
    payload: dict
    # Payload members filled with sample values, because the member has nothing real for them.
    sample_members: list[str] = field(default_factory=list)
    reason: str = ""


def _sample_level_name() -> str:
    return _("Sample level (sample)")


def _level_payload(event: str, customer: Customer) -> SamplePayload:
    level = customer.level
    data: dict = {}
    samples: list[str] = []
    reason = ""
    if level is None:
        data.update(newLevelId=SAMPLE_LEVEL_ID, newLevel=_sample_level_name())
        samples += ["newLevelId", "newLevel"]
        reason = _("The member has no level.")
    else:
        data.update(newLevelId=level.pk, newLevel=level.name)
    # Up: the member came from the level below; down: from the level above.
    other = None
    if level is not None:
        levels = MembershipLevel.objects.all()
        if event == FixedEvent.MEMBERSHIP_LEVEL_UP:
            other = levels.filter(rank__lt=level.rank).order_by("-rank").first()
        else:
            other = levels.filter(rank__gt=level.rank).order_by("rank").first()
    if other is None:
        data.update(oldLevelId=SAMPLE_LEVEL_ID, oldLevel=_sample_level_name())
        samples += ["oldLevelId", "oldLevel"]
        if level is not None:
            reason = (
                _("There is no level below the member's level.")
                if event == FixedEvent.MEMBERSHIP_LEVEL_UP
                else _("There is no level above the member's level.")
            )
    else:
        data.update(oldLevelId=other.pk, oldLevel=other.name)
    return SamplePayload(payload=data, sample_members=samples, reason=reason)


def _coupon_payload(event: str, customer: Customer) -> SamplePayload:
    codes = CouponCode.objects.filter(customer=customer).select_related("coupon").order_by("-id")
    if event == FixedEvent.REDEEM_COUPON:
        # A redeemed code reads most like the event; any code of the member will do.
        code = codes.filter(status=CouponCode.Status.REDEEMED).first() or codes.first()
    elif event == FixedEvent.DISPATCH_COUPON:
        code = codes.exclude(batch_id="").first() or codes.first()
    else:
        code = codes.first()
    if code is None:
        today = timezone.localdate().isoformat()
        data = {
            "couponId": SAMPLE_COUPON_ID,
            "couponName": _("Sample coupon (sample)"),
            "couponCode": SAMPLE_COUPON_CODE,
            "batchId": SAMPLE_BATCH_ID,
            "startDate": today,
            "endDate": today,
        }
        return SamplePayload(
            payload=data,
            sample_members=["couponId", "couponName", "couponCode", "batchId", "startDate", "endDate"],
            reason=_("The member has no coupon."),
        )
    data = {
        "couponId": str(code.coupon_id),
        "couponName": code.coupon.name,
        "couponCode": code.code,
        "batchId": code.batch_id or SAMPLE_BATCH_ID,
        "startDate": code.start_date.isoformat(),
        "endDate": code.end_date.isoformat(),
    }
    result = SamplePayload(payload=data)
    if not code.batch_id:
        result.sample_members.append("batchId")
        result.reason = _("The member's coupon was not dispatched in a batch.")
    return result


def sample_event_payload(*, webhook: Webhook, customer: Customer) -> SamplePayload:
    """The payload the webhook's event would carry for this member, now; samples where they have none."""
    if not webhook.is_fixed or not webhook.event:
        raise HubError(_("Sample events are for fixed-event webhooks; test-send a non-fixed webhook's message."))
    if not customer.membership_id:
        raise HubError(
            _("“%(customer)s” is not a member (no membership ID); choose a member.") % {"customer": customer}
        )
    event = webhook.event
    part = _level_payload(event, customer) if event in LEVEL_EVENTS else _coupon_payload(event, customer)
    payload = fixed_event_payload(
        event, {**part.payload, "membershipId": customer.membership_id, "date": timezone.now()}
    )
    # Only members of this event's payload count as samples (a draw has no batchId).
    part.sample_members = [name for name in part.sample_members if name in payload]
    part.payload = payload
    if not part.sample_members:
        part.reason = ""
    return part


@transaction.atomic
def sample_event_send(*, webhook: Webhook, customer: Customer, user=None) -> tuple[Delivery, SamplePayload]:
    """The webhook's event for one member, sent to this webhook only, in the realtime lane, never retried."""
    customer = Customer.objects.select_related("level").get(pk=customer.pk)
    sample = sample_event_payload(webhook=webhook, customer=customer)
    context = {
        **sample.payload,
        "sample": True,
        "sampleMembers": sample.sample_members,
        "customerId": customer.pk,
    }
    message = Message.objects.create(
        event=webhook.event,
        context=context,
        created_by=user,
        trace_context=tracing.trigger("sample_event", webhook_id=webhook.pk),
    )
    now = timezone.now()
    delivery = Delivery(
        message_id=message.pk,
        webhook_id=webhook.pk,
        customer_id=customer.pk,
        event=webhook.event,
        body=canonical_json(sample.payload),
        next_attempt_at=now,
        priority=Delivery.Priority.REALTIME,
        created_at=now,
        updated_at=now,
    )
    rows_insert(Delivery, [delivery])
    doorbell.ring_on_commit(doorbell.REALTIME_QUEUE)
    return delivery, sample


def sample_message_ids(message_ids) -> set:
    """Of these messages, the sample events (never retried, like test sends)."""
    ids = list(message_ids)
    if not ids:
        return set()
    fixed = Message.objects.filter(pk__in=ids, event__in=FixedEvent.values)
    return {
        pk for pk, context in fixed.values_list("pk", "context") if isinstance(context, dict) and context.get("sample")
    }
