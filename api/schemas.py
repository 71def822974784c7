"""Shapes shared by the management API's operations: pages, errors, the responses every operation may give."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from django.utils.translation import gettext as _
from ninja import Path, Query
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, ConfigDict, Strict

from .errors import Error

INT64_MAX = 2**63 - 1
# Text from a query or a path: no NUL (PostgreSQL refuses it in a parameter).
TEXT = r"^[^\x00]*$"
# Text with something besides spaces (forms strip them, Python's way, and then find nothing).
FILLED = r"[^\s\x1c-\x1f\x85]"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")


def _iso(value):
    # Not a number of seconds, which pydantic would take as a time: the date and time as written.
    if isinstance(value, str) and _ISO.match(value):
        return value
    if isinstance(value, datetime):
        return value
    raise ValueError(_("Must be a date and time in ISO 8601 with a time zone, e.g. 2026-11-27T09:30:00Z."))


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(_("This date is out of range.")) from None


# The date and time as written, in a body too (where the other values are strict).
Moment = Annotated[AwareDatetime, Strict(False), BeforeValidator(_iso), AfterValidator(_utc)]

# A request body: no unknown field, and JSON's types as the document states them (false is not 0, "1" not 1).
BODY = ConfigDict(extra="forbid", strict=True)


def pk_path(description: str = ""):
    return Path(ge=1, le=INT64_MAX, description=description or None)


def id_query(description: str = ""):
    return Query(None, ge=1, le=INT64_MAX, description=description or None)


def text_query(max_length: int, description: str = ""):
    return Query(None, max_length=max_length, pattern=TEXT, description=description or None)


def responses(ok: dict[int, Any], *, post: bool = False, refused: bool = False) -> dict:
    """The documented answers of one operation: its successes and every error it can give.

    404 on every operation: an id in the path or the body that names nothing, or a cursor the API did not give.
    413 and 415: a body too large or not JSON (an operation without a body ignores one, as HTTP allows).
    """
    codes = {400, 401, 403, 404, 413, 415}
    if refused:
        codes.add(409)
    if post:
        codes.add(422)
    return {**ok, frozenset(codes): Error}
