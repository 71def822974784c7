"""What a message says: fixed-event payloads (docs/contract.md section 5) and template contexts (section 6).

Building a payload is kept apart from sending it: nothing here touches the network or the queue.
"""

from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.conf import settings

from webhooks.content.events import FIXED_EVENT_MEMBERS


def iso_utc(moment: datetime) -> str:
    """ISO 8601 UTC to the second, as DM Hub writes dates: 2026-11-27T09:30:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fixed_event_payload(event: str, data: dict) -> dict:
    """The seed's payload for a fixed event, members in the seed's order; tenantId filled in."""
    values = {**data, "tenantId": settings.TENANT_ID, "event": event}
    if isinstance(values.get("date"), datetime):
        values["date"] = iso_utc(values["date"])
    return {member: values.get(member) for member in FIXED_EVENT_MEMBERS[event]}


class CustomerFacts(NamedTuple):
    """A customer as a context reads it (CONTEXT_FIELDS), without a model instance: a fan-out reads
    100,000 of these, and building Customer instances cost it more than rendering their bodies."""

    id: int
    name: str
    mobile: str
    email: str
    wechat_nickname: str
    activity_score: int
    attributes: Any
    membership_id: str
    points: int
    level_id: int | None

    @property
    def pk(self) -> int:
        return self.id


# The Customer fields a template context reads (a fan-out loads only these).
CONTEXT_FIELDS = CustomerFacts._fields


def customer_context(customer, *, levels: dict | None = None) -> dict:
    """Template names for one customer: customerId, customer.<attribute>, member.<attribute>.

    `levels` (id → MembershipLevel) spares a fan-out one level lookup per customer.
    """
    if customer is None:
        return {}
    attributes = customer.attributes if isinstance(customer.attributes, dict) else {}
    # A row written around the validators (raw SQL, an old import) may hold anything: a context is still
    # built, and whatever cannot render fails that one delivery in the template, not the whole send.
    context = {f"customer.{key}": value for key, value in attributes.items()}
    level = levels.get(customer.level_id) if levels is not None else customer.level
    context.update(
        {
            "customerId": customer.pk,
            "customer.id": customer.pk,
            "customer.name": customer.name,
            "customer.mobile": customer.mobile,
            "customer.email": customer.email,
            "customer.wechatNickname": customer.wechat_nickname,
            "customer.activityScore": customer.activity_score,
            "member.membershipId": customer.membership_id,
            "member.level": level.name if level else "",
            "member.levelId": level.pk if level else "",
            "member.points": customer.points if customer.membership_id else "",
        }
    )
    return context


def message_context(
    *,
    customer=None,
    send_id=None,
    flow_id=None,
    flow_step=None,
    form: dict | None = None,
    submission: dict | None = None,
    levels: dict | None = None,
) -> dict:
    context = customer_context(customer, levels=levels)
    context.update({"sendId": send_id, "flowId": flow_id, "flowStep": flow_step})
    # A micro-page submit: its id, whether the mobile matched a customer, whether that match is trusted.
    for key, value in (submission or {}).items():
        context[f"submission.{key}"] = value
    for key, value in (form or {}).items():
        context[f"form.{key}"] = ", ".join(map(str, value)) if isinstance(value, list) else value
    return context
