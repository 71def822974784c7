"""Loyalty services and their admin: each state change raises exactly its event, or nothing at all."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from customers import loyalty
from customers.models import Coupon, CouponCode, Customer, MembershipLevel
from webhookhub.errors import HubError
from webhooks.content.events import FIXED_EVENT_MEMBERS, FixedEvent
from webhooks.models import Delivery, Message, Webhook

from ..factories import make_webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def levels():
    return {
        name: MembershipLevel.objects.create(name=name, rank=rank)
        for name, rank in (("银卡", 10), ("金卡", 20), ("钻石", 30))
    }


@pytest.fixture
def member(levels):
    return Customer.objects.create(name="张三", mobile="13900000001", membership_id="M001", level=levels["金卡"])


@pytest.fixture
def coupon():
    today = timezone.localdate()
    return Coupon.objects.create(
        name="满100减20", start_date=today - timedelta(days=1), end_date=today + timedelta(days=30)
    )


@pytest.fixture
def hooks():
    return {
        event: make_webhook(f"http://127.0.0.1:9/{i}", trigger_type=Webhook.TriggerType.FIXED, event=event)
        for i, event in enumerate(FixedEvent.values)
    }


def only_message(event):
    (message,) = Message.objects.all()
    assert message.event == event
    # The order lives in the body that is sent (PostgreSQL's jsonb does not keep the context's order).
    body = json.loads(Delivery.objects.get(message=message).body)
    assert list(body) == list(FIXED_EVENT_MEMBERS[event])
    assert body == message.context
    return body


def test_level_up_and_down_follow_rank(member, levels, hooks, settings):
    settings.TENANT_ID = 77
    loyalty.member_level_change(customer=member, level=levels["钻石"])
    up = only_message(FixedEvent.MEMBERSHIP_LEVEL_UP)
    assert up["tenantId"] == 77
    assert up["membershipId"] == "M001"
    assert (up["oldLevelId"], up["newLevelId"]) == (levels["金卡"].pk, levels["钻石"].pk)
    assert isinstance(up["oldLevelId"], int)
    assert isinstance(up["newLevelId"], int)
    assert (up["oldLevel"], up["newLevel"]) == ("金卡", "钻石")
    assert up["date"].endswith("Z")
    assert len(up["date"]) == 20
    assert Delivery.objects.get().webhook == hooks[FixedEvent.MEMBERSHIP_LEVEL_UP]

    Message.objects.all().delete()
    loyalty.member_level_change(customer=member, level=levels["银卡"])
    down = only_message(FixedEvent.MEMBERSHIP_LEVEL_DOWN)
    assert (down["oldLevel"], down["newLevel"]) == ("钻石", "银卡")
    member.refresh_from_db()
    assert member.level == levels["银卡"]


def test_same_level_is_refused(member, levels, hooks):
    with pytest.raises(HubError, match="already at level"):
        loyalty.member_level_change(customer=member, level=levels["金卡"])
    assert not Message.objects.exists()


def test_non_member_has_no_level_change(levels, hooks):
    customer = Customer.objects.create(name="李四", level=levels["银卡"])
    with pytest.raises(HubError, match="not a member"):
        loyalty.member_level_change(customer=customer, level=levels["金卡"])
    customer.refresh_from_db()
    assert customer.level == levels["银卡"]
    assert not Message.objects.exists()


def test_first_level_is_assigned_without_an_event(levels, hooks):
    customer = Customer.objects.create(name="王五", membership_id="M002")
    assert loyalty.member_level_change(customer=customer, level=levels["银卡"]) is None
    customer.refresh_from_db()
    assert customer.level == levels["银卡"]
    assert not Message.objects.exists()


def test_state_change_and_event_are_one_transaction(member, levels, hooks, monkeypatch):
    def broken(**kwargs):
        Message.objects.create(event=kwargs["event"])
        raise RuntimeError("queue down")

    monkeypatch.setattr(loyalty, "event_publish", broken)
    with pytest.raises(RuntimeError):
        loyalty.member_level_change(customer=member, level=levels["钻石"])
    member.refresh_from_db()
    assert member.level == levels["金卡"]
    assert not Message.objects.exists()
    with pytest.raises(RuntimeError):
        loyalty.coupon_dispatch(
            coupon=Coupon.objects.create(name="x", start_date=timezone.localdate(), end_date=timezone.localdate()),
            customers=[member],
            batch_id="B",
        )
    assert not CouponCode.objects.exists()


def test_dispatch_gives_each_member_one_unique_code(levels, coupon, hooks):
    members = [Customer.objects.create(name=f"会员{i}", membership_id=f"M{i:03d}") for i in range(25)]
    start, end = coupon.start_date, coupon.end_date - timedelta(days=1)
    codes = loyalty.coupon_dispatch(coupon=coupon, customers=members, batch_id="B2026", start_date=start, end_date=end)
    assert len(codes) == 25 == len({c.code for c in codes})
    assert {c.customer_id for c in CouponCode.objects.all()} == {m.pk for m in members}
    assert set(CouponCode.objects.values_list("status", flat=True)) == {CouponCode.Status.DISPATCHED}
    messages = Message.objects.filter(event=FixedEvent.DISPATCH_COUPON)
    assert messages.count() == 25
    by_member = {m.context["membershipId"]: m.context for m in messages}
    code = CouponCode.objects.get(customer=members[3])
    context = by_member["M003"]
    assert set(context) == set(FIXED_EVENT_MEMBERS[FixedEvent.DISPATCH_COUPON])
    assert context["couponId"] == str(coupon.pk)
    assert context["couponName"] == "满100减20"
    assert context["batchId"] == "B2026"
    assert context["couponCode"] == code.code
    assert (context["startDate"], context["endDate"]) == (start.isoformat(), end.isoformat())
    assert Delivery.objects.filter(webhook=hooks[FixedEvent.DISPATCH_COUPON]).count() == 25


def test_dispatch_with_a_non_member_is_refused_whole(member, coupon, hooks):
    stranger = Customer.objects.create(name="路人")
    with pytest.raises(HubError, match="not members"):
        loyalty.coupon_dispatch(coupon=coupon, customers=[member, stranger], batch_id="B1")
    assert not CouponCode.objects.exists()
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_id": "  "}, "batch ID"),
        (
            {"batch_id": "B", "start_date": timezone.localdate(), "end_date": timezone.localdate() - timedelta(1)},
            "end date",
        ),
        (
            {
                "batch_id": "B",
                "start_date": timezone.localdate() - timedelta(9),
                "end_date": timezone.localdate() - timedelta(1),
            },
            "past",
        ),
    ],
)
def test_dispatch_refuses_bad_input(member, coupon, hooks, kwargs, match):
    with pytest.raises(HubError, match=match):
        loyalty.coupon_dispatch(coupon=coupon, customers=[member], **kwargs)
    assert not CouponCode.objects.exists()
    assert not Message.objects.exists()


def test_draw_creates_a_code_and_raises_draw(member, coupon, hooks):
    code = loyalty.coupon_draw(coupon=coupon, customer=member)
    assert code.status == CouponCode.Status.DRAWN
    assert code.customer == member
    context = only_message(FixedEvent.DRAW_COUPON)
    assert context["couponCode"] == code.code
    assert (context["startDate"], context["endDate"]) == (coupon.start_date.isoformat(), coupon.end_date.isoformat())


def test_draw_refuses_non_members_and_expired_coupons(member, hooks):
    today = timezone.localdate()
    expired = Coupon.objects.create(name="旧券", start_date=today - timedelta(9), end_date=today - timedelta(1))
    with pytest.raises(HubError, match="expired"):
        loyalty.coupon_draw(coupon=expired, customer=member)
    valid = Coupon.objects.create(name="新券", start_date=today, end_date=today)
    with pytest.raises(HubError, match="not a member"):
        loyalty.coupon_draw(coupon=valid, customer=Customer.objects.create(name="路人"))
    assert not CouponCode.objects.exists()
    assert not Message.objects.exists()


def test_redeem_once(member, coupon, hooks):
    code = loyalty.coupon_draw(coupon=coupon, customer=member)
    Message.objects.all().delete()
    user = get_user_model().objects.create(username="till")
    redeemed = loyalty.coupon_redeem(code=f"  {code.code.lower()} ", user=user)
    assert redeemed.status == CouponCode.Status.REDEEMED
    assert redeemed.redeemed_by == user
    context = only_message(FixedEvent.REDEEM_COUPON)
    assert context["couponCode"] == code.code
    assert context["membershipId"] == "M001"
    assert "startDate" not in context
    with pytest.raises(HubError, match="already redeemed"):
        loyalty.coupon_redeem(code=code.code)
    assert Message.objects.count() == 1


@pytest.mark.parametrize("value", ["NOSUCHCODE", "", "   "])
def test_unknown_code_is_refused_and_raises_nothing(hooks, value):
    with pytest.raises(HubError, match="no coupon code"):
        loyalty.coupon_redeem(code=value)
    assert not Message.objects.exists()


def test_expired_or_not_yet_valid_code_is_refused(member, hooks):
    today = timezone.localdate()
    coupon = Coupon.objects.create(name="券", start_date=today - timedelta(30), end_date=today + timedelta(30))
    old = CouponCode.objects.create(
        coupon=coupon,
        code="OLD",
        customer=member,
        status=CouponCode.Status.DRAWN,
        start_date=today - timedelta(9),
        end_date=today - timedelta(1),
    )
    future = CouponCode.objects.create(
        coupon=coupon,
        code="FUTURE",
        customer=member,
        status=CouponCode.Status.DRAWN,
        start_date=today + timedelta(1),
        end_date=today + timedelta(9),
    )
    with pytest.raises(HubError, match="expired"):
        loyalty.coupon_redeem(code="OLD")
    with pytest.raises(HubError, match="valid only from"):
        loyalty.coupon_redeem(code="FUTURE")
    old.refresh_from_db()
    future.refresh_from_db()
    assert old.status == future.status == CouponCode.Status.DRAWN
    assert not Message.objects.exists()


# --- Admin ------------------------------------------------------------------------------------------


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def test_member_list_shows_members_only(staff, member):
    Customer.objects.create(name="路人甲")
    response = staff.get("/admin/customers/member/")
    assert response.status_code == 200
    assert "张三" in response.text
    assert "路人甲" not in response.text


def test_admin_changes_level_through_the_action(staff, member, levels, hooks):
    url = "/admin/customers/member/"
    form = staff.post(url, {"action": "change_level", "_selected_action": [member.pk]})
    assert form.status_code == 200
    assert 'name="level"' in form.text
    response = staff.post(
        url,
        {"action": "change_level", "_selected_action": [member.pk], "apply": "1", "level": levels["钻石"].pk},
        follow=True,
    )
    assert response.status_code == 200
    member.refresh_from_db()
    assert member.level == levels["钻石"]
    only_message(FixedEvent.MEMBERSHIP_LEVEL_UP)


def test_admin_dispatches_a_coupon(staff, member, coupon, hooks):
    response = staff.post(
        "/admin/customers/member/",
        {
            "action": "dispatch_coupon",
            "_selected_action": [member.pk],
            "apply": "1",
            "coupon": coupon.pk,
            "batch_id": "B9",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert CouponCode.objects.filter(batch_id="B9", customer=member).count() == 1
    only_message(FixedEvent.DISPATCH_COUPON)


def test_admin_actions_reach_members_only(staff, member, coupon, hooks):
    stranger = Customer.objects.create(name="路人乙")
    staff.post(
        "/admin/customers/member/",
        {
            "action": "dispatch_coupon",
            "_selected_action": [member.pk, stranger.pk],
            "apply": "1",
            "coupon": coupon.pk,
            "batch_id": "B9",
        },
    )
    # The member list holds members only: a forged selection of a non-member is dropped, not dispatched to.
    assert list(CouponCode.objects.values_list("customer_id", flat=True)) == [member.pk]


def test_admin_dispatch_shows_service_errors(staff, member, hooks):
    today = timezone.localdate()
    old = Coupon.objects.create(name="旧券", start_date=today - timedelta(9), end_date=today - timedelta(1))
    response = staff.post(
        "/admin/customers/member/",
        {
            "action": "dispatch_coupon",
            "_selected_action": [member.pk],
            "apply": "1",
            "coupon": old.pk,
            "batch_id": "B9",
        },
    )
    assert response.status_code == 200
    assert "which is past" in response.text
    assert not CouponCode.objects.exists()
    assert not Message.objects.exists()


def test_admin_redeem_page(staff, member, coupon, hooks):
    code = loyalty.coupon_draw(coupon=coupon, customer=member)
    Message.objects.all().delete()
    url = "/admin/customers/couponcode/redeem/"
    assert staff.get(url).status_code == 200
    unknown = staff.post(url, {"code": "NOPE"})
    assert unknown.status_code == 200
    assert "There is no coupon code “NOPE”." in unknown.text
    assert not Message.objects.exists()
    done = staff.post(url, {"code": code.code}, follow=True)
    assert done.status_code == 200
    code.refresh_from_db()
    assert code.status == CouponCode.Status.REDEEMED
    again = staff.post(url, {"code": code.code})
    assert "already redeemed" in again.text
    assert Message.objects.count() == 1
    assert staff.get("/admin/customers/couponcode/").status_code == 200
    assert staff.get("/admin/customers/coupon/").status_code == 200


def test_loyalty_admin_pages_render(staff, member, coupon):
    code = loyalty.coupon_draw(coupon=coupon, customer=member)
    for url in (
        f"/admin/customers/member/{member.pk}/change/",
        "/admin/customers/coupon/add/",
        f"/admin/customers/coupon/{coupon.pk}/change/",
        f"/admin/customers/couponcode/{code.pk}/change/",
    ):
        assert staff.get(url).status_code == 200, url
    assert staff.get("/admin/customers/member/add/").status_code == 403
