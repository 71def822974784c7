"""Sample events: each fixed event's exact payload, for a real member, sent through a real worker to a
receiver that verifies the signature; the member untouched, no flow started, never retried."""

import json
import re
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from automation.models import Flow, FlowRun
from customers.loyalty import member_level_change
from customers.models import Coupon, CouponCode, Customer, MembershipLevel
from webhooks.content.events import FIXED_EVENT_MEMBERS, FixedEvent
from webhooks.models import Attempt, Delivery, Message, Webhook
from webhooks.services.samples import SAMPLE_COUPON_CODE, SAMPLE_LEVEL_ID

from ..factories import make_key_owner, make_webhook

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# docs/contract.md section 5: every member's type.
TYPES = {
    "tenantId": int,
    "event": str,
    "membershipId": str,
    "date": str,
    "oldLevelId": int,
    "newLevelId": int,
    "oldLevel": str,
    "newLevel": str,
    "couponId": str,
    "couponName": str,
    "batchId": str,
    "couponCode": str,
    "startDate": str,
    "endDate": str,
}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("staff", "staff@example.com", "pw-staff-1")
    client.force_login(user)
    return client


@pytest.fixture
def loyalty():
    silver = MembershipLevel.objects.create(name="银卡", rank=1)
    gold = MembershipLevel.objects.create(name="金卡", rank=2)
    diamond = MembershipLevel.objects.create(name="钻石卡", rank=3)
    member = Customer.objects.create(name="王芳", mobile="13800000001", membership_id="M0001", level=gold, points=300)
    bare = Customer.objects.create(name="赵雷", mobile="13800000002", membership_id="M0002")
    today = timezone.localdate()
    coupon = Coupon.objects.create(name="满100减20", start_date=today, end_date=today + timedelta(days=30))
    codes = [
        CouponCode.objects.create(
            coupon=coupon,
            code="K7Q2M9XW3RTA",
            batch_id="B20261127",
            customer=member,
            status=CouponCode.Status.DISPATCHED,
            start_date=today,
            end_date=today + timedelta(days=30),
        ),
        CouponCode.objects.create(
            coupon=coupon,
            code="P3N8D4GHT2LS",
            customer=member,
            status=CouponCode.Status.REDEEMED,
            start_date=today,
            end_date=today + timedelta(days=30),
            redeemed_at=timezone.now(),
        ),
    ]
    flows = [
        Flow.objects.create(name=f"flow {event}", trigger=Flow.Trigger.LOYALTY_EVENT, event=event)
        for event in FixedEvent.values
    ]
    return {"levels": (silver, gold, diamond), "member": member, "bare": bare, "codes": codes, "flows": flows}


def _snapshot():
    return (
        list(Customer.objects.order_by("pk").values_list("pk", "level_id", "points", "membership_id")),
        list(CouponCode.objects.order_by("pk").values_list("pk", "status", "redeemed_at", "batch_id")),
    )


def _check_shape(event: str, body: dict) -> None:
    assert list(body) == list(FIXED_EVENT_MEMBERS[event]), body
    for name, value in body.items():
        assert type(value) is TYPES[name], (name, value)
    assert body["event"] == event
    assert body["tenantId"] == 1
    assert ISO_UTC.match(body["date"])


def _send(staff, webhook, customer):
    response = staff.post(reverse("admin:webhooks_webhook_sample_event", args=[webhook.pk]), {"customer": customer.pk})
    assert response.status_code == 201, response.content
    return response.json()


