"""POST /api/v1/events: authentication, validation of every event type, whole-or-nothing lists, idempotency."""

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import idempotency
from api import services as api_services
from api.endpoints.events import EVENT_MEMBERS, MAX_EVENTS
from api.models import ApiKey, IdempotencyRecord
from webhooks.content.events import FIXED_EVENT_MEMBERS, FixedEvent
from webhooks.models import Delivery, Message, Webhook

from ..factories import make_key_owner, make_webhook

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"

GOOD = {
    FixedEvent.MEMBERSHIP_LEVEL_UP: {
        "event": "loyalty/membership_level_up",
        "membershipId": "M001",
        "date": "2026-11-27T09:30:00Z",
        "oldLevelId": 1,
        "newLevelId": 2,
        "oldLevel": "银卡",
        "newLevel": "金卡",
    },
    FixedEvent.MEMBERSHIP_LEVEL_DOWN: {
        "event": "loyalty/membership_level_down",
        "membershipId": "M001",
        "date": "2026-11-27T09:30:00Z",
        "oldLevelId": 2,
        "newLevelId": 1,
        "oldLevel": "金卡",
        "newLevel": "银卡",
    },
    FixedEvent.DISPATCH_COUPON: {
        "event": "loyalty/loyalty_dispatch_coupon",
        "membershipId": "M001",
        "date": "2026-11-27T09:30:00Z",
        "couponId": "17",
        "couponName": "满100减20 <VIP>",
        "batchId": "B1",
        "couponCode": "ABC123",
        "startDate": "2026-11-27",
        "endDate": "2026-12-31",
    },
    FixedEvent.DRAW_COUPON: {
        "event": "loyalty/membership_draw_coupon",
        "membershipId": "M001",
        "date": "2026-11-27T09:30:00Z",
        "couponId": "17",
        "couponName": "满100减20",
        "couponCode": "ABC123",
        "startDate": "2026-11-27T00:00:00Z",
        "endDate": "2026-12-31T23:59:59+08:00",
    },
    FixedEvent.REDEEM_COUPON: {
        "event": "loyalty/membership_redeem_coupon",
        "membershipId": "M001",
        "date": "2026-11-27T09:30:00Z",
        "couponId": "17",
        "couponName": "满100减20",
        "couponCode": "ABC123",
    },
}


@pytest.fixture
def raw_key():
    _api_key, raw = api_services.api_key_create(name="crm", user=make_key_owner())
    return raw


@pytest.fixture
def post(client, raw_key):
    def post(body, *, key=raw_key, content_type="application/json", raw=False, **headers):
        data = body if raw else json.dumps(body, ensure_ascii=False)
        extra = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
        extra.update({f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()})
        return client.post(URL, data=data, content_type=content_type, **extra)

    return post


@pytest.fixture
def hooks(settings):
    """One active subscriber per event, plus webhooks that must not receive anything."""
    subscribed = {
        event: make_webhook(f"http://127.0.0.1:9/{i}", trigger_type=Webhook.TriggerType.FIXED, event=event)
        for i, event in enumerate(FixedEvent.values)
    }
    make_webhook(
        "http://127.0.0.1:9/off",
        trigger_type=Webhook.TriggerType.FIXED,
        event=FixedEvent.MEMBERSHIP_LEVEL_UP,
        is_active=False,
    )
    make_webhook("http://127.0.0.1:9/nonfixed")
    return subscribed


def nothing_written():
    return Message.objects.count() == 0 and Delivery.objects.count() == 0


# --- Authentication ---------------------------------------------------------------------------------


