"""A webhook's health: its counters, hourly buckets and incidents (written by webhooks/health/services.py).

Kept apart from the Webhook row: the counters change with every recorded wave, and the webhook row
is what the claim locks for its count-then-claim; one row per webhook here takes that write away
from it.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class WebhookHealth(models.Model):
    """The running counters of one webhook, updated once per recorded wave."""

    webhook = models.OneToOneField(
        "webhooks.Webhook", on_delete=models.CASCADE, primary_key=True, related_name="health", verbose_name=_("webhook")
    )
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    # The first failed attempt of the current run of failures; None while the last attempt succeeded.
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_status_code = models.PositiveIntegerField(_("last response status"), null=True, blank=True)
    # The open incident, if any: set and cleared only under this row's lock.
    incident = models.ForeignKey(
        "webhooks.WebhookIncident", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("webhook health")
        verbose_name_plural = _("webhook health")

    def __str__(self):
        return f"{self.webhook_id}: {self.consecutive_failures}"


class WebhookHealthHour(models.Model):
    """Attempts of one webhook in one hour (UTC), by result: the success rates read a day of these."""

    webhook = models.ForeignKey("webhooks.Webhook", on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField()
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["webhook", "hour"], name="webhook_health_hour_once")]

    def __str__(self):
        return f"{self.webhook_id} {self.hour:%Y-%m-%d %H}: {self.succeeded}/{self.failed}"


class WebhookIncident(models.Model):
    """From the first failure of a run that reached the alert threshold (or a pause) to the recovery.

    Each kind of announcement (failing, paused, recovered) is sent at most once per incident: its
    time is set by a conditional UPDATE (… WHERE <kind>_announced_at IS NULL) in the transaction
    that sends it on commit, so two workers can never both announce it.
    """

    class PauseCause(models.TextChoices):
        POLICY = "policy", _("the auto-pause policy")
        GONE = "gone", _("410 Gone")
        PERSON = "person", _("a person")

    webhook = models.ForeignKey(
        "webhooks.Webhook", on_delete=models.CASCADE, related_name="incidents", verbose_name=_("webhook")
    )
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_status_code = models.PositiveIntegerField(_("last response status"), null=True, blank=True)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    pause_cause = models.CharField(_("paused by"), max_length=16, choices=PauseCause.choices, blank=True)
    pause_reason = models.CharField(_("pause reason"), max_length=500, blank=True)
    paused_by = models.CharField(_("paused by"), max_length=255, blank=True)
    resumed_at = models.DateTimeField(_("resumed at"), null=True, blank=True)
    resumed_by = models.CharField(_("resumed by"), max_length=255, blank=True)
    failing_announced_at = models.DateTimeField(null=True, blank=True)
    paused_announced_at = models.DateTimeField(null=True, blank=True)
    recovered_announced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        indexes = [models.Index(fields=["webhook", "-started_at"], name="webhook_incident_recent_idx")]

    def __str__(self):
        return f"{self.webhook_id} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def announced_kinds(self) -> list[str]:
        return [
            kind for kind in ("failing", "paused", "recovered") if getattr(self, f"{kind}_announced_at") is not None
        ]


class WorkerHeartbeat(models.Model):
    """One hub worker's sign of life, written by the worker itself (worker.py) at each rq heartbeat.

    Kept in the database, the one store of truth: /healthz and /metrics count the workers from these
    rows, so an emptied or restarted Redis does not make running workers look dead, and a worker on
    another machine counts as soon as it writes.
    """

    class State(models.TextChoices):
        IDLE = "idle", _("idle")
        BUSY = "busy", _("busy")

    name = models.CharField(_("name"), max_length=200, primary_key=True)
    host = models.CharField(_("host"), max_length=200)
    pid = models.PositiveIntegerField(_("process id"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.IDLE)
    started_at = models.DateTimeField(_("started"))
    seen_at = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self):
        return f"{self.name} ({self.state})"
