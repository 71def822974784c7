from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ('alerts', '0003_enterprise_certificate_alert'),
    ]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="sending_since",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="alert",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("unconfirmed", "Sent, unconfirmed"),
                ],
                default="pending",
                max_length=16,
                verbose_name="status",
            ),
        ),
    ]
