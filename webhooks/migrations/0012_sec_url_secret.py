"""Credentials inside a webhook's URL become secrets: the full URL moves to url_secret (encrypted), `url`
keeps it masked, and the URLs already recorded on attempts are masked. A name is one line of text."""

from django.db import migrations, models
from django.db.models import Q

import webhookhub.text
import webhooks.secrets
from webhooks.engine.redact import masked_url
from webhooks.secrets import Secret

BATCH = 2000


def forwards(apps, schema_editor):
    Webhook = apps.get_model("webhooks", "Webhook")
    for webhook in Webhook.objects.all().only("pk", "url"):
        shown = masked_url(webhook.url)
        if shown != webhook.url:
            Webhook.objects.filter(pk=webhook.pk).update(url=shown, url_secret=Secret(webhook.url))
    Attempt = apps.get_model("webhooks", "Attempt")
    # Only the URLs that may carry a credential: a userinfo or a query.
    candidates = Attempt.objects.filter(Q(url__contains="@") | Q(url__contains="=")).only("pk", "url")
    changed = []
    for attempt in candidates.iterator(chunk_size=BATCH):
        shown = masked_url(attempt.url)
        if shown != attempt.url:
            attempt.url = shown
            changed.append(attempt)
        if len(changed) >= BATCH:
            Attempt.objects.bulk_update(changed, ["url"])
            changed = []
    Attempt.objects.bulk_update(changed, ["url"])


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0011_health_retry_policy_incidents")]

    operations = [
        migrations.AddField(
            model_name="webhook",
            name="url_secret",
            field=webhooks.secrets.EncryptedTextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="webhook",
            name="name",
            field=models.CharField(max_length=128, validators=[webhookhub.text.validate_one_line], verbose_name="name"),
        ),
    ]
