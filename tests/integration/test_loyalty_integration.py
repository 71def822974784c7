"""The five loyalty events through real parts: Redis, an rq worker process, a receiver on 127.0.0.1.

Each event, raised from the admin's loyalty side and from the Open API, reaches the webhook subscribed
to it with exactly the seed's payload (members in the seed's order, tenantId from settings, dates in
UTC to the second), signed as docs/contract.md says. With LOYALTY_EXAMPLES_OUT=<file> the test also writes
what the receiver saw and answered, for the docs.
"""

import json
import os
import re
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path

import pytest
from django.utils import timezone

from api import services as api_services
from customers import loyalty
from customers.models import Coupon, Customer, MembershipLevel
from webhooks.content.events import FixedEvent
from webhooks.content.signing import canonical_json, verify
from webhooks.models import Attempt, Delivery, Webhook

from ..factories import make_key_owner, make_webhook

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TENANT_ID = 90210
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SEED_ORDER = {
    FixedEvent.MEMBERSHIP_LEVEL_UP: [
        "tenantId",
        "event",
        "membershipId",
        "date",
        "oldLevelId",
        "newLevelId",
        "oldLevel",
        "newLevel",
    ],
    FixedEvent.MEMBERSHIP_LEVEL_DOWN: [
        "tenantId",
        "event",
        "membershipId",
        "date",
        "oldLevelId",
        "newLevelId",
        "oldLevel",
        "newLevel",
    ],
    FixedEvent.DISPATCH_COUPON: [
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
    ],
    FixedEvent.DRAW_COUPON: [
        "tenantId",
        "event",
        "membershipId",
        "date",
        "couponId",
        "couponName",
        "couponCode",
        "startDate",
        "endDate",
    ],
    FixedEvent.REDEEM_COUPON: ["tenantId", "event", "membershipId", "date", "couponId", "couponName", "couponCode"],
}


@pytest.fixture
def subscribed(receiver, settings):
    settings.TENANT_ID = TENANT_ID
    hooks = {
        event: make_webhook(
            receiver.url("/hook/" + event.split("/")[1]),
            trigger_type=Webhook.TriggerType.FIXED,
            event=event,
            name=f"CRM {event}",
        )
        for event in FixedEvent.values
    }
    # Must receive nothing: inactive, and a non-fixed webhook.
    make_webhook(
        receiver.url("/never/inactive"),
        trigger_type=Webhook.TriggerType.FIXED,
        event=FixedEvent.REDEEM_COUPON,
        is_active=False,
    )
    make_webhook(receiver.url("/never/nonfixed"))
    return hooks


def received_by_event(receiver) -> dict:
    result = {}
    for request in receiver.received:
        assert request.path.startswith("/hook/"), request.path
        event = request.headers["X-Clab-Event"]
        assert event not in result, f"{event} received twice"
        result[event] = request
    return result


def check_request(request, event: str, expected: dict) -> dict:
    """The request carries exactly the seed's payload for `event`, canonical and signed."""
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert re.fullmatch(r"[0-9a-f]{32}", request.headers["X-Clab-Delivery-Id"])
    assert request.signature_ok is True
    assert verify(request.body, request.headers["X-Clab-Hmac-Signature"], "s3cr3t")
    payload = json.loads(request.body)
    assert list(payload) == SEED_ORDER[event]
    assert payload == expected
    assert request.body == canonical_json(expected)
    assert isinstance(payload["tenantId"], int)
    assert payload["tenantId"] == TENANT_ID
    assert DATE_RE.match(payload["date"])
    if "oldLevelId" in payload:
        assert isinstance(payload["oldLevelId"], int)
        assert isinstance(payload["newLevelId"], int)
    return payload


def test_events_from_the_loyalty_side_reach_their_webhooks(receiver, redis_conn, subscribed, run_worker):
    silver = MembershipLevel.objects.create(name="银卡", rank=10)
    gold = MembershipLevel.objects.create(name="金卡", rank=20)
    member = Customer.objects.create(name="张三", mobile="13900000001", membership_id="M0001", level=silver)
    today = timezone.localdate()
    coupon = Coupon.objects.create(name="满100减20 <会员专享>", start_date=today, end_date=today + timedelta(days=30))

    loyalty.member_level_change(customer=member, level=gold)
    loyalty.member_level_change(customer=member, level=silver)
    (dispatched,) = loyalty.coupon_dispatch(coupon=coupon, customers=[member], batch_id="B20261127")
    drawn = loyalty.coupon_draw(coupon=coupon, customer=member)
    loyalty.coupon_redeem(code=drawn.code)
    log = run_worker()

    got = received_by_event(receiver)
    assert set(got) == set(FixedEvent.values), (log[-2000:], list(Delivery.objects.values_list("event", "status")))
    assert len(receiver.received) == 5
    dates = {event: json.loads(request.body)["date"] for event, request in got.items()}
    common = {"tenantId": TENANT_ID, "membershipId": "M0001"}
    coupon_common = {"couponId": str(coupon.pk), "couponName": "满100减20 <会员专享>"}
    validity = {"startDate": today.isoformat(), "endDate": (today + timedelta(days=30)).isoformat()}
    expected = {
        FixedEvent.MEMBERSHIP_LEVEL_UP: {
            "oldLevelId": silver.pk,
            "newLevelId": gold.pk,
            "oldLevel": "银卡",
            "newLevel": "金卡",
        },
        FixedEvent.MEMBERSHIP_LEVEL_DOWN: {
            "oldLevelId": gold.pk,
            "newLevelId": silver.pk,
            "oldLevel": "金卡",
            "newLevel": "银卡",
        },
        FixedEvent.DISPATCH_COUPON: {
            **coupon_common,
            "batchId": "B20261127",
            "couponCode": dispatched.code,
            **validity,
        },
        FixedEvent.DRAW_COUPON: {**coupon_common, "couponCode": drawn.code, **validity},
        FixedEvent.REDEEM_COUPON: {**coupon_common, "couponCode": drawn.code},
    }
    for event, members in expected.items():
        payload = {**common, "event": event, "date": dates[event], **members}
        check_request(got[event], event, {key: payload[key] for key in SEED_ORDER[event]})
        assert got[event].path == "/hook/" + event.split("/")[1]
    # "<" ">" went out escaped as Gson writes them; the receiver verified the signature over that text.
    assert "\\u003c会员专享\\u003e" in got[FixedEvent.REDEEM_COUPON].body
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 5


