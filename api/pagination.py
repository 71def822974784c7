"""Cursor pagination: a page of rows after the last one seen, by an index, never an OFFSET.

The cursor is opaque to the caller (base64 of the last row's sort values); a page stays correct while
rows are added, and reading page 1,000 of 100,000 deliveries costs what page 1 costs.
"""

import base64
import binascii
import json

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from .errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str, size: int) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size or not all(isinstance(v, str | int) for v in values):
        raise ApiError(404, "invalid_cursor", _("This cursor is not one the API gave; start again without it."))
    return values


def page(queryset, *, cursor: str | None, limit: int, order: tuple[str, ...] = ("-pk",), serialize) -> dict:
    """One page of `queryset` in `order` (every field descending, the last one unique), serialized.

    Returns {"items": [...], "next_cursor": str | None}.
    """
    fields = [name.lstrip("-") for name in order]
    if cursor:
        values = _decode(cursor, len(fields))
        if "created_at" in fields:
            index = fields.index("created_at")
            moment = parse_datetime(str(values[index]))
            if moment is None:
                raise ApiError(404, "invalid_cursor", _("This cursor is not one the API gave; start again without it."))
            values[index] = moment
        # (a, b) < (x, y) for descending keys, written out: a < x, or a = x and b < y.
        condition = Q()
        for position, name in enumerate(fields):
            step = Q(**{f"{name}__lt": values[position]})
            for earlier in range(position):
                step &= Q(**{fields[earlier]: values[earlier]})
            condition |= step
        queryset = queryset.filter(condition)
    rows = list(queryset.order_by(*order)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = _encode(
            [getattr(last, name).isoformat() if name == "created_at" else getattr(last, name) for name in fields]
        )
    return {"items": [serialize(row) for row in rows], "next_cursor": next_cursor}
