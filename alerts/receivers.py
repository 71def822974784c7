"""The alerts app listens to the webhooks' health (webhooks/signals.py)."""

import logging

from django.dispatch import receiver

from webhooks.signals import webhook_health_changed

from . import services

logger = logging.getLogger(__name__)


@receiver(webhook_health_changed, dispatch_uid="alerts.webhook_health_changed")
def on_webhook_health_changed(sender, *, webhook, kind, incident_id, facts=None, **kwargs):
    # The health change is already committed: a failure here must not undo or break the sender's work.
    try:
        services.alerts_record(webhook=webhook, kind=kind, incident_id=incident_id, facts=facts or {})
    except Exception:
        logger.exception("alerts for webhook %s (%s, incident %s) could not be recorded", webhook.pk, kind, incident_id)
