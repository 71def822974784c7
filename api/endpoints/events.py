"""Events: POST /events, one fixed loyalty event or a list of up to 1,000, accepted whole or not at all.

Each event is the seed's payload (docs/contract.md section 5) without `tenantId`, which the hub fills in.
One pydantic model per event, built from webhooks.content.events' member lists (so the API accepts exactly what
the hub sends), joined in a union keyed on `event`; the OpenAPI document is generated from the same
models. A refused request names every refused event by its index and each member's problem.
"""

import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, Union

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from ninja import Body, Router, Schema, Status
from pydantic import ConfigDict, Field, PlainValidator, TypeAdapter, WithJsonSchema, WrapValidator, create_model
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from webhookhub.text import validate_text
from webhooks.content.events import FIXED_EVENT_MEMBERS, FixedEvent

from .. import services
from ..errors import ApiError, Error
from ..hub import ScopedKey
from ..models import Scope

router = Router(tags=["Events"])

MAX_EVENTS = 1000
MAX_STRING = 255
INT64_MAX = 2**63 - 1

STRING, INTEGER, DATETIME, DATE = "string", "integer", "date-time", "date"
MEMBER_TYPES = {
    "membershipId": STRING,
    "date": DATETIME,
    "oldLevelId": INTEGER,
    "newLevelId": INTEGER,
    "oldLevel": STRING,
    "newLevel": STRING,
    "couponId": STRING,
    "couponName": STRING,
    "batchId": STRING,
    "couponCode": STRING,
    "startDate": DATE,
    "endDate": DATE,
}
# When the caller leaves `date` out (or sends null), the event happened when the hub accepted it.
OPTIONAL_MEMBERS = {"date"}
# What a caller sends per event: the seed's members, less those the hub fills in.
EVENT_MEMBERS: dict[str, tuple[str, ...]] = {
    event: tuple(member for member in members if member not in ("tenantId", "event"))
    for event, members in FIXED_EVENT_MEMBERS.items()
}

# Text members are Unicode text: besides the pattern (not only spaces, no NUL), a lone surrogate escape
# (\\ud800 without its pair) is refused, which a JSON Schema pattern cannot say.
TEXT = " Text: not only spaces, no NUL, no lone surrogate escape."
DESCRIPTIONS = {
    "membershipId": "The member's ID." + TEXT,
    "date": "When the event happened: RFC 3339 (ISO 8601) with seconds and a time zone; sent on as UTC to the "
    "second (2026-11-27T17:30:00+08:00 becomes 2026-11-27T09:30:00Z). Left out or null: the time the hub "
    "accepted it.",
    "oldLevelId": "The old level's ID.",
    "newLevelId": "The new level's ID (must differ from oldLevelId).",
    "oldLevel": "The old level's name." + TEXT,
    "newLevel": "The new level's name." + TEXT,
    "couponId": "The coupon's ID." + TEXT,
    "couponName": "The coupon's name." + TEXT,
    "batchId": "The dispatch batch number." + TEXT,
    "couponCode": "The member's unique code of the coupon." + TEXT,
    "startDate": "First valid day: an ISO 8601 date (2026-11-27) or date and time with seconds and a time zone "
    "(2026-11-27T00:00:00Z); sent on exactly as given.",
    "endDate": "Last valid day, in the same forms as startDate and not before it; sent on exactly as given.",
}
EVENT_SCHEMA_NAMES: dict[str, str] = {
    FixedEvent.MEMBERSHIP_LEVEL_UP: "MembershipLevelUp",
    FixedEvent.MEMBERSHIP_LEVEL_DOWN: "MembershipLevelDown",
    FixedEvent.DISPATCH_COUPON: "LoyaltyDispatchCoupon",
    FixedEvent.DRAW_COUPON: "MembershipDrawCoupon",
    FixedEvent.REDEEM_COUPON: "MembershipRedeemCoupon",
}
_COUPON = {"couponId": "17", "couponName": "满100减20"}
_LEVELS = {"oldLevel": "银卡", "newLevel": "金卡"}
EXAMPLES: dict[str, dict] = {
    FixedEvent.MEMBERSHIP_LEVEL_UP: {"oldLevelId": 1, "newLevelId": 2, **_LEVELS},
    FixedEvent.MEMBERSHIP_LEVEL_DOWN: {"oldLevelId": 2, "newLevelId": 1, "oldLevel": "金卡", "newLevel": "银卡"},
    FixedEvent.DISPATCH_COUPON: {
        **_COUPON,
        "batchId": "B20261127",
        "couponCode": "K7Q2M9XW3RTA",
        "startDate": "2026-11-27",
        "endDate": "2026-12-31",
    },
    FixedEvent.DRAW_COUPON: {
        **_COUPON,
        "couponCode": "K7Q2M9XW3RTA",
        "startDate": "2026-11-27",
        "endDate": "2026-12-31",
    },
    FixedEvent.REDEEM_COUPON: {**_COUPON, "couponCode": "K7Q2M9XW3RTA"},
}
EXAMPLES = {
    event: {"event": str(event), "membershipId": "M0001", "date": "2026-11-27T09:30:00Z", **members}
    for event, members in EXAMPLES.items()
}