def test_events_from_the_open_api_reach_their_webhooks(client, receiver, redis_conn, subscribed, run_worker):
    _api_key, raw_key = api_services.api_key_create(name="loyalty system", user=make_key_owner())
    events = [
        {
            "event": FixedEvent.MEMBERSHIP_LEVEL_UP.value,
            "membershipId": "M0001",
            "date": "2026-11-27T17:30:00+08:00",
            "oldLevelId": 1,
            "newLevelId": 2,
            "oldLevel": "银卡",
            "newLevel": "金卡",
        },
        {
            "event": FixedEvent.MEMBERSHIP_LEVEL_DOWN.value,
            "membershipId": "M0001",
            "date": "2026-11-28T09:30:00Z",
            "oldLevelId": 2,
            "newLevelId": 1,
            "oldLevel": "金卡",
            "newLevel": "银卡",
        },
        {
            "event": FixedEvent.DISPATCH_COUPON.value,
            "membershipId": "M0001",
            "date": "2026-11-27T09:31:00Z",
            "couponId": "17",
            "couponName": "满100减20",
            "batchId": "B20261127",
            "couponCode": "K7Q2M9XW3RTA",
            "startDate": "2026-11-27",
            "endDate": "2026-12-31",
        },
        {
            "event": FixedEvent.DRAW_COUPON.value,
            "membershipId": "M0001",
            "date": "2026-11-27T09:32:00Z",
            "couponId": "18",
            "couponName": "新客礼 & 满减",
            "couponCode": "P3N8D4GHT2LS",
            "startDate": "2026-11-27T00:00:00Z",
            "endDate": "2026-12-31T23:59:59Z",
        },
        {
            "event": FixedEvent.REDEEM_COUPON.value,
            "membershipId": "M0001",
            "date": "2026-11-27T09:33:00Z",
            "couponId": "17",
            "couponName": "满100减20",
            "couponCode": "K7Q2M9XW3RTA",
        },
    ]
    api_request = json.dumps(events, ensure_ascii=False, indent=2)
    api_response = client.post(
        "/api/v1/events",
        api_request,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
        HTTP_IDEMPOTENCY_KEY="sync-2026-11-27-001",
    )
    assert api_response.status_code == 202, api_response.content
    run_worker()

    got = received_by_event(receiver)
    assert set(got) == set(FixedEvent.values)
    sent_dates = {FixedEvent.MEMBERSHIP_LEVEL_UP: "2026-11-27T09:30:00Z"}
    for event in events:
        name = event["event"]
        payload = {"tenantId": TENANT_ID, **event, "date": sent_dates.get(name, event["date"])}
        check_request(got[name], name, {key: payload[key] for key in SEED_ORDER[name]})

    lines = [
        "# Loyalty events as the receiver saw them",
        "",
        "Recorded by `tests/integration/test_loyalty_integration.py"
        "::test_events_from_the_open_api_reach_their_webhooks`",
        "(real Redis, a real `rqworker --burst` process, the receiver `demo/receiver.py` on 127.0.0.1,",
        f"secret key `s3cr3t`, `TENANT_ID={TENANT_ID}`). Every signature below verified at the receiver.",
        "",
        "## The call to the Open API",
        "",
        "```http",
        "POST /api/v1/events HTTP/1.1",
        "Authorization: Bearer whk_…",
        "Content-Type: application/json",
        "Idempotency-Key: sync-2026-11-27-001",
        "",
        api_request,
        "```",
        "",
        f"```http\nHTTP/1.1 {api_response.status_code} Accepted\nContent-Type: application/json\n\n"
        f"{api_response.content.decode()}\n```",
        "",
        "Note the first event's `date`, sent as `2026-11-27T17:30:00+08:00`, arrives in UTC to the second.",
    ]
    for event in events:
        name = event["event"]
        request = got[name]
        attempt = Attempt.objects.get(delivery_id=request.headers["X-Clab-Delivery-Id"])
        shown = (
            "Host",
            "User-Agent",
            "Content-Type",
            "Content-Length",
            "X-Clab-Delivery-Id",
            "X-Clab-Event",
            "X-Clab-Hmac-Signature",
        )
        headers = "\n".join(f"{key}: {request.headers[key]}" for key in shown if key in request.headers)
        response_headers = "\n".join(
            f"{key}: {value}"
            for key, value in attempt.response_headers.items()
            if key.lower() in ("content-type", "content-length")
        )
        lines += [
            "",
            f"## `{name}`",
            "",
            f"Request (signature verified: {request.signature_ok}):",
            "",
            f"```http\n{request.method} {request.path} HTTP/1.1\n{headers}\n\n{request.body}\n```",
            "",
            "Response:",
            "",
            f"```http\nHTTP/1.1 {attempt.response_status} {HTTPStatus(attempt.response_status).phrase}\n"
            f"{response_headers}\n\n{attempt.response_body}\n```",
        ]
        assert attempt.response_status == request.status == 200
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    out = os.environ.get("LOYALTY_EXAMPLES_OUT")
    if out:
        Path(out).write_text(text, encoding="utf-8")
