"""Pausing and resuming a webhook: while paused its deliveries wait (accepted, not failed, not lost)."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from webhookhub.errors import HubError

from . import doorbell
from .models import Webhook


@transaction.atomic
def webhook_pause(*, webhook: Webhook, reason: str = "", user=None) -> Webhook:
    """Hold the webhook's deliveries: due ones wait until it is resumed; what is in flight finishes."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if webhook.is_paused:
        raise HubError(_("This webhook is already paused."))
    webhook.paused_at = timezone.now()
    webhook.pause_reason = reason or (_("Paused by %(user)s.") % {"user": user} if user else _("Paused."))
    webhook.save(update_fields=["paused_at", "pause_reason", "updated_at"])
    return webhook


@transaction.atomic
def webhook_resume(*, webhook: Webhook, user=None) -> Webhook:
    """Send everything that waited, at the webhook's limits, oldest first."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if not webhook.is_paused:
        raise HubError(_("This webhook is not paused."))
    webhook.paused_at = None
    webhook.pause_reason = ""
    webhook.gone_at = None
    webhook.throttled_until = None
    webhook.save(update_fields=["paused_at", "pause_reason", "gone_at", "throttled_until", "updated_at"])
    doorbell.ring_on_commit(doorbell.REALTIME_QUEUE)
    doorbell.ring_on_commit(doorbell.BULK_QUEUE)
    return webhook