def test_a_sample_of_each_event_for_a_real_member(staff, loyalty, receiver, redis_conn, run_worker):
    silver, gold, diamond = loyalty["levels"]
    member = loyalty["member"]
    # Two webhooks per event: only the one tested gets the sample.
    hooks = {
        event: make_webhook(receiver.url(f"/{event}"), name=event, trigger_type="fixed", event=event)
        for event in FixedEvent.values
    }
    [
        make_webhook(receiver.url(f"/other/{event}"), name=f"other {event}", trigger_type="fixed", event=event)
        for event in FixedEvent.values
    ]
    before = _snapshot()
    answers = {event: _send(staff, hook, member) for event, hook in hooks.items()}
    assert all(answer["sample_members"] == [] and answer["samples_note"] == "" for answer in answers.values())
    run_worker()

    assert before == _snapshot()  # no level, point or coupon changed
    assert not FlowRun.objects.exists()  # no flow started
    assert not [r for r in receiver.received if r.path.startswith("/other/")]
    got = {r.headers["X-Clab-Event"]: r for r in receiver.received}
    assert set(got) == set(FixedEvent.values)
    for event, hit in got.items():
        assert hit.signature_ok is True
        assert hit.path == f"/{event}"
        body = json.loads(hit.body)
        _check_shape(event, body)
        assert body["membershipId"] == "M0001"
        delivery = Delivery.objects.get(pk=answers[event]["delivery_id"])
        assert delivery.status == Delivery.Status.SUCCEEDED
        assert delivery.event == event
        assert delivery.priority == Delivery.Priority.REALTIME
        assert delivery.customer_id == member.pk
        assert hit.headers["X-Clab-Delivery-Id"] == delivery.pk
        assert Attempt.objects.filter(delivery=delivery).count() == 1
        assert delivery.message.context["sample"] is True
        assert delivery.message.event == event

    up = json.loads(got[FixedEvent.MEMBERSHIP_LEVEL_UP].body)
    assert (up["oldLevelId"], up["oldLevel"], up["newLevelId"], up["newLevel"]) == (silver.pk, "银卡", gold.pk, "金卡")
    down = json.loads(got[FixedEvent.MEMBERSHIP_LEVEL_DOWN].body)
    assert (down["oldLevelId"], down["oldLevel"], down["newLevelId"], down["newLevel"]) == (
        diamond.pk,
        "钻石卡",
        gold.pk,
        "金卡",
    )
    dispatched, redeemed = loyalty["codes"]
    dispatch = json.loads(got[FixedEvent.DISPATCH_COUPON].body)
    assert (dispatch["couponId"], dispatch["couponName"], dispatch["couponCode"], dispatch["batchId"]) == (
        str(dispatched.coupon_id),
        "满100减20",
        "K7Q2M9XW3RTA",
        "B20261127",
    )
    assert dispatch["startDate"] == dispatched.start_date.isoformat()
    assert dispatch["endDate"] == dispatched.end_date.isoformat()
    redeem = json.loads(got[FixedEvent.REDEEM_COUPON].body)
    assert redeem["couponCode"] == redeemed.code == "P3N8D4GHT2LS"
    draw = json.loads(got[FixedEvent.DRAW_COUPON].body)
    assert draw["couponCode"] in {"K7Q2M9XW3RTA", "P3N8D4GHT2LS"}

    # The delivery list and page say it is a sample.
    page = staff.get(reverse("admin:webhooks_delivery_changelist"))
    assert page.content.decode().count('data-sample="1"') == 5
    detail = staff.get(reverse("admin:webhooks_delivery_change", args=[answers[FixedEvent.DRAW_COUPON]["delivery_id"]]))
    assert 'id="sample-mark"' in detail.content.decode()
    webhook_page = staff.get(reverse("admin:webhooks_webhook_change", args=[hooks[FixedEvent.DRAW_COUPON].pk]))
    assert webhook_page.content.decode().count('data-sample="1"') == 1

    # The control: a real level change does start the flow (so "no flow started" above could fail).
    member_level_change(customer=member, level=diamond)
    assert FlowRun.objects.filter(flow__event=FixedEvent.MEMBERSHIP_LEVEL_UP).count() == 1