def _anchored(body: str) -> str:
    # Not "$": in Python it also matches before a final line break, in ECMA-262 (JSON Schema) it does not.
    # "Not followed by any character" means the end in both, so one pattern reads the same to both.
    return f"^(?:{body})(?![\\s\\S])"


# Text with something besides spaces (ASCII or ideographic), and no NUL.
TEXT_PATTERN = _anchored(r"(?=[\s\S]*[^\t\n\r \u3000])[^\u0000]*")
DATE_PATTERN = _anchored(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339 (format date-time) as the hub reads it: seconds required, at most microseconds, a zone.
DATETIME_PATTERN = _anchored(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_PATTERNS = {pattern: re.compile(pattern) for pattern in (TEXT_PATTERN, DATE_PATTERN, DATETIME_PATTERN)}

# The published rules of each kind of member; the validators below apply the very same ones.
KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    INTEGER: {"type": "integer", "format": "int64", "minimum": 0, "maximum": INT64_MAX},
    STRING: {"type": "string", "minLength": 1, "maxLength": MAX_STRING, "pattern": TEXT_PATTERN},
    DATETIME: {"type": "string", "format": "date-time", "maxLength": MAX_STRING, "pattern": DATETIME_PATTERN},
    DATE: {
        "type": "string",
        "maxLength": MAX_STRING,
        "anyOf": [
            {"format": "date", "pattern": DATE_PATTERN},
            {"format": "date-time", "pattern": DATETIME_PATTERN},
        ],
    },
}


def _refuse(message: str):
    # The message is already in the caller's language; pydantic carries it as the error's msg.
    return PydanticCustomError("hub_member", message.replace("{", "{{").replace("}", "}}"))


def _matches(pattern: str, value: str) -> bool:
    return _PATTERNS[pattern].search(value) is not None


def _integer(value):
    if isinstance(value, float) and value.is_integer():  # 2.0 is the integer 2 to JSON (and JSON Schema)
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(_("Must be an integer."))
    if not 0 <= value <= INT64_MAX:
        raise _refuse(_("Must be between %(min)s and %(max)s.") % {"min": 0, "max": INT64_MAX})
    return value


def _string(value) -> str:
    if not isinstance(value, str):
        raise _refuse(_("Must be a string."))
    if len(value) > MAX_STRING:
        raise _refuse(_("At most %(max)s characters.") % {"max": MAX_STRING})
    try:
        validate_text(value)  # NUL (PostgreSQL refuses it) or a lone surrogate escaped in the JSON (\ud800)
    except ValidationError as exc:
        raise _refuse(exc.messages[0]) from None
    return value


def _text(value) -> str:
    if not _matches(TEXT_PATTERN, _string(value)):
        raise _refuse(_("Must not be empty."))
    return value


def _datetime_value(value: str):
    """A date-time with its zone, or None when the text is not one."""
    if not _matches(DATETIME_PATTERN, value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _moment(value) -> str | None:
    if value is None:
        return None
    moment = _datetime_value(_string(value))
    if moment is None:
        raise _refuse(
            _("Must be a date and time in RFC 3339 (ISO 8601) with seconds and a time zone, e.g. 2026-11-27T09:30:00Z.")
        )
    try:
        # The seed's form: UTC, to the second.
        return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
    except (OverflowError, ValueError):
        raise _refuse(_("This date is out of range.")) from None


def _day_text(value) -> str:
    # A date, or a date and time with its zone, sent on as given.
    _string(value)
    if _matches(DATE_PATTERN, value):
        try:
            date.fromisoformat(value)
            return value
        except ValueError:
            pass
    elif _datetime_value(value):
        return value
    raise _refuse(
        _(
            "Must be a date (2026-11-27) or a date and time with seconds and a time zone (2026-11-27T09:30:00Z), "
            "in ISO 8601."
        )
    )


_VALIDATORS = {INTEGER: _integer, STRING: _text, DATETIME: _moment, DATE: _day_text}
_PYTHON_TYPES = {INTEGER: int, STRING: str, DATETIME: str, DATE: str}


def _member_field(name: str):
    kind = MEMBER_TYPES[name]
    schema = {**KIND_SCHEMAS[kind], "description": DESCRIPTIONS[name]}
    if name in OPTIONAL_MEMBERS:  # null is the same as leaving it out
        schema = {"anyOf": [KIND_SCHEMAS[kind], {"type": "null"}], "description": DESCRIPTIONS[name]}
        kind_type: Any = _PYTHON_TYPES[kind] | None
        return (Annotated[kind_type, PlainValidator(_VALIDATORS[kind]), WithJsonSchema(schema)], None)
    return (Annotated[_PYTHON_TYPES[kind], PlainValidator(_VALIDATORS[kind]), WithJsonSchema(schema)], ...)


class _EventBase(Schema):
    model_config = ConfigDict(extra="forbid")


EVENT_MODELS = {
    event: create_model(
        EVENT_SCHEMA_NAMES[event],
        __base__=_EventBase,
        __doc__=str(FixedEvent(event).label),
        event=(Literal[event], ...),  # type: ignore[arg-type]
        **{member: _member_field(member) for member in EVENT_MEMBERS[event]},
    )
    for event in FixedEvent.values
}
for _event, _model in EVENT_MODELS.items():
    _model.model_config["json_schema_extra"] = {"title": _event, "example": EXAMPLES[_event]}
    _model.model_rebuild(force=True)

# Built from the models above; mypy sees what the view receives, a list of events.
if TYPE_CHECKING:
    Event: TypeAlias = Any
else:
    Event = Annotated[Union[tuple(EVENT_MODELS.values())], Field(discriminator="event")]  # noqa: UP007
_EVENT: TypeAdapter[Any] = TypeAdapter(Event)


class EventErrors:
    """What is wrong with one event of a request: about the whole, and per member."""

    def __init__(self, index: int):
        self.index = index
        self.errors: list[str] = []
        self.members: dict[str, list[str]] = {}

    def add(self, member: str, message: str) -> None:
        self.members.setdefault(member, []).append(message)

    def __bool__(self):
        return bool(self.errors or self.members)

    def as_json(self) -> dict:
        result: dict = {"index": self.index}
        if self.errors:
            result["errors"] = self.errors
        if self.members:
            result["members"] = self.members
        return result


def _day(value: str) -> date:
    return date.fromisoformat(value[:10])


def _compared(item: dict, errors: EventErrors) -> None:
    """The rules between two members (a JSON Schema cannot state them; the descriptions do), on valid members."""
    old, new = item.get("oldLevelId"), item.get("newLevelId")
    levels_valid = "oldLevelId" in EVENT_MEMBERS[item["event"]] and not {"oldLevelId", "newLevelId"} & set(
        errors.members
    )
    if levels_valid and old is not None and old == new:
        errors.add("newLevelId", _("The new level must differ from the old level."))
    start, end = item.get("startDate"), item.get("endDate")
    days_valid = isinstance(start, str) and isinstance(end, str) and not {"startDate", "endDate"} & set(errors.members)
    if days_valid and _day(str(end)) < _day(str(start)):
        errors.add("endDate", _("The end date is before the start date."))


def _event_errors(index: int, item) -> tuple[Any, EventErrors]:
    errors = EventErrors(index)
    if not isinstance(item, dict):
        errors.errors.append(_("Each event must be a JSON object."))
        return None, errors
    event = item.get("event")
    if event is None:
        errors.add("event", _("This member is required."))
        return None, errors
    if not isinstance(event, str) or event not in EVENT_MODELS:
        errors.add("event", _("Unknown event. Use one of: %(events)s.") % {"events": ", ".join(FixedEvent.values)})
        return None, errors
    try:
        validated = _EVENT.validate_python(item)
    except PydanticValidationError as exc:
        validated = None
        for error in exc.errors(include_url=False):
            member = str(error["loc"][1]) if len(error["loc"]) > 1 else "event"
            if error["type"] == "extra_forbidden":
                message = (
                    _("The hub fills in tenantId; leave it out.")
                    if member == "tenantId"
                    else _("Unknown member for the event %(event)s.") % {"event": event}
                )
            elif error["type"] == "missing":
                message = _("This member is required.")
            else:
                message = error["msg"]
            errors.add(member, message)
    _compared(item, errors)
    return (None if errors else validated), errors


def events_validated(body) -> list:
    """Every event of a body (one object or a list) as its model, or ApiError naming each refused event."""
    if isinstance(body, dict):
        items = [body]
    elif isinstance(body, list):
        items = body
        if not items:
            raise ApiError(400, "empty_list", _("The list of events is empty."))
        if len(items) > MAX_EVENTS:
            raise ApiError(
                400,
                "too_many_events",
                ngettext(
                    "At most %(max)s events per request; this one has %(count)s.",
                    "At most %(max)s events per request; this one has %(count)s.",
                    len(items),
                )
                % {"max": MAX_EVENTS, "count": len(items)},
            )
    else:
        raise ApiError(400, "invalid_body", _("The body must be one event object or a list of event objects."))
    valid, invalid = [], []
    for index, item in enumerate(items):
        event, errors = _event_errors(index, item)
        if errors:
            invalid.append(errors.as_json())
        else:
            valid.append(event)
    if invalid:
        raise ApiError(
            400,
            "invalid_events",
            _("%(invalid)s of %(total)s events are invalid; none was accepted.")
            % {"invalid": len(invalid), "total": len(items)},
            events=invalid,
        )
    return valid


def _checked(value, handler):
    # The whole body at once, so that the answer names every refused event, not pydantic's first branch.
    return events_validated(value)


if TYPE_CHECKING:
    EventsBody: TypeAlias = list[Any]
else:
    EventsBody = Annotated[
        Event | Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)],
        WrapValidator(_checked),
    ]


class Accepted(Schema):
    messageIds: list[int] = Field(description="One message per event, in the order of the request.")


WRITE = ScopedKey(Scope.EVENTS_WRITE)
EVENTS_BODY = Body(..., example=EXAMPLES[FixedEvent.MEMBERSHIP_LEVEL_UP])


@router.post(
    "/events",
    response={202: Accepted, frozenset({400, 401, 403, 413, 415, 422}): Error},
    auth=WRITE,
    operation_id="postEvents",
    url_name="events",
    summary=f"Publish one loyalty event or a list of up to {MAX_EVENTS}",
)
def post_events(request, body: EventsBody = EVENTS_BODY):
    """Report DM Hub's five fixed loyalty events. Each accepted event is pushed to every active webhook
    subscribed to it, with the seed's payload: the members below, in the seed's order, and tenantId, which the
    hub fills in. A list is accepted whole or refused whole; a refused request publishes nothing."""
    events = [(event.event, event.model_dump(exclude={"event"}, exclude_none=True)) for event in body]
    return Status(202, {"messageIds": services.events_accept(events=events)})
