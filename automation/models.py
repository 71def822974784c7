"""Micro-pages with forms, and automation flows: the two non-fixed ways a message leaves without a click."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from webhookhub.models import TimestampedModel
from webhookhub.text import validate_one_line
from webhooks.content.events import FixedEvent

NON_FIXED_WEBHOOKS = {"trigger_type": "non_fixed"}

validate_field_key = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
    _("Use letters, digits and _, starting with a letter or _ (it is the name in ${form.<key>})."),
)


class MicroPage(TimestampedModel):
    title = models.CharField(_("title"), max_length=128, validators=[validate_one_line])
    slug = models.SlugField(
        _("address"),
        max_length=64,
        unique=True,
        help_text=_("The page is published at /p/<address>/ (letters, digits, - and _)."),
    )
    description = models.TextField(_("description"), blank=True, help_text=_("Shown above the form."))
    success_text = models.CharField(
        _("text after submitting"),
        max_length=255,
        blank=True,
        help_text=_("Empty: a standard thank-you."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    trust_submitted_mobile = models.BooleanField(
        _("trust submitted mobile numbers"),
        default=False,
        help_text=_(
            "Off (recommended): anyone can type anyone's mobile, so a submit that matches an existing customer "
            "is recorded and pushed as an unverified match, and never changes that customer's groups, attributes "
            "or flows. On: such a submit counts as that customer's (joins the group, starts flows, is pushed "
            "under the customer's ID)."
        ),
    )
    webhooks = models.ManyToManyField(
        "webhooks.Webhook",
        blank=True,
        related_name="micro_pages",
        limit_choices_to=NON_FIXED_WEBHOOKS,
        verbose_name=_("webhooks to call"),
        help_text=_("Each active one receives form/submit for every submission."),
    )
    group = models.ForeignKey(
        "customers.Group",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="micro_pages",
        verbose_name=_("add the customer to group"),
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = _("micro-page")
        verbose_name_plural = _("micro-pages")

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("automation:page", args=[self.slug])


class FormField(models.Model):
    class Type(models.TextChoices):
        TEXT = "text", _("text")
        MOBILE = "mobile", _("mobile")
        EMAIL = "email", _("email")
        SELECT = "select", _("select")
        CHECKBOX = "checkbox", _("checkbox")

    page = models.ForeignKey(MicroPage, on_delete=models.CASCADE, related_name="fields", verbose_name=_("page"))
    label = models.CharField(_("label"), max_length=128)
    key = models.CharField(_("key"), max_length=64, validators=[validate_field_key])
    field_type = models.CharField(_("type"), max_length=16, choices=Type.choices, default=Type.TEXT)
    required = models.BooleanField(_("required"), default=False)
    options = models.TextField(
        _("options"),
        blank=True,
        help_text=_("Select and checkbox: one option a line. A checkbox without options is a single box."),
    )
    order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("form field")
        verbose_name_plural = _("form fields")
        constraints = [models.UniqueConstraint(fields=["page", "key"], name="form_field_key_once_per_page")]

    def __str__(self):
        return self.label

    @property
    def option_list(self) -> list[str]:
        return list(dict.fromkeys(line.strip() for line in self.options.splitlines() if line.strip()))

    def clean(self):
        if self.field_type == self.Type.SELECT and not self.option_list:
            raise ValidationError({"options": _("A select needs at least one option.")})


class Submission(models.Model):
    page = models.ForeignKey(
        MicroPage, on_delete=models.CASCADE, related_name="submissions", verbose_name=_("micro-page")
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="form_submissions",
        verbose_name=_("customer"),
    )
    data = models.JSONField(_("data"), default=dict)
    # Whether the submitted mobile matched an existing customer, and whether the submit counts as that
    # customer's: only when the page trusts submitted mobile numbers (no verification code is sent).
    matched = models.BooleanField(_("matched an existing customer"), default=False)
    verified = models.BooleanField(_("verified"), default=False)
    # The token of the form as it was shown: a second submit of the same form (a double click) is the same
    # submission, not another one with another push.
    form_token = models.CharField(max_length=32, blank=True, default="", editable=False)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    message = models.ForeignKey(
        "webhooks.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("message"),
    )
    created_at = models.DateTimeField(_("submitted at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("form submission")
        verbose_name_plural = _("form submissions")
        constraints = [
            models.UniqueConstraint(
                fields=["page", "form_token"], condition=~Q(form_token=""), name="submission_once_per_form_token"
            )
        ]

    def __str__(self):
        return f"#{self.pk} {self.page}"


class Flow(models.Model):
    class Trigger(models.TextChoices):
        SCORE_REACHED = "score_reached", _("activity score reaches a threshold")
        GROUP_JOINED = "group_joined", _("joins a group")
        FORM_SUBMITTED = "form_submitted", _("submits a micro-page form")
        LOYALTY_EVENT = "loyalty_event", _("a loyalty event")

    name = models.CharField(_("name"), max_length=128, validators=[validate_one_line])
    is_active = models.BooleanField(_("active"), default=True)
    trigger = models.CharField(_("trigger"), max_length=32, choices=Trigger.choices)
    score_threshold = models.IntegerField(
        _("activity score threshold"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Starts when a customer's score goes from below this value to this value or more."),
    )
    group = models.ForeignKey(
        "customers.Group",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="flows",
        verbose_name=_("group"),
    )
    page = models.ForeignKey(
        MicroPage,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="flows",
        verbose_name=_("micro-page"),
    )
    event = models.CharField(_("loyalty event"), max_length=64, choices=FixedEvent.choices, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("automation flow")
        verbose_name_plural = _("automation flows")
        indexes = [models.Index(fields=["trigger", "is_active"], name="flow_trigger_idx")]

    def __str__(self):
        return self.name

    def clean(self):
        requirements: dict[str, tuple[str, bool]] = {
            self.Trigger.SCORE_REACHED: ("score_threshold", self.score_threshold is not None),
            self.Trigger.GROUP_JOINED: ("group", self.group_id is not None),
            self.Trigger.FORM_SUBMITTED: ("page", self.page_id is not None),
            self.Trigger.LOYALTY_EVENT: ("event", bool(self.event)),
        }
        needed = requirements.get(self.trigger)
        if needed and not needed[1]:
            raise ValidationError({needed[0]: _("Required for this trigger.")})
        # The form shows only the chosen trigger's field: what another trigger had stays hidden, so it is
        # cleared (a forgotten group or page would otherwise be kept and protected from deletion).
        for trigger, name in TRIGGER_FIELDS.items():
            if trigger != self.trigger:
                setattr(self, name, "" if name == "event" else None)

    @property
    def trigger_label(self) -> str:
        details: dict[str, object] = {
            self.Trigger.SCORE_REACHED: self.score_threshold,
            self.Trigger.GROUP_JOINED: self.group,
            self.Trigger.FORM_SUBMITTED: self.page,
            self.Trigger.LOYALTY_EVENT: self.get_event_display(),
        }
        detail = details.get(self.trigger)
        return f"{self.get_trigger_display()}: {detail}"


# The field each trigger needs (the form shows only the chosen trigger's).
TRIGGER_FIELDS = {
    Flow.Trigger.SCORE_REACHED: "score_threshold",
    Flow.Trigger.GROUP_JOINED: "group",
    Flow.Trigger.FORM_SUBMITTED: "page",
    Flow.Trigger.LOYALTY_EVENT: "event",
}


class FlowStep(models.Model):
    class Kind(models.TextChoices):
        WAIT = "wait", _("wait")
        WEBHOOK = "webhook", _("webhook node")

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="steps", verbose_name=_("flow"))
    order = models.PositiveIntegerField(_("order"), default=0)
    kind = models.CharField(_("step"), max_length=16, choices=Kind.choices)
    wait = models.DurationField(
        _("wait for"),
        null=True,
        blank=True,
        help_text=_("Wait steps: e.g. 00:30:00 for 30 minutes, 1 00:00:00 for a day."),
    )
    webhook = models.ForeignKey(
        "webhooks.Webhook",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="flow_steps",
        limit_choices_to=NON_FIXED_WEBHOOKS,
        verbose_name=_("webhook"),
    )

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("flow step")
        verbose_name_plural = _("flow steps")

    def __str__(self):
        if self.kind == self.Kind.WAIT:
            return _("wait %(duration)s") % {"duration": self.wait}
        return _("webhook %(webhook)s") % {"webhook": self.webhook}

    def clean(self):
        if self.kind == self.Kind.WAIT:
            if self.wait is None or self.wait <= timedelta(0):
                raise ValidationError({"wait": _("Enter how long to wait (more than zero).")})
            if self.wait > timedelta(days=366):
                raise ValidationError({"wait": _("Wait at most a year.")})
        elif self.kind == self.Kind.WEBHOOK:
            webhook = self.webhook
            if webhook is None:
                raise ValidationError({"webhook": _("Choose the webhook to call.")})
            if webhook.is_fixed:
                raise ValidationError({"webhook": _("Only a non-fixed webhook can be a flow's webhook node.")})


class FlowRun(models.Model):
    """One customer's way through one flow; the database is the truth, the rq job only a wake-up call."""

    class Status(models.TextChoices):
        RUNNING = "running", pgettext_lazy("status", "Running")
        WAITING = "waiting", pgettext_lazy("status", "Waiting")
        COMPLETED = "completed", pgettext_lazy("status", "Completed")
        FAILED = "failed", pgettext_lazy("status", "Failed")

    OPEN_STATUSES = (Status.RUNNING, Status.WAITING)

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="runs", verbose_name=_("flow"))
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="flow_runs", verbose_name=_("customer")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    # 0-based index of the step the run is at; a waiting run is at its wait step until next_run_at.
    step_index = models.PositiveIntegerField(_("current step"), default=0)
    next_run_at = models.DateTimeField(_("next step at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("flow run")
        verbose_name_plural = _("flow runs")
        constraints = [models.UniqueConstraint(fields=["flow", "customer"], name="flow_run_once_per_customer")]
        indexes = [models.Index(fields=["status", "next_run_at"], name="flow_run_due_idx")]

    def __str__(self):
        return f"{self.flow} · {self.customer}"