def test_missing_key_is_401(post):
    response = post(GOOD[FixedEvent.REDEEM_COUPON], key=None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "missing_api_key"
    assert nothing_written()


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "whk_abc"])
def test_malformed_authorization_is_401(client, header):
    response = client.post(URL, data="{}", content_type="application/json", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_unknown_key_is_401(post, raw_key):
    response = post(GOOD[FixedEvent.REDEEM_COUPON], key=raw_key + "x")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unknown_api_key"
    assert nothing_written()


def test_revoked_key_is_403(post, raw_key):
    api_services.api_key_revoke(api_key=ApiKey.objects.get())
    response = post(GOOD[FixedEvent.REDEEM_COUPON])
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "revoked_api_key"
    assert nothing_written()


def test_key_is_stored_hashed_and_use_is_recorded(post, raw_key):
    api_key = ApiKey.objects.get()
    assert raw_key not in (api_key.hashed_key, api_key.prefix)
    assert raw_key.startswith(api_key.prefix)
    assert api_key.last_used_at is None
    post(GOOD[FixedEvent.REDEEM_COUPON])
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


# --- Accepted events ----------------------------------------------------------------------------------


@pytest.mark.parametrize("event", FixedEvent.values)
def test_each_good_event_is_published_to_its_subscribers_only(post, hooks, event, settings):
    settings.TENANT_ID = 4242
    response = post(GOOD[event])
    assert response.status_code == 202, response.content
    (message_id,) = response.json()["messageIds"]
    message = Message.objects.get(pk=message_id)
    expected = {"tenantId": 4242, **{k: v for k, v in GOOD[event].items()}}
    assert message.context == expected
    (delivery,) = Delivery.objects.all()
    assert delivery.webhook == hooks[event]
    assert list(json.loads(delivery.body)) == list(FIXED_EVENT_MEMBERS[event])
    # The body is the canonical text: the seed's member order, tenantId first, no whitespace between tokens.
    assert delivery.body.startswith('{"tenantId":4242,"event":"' + event + '","membershipId":"M001"')


def test_date_is_sent_as_utc_to_the_second(post, hooks):
    event = {**GOOD[FixedEvent.REDEEM_COUPON], "date": "2026-11-27T17:30:05.123+08:00"}
    assert post(event).status_code == 202
    assert Message.objects.get().context["date"] == "2026-11-27T09:30:05Z"


def test_date_left_out_is_the_time_of_acceptance(post, hooks):
    event = {k: v for k, v in GOOD[FixedEvent.REDEEM_COUPON].items() if k != "date"}
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    assert post(event).status_code == 202
    date = Message.objects.get().context["date"]
    assert date >= before
    assert date.endswith("Z")
    assert len(date) == 20


def test_start_and_end_dates_go_on_as_given(post, hooks):
    assert post(GOOD[FixedEvent.DRAW_COUPON]).status_code == 202
    context = Message.objects.get().context
    assert (context["startDate"], context["endDate"]) == ("2026-11-27T00:00:00Z", "2026-12-31T23:59:59+08:00")


def test_list_of_1000_is_accepted(post, hooks):
    events = [{**GOOD[FixedEvent.DISPATCH_COUPON], "couponCode": f"C{i:05d}"} for i in range(MAX_EVENTS)]
    started = time.monotonic()
    response = post(events)
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.content[:500]
    ids = response.json()["messageIds"]
    assert len(ids) == MAX_EVENTS == len(set(ids))
    assert Message.objects.count() == MAX_EVENTS
    assert Delivery.objects.filter(webhook=hooks[FixedEvent.DISPATCH_COUPON]).count() == MAX_EVENTS
    # Ids follow the order of the list.
    codes = dict(Message.objects.values_list("pk", "context__couponCode"))
    assert [codes[i] for i in ids] == [e["couponCode"] for e in events]
    print(f"\n1,000 events accepted in {elapsed:.2f}s")


def test_list_with_one_bad_event_is_refused_whole(post, hooks):
    events = [dict(GOOD[FixedEvent.DISPATCH_COUPON]) for _i in range(MAX_EVENTS)]
    events[500] = {**events[500], "startDate": "2026-13-01"}
    response = post(events)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_events"
    assert len(error["events"]) == 1
    assert error["events"][0]["index"] == 500
    assert list(error["events"][0]["members"]) == ["startDate"]
    assert nothing_written()


def test_too_many_events_refused(post, hooks):
    response = post([GOOD[FixedEvent.REDEEM_COUPON]] * (MAX_EVENTS + 1))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_events"
    assert nothing_written()


# --- Validation of every event type -------------------------------------------------------------------


def member_errors(response) -> dict:
    assert response.status_code == 400, response.content
    (entry,) = response.json()["error"]["events"]
    return entry.get("members", {})


@pytest.mark.parametrize(
    ("event", "member"),
    [(event, member) for event, members in EVENT_MEMBERS.items() for member in members if member != "date"],
)
def test_every_required_member_is_required(post, event, member):
    body = {k: v for k, v in GOOD[event].items() if k != member}
    errors = member_errors(post(body))
    assert list(errors) == [member]
    assert errors[member] == ["This member is required."]
    # null counts as missing
    assert list(member_errors(post({**GOOD[event], member: None}))) == [member]
    assert nothing_written()


STRING_MEMBERS = ["membershipId", "oldLevel", "newLevel", "couponId", "couponName", "batchId", "couponCode"]


@pytest.mark.parametrize(
    ("event", "member", "value"),
    [
        (event, member, value)
        for event, members in EVENT_MEMBERS.items()
        for member in members
        for value in (
            ["1", 1.5, True, [], {}, -1, 2**63]
            if member in ("oldLevelId", "newLevelId")
            else [12, 1.5, True, [], {"a": 1}, "", "   ", "x" * 256]
            if member in STRING_MEMBERS
            else [
                12,
                "2026-11-27",
                "2026-11-27T09:30:00",
                "27/11/2026 09:30",
                "2026-11-27T25:00:00Z",
                "",
                "2026-02-30T09:00:00Z",
            ]
            if member == "date"
            else [12, "2026-02-30", "2026/11/27", "2026-11-27T09:30:00", "tomorrow", "", ["2026-11-27"]]
        )
    ],
)
def test_wrong_types_and_forms_are_refused(post, event, member, value):
    errors = member_errors(post({**GOOD[event], member: value}))
    assert member in errors, errors
    assert nothing_written()


@pytest.mark.parametrize("event", FixedEvent.values)
def test_unknown_members_and_tenant_id_are_refused(post, event):
    errors = member_errors(post({**GOOD[event], "extra": 1, "tenantId": 1}))
    assert errors["extra"] == [f"Unknown member for the event {event}."]
    assert errors["tenantId"] == ["The hub fills in tenantId; leave it out."]


def test_members_of_another_event_are_unknown(post):
    errors = member_errors(post({**GOOD[FixedEvent.REDEEM_COUPON], "batchId": "B1"}))
    assert list(errors) == ["batchId"]


@pytest.mark.parametrize("value", ["loyalty/unknown", "manual/test-send", "form/submit", 3, None, ["x"]])
def test_unknown_event_names_are_refused(post, value):
    body = {**GOOD[FixedEvent.REDEEM_COUPON], "event": value}
    errors = member_errors(post(body))
    assert list(errors) == ["event"]


def test_missing_event_name_is_refused(post):
    body = {k: v for k, v in GOOD[FixedEvent.REDEEM_COUPON].items() if k != "event"}
    assert member_errors(post(body)) == {"event": ["This member is required."]}


@pytest.mark.parametrize("event", [FixedEvent.MEMBERSHIP_LEVEL_UP, FixedEvent.MEMBERSHIP_LEVEL_DOWN])
def test_level_change_must_change_the_level(post, event):
    errors = member_errors(post({**GOOD[event], "newLevelId": GOOD[event]["oldLevelId"]}))
    assert list(errors) == ["newLevelId"]


@pytest.mark.parametrize("event", [FixedEvent.DISPATCH_COUPON, FixedEvent.DRAW_COUPON])
def test_end_date_before_start_date_is_refused(post, event):
    errors = member_errors(post({**GOOD[event], "startDate": "2026-12-31", "endDate": "2026-12-30T23:00:00Z"}))
    assert errors == {"endDate": ["The end date is before the start date."]}


def test_errors_are_reported_per_event_index_and_member(post):
    bad_level = {**GOOD[FixedEvent.MEMBERSHIP_LEVEL_UP], "oldLevelId": "1", "newLevel": 5}
    events = [GOOD[FixedEvent.REDEEM_COUPON], "not an event", bad_level]
    response = post(events)
    error = response.json()["error"]
    assert response.status_code == 400
    assert error["message"] == "2 of 3 events are invalid; none was accepted."
    assert error["events"][0] == {"index": 1, "errors": ["Each event must be a JSON object."]}
    assert error["events"][1]["index"] == 2
    assert set(error["events"][1]["members"]) == {"oldLevelId", "newLevel"}
    assert nothing_written()


# --- Bad bodies of every kind: a 4xx with a clear JSON error, never a 500, nothing written ----------------


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_json"),
        (" ", "application/json", 400, "malformed_json"),
        ('{"event": "a", "event": "b"}', "application/json", 400, "malformed_json"),
        ('{"x": NaN}', "application/json", 400, "malformed_json"),
        ('{"x": Infinity}', "application/json", 400, "malformed_json"),
        ('{"x": ' + "9" * 5000 + "}", "application/json", 400, "malformed_json"),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400, "malformed_json"),
        ('{"x": "\\ud800"}', "application/json", 400, "invalid_events"),
        ('{"event": "loyalty/membership_redeem_coupon", "\\udfff": 1}', "application/json", 400, "invalid_events"),
        (
            '{"event": "loyalty/membership_redeem_coupon", "membershipId": "\\ud800"}',
            "application/json",
            400,
            "invalid_events",
        ),
        ('"a string"', "application/json", 400, "invalid_body"),
        ("42", "application/json", 400, "invalid_body"),
        ("null", "application/json", 400, "invalid_body"),
        ("[]", "application/json", 400, "empty_list"),
        ("[[[]]]", "application/json", 400, "invalid_events"),
        ("[null, 1, true]", "application/json", 400, "invalid_events"),
        ('{"event": "loyalty/membership_redeem_coupon"}', "text/plain", 415, "unsupported_media_type"),
        ("event=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("{}", "application/json; charset=latin-1", 415, "unsupported_media_type"),
        ("{}", "", 415, "unsupported_media_type"),
    ],
)
def test_bad_bodies_get_a_clear_4xx(post, hooks, data, content_type, status, code):
    response = post(data, raw=True, content_type=content_type)
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert nothing_written()


