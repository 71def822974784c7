"""Alert channels (where a team hears that a webhook needs attention) and the alerts sent to them."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from webhookhub.models import TimestampedModel
from webhookhub.text import validate_one_line
from webhooks.models import Webhook
from webhooks.secrets import EncryptedTextField


class Channel(TimestampedModel):
    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")
        WECOM = "wecom", _("WeCom group robot")
        DINGTALK = "dingtalk", _("DingTalk custom robot")
        FEISHU = "feishu", _("Feishu custom bot")

    class Format(models.TextChoices):
        MARKDOWN = "markdown", _("Markdown")
        TEXT = "text", _("Plain text")

    ROBOTS = (Kind.WECOM, Kind.DINGTALK, Kind.FEISHU)

    name = models.CharField(_("name"), max_length=128, validators=[validate_one_line])
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    is_active = models.BooleanField(_("active"), default=True)
    # The robot's webhook URL carries its key (WeCom key=, DingTalk access_token=, Feishu's hook path).
    url = EncryptedTextField(_("robot webhook URL"), blank=True, default="")
    # DingTalk 加签 (SEC…), Feishu 签名校验: optional, as the robot's security settings say.
    secret = EncryptedTextField(_("signing secret"), blank=True, default="")
    message_format = models.CharField(
        _("message format"), max_length=16, choices=Format.choices, default=Format.MARKDOWN
    )
    recipients = models.TextField(
        _("email recipients"), blank=True, help_text=_("Email addresses, one a line or separated by commas.")
    )
    all_webhooks = models.BooleanField(_("all webhooks"), default=True)
    webhooks = models.ManyToManyField(
        Webhook,
        blank=True,
        related_name="alert_channels",
        verbose_name=_("webhooks"),
        help_text=_("Only these webhooks, when “all webhooks” is off."),
    )
    on_failing = models.BooleanField(_("failing"), default=True, help_text=_("A webhook's deliveries keep failing."))
    on_paused = models.BooleanField(_("paused"), default=True, help_text=_("A webhook was paused."))
    on_recovered = models.BooleanField(_("recovered"), default=True, help_text=_("A webhook works again."))

    class Meta:
        verbose_name = _("alert channel")
        verbose_name_plural = _("alert channels")
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name

    @property
    def is_robot(self) -> bool:
        return self.kind in self.ROBOTS

    def recipient_list(self) -> list[str]:
        return [part.strip() for part in self.recipients.replace(",", "\n").splitlines() if part.strip()]


class Alert(models.Model):
    class Kind(models.TextChoices):
        FAILING = "failing", _("Failing")
        PAUSED = "paused", _("Paused")
        RECOVERED = "recovered", _("Recovered")
        # A webhook's client certificate ends soon (CLIENT_CERTIFICATE_WARNING_DAYS): every channel covering it hears.
        CERTIFICATE = "certificate", _("Client certificate expiring")
        TEST = "test", _("Test alert")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        # Its sender stopped during the request: the channel has probably received it; not sent again.
        UNCONFIRMED = "unconfirmed", _("Sent, unconfirmed")

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="alerts", verbose_name=_("channel"))
    webhook = models.ForeignKey(
        Webhook, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("webhook")
    )
    # Kept with the alert: the message still names its webhook after the webhook was deleted.
    webhook_name = models.CharField(_("webhook name"), max_length=128, blank=True)
    incident_id = models.BigIntegerField(_("incident"), null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    facts = models.JSONField(_("facts"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    tries = models.PositiveSmallIntegerField(_("tries"), default=0)
    # When the drain's due work sends a pending alert itself (its rq job lost, or a retry's time).
    next_attempt_at = models.DateTimeField(_("next try at"), null=True, blank=True)
    # A sender holds the alert until then; past it, the sender is taken for dead.
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Written (and committed) just before the request goes out, cleared when its answer is recorded: a claim
    # that expires with it set belonged to a sender that died mid-request, so the alert is not sent twice.
    sending_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(_("answer status"), null=True, blank=True)
    response_body = models.TextField(_("answer body"), blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One incident, one message per channel and kind, however often the signal came.
            models.UniqueConstraint(
                fields=["channel", "incident_id", "kind"],
                condition=Q(incident_id__isnull=False),
                name="alert_one_per_channel_incident_kind",
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="alert_due_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.webhook_name or self.channel.name}"
