"""A webhook's health: its counters, hourly buckets and incidents (written by webhooks/health/services.py).

Kept apart from the Webhook row: the counters change with every recorded wave, and the webhook row
is what the claim locks for its count-then-claim; one row per webhook here takes that write away
from it.
"""

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from webhookhub.zones import zone_offset


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
    # Why the last attempt failed, as failures.py's code and parameters: worded in the reader's language.
    last_error_code = models.CharField(_("last error code"), max_length=32, blank=True, default="")
    last_error_params = models.JSONField(_("last error parameters"), default=dict, blank=True)
    # The open incident, if any: set and cleared only under this row's lock.
    incident = models.ForeignKey(
        "webhooks.WebhookIncident", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("webhook health")
        verbose_name_plural = _("webhook health")

    def __str__(self):
        return f"{self.webhook_id}: {self.consecutive_failures}"

    @property
    def last_error_text(self) -> str:
        """The last error in the reader's language (failures.py); the stored text for older rows."""
        from webhooks.content.failures import failure_text

        return (failure_text(self.last_error_code, self.last_error_params) if self.last_error_code else "") or (
            self.last_error
        )


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
    last_error_code = models.CharField(_("last error code"), max_length=32, blank=True, default="")
    last_error_params = models.JSONField(_("last error parameters"), default=dict, blank=True)
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
    def pause_text(self) -> str:
        """Why it was paused, worded in the reader's language (pause_words)."""
        return incident_pause_words(self) if self.paused_at else ""

    @property
    def last_error_text(self) -> str:
        """The last error in the reader's language (failures.py); the stored text for older rows."""
        from webhooks.content.failures import failure_text

        return (failure_text(self.last_error_code, self.last_error_params) if self.last_error_code else "") or (
            self.last_error
        )

    @property
    def announced_kinds(self) -> list[str]:
        return [
            kind for kind in ("failing", "paused", "recovered") if getattr(self, f"{kind}_announced_at") is not None
        ]


def pause_words(data: dict) -> str:
    """Why a webhook was paused, in the reader's language and time zone.

    Stored as a cause code and its facts (failures, since, by), never as a sentence: the worker that
    pauses a webhook speaks the installation's language, the reader may not. A person's own reason
    (and a sentence stored before the codes) is their words and is shown as written.
    """
    cause = data.get("cause", "")
    reason = data.get("reason", "")
    by = data.get("by", "")
    since = data.get("since")
    if isinstance(since, str):
        since = parse_datetime(since)
    if cause == WebhookIncident.PauseCause.POLICY and data.get("failures") and since:
        text = gettext("Paused automatically: %(failures)s failed attempts in a row, failing since %(since)s.") % {
            "failures": data["failures"],
            "since": f"{timezone.localtime(since):%Y-%m-%d %H:%M:%S} {zone_offset()}",
        }
    elif cause == WebhookIncident.PauseCause.POLICY:
        text = gettext("Paused by the auto-pause policy.")
    elif cause == WebhookIncident.PauseCause.GONE:
        text = gettext("Paused: the receiver answered 410 Gone.")
    elif "released" in data:
        text = released_words(data["released"])
    elif cause == WebhookIncident.PauseCause.PERSON and not reason:
        text = gettext("Paused by %(user)s.") % {"user": by} if by else gettext("Paused.")
    else:
        text = ""
    return " ".join(part for part in (text, reason) if part)


def incident_pause_words(incident: WebhookIncident) -> str:
    return pause_words(
        {
            "cause": incident.pause_cause,
            "reason": incident.pause_reason,
            "by": incident.paused_by,
            "failures": incident.consecutive_failures,
            "since": incident.started_at,
        }
    )


def released_words(released: int) -> str:
    """What a resume released, in the reader's language (the webhook's history, the resume message)."""
    return ngettext(
        "%(count)s waiting delivery released: it is sent now.",
        "%(count)s waiting deliveries released: they are sent now, oldest first.",
        released,
    ) % {"count": released}


class WorkerHeartbeat(models.Model):
    """One hub worker's sign of life, written by the worker itself (worker.py) at each rq heartbeat.

    Kept in the database, the one store of truth: /healthz and /metrics count the workers from these
    rows, so an emptied or restarted Redis does not make running workers look dead, and a worker on
    another machine counts as soon as it writes.
    """

    class State(models.TextChoices):
        IDLE = "idle", pgettext_lazy("status", "Idle")
        BUSY = "busy", pgettext_lazy("status", "Busy")

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