def test_invalid_utf8_is_refused(post):
    response = post(b'{"event": "\xff\xfe"}', raw=True)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_huge_body_is_413(post, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = post([GOOD[FixedEvent.REDEEM_COUPON]] * 100)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert nothing_written()


def test_get_is_405(client, raw_key):
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_errors_follow_accept_language(post):
    response = post({}, **{"Accept-Language": "zh-hans"})
    assert response.status_code == 400
    assert response["Content-Language"] == "zh-hans"
    english = post({})
    assert english["Content-Language"] == "en"
    assert english.json()["error"]["events"][0]["members"]["event"] == ["This member is required."]
    french_only = post({}, **{"Accept-Language": "fr"})
    assert french_only["Content-Language"] == "en"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)
event_like = st.fixed_dictionaries(
    {"event": st.sampled_from(FixedEvent.values) | st.text(max_size=10)},
    optional={
        member: json_values | st.just("2026-11-27")
        for member in (
            "membershipId",
            "date",
            "oldLevelId",
            "newLevelId",
            "couponCode",
            "startDate",
            "endDate",
            "tenantId",
        )
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | event_like | st.lists(event_like, max_size=4))
def test_any_json_gets_a_4xx_or_202_never_a_500(post, body):
    before = Message.objects.count()
    response = post(body)
    assert response.status_code in (202, 400), response.content[:300]
    payload = response.json()
    if response.status_code == 400:
        assert payload["error"]["message"]
        assert Message.objects.count() == before
    else:
        assert len(payload["messageIds"]) == Message.objects.count() - before


# --- Idempotency ------------------------------------------------------------------------------------


def test_idempotency_key_repeats_the_first_answer(post, hooks):
    body = [GOOD[FixedEvent.REDEEM_COUPON], GOOD[FixedEvent.MEMBERSHIP_LEVEL_UP]]
    first = post(body, **{"Idempotency-Key": "order-1"})
    assert first.status_code == 202
    # Same members in another order and spacing: the same request.
    again = post([dict(reversed(list(e.items()))) for e in body], **{"Idempotency-Key": "order-1"})
    assert again.status_code == 202
    assert again.json() == first.json()
    assert Message.objects.count() == 2
    assert Delivery.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1


def test_idempotency_key_with_another_body_is_422(post, hooks):
    assert post(GOOD[FixedEvent.REDEEM_COUPON], **{"Idempotency-Key": "k"}).status_code == 202
    response = post({**GOOD[FixedEvent.REDEEM_COUPON], "couponCode": "OTHER"}, **{"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Message.objects.count() == 1


def test_idempotency_keys_belong_to_one_api_key(post, hooks):
    _other, other_raw = api_services.api_key_create(name="other", user=make_key_owner())
    assert post(GOOD[FixedEvent.REDEEM_COUPON], **{"Idempotency-Key": "k"}).status_code == 202
    assert post(GOOD[FixedEvent.REDEEM_COUPON], key=other_raw, **{"Idempotency-Key": "k"}).status_code == 202
    assert Message.objects.count() == 2


def test_refused_request_is_not_remembered(post, hooks):
    bad = {**GOOD[FixedEvent.REDEEM_COUPON], "couponCode": 5}
    assert post(bad, **{"Idempotency-Key": "k"}).status_code == 400
    assert post(GOOD[FixedEvent.REDEEM_COUPON], **{"Idempotency-Key": "k"}).status_code == 202
    assert Message.objects.count() == 1


def test_without_idempotency_key_a_repeat_publishes_again(post, hooks):
    post(GOOD[FixedEvent.REDEEM_COUPON])
    post(GOOD[FixedEvent.REDEEM_COUPON])
    assert Message.objects.count() == 2


@pytest.mark.parametrize("key", ["x" * 256, "naïve", "tab\there"])
def test_bad_idempotency_key_is_400(post, key):
    response = post(GOOD[FixedEvent.REDEEM_COUPON], **{"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert nothing_written()


def test_api_needs_no_csrf_token(raw_key, hooks):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(
        URL,
        json.dumps(GOOD[FixedEvent.REDEEM_COUPON]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
    )
    assert response.status_code == 202


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeat_gets_the_first_answer(post, hooks, monkeypatch, redis_conn):
    """A repeat that passed the lookup before the first request committed: the unique key decides."""
    first = post(GOOD[FixedEvent.REDEEM_COUPON], **{"Idempotency-Key": "race"})
    assert first.status_code == 202
    real_get = idempotency.idempotency_record_get
    calls = []

    def racing_get(**kwargs):
        calls.append(kwargs)
        return None if len(calls) == 1 else real_get(**kwargs)

    monkeypatch.setattr(idempotency, "idempotency_record_get", racing_get)
    again = post(GOOD[FixedEvent.REDEEM_COUPON], **{"Idempotency-Key": "race"})
    assert again.status_code == 202
    assert again.json() == first.json()
    assert len(calls) == 2
    assert Message.objects.count() == 1
    assert Delivery.objects.count() == 1
