"""Issue 10.7 (Open API): the published schema and the validation are generated from one source and agree.

POST /events is a django-ninja operation (issue 23): the document is generated from its pydantic models.

Each body of a corpus (every member of every event set to many values, members left out or added, the
body's shapes) is judged twice: by a JSON Schema validator (jsonschema, with format checks) against
/api/v1/openapi.json, and by the hub's validation. The verdicts must be the same, except for the rules a
JSON Schema cannot state, which the document's descriptions name: two members compared with each other,
a lone surrogate escape, and a date-time that has no UTC form.
"""

import copy
import json

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from api.endpoints.events import EVENT_MEMBERS, EXAMPLES, MAX_EVENTS, events_validated
from api.errors import ApiError
from webhooks.content.events import FixedEvent

VALUES = [
    None, "", " ", "\u3000", "\t\n", "a\x00b", "M0001", "x" * 255, "x" * 256, "M1\n", "１２３",
    0, -1, 1, 7, 1.0, 1.5, True, False, 2**63 - 1, 2**63, [], {}, ["2026-11-27"],
    "2026-11-27", "2026-11-27\n", "２０２６-11-27", "2026/11/27", "2026-02-30", "20261127", "tomorrow",
    "2026-11-27T09:30:00Z", "2026-11-27T17:30:05.123+08:00", "2026-11-27T09:30:00.123456Z",
    "2026-11-27T09:30Z", "2026-11-27T09:30:00", "2026-11-27T25:00:00Z", "2026-11-27T09:60:00Z",
    "2026-11-27T09:30:60Z", "2026-11-27T09:30:00.1234567Z", "2026-11-27t09:30:00z", "2026-02-30T09:00:00Z",
    "2026-11-27T09:30:00+24:00", "2026-11-27T09:30:00Z\n",
]  # fmt: skip


@pytest.fixture(scope="module")
def schema_validator(django_db_blocker):
    from api.openapi import openapi_document

    document = json.loads(json.dumps(openapi_document()))  # as served: JSON, not Python objects
    assert document["openapi"].startswith("3.1")  # JSON Schema 2020-12, as jsonschema reads it
    body = document["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    root = {**body, "components": document["components"]}
    Draft202012Validator.check_schema(root)
    return Draft202012Validator(root, format_checker=FormatChecker())


def _hub_accepts(body) -> bool:
    try:
        events_validated(body)
    except ApiError:
        return False
    return True


def _beyond_json_schema(event: dict) -> bool:
    """Rules the schema cannot state (and describes in words instead)."""
    if "oldLevelId" in event and event.get("oldLevelId") == event.get("newLevelId"):
        return True
    start, end = event.get("startDate"), event.get("endDate")
    return isinstance(start, str) and isinstance(end, str) and end[:10] < start[:10]


def _corpus():
    for event in FixedEvent.values:
        good = copy.deepcopy(EXAMPLES[event])
        yield good
        yield [good, good]
        yield {**good, "tenantId": 1}
        yield {**good, "extra": "x"}
        yield {**good, "event": "loyalty/unknown"}
        for member in EVENT_MEMBERS[event]:
            yield {key: value for key, value in good.items() if key != member}
            for value in VALUES:
                yield {**good, member: value}
    yield []
    yield [EXAMPLES[FixedEvent.REDEEM_COUPON]] * (MAX_EVENTS + 1)
    yield [EXAMPLES[FixedEvent.REDEEM_COUPON]] * MAX_EVENTS
    yield "not an object"
    yield 7
    yield None
    yield [None]
    yield {}


def test_schema_and_validation_give_the_same_verdict(schema_validator):
    disagreements, judged = [], 0
    for body in _corpus():
        events = body if isinstance(body, list) else [body]
        if any(isinstance(e, dict) and _beyond_json_schema(e) for e in events):
            continue
        judged += 1
        hub, schema = _hub_accepts(body), schema_validator.is_valid(body)
        if hub != schema:
            disagreements.append((hub, schema, json.dumps(body, ensure_ascii=False)[:200]))
    assert judged > 1000
    assert disagreements == []


@pytest.mark.parametrize(
    ("member", "value"),
    [("date", None), ("date", "2026-11-27T09:30:00Z"), ("couponName", "满100减20")],
)
def test_null_date_and_plain_values_are_accepted_by_both(schema_validator, member, value):
    body = {**EXAMPLES[FixedEvent.REDEEM_COUPON], member: value}
    assert _hub_accepts(body)
    assert schema_validator.is_valid(body)


def test_the_rules_beyond_json_schema_are_described():
    from api.openapi import openapi_document

    properties = openapi_document()["components"]["schemas"]["MembershipLevelUp"]["properties"]
    assert "must differ from oldLevelId" in properties["newLevelId"]["description"]
    assert "lone surrogate" in properties["membershipId"]["description"]
    assert {"type": "null"} in properties["date"]["anyOf"]
