"""Checking the events a caller posts, member by member, before anything is written.

Each event is the seed's payload (docs/contract.md section 5) without `tenantId`, which the hub fills
in. The member lists come from webhooks.content.events, so the API accepts exactly what the hub sends.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from webhookhub.text import validate_text
from webhooks.content.events import FIXED_EVENT_MEMBERS, FixedEvent

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


# --- The rules, once: api/openapi.py publishes them as the schema, _check_member applies them ------------


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
_PATTERNS = {pattern: re.compile(pattern) for pattern in (TEXT_PATTERN, DATE_PATTERN, DATETIME_PATTERN)}


def member_schema(name: str) -> dict:
    """The JSON Schema (OpenAPI 3.0) of one member: what _check_member accepts."""
    schema = dict(KIND_SCHEMAS[MEMBER_TYPES[name]])
    if name in OPTIONAL_MEMBERS:
        schema["nullable"] = True  # null is the same as leaving it out
    return schema


def _matches(pattern: str, value: str) -> bool:
    return _PATTERNS[pattern].search(value) is not None


class BodyError(Exception):
    """The body as a whole cannot be read as events (not JSON, wrong shape, too many)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class EventErrors:
    index: int
    errors: list[str] = field(default_factory=list)
    members: dict[str, list[str]] = field(default_factory=dict)

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


@dataclass
class ValidEvent:
    event: str
    data: dict


def _reject_constant(name):
    raise ValueError(_("%(name)s is not a JSON number.") % {"name": name})


def _pairs_without_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(_("The member “%(member)s” appears twice in one object.") % {"member": key})
        result[key] = value
    return result


def parse_body(raw: bytes):
    """The JSON text of a request body, or BodyError; never any other exception."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("malformed_json", _("The body is not UTF-8 text.")) from None
    try:
        return json.loads(text, object_pairs_hook=_pairs_without_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BodyError(
            "malformed_json",
            _("The body is not valid JSON: %(reason)s (line %(line)s, column %(column)s).")
            % {"reason": exc.msg, "line": exc.lineno, "column": exc.colno},
        ) from None
    except ValueError as exc:  # duplicate members, NaN, integers of thousands of digits
        raise BodyError("malformed_json", _("The body is not valid JSON: %(reason)s") % {"reason": exc}) from None
    except RecursionError:
        raise BodyError("malformed_json", _("The body is nested too deeply.")) from None


def _datetime_value(value: str):
    """A date-time with its zone, or None when the text is not one."""
    if not _matches(DATETIME_PATTERN, value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _check_member(name: str, value, errors: EventErrors):
    """The value to publish for one member, or None after recording why it is refused."""
    kind = MEMBER_TYPES[name]
    rules = KIND_SCHEMAS[kind]
    if kind == INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.add(name, _("Must be an integer."))
            return None
        if not rules["minimum"] <= value <= rules["maximum"]:
            errors.add(
                name, _("Must be between %(min)s and %(max)s.") % {"min": rules["minimum"], "max": rules["maximum"]}
            )
            return None
        return value
    if not isinstance(value, str):
        errors.add(name, _("Must be a string."))
        return None
    if len(value) > rules["maxLength"]:
        errors.add(name, _("At most %(max)s characters.") % {"max": rules["maxLength"]})
        return None
    try:
        validate_text(value)  # NUL (PostgreSQL refuses it) or a lone surrogate escaped in the JSON (\ud800)
    except ValidationError as exc:
        errors.add(name, exc.messages[0])
        return None
    if kind == STRING:
        if not _matches(rules["pattern"], value):
            errors.add(name, _("Must not be empty."))
            return None
        return value
    if kind == DATETIME:
        moment = _datetime_value(value)
        if moment is None:
            errors.add(
                name,
                _(
                    "Must be a date and time in RFC 3339 (ISO 8601) with seconds and a time zone, "
                    "e.g. 2026-11-27T09:30:00Z."
                ),
            )
            return None
        try:
            # The seed's form: UTC, to the second.
            return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
        except (OverflowError, ValueError):
            errors.add(name, _("This date is out of range."))
            return None
    # DATE: a date, or a date and time with its zone, sent on as given.
    if _matches(DATE_PATTERN, value):
        try:
            date.fromisoformat(value)
            return value
        except ValueError:
            pass
    elif _datetime_value(value):
        return value
    errors.add(
        name,
        _(
            "Must be a date (2026-11-27) or a date and time with seconds and a time zone (2026-11-27T09:30:00Z), "
            "in ISO 8601."
        ),
    )
    return None


def _day(value: str) -> date:
    return date.fromisoformat(value[:10])


def validate_event(index: int, item) -> tuple[ValidEvent | None, EventErrors]:
    errors = EventErrors(index)
    if not isinstance(item, dict):
        errors.errors.append(_("Each event must be a JSON object."))
        return None, errors
    event = item.get("event")
    if event is None:
        errors.add("event", _("This member is required."))
        return None, errors
    if not isinstance(event, str) or event not in EVENT_MEMBERS:
        errors.add(
            "event",
            _("Unknown event. Use one of: %(events)s.") % {"events": ", ".join(FixedEvent.values)},
        )
        return None, errors
    allowed = EVENT_MEMBERS[event]
    for name in item:
        if name == "event" or name in allowed:
            continue
        if name == "tenantId":
            errors.add(name, _("The hub fills in tenantId; leave it out."))
        else:
            errors.add(name, _("Unknown member for the event %(event)s.") % {"event": event})
    data = {}
    for name in allowed:
        if name not in item or item[name] is None:
            if name not in OPTIONAL_MEMBERS:
                errors.add(name, _("This member is required."))
            continue
        value = _check_member(name, item[name], errors)
        if value is not None:
            data[name] = value
    if "oldLevelId" in data and data.get("newLevelId") == data["oldLevelId"]:
        errors.add("newLevelId", _("The new level must differ from the old level."))
    if "startDate" in data and "endDate" in data and _day(data["endDate"]) < _day(data["startDate"]):
        errors.add("endDate", _("The end date is before the start date."))
    if errors:
        return None, errors
    return ValidEvent(event, data), errors


def validate_events(body) -> tuple[list[ValidEvent], list[EventErrors]]:
    """Every event of a body (one object or a list), and the errors of those refused."""
    if isinstance(body, dict):
        items = [body]
    elif isinstance(body, list):
        items = body
        if not items:
            raise BodyError("empty_list", _("The list of events is empty."))
        if len(items) > MAX_EVENTS:
            raise BodyError(
                "too_many_events",
                ngettext(
                    "At most %(max)s events per request; this one has %(count)s.",
                    "At most %(max)s events per request; this one has %(count)s.",
                    len(items),
                )
                % {"max": MAX_EVENTS, "count": len(items)},
            )
    else:
        raise BodyError("invalid_body", _("The body must be one event object or a list of event objects."))
    valid: list[ValidEvent] = []
    invalid: list[EventErrors] = []
    for index, item in enumerate(items):
        event, errors = validate_event(index, item)
        if event is None:  # None exactly when there are errors
            invalid.append(errors)
        else:
            valid.append(event)
    return valid, invalid
