import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from webhookhub.models import TimestampedModel

from .events import Event, FixedEvent
from .secrets import EncryptedTextField

DEFAULT_BODY_TEMPLATE = '{"flowId":"${flowId}","flowStep":"${flowStep}","customerId":"${customerId}"}'


class Webhook(TimestampedModel):
    class AuthType(models.TextChoices):
        NONE = "none", _("None")
        SECRET = "secret", _("Secret key")
        BASIC = "basic", _("Basic authentication")
        OAUTH2 = "oauth2", _("OAuth2 client credentials")

    class TriggerType(models.TextChoices):
        NON_FIXED = "non_fixed", _("Non-fixed event")
        FIXED = "fixed", _("Fixed event")

    class MessageType(models.TextChoices):
        JSON = "json", "JSON"
        TEXT = "text", "TEXT"

    name = models.CharField(_("name"), max_length=128)
    url = models.URLField(_("receiving URL"), max_length=2000, validators=[URLValidator(schemes=["http", "https"])])
    auth_type = models.CharField(_("authentication"), max_length=16, choices=AuthType.choices, default=AuthType.NONE)
    secret_key = EncryptedTextField(_("secret key"), blank=True, default="")
    basic_username = models.CharField(_("username"), max_length=255, blank=True)
    basic_password = EncryptedTextField(_("password"), blank=True, default="")
    oauth_token_url = models.URLField(
        _("token URL"), max_length=2000, blank=True, validators=[URLValidator(schemes=["http", "https"])]
    )
    oauth_app_id = models.CharField(_("app ID"), max_length=255, blank=True)
    oauth_app_secret = EncryptedTextField(_("app secret"), blank=True, default="")
    trigger_type = models.CharField(
        _("trigger type"), max_length=16, choices=TriggerType.choices, default=TriggerType.NON_FIXED
    )
    message_type = models.CharField(
        _("message type"), max_length=8, choices=MessageType.choices, default=MessageType.JSON
    )
    body_template = models.TextField(_("message body"), blank=True, default=DEFAULT_BODY_TEMPLATE)
    empty_text = models.CharField(
        _("text when an attribute is empty"),
        max_length=255,
        blank=True,
        help_text=_("Shown in place of an inserted attribute that is missing or empty."),
    )
    event = models.CharField(_("fixed event"), max_length=64, choices=FixedEvent.choices, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    auto_retry = models.BooleanField(
        _("automatic retry"),
        default=False,
        help_text=_("Retry a failed delivery 3 times: 30, 60 and 90 minutes after the attempt before."),
    )
    verify_ssl = models.BooleanField(_("verify SSL certificate"), default=True)
    connect_timeout = models.FloatField(
        _("connect timeout (s)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.1), MaxValueValidator(60)],
        help_text=_("Empty: the installation's default."),
    )
    read_timeout = models.FloatField(
        _("response timeout (s)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.1), MaxValueValidator(300)],
        help_text=_("Empty: the installation's default."),
    )
    max_concurrency = models.PositiveSmallIntegerField(
        _("max concurrent requests"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("Requests in flight to this webhook across all workers. Empty: the installation's default."),
    )
    rate_limit = models.PositiveIntegerField(
        _("max deliveries per second"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: no limit."),
    )
    # Set while the webhook is paused (by a person, or automatically): its due deliveries wait.
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True, editable=False)
    pause_reason = models.CharField(_("pause reason"), max_length=500, blank=True, editable=False)
    # The receiver answered 410 Gone at this time.
    gone_at = models.DateTimeField(_("gone since"), null=True, blank=True, editable=False)
    # A 429 or 503 with Retry-After slows the whole webhook until then; the scheduler's own state.
    throttled_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Generic cell rate algorithm: the theoretical arrival time of the next request (rate_limit).
    rate_tat = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        indexes = [models.Index(fields=["trigger_type", "event", "is_active"], name="webhook_trigger_idx")]

    def __str__(self):
        return self.name

    def clean(self):
        from .templating import TemplateError, template_check

        errors: dict[str, str | Promise] = {}
        required: dict[str, tuple[str, ...]] = {
            self.AuthType.SECRET: ("secret_key",),
            self.AuthType.BASIC: ("basic_username", "basic_password"),
            self.AuthType.OAUTH2: ("oauth_token_url", "oauth_app_id", "oauth_app_secret"),
        }
        for name in required.get(self.auth_type, ()):
            if not getattr(self, name):
                errors[name] = _("Required for this authentication.")
        if self.is_fixed and not self.event:
            errors["event"] = _("Choose the loyalty event this webhook receives.")
        if not self.is_fixed:
            try:
                template_check(self.body_template, message_type=self.message_type, empty_text=self.empty_text)
            except TemplateError as exc:
                errors["body_template"] = str(exc)
        if errors:
            raise ValidationError(errors)

    @property
    def is_fixed(self) -> bool:
        return self.trigger_type == self.TriggerType.FIXED

    @property
    def trigger_label(self) -> str:
        if self.is_fixed:
            return self.get_event_display()
        return f"{self.get_trigger_type_display()} · {self.get_message_type_display()}"

    @property
    def effective_connect_timeout(self) -> float:
        return self.connect_timeout or settings.WEBHOOK_CONNECT_TIMEOUT

    @property
    def effective_read_timeout(self) -> float:
        return self.read_timeout or settings.WEBHOOK_READ_TIMEOUT

    @property
    def effective_max_concurrency(self) -> int:
        return self.max_concurrency or settings.WEBHOOK_MAX_CONCURRENCY

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None


class GroupSend(models.Model):
    """A group send: one webhook's message to every member of a group, now or at a set time."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("scheduled")
        SENDING = "sending", _("sending")
        COMPLETED = "completed", _("completed")
        CANCELLED = "cancelled", _("cancelled")

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
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SUCCEEDED = "succeeded", _("succeeded")
        RETRYING = "retrying", _("retrying")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

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
            # A group send's claim: its due rows in claim order, without reading the rest of the send.
            models.Index(
                fields=["message", "priority", "next_attempt_at"],
                name="delivery_send_claim_idx",
                condition=Q(status__in=["pending", "retrying"]),
            ),
            # In flight per webhook (its concurrency cap across workers) and expired leases.
            models.Index(fields=["webhook", "claimed_at"], name="delivery_inflight_idx", condition=Q(status="sending")),
            models.Index(fields=["message", "status"], name="delivery_message_status_idx"),
            models.Index(fields=["webhook", "-created_at"], name="delivery_webhook_recent_idx"),
            models.Index(fields=["-created_at"], name="delivery_recent_idx"),
            # The delivery list filtered by send (message) or status, newest first, on 100k+ rows.
            models.Index(fields=["message", "-created_at"], name="delivery_message_recent_idx"),
            models.Index(fields=["status", "-created_at"], name="delivery_status_recent_idx"),
        ]

    def __str__(self):
        return self.id

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


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

    class Meta:
        ordering = ["delivery", "number"]
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        indexes = [models.Index(fields=["delivery", "number"], name="attempt_delivery_idx")]

    def __str__(self):
        return f"{self.delivery_id} #{self.number}"

    @property
    def response_truncated(self) -> bool:
        return self.response_cut or self.response_size > len(self.response_body.encode())
