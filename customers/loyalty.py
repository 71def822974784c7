"""Loyalty state changes: member levels and coupons, each with the fixed event it raises.

A state change and the publishing of its event happen in one transaction: either the member's level
or code changes and every subscribed webhook has its delivery written, or nothing changes at all.
"""

import secrets
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from webhookhub.errors import HubError
from webhooks.content.events import FixedEvent
from webhooks.models import Message
from webhooks.services import event_publish

from .models import Coupon, CouponCode, Customer, MembershipLevel

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# No 0/O or 1/I: codes are read out at a till and typed in by hand.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12


def _require_member(customer: Customer) -> None:
    if not customer.membership_id:
        raise HubError(
            _("“%(customer)s” is not a member (no membership ID); only members have levels and coupons.")
            % {"customer": customer}
        )


def _new_codes(count: int) -> list[str]:
    """`count` codes that no other coupon code uses (the unique constraint stays the last word)."""
    codes: set[str] = set()
    for _round in range(10):
        while len(codes) < count:
            codes.add("".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH)))
        taken = set(CouponCode.objects.filter(code__in=codes).values_list("code", flat=True))
        if not taken:
            return list(codes)
        codes -= taken
    raise HubError(_("Could not generate unique coupon codes; try again."))


def _check_validity(start_date: date, end_date: date) -> None:
    if end_date < start_date:
        raise HubError(_("The end date must not be before the start date."))


@transaction.atomic
def member_level_change(*, customer: Customer, level: MembershipLevel, user: "User | None" = None) -> Message | None:
    """Move a member to `level`: a level up or down by the levels' rank, with its event.

    A member without a level is given its first level without an event: the seed's payload needs the
    old level's id, and there is none. Returns the event's Message, or None when none was raised.
    """
    # of=("self",): PostgreSQL refuses FOR UPDATE on the nullable side of the level join.
    customer = Customer.objects.select_for_update(of=("self",)).select_related("level").get(pk=customer.pk)
    _require_member(customer)
    old = customer.level
    if old is not None and old.pk == level.pk:
        raise HubError(_("“%(customer)s” is already at level “%(level)s”.") % {"customer": customer, "level": level})
    customer.level = level
    customer.save(update_fields=["level", "updated_at"])
    if old is None:
        return None
    event = FixedEvent.MEMBERSHIP_LEVEL_UP if level.rank > old.rank else FixedEvent.MEMBERSHIP_LEVEL_DOWN
    return event_publish(
        event=event,
        data={
            "membershipId": customer.membership_id,
            "date": timezone.now(),
            "oldLevelId": old.pk,
            "newLevelId": level.pk,
            "oldLevel": old.name,
            "newLevel": level.name,
        },
        user=user,
    )


def _coupon_data(code: CouponCode, *, with_validity: bool = True) -> dict:
    data = {
        "membershipId": code.customer.membership_id,
        "date": timezone.now(),
        "couponId": str(code.coupon_id),
        "couponName": code.coupon.name,
        "couponCode": code.code,
    }
    if with_validity:
        data.update({"startDate": code.start_date.isoformat(), "endDate": code.end_date.isoformat()})
    return data


@transaction.atomic
def coupon_dispatch(
    *,
    coupon: Coupon,
    customers: Iterable[Customer],
    batch_id: str,
    start_date: date | None = None,
    end_date: date | None = None,
    user: "User | None" = None,
) -> list[CouponCode]:
    """The system gives each member one new unique code of `coupon`; each raises a dispatch event.

    Every customer must be a member; one who is not refuses the whole dispatch.
    """
    batch_id = (batch_id or "").strip()
    if not batch_id:
        raise HubError(_("Enter a batch ID."))
    start_date = start_date or coupon.start_date
    end_date = end_date or coupon.end_date
    _check_validity(start_date, end_date)
    if end_date < timezone.localdate():
        raise HubError(_("The validity ends on %(date)s, which is past.") % {"date": end_date.isoformat()})
    chosen = list(customers)
    if not chosen:
        raise HubError(_("Choose at least one member."))
    not_members = [customer for customer in chosen if not customer.membership_id]
    if not_members:
        names = ", ".join(str(customer) for customer in not_members[:5])
        raise HubError(
            _("%(count)s of the chosen customers are not members (no membership ID): %(names)s. Choose members only.")
            % {"count": len(not_members), "names": names}
        )
    codes = [
        CouponCode(
            coupon=coupon,
            code=code,
            batch_id=batch_id,
            customer=customer,
            status=CouponCode.Status.DISPATCHED,
            start_date=start_date,
            end_date=end_date,
        )
        for customer, code in zip(chosen, _new_codes(len(chosen)), strict=True)
    ]
    CouponCode.objects.bulk_create(codes, batch_size=1000)
    for code in codes:
        event_publish(event=FixedEvent.DISPATCH_COUPON, data={**_coupon_data(code), "batchId": batch_id}, user=user)
    return codes


@transaction.atomic
def coupon_draw(*, coupon: Coupon, customer: Customer, user: "User | None" = None) -> CouponCode:
    """A member draws (claims) a coupon: a new unique code, valid for the coupon's dates."""
    _require_member(customer)
    if coupon.end_date < timezone.localdate():
        raise HubError(_("The coupon “%(coupon)s” has expired; it cannot be drawn.") % {"coupon": coupon})
    code = CouponCode.objects.create(
        coupon=coupon,
        code=_new_codes(1)[0],
        customer=customer,
        status=CouponCode.Status.DRAWN,
        start_date=coupon.start_date,
        end_date=coupon.end_date,
    )
    event_publish(event=FixedEvent.DRAW_COUPON, data=_coupon_data(code), user=user)
    return code


@transaction.atomic
def coupon_redeem(*, code: str, user: "User | None" = None) -> CouponCode:
    """Redeem a member's code once, within its validity; anything else is refused and raises nothing."""
    value = (code or "").strip().upper()
    coupon_code = (
        CouponCode.objects.select_for_update(of=("self",))
        .select_related("coupon", "customer")
        .filter(code=value)
        .first()
        if value
        else None
    )
    if coupon_code is None:
        raise HubError(_("There is no coupon code “%(code)s”.") % {"code": value})
    if coupon_code.status == CouponCode.Status.REDEEMED:
        raise HubError(
            _("The coupon code “%(code)s” was already redeemed on %(when)s.")
            % {"code": value, "when": timezone.localtime(coupon_code.redeemed_at).strftime("%Y-%m-%d %H:%M")}
        )
    today = timezone.localdate()
    if today < coupon_code.start_date:
        raise HubError(
            _("The coupon code “%(code)s” is valid only from %(date)s.")
            % {"code": value, "date": coupon_code.start_date.isoformat()}
        )
    if today > coupon_code.end_date:
        raise HubError(
            _("The coupon code “%(code)s” expired on %(date)s.")
            % {"code": value, "date": coupon_code.end_date.isoformat()}
        )
    _require_member(coupon_code.customer)
    coupon_code.status = CouponCode.Status.REDEEMED
    coupon_code.redeemed_at = timezone.now()
    coupon_code.redeemed_by = user
    coupon_code.save(update_fields=["status", "redeemed_at", "redeemed_by"])
    event_publish(event=FixedEvent.REDEEM_COUPON, data=_coupon_data(coupon_code, with_validity=False), user=user)
    return coupon_code
