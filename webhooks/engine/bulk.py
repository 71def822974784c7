"""Writing many rows at once: COPY on PostgreSQL, bulk_create elsewhere.

A 100,000-recipient send writes 100,000 deliveries and 100,000 attempts. Django's bulk_create on
PostgreSQL binds every column as an array, and escaping those arrays costs more than the HTTP
request of the row; COPY streams the rows instead.
"""

from django.db import connections, router

_AUTO = ("AutoField", "BigAutoField", "SmallAutoField")
# Columns whose Python value psycopg writes as it is (after str() for text, which turns a TextChoices
# member into its value); every other field goes through Django's own preparation.
_PLAIN = {
    "CharField": str,
    "TextField": str,
    "IntegerField": None,
    "PositiveIntegerField": None,
    "BigIntegerField": None,
    "BooleanField": None,
    "ForeignKey": None,
    "DateTimeField": None,
    "FloatField": None,
}


def _converter(field, connection):
    kind = field.get_internal_type()
    auto_date = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    if auto_date or kind not in _PLAIN or (field.choices and _PLAIN[kind] is not str):
        return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), connection)
    attname = field.attname
    if _PLAIN[kind] is str:
        return lambda obj: None if (value := getattr(obj, attname)) is None else str(value)
    return lambda obj: getattr(obj, attname)


def rows_insert(model, objs: list, *, using: str | None = None) -> None:
    """Insert unsaved model instances. Primary keys they carry are kept; auto ids are not read back."""
    if not objs:
        return
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        model.objects.using(alias).bulk_create(objs, batch_size=1000)
        return
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.get_internal_type() in _AUTO)]
    converters = [_converter(field, connection) for field in fields]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for obj in objs:
            copy.write_row([convert(obj) for convert in converters])
