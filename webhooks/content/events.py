"""Every event the hub sends (docs/contract.md section 4), in one place."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Event(models.TextChoices):
    MEMBERSHIP_LEVEL_UP = "loyalty/membership_level_up", _("Member level up")
    MEMBERSHIP_LEVEL_DOWN = "loyalty/membership_level_down", _("Member level down")
    DISPATCH_COUPON = "loyalty/loyalty_dispatch_coupon", _("System dispatches a coupon")
    DRAW_COUPON = "loyalty/membership_draw_coupon", _("Member draws a coupon")
    REDEEM_COUPON = "loyalty/membership_redeem_coupon", _("Member redeems a coupon")
    FLOW_WEBHOOK = "flow/webhook-notification", _("Automation flow webhook node")
    FORM_SUBMIT = "form/submit", _("Micro-page form submitted")
    GROUP_SEND = "manual/group-send", _("Manual group send")
    TEST_SEND = "manual/test-send", _("Manual test send")


# Test connection's ping (webhooks/services/connection_check.py): never a Message or a Delivery, so not a choice above.
PING_EVENT = "webhookhub/ping"


class FixedEvent(models.TextChoices):
    """The five loyalty events a fixed-trigger webhook can subscribe to."""

    MEMBERSHIP_LEVEL_UP = Event.MEMBERSHIP_LEVEL_UP.value, Event.MEMBERSHIP_LEVEL_UP.label
    MEMBERSHIP_LEVEL_DOWN = Event.MEMBERSHIP_LEVEL_DOWN.value, Event.MEMBERSHIP_LEVEL_DOWN.label
    DISPATCH_COUPON = Event.DISPATCH_COUPON.value, Event.DISPATCH_COUPON.label
    DRAW_COUPON = Event.DRAW_COUPON.value, Event.DRAW_COUPON.label
    REDEEM_COUPON = Event.REDEEM_COUPON.value, Event.REDEEM_COUPON.label


# Members of each fixed event's payload, in the seed's order (docs/contract.md section 5).
FIXED_EVENT_MEMBERS: dict[str, tuple[str, ...]] = {
    FixedEvent.MEMBERSHIP_LEVEL_UP: (
        "tenantId",
        "event",
        "membershipId",
        "date",
        "oldLevelId",
        "newLevelId",
        "oldLevel",
        "newLevel",
    ),
    FixedEvent.MEMBERSHIP_LEVEL_DOWN: (
        "tenantId",
        "event",
        "membershipId",
        "date",
        "oldLevelId",
        "newLevelId",
        "oldLevel",
        "newLevel",
    ),
    FixedEvent.DISPATCH_COUPON: (
        "tenantId",
        "event",
        "membershipId",
        "date",
        "couponId",
        "couponName",
        "batchId",
        "couponCode",
        "startDate",
        "endDate",
    ),
    FixedEvent.DRAW_COUPON: (
        "tenantId",
        "event",
        "membershipId",
        "date",
        "couponId",
        "couponName",
        "couponCode",
        "startDate",
        "endDate",
    ),
    FixedEvent.REDEEM_COUPON: (
        "tenantId",
        "event",
        "membershipId",
        "date",
        "couponId",
        "couponName",
        "couponCode",
    ),
}
