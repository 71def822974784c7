"""Sending: group sends, messages, their deliveries and each delivery's attempts, and bulk recoveries."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from webhookhub.models import TimestampedModel
from webhooks.content.events import Event
from webhooks.content.failures import failure_text
from webhooks.models.webhook import Webhook


class GroupSend(models.Model):
    """A group send: one webhook's message to every customer in a group, now or at a set time."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", pgettext_lazy("status", "Scheduled")
        SENDING = "sending", pgettext_lazy("status", "Sending")
        COMPLETED = "completed", pgettext_lazy("status", "Completed")
        CANCELLED = "cancelled", pgettext_lazy("status", "Cancelled")

    webhook = models.ForeignKey(
        Webhook, on_delete=models.PROTECT, related_name="group_sends", verbose_name=_("webhook")
    )
    group = models.ForeignKey(
        "customers.Group", on_delete=models.PROTECT, related_name="group_sends", verbose_name=_("group")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    scheduled_at = models.DateTimeField(_("scheduled time"), db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sent by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cancelled by"),
    )
    total = models.PositiveIntegerField(_("recipients"), default=0)
    # Fan-out progress: the last customer id written, so a killed fan-out resumes, never repeats.
    fanout_cursor = models.BigIntegerField(default=0, editable=False)
    fanout_done = models.BooleanField(default=False, editable=False)
    # Set by selectors.group_sends_with_progress for the lists' progress bars; not a column.
    progress: dict
    # Set by the admin per request: whether the progress links to the send's deliveries; not a column.
    can_view_deliveries: bool
    # Set by the admin per request when its webhook is paused (health_selectors.paused_notes); not a column.
    paused_note: dict | None

    # Renewed by the worker writing the fan-out; one older than the lease is taken over by another.
    fanout_heartbeat = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("group send")
        verbose_name_plural = _("group sends")
        indexes = [models.Index(fields=["status", "scheduled_at"], name="send_status_due_idx")]

    def __str__(self):
        return f"#{self.pk} {self.webhook} → {self.group}"


class Message(models.Model):
    """One thing that happened and is pushed out: an event, a group send, a form submit, a flow step."""

    event = models.CharField(_("event"), max_length=64, choices=Event.choices, db_index=True)
    group_send = models.OneToOneField(
        GroupSend, on_delete=models.CASCADE, null=True, blank=True, related_name="message", verbose_name=_("group send")
    )
    # What triggered it: the fixed event's payload, or sendId / flowId / form submission.
    context = models.JSONField(_("context"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # The trigger's W3C trace context, when the installation exports traces: the deliveries' spans join it.
    trace_context = models.CharField(max_length=55, blank=True, default="", editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self):
        return f"#{self.pk} {self.event}"


def new_delivery_id() -> str:
    return uuid.uuid4().hex


class Delivery(TimestampedModel):
    """One message to one webhook for one recipient; its id is the receiver's idempotency key."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("status", "Pending")
        SENDING = "sending", pgettext_lazy("status", "Sending")
        SUCCEEDED = "succeeded", pgettext_lazy("status", "Succeeded")
        RETRYING = "retrying", pgettext_lazy("status", "Retrying")
        FAILED = "failed", pgettext_lazy("status", "Failed")
        CANCELLED = "cancelled", pgettext_lazy("status", "Cancelled")

    class Priority(models.IntegerChoices):
        """The claim order. Realtime: a person or a system waits (events, forms, flows, test sends,
        redeliveries); bulk: group sends and bulk recovers."""

        REALTIME = 0, _("realtime")
        REALTIME_RETRY = 1, _("realtime retry")
        BULK = 2, _("bulk")
        BULK_RETRY = 3, _("bulk retry")

    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
    WAITING_STATUSES = (Status.PENDING, Status.RETRYING)

    id = models.CharField(_("delivery ID"), max_length=32, primary_key=True, default=new_delivery_id, editable=False)
    # message and webhook have no index of their own: a composite index in Meta starts with each, and
    # every index is written twice per delivery (claimed, then final) in a 100,000-recipient send.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("message"), db_index=False
    )
    webhook = models.ForeignKey(
        Webhook, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("webhook"), db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("customer"),
    )
    event = models.CharField(_("event"), max_length=64, choices=Event.choices)
    body = models.TextField(_("body"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    retry_count = models.PositiveIntegerField(_("automatic retries"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # Why it failed, worded for each reader by webhooks/content/failures.py; last_error keeps the detail.
    last_error_code = models.CharField(_("last error code"), max_length=32, blank=True, default="")
    last_error_params = models.JSONField(_("last error parameters"), default=dict, blank=True)
    last_status_code = models.PositiveIntegerField(_("last response status"), null=True, blank=True)
    # Claim order: realtime before bulk, fresh before retries (see Priority).
    priority = models.PositiveSmallIntegerField(default=0, editable=False)
    # The drain that holds this delivery while it is `sending`, and when it last said it is alive;
    # a claim older than the lease is taken back (an attempt "worker lost" is recorded).
    claimed_by = models.CharField(max_length=32, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set while a redelivery asked for by a person waits for its attempt.
    # Unindexed: set for a moment per redelivery; deleting a user scans for it, which is rare.
    redeliver_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        db_index=False,
    )
    # The bulk recover that last sent it again (webhooks/services/recoveries.py); its claim and progress read this.
    recovery = models.ForeignKey(
        "Recovery",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        db_index=False,
        verbose_name=_("recovery"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["message", "webhook", "customer"], name="delivery_once_per_recipient")
        ]
        indexes = [
            # The claim: due rows by priority and time, and those of one message (a group send).
            models.Index(
                fields=["priority", "next_attempt_at"],
                name="delivery_claim_idx",
                condition=Q(status__in=["pending", "retrying"]),
            ),
            # A group send's claim: its due rows in claim order, without reading the rest of the send; a drain's
            # next claim starts at its last one (claim.deliveries_claim's cursor).
            # (No index of `sending` rows: the in-flight count is a number, see WebhookLoad; the rare look for
            # claims of no known drain reads delivery_status_recent_idx.)
            models.Index(
                fields=["message", "priority", "next_attempt_at"],
                name="delivery_send_claim_idx",
                condition=Q(status__in=["pending", "retrying"]),
            ),
            models.Index(fields=["message", "status"], name="delivery_message_status_idx"),
            models.Index(fields=["webhook", "-created_at"], name="delivery_webhook_recent_idx"),
            models.Index(fields=["-created_at"], name="delivery_recent_idx"),
            # The delivery list filtered by send (message) or status, newest first, on 100k+ rows.
            models.Index(fields=["message", "-created_at"], name="delivery_message_recent_idx"),
            models.Index(fields=["status", "-created_at"], name="delivery_status_recent_idx"),
            # The list's HTTP status class filter (2xx … 5xx, no answer), its count and its newest rows: without
            # it PostgreSQL reads all 1,000,000 rows for a class that has few (0.5 s and more).
            # attempt_count tells "no answer" (attempted) from not yet attempted inside the index.
            models.Index(fields=["last_status_code", "attempt_count", "-created_at"], name="delivery_http_recent_idx"),
            # A bulk recover's claim and its progress: only recovered rows are in these.
            models.Index(
                fields=["recovery", "webhook", "priority", "next_attempt_at"],
                name="delivery_recovery_claim_idx",
                condition=Q(status__in=["pending", "retrying"], recovery__isnull=False),
            ),
            models.Index(
                fields=["recovery", "status"], name="delivery_recovery_idx", condition=Q(recovery__isnull=False)
            ),
        ]

    def __str__(self):
        return self.id

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def last_error_text(self) -> str:
        """The last failure in the reader's language; the stored text for rows without a code."""
        if self.last_error_code:
            return failure_text(self.last_error_code, self.last_error_params) or self.last_error
        return self.last_error


class Attempt(models.Model):
    """One HTTP request of a delivery, recorded exactly as sent and answered (secrets masked)."""

    class Trigger(models.TextChoices):
        FIRST = "first", _("first attempt")
        RETRY = "retry", _("automatic retry")
        REDELIVER = "redeliver", _("redelivered by hand")

    # attempt_delivery_idx (delivery, number) serves lookups by delivery.
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempts", verbose_name=_("delivery"), db_index=False
    )
    number = models.PositiveIntegerField(_("number"))
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices, default=Trigger.FIRST)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
        db_index=False,
    )
    started_at = models.DateTimeField(_("time"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    url = models.TextField(_("request URL"))
    request_headers = models.JSONField(_("request headers"), default=dict)
    response_status = models.PositiveIntegerField(_("response status"), null=True, blank=True)
    response_headers = models.JSONField(_("response headers"), default=dict, blank=True)
    response_body = models.TextField(_("response body"), blank=True)
    response_size = models.PositiveBigIntegerField(_("response size (bytes)"), default=0)
    # The body was not read to its end (over the read limit, or the time ran out while reading).
    response_cut = models.BooleanField(_("response cut"), default=False)
    succeeded = models.BooleanField(_("succeeded"), default=False)
    error_class = models.CharField(_("error class"), max_length=128, blank=True)
    error_message = models.TextField(_("error"), blank=True)
    # Why it failed, worded for each reader by webhooks/content/failures.py; error_class and error_message keep
    # the technical detail. Empty on rows written before codes existed: their text is shown.
    error_code = models.CharField(_("error code"), max_length=32, blank=True, default="")
    error_params = models.JSONField(_("error parameters"), default=dict, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        indexes = [models.Index(fields=["delivery", "number"], name="attempt_delivery_idx")]

    def __str__(self):
        return f"{self.delivery_id} #{self.number}"

    @property
    def error_text(self) -> str:
        """The failure in the reader's language; the stored text for rows without a code."""
        return (failure_text(self.error_code, self.error_params) if self.error_code else "") or self.error_message

    @property
    def response_truncated(self) -> bool:
        return self.response_cut or self.response_size > len(self.response_body.encode())


class Recovery(models.Model):
    """A bulk recover: failed and cancelled deliveries sent again, same ids, in the bulk lane.

    Created (counted) in the request; the drain's upkeep moves its deliveries back to due in batches
    (`cursor_at`, `cursor_id`: the last one moved, in (created_at, id) order) and completes it.
    """

    class Kind(models.TextChoices):
        SELECTION = "selection", _("selected deliveries")
        FILTER = "filter", _("deliveries matching filters")
        SEND = "send", _("a group send's failed deliveries")
        WEBHOOK = "webhook", _("a webhook's failed deliveries")

    class Status(models.TextChoices):
        RUNNING = "running", pgettext_lazy("status", "Running")
        COMPLETED = "completed", pgettext_lazy("status", "Completed")
        STOPPED = "stopped", pgettext_lazy("status", "Stopped")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # What was asked for: {"ids": [...]}, the list's filters, {"send_id": n} or {"webhook_id": n, "since": iso}.
    criteria = models.JSONField(_("criteria"), default=dict)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("stopped by"),
    )
    webhook_ids = models.JSONField(_("webhooks"), default=list)
    total = models.PositiveIntegerField(_("to send again"), default=0)
    # Asked for but not sent again: already pending or being sent, succeeded, no body kept, webhook inactive.
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    moved = models.PositiveIntegerField(_("moved back to due"), default=0)
    cursor_at = models.DateTimeField(null=True, blank=True, editable=False)
    cursor_id = models.CharField(max_length=32, blank=True, editable=False)
    moving_done = models.BooleanField(default=False, editable=False)
    # Frozen when it ends; while it runs, selectors.recovery_progress counts its deliveries.
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    cancelled = models.PositiveIntegerField(_("cancelled"), default=0)
    # Set by recoveries.recoveries_with_progress for the list's progress bar and the API; not a column.
    progress: dict

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("bulk recover")
        verbose_name_plural = _("bulk recovers")
        indexes = [models.Index(fields=["status"], name="recovery_status_idx")]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()}"


# Health, incidents (webhooks/health/services.py): in a module of their own, registered with the app from here.
