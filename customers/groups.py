"""Who is in a group: add and remove customers, and CSV import of customers into a group."""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from webhookhub.text import validate_text

from .models import Customer, Group, GroupEntry
from .signals import group_joined
from .validators import ATTRIBUTE_KEY_RE, normalize_mobile, validate_mobile

MAX_IMPORT_ROWS = 100_000
MAX_IMPORT_BYTES = 20 * 1024 * 1024
READ_CHUNK = 64 * 1024

# Column headings a marketer may use, in English or Chinese, for the built-in fields.
COLUMNS = {
    "name": "name",
    "姓名": "name",
    "名字": "name",
    "mobile": "mobile",
    "手机": "mobile",
    "手机号": "mobile",
    "手机号码": "mobile",
    "wechat_nickname": "wechat_nickname",
    "wechat nickname": "wechat_nickname",
    "微信昵称": "wechat_nickname",
    "email": "email",
    "邮箱": "email",
    "电子邮箱": "email",
}


@transaction.atomic
def group_customers_add(*, group: Group, customers: Iterable[Customer]) -> int:
    """Add customers to a group; those already in it stay as they are. Returns how many joined.

    The customers who joined are announced (`signals.group_joined`) once the transaction commits.
    """
    ids = list(dict.fromkeys(c.pk for c in customers))
    joined = []
    for start in range(0, len(ids), 900):  # SQLite allows 999 parameters a query
        chunk = ids[start : start + 900]
        present = set(
            GroupEntry.objects.filter(group=group, customer_id__in=chunk).values_list("customer_id", flat=True)
        )
        new = [pk for pk in chunk if pk not in present]
        GroupEntry.objects.bulk_create([GroupEntry(group=group, customer_id=pk) for pk in new])
        joined.extend(new)
    if joined:
        # robust: a listener that fails is logged and cannot undo, or hide, joins already committed.
        transaction.on_commit(
            lambda: group_joined.send(sender=GroupEntry, group_id=group.pk, customer_ids=joined), robust=True
        )
    return len(joined)


@transaction.atomic
def group_customers_remove(*, group: Group, customers: Iterable[Customer]) -> int:
    ids = [c.pk for c in customers]
    deleted = 0
    for start in range(0, len(ids), 900):
        deleted += GroupEntry.objects.filter(group=group, customer_id__in=ids[start : start + 900]).delete()[0]
    return deleted


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    joined: int = 0
    errors: list = field(default_factory=list)  # (row number, message)

    @property
    def ok(self) -> bool:
        return not self.errors


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(_("The file is not UTF-8 or GB18030 text; save it as CSV UTF-8."))


def read_limited(source, limit: int) -> bytes | None:
    """The bytes of `source` (bytes, an upload or a file), or None as soon as there are more than `limit`.

    An upload's size is known before reading it; a file is read in chunks and never past the limit.
    """
    if isinstance(source, bytes | bytearray):
        return bytes(source) if len(source) <= limit else None
    size = getattr(source, "size", None)
    if size is not None and size > limit:
        return None
    chunks = source.chunks(READ_CHUNK) if hasattr(source, "chunks") else iter(lambda: source.read(READ_CHUNK), b"")
    kept, total = [], 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            return None
        kept.append(chunk)
    return b"".join(kept)


