import uuid

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from webhookhub.models import TimestampedModel
from webhookhub.text import validate_one_line
from webhookhub.zones import zone_offset
from webhooks.content.body_fields import DEFAULT_BODY_TEMPLATE
from webhooks.content.events import Event, FixedEvent
from webhooks.content.failures import failure_text
from webhooks.content.templating import TemplateError, template_check
from webhooks.engine.egress import proxy_url_problem
from webhooks.engine.redact import masked_url, unmasked_url
from webhooks.engine.retry_policy import RetryPolicyKind
from webhooks.engine.tls import ca_bundle_problem, client_pair_problem
from webhooks.models.health import (
    WebhookHealth,
    WebhookHealthHour,
    WebhookIncident,
    WorkerHeartbeat,
    incident_pause_words,
    pause_words,
)
from webhooks.secrets import EncryptedTextField, Secret


def _revealed(value) -> str:
    # A webhook read from the database holds a Secret; one just built in memory may hold plain text.
    if not value:
        return ""
    return value.reveal() if isinstance(value, Secret) else str(value)


URL_MAX_LENGTH = 2000


class OutboundProxy(TimestampedModel):
    """An HTTP proxy that webhooks may send through (docs/deploy: a fixed egress address); set up by an Administrator.

    Marketers choose among these on a webhook; the password is encrypted at rest and never shown again.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    url = models.URLField(
        _("proxy URL"),
        max_length=500,
        validators=[URLValidator(schemes=["http"])],
        help_text=_("http://host:port of an HTTP proxy that supports CONNECT; the credentials go in the fields below."),
    )
    username = models.CharField(_("username"), max_length=255, blank=True)
    password = EncryptedTextField(_("password"), blank=True, default="")

    class Meta:
        ordering = ["name"]
        verbose_name = _("outbound proxy")
        verbose_name_plural = _("outbound proxies")

    def __str__(self):
        return self.name

    def clean(self):
        problem = proxy_url_problem(self.url)
        if problem:
            raise ValidationError({"url": problem})


class PrivateCA(TimestampedModel):
    """A company's own certificate authorities (PEM), to verify receivers whose certificates they signed."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    bundle = models.TextField(
        _("CA certificates (PEM)"),
        help_text=_("One or more -----BEGIN CERTIFICATE----- blocks: the root (and intermediate) certificates."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("private CA")
        verbose_name_plural = _("private CAs")

    def __str__(self):
        return self.name

    def clean(self):
        problem = ca_bundle_problem(self.bundle)
        if problem:
            raise ValidationError({"bundle": problem})


class Webhook(TimestampedModel):
    class AuthType(models.TextChoices):
        NONE = "none", _("None")
        SECRET = "secret", _("Secret key")
        BASIC = "basic", _("Basic authentication")
        OAUTH2 = "oauth2", _("OAuth2 client credentials")

    class TriggerType(models.TextChoices):
        NON_FIXED = "non_fixed", _("Non-fixed event")
        FIXED = "fixed", _("Fixed event")

    class Egress(models.TextChoices):
        DEFAULT = "default", _("The installation's (WEBHOOK_PROXY_URL when set, else direct)")
        DIRECT = "direct", _("Direct, without a proxy")
        PROXY = "proxy", _("Through a proxy")

    class MessageType(models.TextChoices):
        JSON = "json", "JSON"
        TEXT = "text", "TEXT"

    name = models.CharField(_("name"), max_length=128, validators=[validate_one_line])
    # Shown to people with its credentials (userinfo password, ?token=… and the like) masked; the full URL,
    # when it has any, is in url_secret, encrypted. full_url puts them together for the engine.
    url = models.URLField(
        _("receiving URL"), max_length=URL_MAX_LENGTH, validators=[URLValidator(schemes=["http", "https"])]
    )
    url_secret = EncryptedTextField(blank=True, default="", editable=False)
    auth_type = models.CharField(_("authentication"), max_length=16, choices=AuthType.choices, default=AuthType.NONE)
    secret_key = EncryptedTextField(_("secret key"), blank=True, default="")
    basic_username = models.CharField(_("username"), max_length=255, blank=True)
    basic_password = EncryptedTextField(_("password"), blank=True, default="")
    oauth_token_url = models.URLField(
        _("token URL"), max_length=2000, blank=True, validators=[URLValidator(schemes=["http", "https"])]
    )
    oauth_app_id = models.CharField(_("app ID"), max_length=255, blank=True)
    oauth_app_secret = EncryptedTextField(_("app secret"), blank=True, default="")
    # During a rotation of the secret key with the helper on, the old key's signature goes out too,
    # in X-Clab-Hmac-Signature-Previous, until this time (docs/contract.md section 2).
    secret_key_previous = EncryptedTextField(blank=True, default="", editable=False)
    secret_key_previous_until = models.DateTimeField(null=True, blank=True, editable=False)
    standard_webhooks = models.BooleanField(
        _("Standard Webhooks headers"),
        default=False,
        help_text=_(
            "Also send webhook-id, webhook-timestamp and webhook-signature (standardwebhooks.com): "
            "replay protection, verifiable with the public libraries."
        ),
    )
    # `whsec_` + base64 of random bytes, generated by the hub and shown once; never typed in.
    standard_secret = EncryptedTextField(_("Standard Webhooks secret"), blank=True, default="", editable=False)
    # The secret before the last rotation: it keeps signing until the end of the overlap.
    standard_secret_previous = EncryptedTextField(blank=True, default="", editable=False)
    standard_secret_previous_until = models.DateTimeField(null=True, blank=True, editable=False)
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
        help_text=_("Retry a failed delivery as the retry policy says: see the retry schedule below."),
    )
    # Which retries `auto_retry` makes (webhooks/engine/retry_policy.py); custom: the delays, in seconds.
    retry_policy = models.CharField(
        _("retry policy"), max_length=16, choices=RetryPolicyKind.choices, default=RetryPolicyKind.DMHUB
    )
    retry_delays = models.JSONField(_("retry delays"), default=list, blank=True)
    # Auto-pause (webhooks/health/services.py): failing for the hours AND the failures; empty: the defaults.
    autopause = models.BooleanField(
        _("pause automatically"),
        default=True,
        help_text=_("Pause this webhook when it keeps failing (its deliveries wait; resume sends them)."),
    )
    autopause_hours = models.FloatField(
        _("pause after failing for (hours)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(24 * 365)],
        help_text=_("Empty: the installation's default."),
    )
    autopause_failures = models.PositiveIntegerField(
        _("pause after consecutive failures"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: the installation's default."),
    )
    alert_after_failures = models.PositiveIntegerField(
        _("failing after consecutive failures"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("An incident begins (and alerts go out) after this many failed attempts in a row. Empty: default."),
    )
    verify_ssl = models.BooleanField(
        _("verify SSL certificate"),
        default=True,
        help_text=_(
            "Keep it on. A receiver with a certificate of your company's own CA: choose that private CA below "
            "instead of turning this off (off, anyone between the hub and the receiver can read and change "
            "the messages)."
        ),
    )
    # How requests leave the hub (docs/deploy: a fixed egress address): the installation's proxy, none, or one.
    egress = models.CharField(_("egress"), max_length=16, choices=Egress.choices, default=Egress.DEFAULT)
    proxy = models.ForeignKey(
        OutboundProxy,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhooks",
        verbose_name=_("proxy"),
        help_text=_("For “through a proxy”: one an administrator set up."),
    )
    private_ca = models.ForeignKey(
        PrivateCA,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhooks",
        verbose_name=_("private CA"),
        help_text=_(
            "When the receiver's certificate is signed by your company's own CA: verify it against that CA "
            "(instead of turning verification off). Empty: the public CAs of the server."
        ),
    )
    # Mutual TLS: the certificate is public, its key a secret (encrypted, write-only, Administrators only).
    client_certificate = models.TextField(
        _("client certificate (PEM)"),
        blank=True,
        help_text=_("For receivers that require a client certificate (mutual TLS): the certificate and its chain."),
    )
    client_key = EncryptedTextField(_("client certificate key (PEM)"), blank=True, default="")
    client_certificate_expires_at = models.DateTimeField(
        _("client certificate expires"), null=True, blank=True, editable=False
    )
    # The expiry date the alerts last announced (30 days before it): a new certificate is announced again.
    client_certificate_announced = models.DateTimeField(null=True, blank=True, editable=False)
    send_traceparent = models.BooleanField(
        _("send traceparent"),
        default=False,
        help_text=_(
            "Add the W3C traceparent header to each request, so a receiver that traces joins the hub's trace "
            "(when the installation exports traces)."
        ),
    )
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
        errors: dict[str, str | Promise] = {}
        required: dict[str, tuple[str, ...]] = {
            self.AuthType.SECRET: ("secret_key",),
            self.AuthType.BASIC: ("basic_username", "basic_password"),
            self.AuthType.OAUTH2: ("oauth_token_url", "oauth_app_id", "oauth_app_secret"),
        }
        for name in required.get(self.auth_type, ()):
            if not getattr(self, name):
                errors[name] = _("Required for this authentication.")
        try:
            shown = masked_url(self.full_url)  # a mask left in the URL must name a credential the webhook holds
        except ValueError:
            errors["url"] = _(
                "This URL shows a masked credential (••••••) the webhook does not hold: type the credential again."
            )
        else:
            # Masks can be longer than the short credentials they stand for; the masked URL is what is stored.
            if len(shown) > URL_MAX_LENGTH:
                errors["url"] = _("This URL is too long: at most %(max)s characters.") % {"max": URL_MAX_LENGTH}
        errors.update(self._egress_and_tls_errors())
        if self.is_fixed and not self.event:
            errors["event"] = _("Choose the loyalty event this webhook receives.")
        if not self.is_fixed:
            try:
                template_check(self.body_template, message_type=self.message_type, empty_text=self.empty_text)
            except TemplateError as exc:
                errors["body_template"] = str(exc)
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        # Every write of the URL goes through here (admin, API, demo data): what is kept in `url` is masked.
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "url" in update_fields:
            full = self.full_url
            self.url = masked_url(full)
            secret = full if self.url != full else ""
            if _revealed(self.url_secret) != secret:
                self.url_secret = Secret(secret)
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "url_secret"}
        super().save(*args, **kwargs)

    @property
    def full_url(self) -> str:
        """The URL the engine sends to, credentials included: `url` with its masks filled from url_secret.

        ValueError when a mask names a credential the webhook does not hold.
        """
        return unmasked_url(self.url or "", _revealed(self.url_secret))

    def _egress_and_tls_errors(self) -> dict:
        errors: dict[str, str | Promise] = {}
        if self.egress == self.Egress.PROXY and not self.proxy_id:
            errors["proxy"] = _("Choose the proxy to send through.")
        key = self.client_key.reveal() if hasattr(self.client_key, "reveal") else self.client_key
        if bool(self.client_certificate) != bool(key):
            name = "client_key" if self.client_certificate else "client_certificate"
            errors[name] = _("A client certificate needs both the certificate and its key.")
        elif self.client_certificate:
            problem, expires_at = client_pair_problem(self.client_certificate, key or "")
            if problem:
                errors["client_certificate"] = problem
            self.client_certificate_expires_at = expires_at
        else:
            self.client_certificate_expires_at = None
        return errors

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

    @property
    def pause_text(self) -> str:
        """Why it is paused, in the reader's language: its incident's cause code and facts, else the reason kept."""
        if not self.is_paused:
            return ""
        try:
            health = self.health
        except WebhookHealth.DoesNotExist:
            health = None
        incident = health.incident if health is not None and health.incident_id else None
        if incident is not None and incident.paused_at:
            return incident_pause_words(incident)
        return self.pause_reason


class WebhookHistory(models.Model):
    """What happened to a webhook's configuration and secrets, by whom: shown on its page and in the API.

    `actor` is text, not a user: an API key or the hub itself (a rotation's end) act without one.
    """

    class Action(models.TextChoices):
        CREATED = "created", _("created")
        CHANGED = "changed", _("changed")
        SECRET_REPLACED = "secret_replaced", _("secret key replaced")
        STANDARD_ENABLED = "standard_enabled", _("Standard Webhooks turned on")
        STANDARD_DISABLED = "standard_disabled", _("Standard Webhooks turned off")
        ROTATION_STARTED = "rotation_started", _("secret rotated")
        ROTATION_ENDED = "rotation_ended", _("rotation ended")
        PAUSED = "paused", _("paused")
        RESUMED = "resumed", _("resumed")

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="history", verbose_name=_("webhook"))
    at = models.DateTimeField(_("time"), auto_now_add=True)
    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    actor = models.CharField(_("by"), max_length=255, blank=True)
    # Facts, never a secret (which fields, which secret, until when): `details` words them in the
    # reader's language, whoever wrote them in whichever.
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("webhook history entry")
        verbose_name_plural = _("webhook history")
        indexes = [models.Index(fields=["webhook", "-at"], name="webhook_history_recent_idx")]

    def __str__(self):
        return f"{self.webhook_id} {self.action} {self.at:%Y-%m-%d %H:%M}"

    @property
    def details(self) -> str:
        data = self.data or {}
        until = parse_datetime(data["until"]) if data.get("until") else None
        until_text = f"{timezone.localtime(until):%Y-%m-%d %H:%M:%S} {zone_offset()}" if until else ""
        if self.action == self.Action.CHANGED:
            labels = []
            for name in data.get("fields", []):
                try:
                    field = Webhook._meta.get_field(name)
                except FieldDoesNotExist:  # a field since removed keeps its name
                    labels.append(name)
                    continue
                labels.append(str(field.verbose_name) if isinstance(field, models.Field) else name)
            return gettext("Changed: %(fields)s.") % {"fields": ", ".join(labels)}
        if self.action == self.Action.SECRET_REPLACED and until:
            return gettext("The old key also signs, in X-Clab-Hmac-Signature-Previous, until %(until)s.") % {
                "until": until_text
            }
        if self.action == self.Action.ROTATION_STARTED:
            if until:
                return gettext("The old secret also signs until %(until)s.") % {"until": until_text}
            return gettext("The old secret no longer signs.")
        if self.action == self.Action.ROTATION_ENDED:
            names = {
                "standard": gettext("the old Standard Webhooks secret"),
                "secret_key": gettext("the old secret key (X-Clab-Hmac-Signature-Previous)"),
            }
            what = "; ".join(names[key] for key in data.get("ended", []) if key in names)
            if data.get("early"):
                return gettext("Ended early: %(what)s no longer signs.") % {"what": what}
            return gettext("Overlap over: %(what)s no longer signs.") % {"what": what}
        if self.action in (self.Action.PAUSED, self.Action.RESUMED):
            return pause_words(data)
        return ""


class GroupSend(models.Model):
    """A group send: one webhook's message to every customer in a group, now or at a set time."""

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
        RUNNING = "running", _("running")
        COMPLETED = "completed", _("completed")
        STOPPED = "stopped", _("stopped")

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


# Health, incidents (webhooks/health/services.py): in a module of their own, registered with the app from here.

__all__ = [
    "DEFAULT_BODY_TEMPLATE",
    "Attempt",
    "Delivery",
    "GroupSend",
    "Message",
    "Recovery",
    "Webhook",
    "WebhookHealth",
    "WebhookHealthHour",
    "WebhookHistory",
    "WebhookIncident",
    "WorkerHeartbeat",
    "new_delivery_id",
]
