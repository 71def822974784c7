"""The engine's own books: a lease row per running drain (its heartbeat) and each webhook's in-flight number."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from webhooks.models.webhook import Webhook


class DrainLease(models.Model):
    """A running drain, alive while its heartbeat is fresh: the deliveries it claimed are not taken back.

    One narrow row per drain, renewed every second from a thread and connection of its own
    (webhooks/engine/drain.py), so a record waiting on a locked delivery table does not stop it. A take-back
    deletes the row of a dead drain (`FOR UPDATE SKIP LOCKED`): one take-back per dead drain.
    """

    token = models.CharField(max_length=32, primary_key=True)
    heartbeat_at = models.DateTimeField()
    started_at = models.DateTimeField(default=timezone.now)
    # Which process runs it (an rq work horse), for an operator and the crash proofs.
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("running drain")
        verbose_name_plural = _("running drains")

    def __str__(self):
        return self.token


class WebhookLoad(models.Model):
    """How many of a webhook's deliveries are in flight, kept as a number (its concurrency cap's count).

    The claim adds what it claims and the record (or a take-back) takes away what it moves out of
    `sending`, both under row locks; counting `sending` rows instead reads one row version per delivery
    sent since the oldest open snapshot (docs/engine.md). A row of its own, two columns wide, so the
    versions its updates leave stay few pages, apart from the wide webhook row.
    """

    webhook = models.OneToOneField(Webhook, on_delete=models.CASCADE, primary_key=True, related_name="+")
    in_flight = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("webhook load")
        verbose_name_plural = _("webhook loads")

    def __str__(self):
        return f"{self.webhook_id}: {self.in_flight}"
