"""Formerly raw SQL that built varchar_pattern_ops indexes on PostgreSQL for prefix search (LIKE 'x%').

Django builds that index itself (…_like) for every CharField with db_index on PostgreSQL, so two of the
three were duplicates: the model now declares the three columns with db_index (0005), and 0005 drops
what this migration once built. Kept, empty, because databases have it recorded and 0004 follows it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_loyalty_coupons")]
    operations = []
