"""Shapes shared by the management API's operations: pages, errors, the responses every operation may give."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from django.utils.translation import gettext as _
from ninja import Path, Query, Schema
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

INT64_MAX = 2**63 - 1
# Text from a query or a path: no NUL (PostgreSQL refuses it in a parameter).
TEXT = r"^[^\x00]*$"
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


Moment = Annotated[AwareDatetime, BeforeValidator(_iso), AfterValidator(_utc)]


def pk_path(description: str = ""):
    return Path(ge=1, le=INT64_MAX, description=description or None)


def id_query(description: str = ""):
    return Query(None, ge=1, le=INT64_MAX, description=description or None)


def text_query(max_length: int, description: str = ""):
    return Query(None, max_length=max_length, pattern=TEXT, description=description or None)


class ErrorBody(Schema):
    code: str = Field(description="Stable, for programs: e.g. invalid_fields, not_found, missing_scope, refused.")
    message: str = Field(description="For people, in the request's Accept-Language (en or zh-hans).")
    fields: dict[str, list[str]] | None = Field(None, description="With invalid_fields: messages per field.")
    scope: str | None = Field(None, description="With missing_scope: the scope the key lacks.")


class Error(Schema):
    error: ErrorBody


def responses(ok: dict[int, Any], *, found: bool = True, post: bool = False, refused: bool = False) -> dict:
    """The documented answers of one operation: its successes and every error it can give."""
    codes = {400, 401, 403}
    if found:
        codes.add(404)
    if refused:
        codes.add(409)
    if post:
        codes.add(422)
    return {**ok, frozenset(codes): Error}
