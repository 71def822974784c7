"""Prefix search indexes declared by the model: mobile gets db_index like name and nickname, which on
PostgreSQL builds the plain b-tree index and the varchar_pattern_ops one (…_like) that LIKE 'x%' needs.

On PostgreSQL, the indexes 0003 once built with raw SQL go: the name and nickname ones duplicated
Django's own …_like indexes, and the mobile one is replaced by the one db_index builds."""

import customers.validators
from django.db import migrations, models

RAW_SQL_INDEXES = ("customer_name_prefix_idx", "customer_wechat_nickname_prefix_idx", "customer_mobile_prefix_idx")


def drop_raw_sql_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in RAW_SQL_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [("customers", "0004_group_entry")]

    operations = [
        migrations.RunPython(drop_raw_sql_indexes, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="customer", name="customer_mobile_idx"),
        migrations.AlterField(
            model_name="customer",
            name="mobile",
            field=models.CharField(
                blank=True,
                db_index=True,
                max_length=20,
                validators=[customers.validators.validate_mobile],
                verbose_name="mobile",
            ),
        ),
    ]
