"""Writing many rows at once: COPY on PostgreSQL, bulk_create elsewhere.

A 100,000-recipient send writes 100,000 deliveries and 100,000 attempts. Django's bulk_create on
PostgreSQL binds every column as an array, and escaping those arrays costs more than the HTTP
request of the row; COPY streams the rows instead.

Rows are model instances or plain dicts of field attnames. The engine's hot paths (the fan-out, the
wave's attempts) pass dicts: building a model instance costs more than rendering the row's body
(py-spy of a 60,000 send: `Model.__init__` 8 % of a worker's CPU, the template 2 %).
"""

from collections.abc import Mapping

from django.db import connections, router
from django.utils import timezone

_AUTO = ("AutoField", "BigAutoField", "SmallAutoField")
# Columns whose Python value psycopg writes as it is (after str() for text, which turns a TextChoices
# member into its value); every other field goes through Django's own preparation.
_PLAIN = {
    "CharField": str,
    "TextField": str,
    "IntegerField": None,
    "PositiveIntegerField": None,
    "PositiveSmallIntegerField": None,
    "PositiveBigIntegerField": None,
    "BigIntegerField": None,
    "BooleanField": None,
    "ForeignKey": None,
    "DateTimeField": None,
    "FloatField": None,
}
_MISSING = object()


def _auto_date(field) -> bool:
    return getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)


def _plain(field):
    """How a field's Python value becomes what COPY writes: str(), as it is, or Django's preparation."""
    kind = field.get_internal_type()
    if kind not in _PLAIN or (field.choices and _PLAIN[kind] is not str):
        return None
    if _PLAIN[kind] is str:
        return lambda value: None if value is None else str(value)
    return lambda value: value


def _converter(field, connection):
    """The column's value of a model instance, as Django's save() would write it."""
    plain = _plain(field)
    if _auto_date(field) or plain is None:
        return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), connection)
    attname = field.attname
    return lambda obj: plain(getattr(obj, attname))


def _row_converter(field, connection, now):
    """The column's value of a dict row: its value if given, else the field's default; auto dates are
    stamped now, as save() does."""
    attname = field.attname
    plain = _plain(field) or (lambda value: field.get_db_prep_save(value, connection))
    if _auto_date(field):
        stamp = plain(now)
        return lambda row: stamp
    if field.has_default() and callable(field.default):
        return lambda row: plain(row[attname] if attname in row else field.default())
    default = plain(field.get_default())

    def convert(row):
        value = row.get(attname, _MISSING)
        return default if value is _MISSING else plain(value)

    return convert


def rows_insert(model, rows: list, *, using: str | None = None) -> None:
    """Insert unsaved model instances, or dicts of attnames (missing fields get their defaults).

    Primary keys they carry are kept; auto ids are not read back.
    """
    if not rows:
        return
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    as_dicts = isinstance(rows[0], Mapping)
    if connection.vendor != "postgresql":
        objs = [model(**row) for row in rows] if as_dicts else rows
        model.objects.using(alias).bulk_create(objs, batch_size=1000)
        return
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.get_internal_type() in _AUTO)]
    now = timezone.now()
    converters = [_row_converter(f, connection, now) if as_dicts else _converter(f, connection) for f in fields]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([convert(row) for convert in converters])