def group_import_csv(*, group: Group, data) -> ImportResult:
    """Import customers from CSV into a group: all rows or none.

    Every row is checked first; one bad row refuses the whole file with a report per row, so a
    marketer fixes the file and imports again without cleaning up half an import. A customer whose
    mobile already exists is updated (non-empty cells win; custom attributes merged) and joins.
    """
    result = ImportResult()
    data = read_limited(data, MAX_IMPORT_BYTES)
    if data is None:
        result.errors.append((0, _("The file is larger than 20 MB.")))
        return result
    try:
        text = _decode(data)
    except ValidationError as exc:
        result.errors.append((0, exc.messages[0]))
        return result
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        result.errors.append((0, _("The file is empty.")))
        return result
    columns = []
    for heading in header:
        try:
            validate_text(heading, label=_("Header"))
        except ValidationError as exc:
            result.errors.append((1, exc.messages[0]))
            continue
        key = heading.strip()
        builtin = COLUMNS.get(key.lower()) or COLUMNS.get(key)
        if builtin:
            columns.append(("field", builtin))
        elif ATTRIBUTE_KEY_RE.match(key):
            columns.append(("attribute", key))
        else:
            result.errors.append(
                (
                    1,
                    _("Column “%(heading)s” is neither a known field nor a valid attribute key.")
                    % {"heading": heading},
                )
            )
    if "name" not in {name for kind, name in columns if kind == "field"}:
        result.errors.append((1, _("The file needs a name column (name or 姓名).")))
    if result.errors:
        return result

    rows: list[tuple[dict, dict]] = []
    seen_mobiles: dict[str, int] = {}
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            result.errors.append((number, _("More than %(max)s rows; split the file.") % {"max": MAX_IMPORT_ROWS}))
            break
        if len(cells) > len(columns):
            result.errors.append((number, _("This row has more cells than the header.")))
            continue
        values, attributes, problems = {}, {}, []
        for (kind, name), cell in zip(columns, cells, strict=False):
            cell = cell.strip()
            if kind == "attribute":
                if cell:
                    attributes[name] = cell
            else:
                values[name] = cell
        values["mobile"] = normalize_mobile(values.get("mobile", ""))
        for field_name, limit in (("name", 128), ("wechat_nickname", 128), ("email", 254)):
            if len(values.get(field_name, "")) > limit:
                problems.append(_("%(field)s is longer than %(max)s characters") % {"field": field_name, "max": limit})
        for heading, cell in zip(header, cells, strict=False):
            try:
                validate_text(cell, label=heading.strip())
            except ValidationError as exc:
                problems.append(exc.messages[0])
        if not values.get("name"):
            problems.append(_("name is empty"))
        try:
            validate_mobile(values["mobile"])
        except ValidationError as exc:
            problems.append(exc.messages[0])
        if values.get("email"):
            try:
                validate_email(values["email"])
            except ValidationError:
                problems.append(_("“%(email)s” is not a valid email address") % {"email": values["email"]})
        if values["mobile"]:
            if values["mobile"] in seen_mobiles:
                problems.append(
                    _("mobile %(mobile)s also on row %(row)s")
                    % {"mobile": values["mobile"], "row": seen_mobiles[values["mobile"]]}
                )
            seen_mobiles.setdefault(values["mobile"], number)
        if problems:
            result.errors.append((number, "; ".join(problems)))
        rows.append((values, attributes))
    if result.errors:
        return result
    if not rows:
        result.errors.append((0, _("The file has no customer rows.")))
        return result
    _import_rows(group, rows, result)
    return result


@transaction.atomic
def _import_rows(group: Group, rows: list[tuple[dict[str, str], dict[str, Any]]], result: ImportResult) -> None:
    mobiles = [values["mobile"] for values, _attrs in rows if values["mobile"]]
    existing = {}
    for start in range(0, len(mobiles), 900):
        existing.update({c.mobile: c for c in Customer.objects.filter(mobile__in=mobiles[start : start + 900])})
    created, updated = [], []
    for values, attributes in rows:
        customer = existing.get(values["mobile"]) if values["mobile"] else None
        if customer is None:
            created.append(
                Customer(
                    name=values["name"],
                    mobile=values["mobile"],
                    wechat_nickname=values.get("wechat_nickname", ""),
                    email=values.get("email", ""),
                    attributes=attributes,
                )
            )
            continue
        for name in ("name", "wechat_nickname", "email"):
            if values.get(name):
                setattr(customer, name, values[name])
        customer.attributes = {**(customer.attributes or {}), **attributes}
        updated.append(customer)
    Customer.objects.bulk_create(created, batch_size=1000)  # SQLite and PostgreSQL return the new ids
    Customer.objects.bulk_update(updated, ["name", "wechat_nickname", "email", "attributes"], batch_size=1000)
    result.created, result.updated = len(created), len(updated)
    result.joined = group_customers_add(group=group, customers=created + updated)
