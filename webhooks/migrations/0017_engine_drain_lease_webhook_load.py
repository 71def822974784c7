import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ('webhooks', '0016_ops_worker_heartbeat'),
    ]

    operations = [
        migrations.CreateModel(
            name="DrainLease",
            fields=[
                ("token", models.CharField(max_length=32, primary_key=True, serialize=False)),
                ("heartbeat_at", models.DateTimeField()),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("host", models.CharField(blank=True, max_length=255)),
                ("pid", models.PositiveIntegerField(default=0)),
            ],
            options={
                "verbose_name": "running drain",
                "verbose_name_plural": "running drains",
            },
        ),
        migrations.CreateModel(
            name="WebhookLoad",
            fields=[
                (
                    "webhook",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="webhooks.webhook",
                    ),
                ),
                ("in_flight", models.IntegerField(default=0)),
            ],
            options={
                "verbose_name": "webhook load",
                "verbose_name_plural": "webhook loads",
            },
        ),
    ]