def test_a_member_without_coupons_or_level_gets_marked_sample_values(staff, loyalty, receiver, redis_conn, run_worker):
    bare = loyalty["bare"]
    hooks = {
        event: make_webhook(receiver.url(f"/{event}"), name=event, trigger_type="fixed", event=event)
        for event in FixedEvent.values
    }
    before = _snapshot()
    answers = {event: _send(staff, hook, bare) for event, hook in hooks.items()}
    run_worker()
    assert before == _snapshot()
    assert not FlowRun.objects.exists()
    assert not CouponCode.objects.filter(customer=bare).exists()
    got = {r.headers["X-Clab-Event"]: json.loads(r.body) for r in receiver.received if r.signature_ok}
    assert set(got) == set(FixedEvent.values)
    for event, body in got.items():
        _check_shape(event, body)
        assert body["membershipId"] == "M0002"
    for event in (FixedEvent.MEMBERSHIP_LEVEL_UP, FixedEvent.MEMBERSHIP_LEVEL_DOWN):
        body = got[event]
        assert body["oldLevelId"] == body["newLevelId"] == SAMPLE_LEVEL_ID
        assert "(sample)" in body["oldLevel"]
        assert "(sample)" in body["newLevel"]
        assert answers[event]["sample_members"] == ["newLevelId", "newLevel", "oldLevelId", "oldLevel"]
    for event in (FixedEvent.DISPATCH_COUPON, FixedEvent.DRAW_COUPON, FixedEvent.REDEEM_COUPON):
        body = got[event]
        assert body["couponCode"] == SAMPLE_COUPON_CODE
        assert body["couponName"] == "Sample coupon (sample)"
        assert "couponName" in answers[event]["sample_members"]
        assert "couponName" in answers[event]["samples_note"]
    assert "batchId" not in answers[FixedEvent.DRAW_COUPON]["sample_members"]
    assert date.fromisoformat(got[FixedEvent.DRAW_COUPON]["startDate"])


def test_a_sample_is_not_retried_and_non_members_are_refused(staff, loyalty, receiver, redis_conn, run_worker):
    failing = make_webhook(
        receiver.url("/status/500"), name="failing", trigger_type="fixed", event=FixedEvent.DRAW_COUPON, auto_retry=True
    )
    answer = _send(staff, failing, loyalty["member"])
    run_worker()
    delivery = Delivery.objects.get(pk=answer["delivery_id"])
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempt_count == 1
    assert delivery.next_attempt_at is None

    stranger = Customer.objects.create(name="路人", mobile="13800000003")
    response = staff.post(reverse("admin:webhooks_webhook_sample_event", args=[failing.pk]), {"customer": stranger.pk})
    assert response.status_code == 400
    assert "not a member" in json.dumps(response.json())
    plain = make_webhook(receiver.url("/plain"), name="plain")
    response = staff.post(reverse("admin:webhooks_webhook_sample_event", args=[plain.pk]), {"customer": stranger.pk})
    assert response.status_code == 400
    assert Message.objects.count() == 1
    assert Webhook.objects.count() == 2


def test_the_open_api_sends_a_sample_event(client, loyalty, receiver, redis_conn, run_worker):
    from api.models import Scope
    from api.services import api_key_create

    _key, raw = api_key_create(name="writer", scopes=[Scope.WEBHOOKS_WRITE], user=make_key_owner())
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    hook = make_webhook(receiver.url("/redeem"), name="核销", trigger_type="fixed", event=FixedEvent.REDEEM_COUPON)
    path = f"/api/v1/webhooks/{hook.pk}/sample-event"
    before = _snapshot()
    answer = client.post(path, {"customer_id": loyalty["bare"].pk}, content_type="application/json", **auth)
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["event"] == FixedEvent.REDEEM_COUPON
    assert data["sample_members"] == ["couponId", "couponName", "couponCode"]
    run_worker()
    assert before == _snapshot()
    body = json.loads(receiver.received[0].body)
    _check_shape(FixedEvent.REDEEM_COUPON, body)
    assert receiver.received[0].signature_ok is True
    assert Delivery.objects.get(pk=data["delivery_id"]).status == Delivery.Status.SUCCEEDED
    missing = client.post(path, {"customer_id": 999999}, content_type="application/json", **auth)
    assert missing.status_code == 404  # a customer id that names nothing, as in a path
    plain = make_webhook(receiver.url("/plain"), name="plain")
    refused = client.post(
        f"/api/v1/webhooks/{plain.pk}/sample-event",
        {"customer_id": loyalty["member"].pk},
        content_type="application/json",
        **auth,
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "refused"
