"""PostgreSQL only: prefix search (LIKE 'x%') on name, nickname and mobile uses a b-tree index only with
*_pattern_ops under a non-C collation. SQLite's plain indexes already serve the range lookups the picker uses."""

from django.db import migrations

COLUMNS = ("name", "wechat_nickname", "mobile")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS customer_{column}_prefix_idx "
            f"ON customers_customer ({column} varchar_pattern_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS customer_{column}_prefix_idx")


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_loyalty_coupons")]
    operations = [migrations.RunPython(create, drop)]
