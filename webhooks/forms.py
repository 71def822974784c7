import zoneinfo
from datetime import datetime, timedelta
from typing import cast

from django import forms
from django.db import models
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Group
from customers.selectors import groups_with_counts
from webhookhub.fields import FullURLField
from webhooks.content.body_fields import template_warnings
from webhooks.content.templating import TemplateError, compile_template
from webhooks.engine.retry_policy import DelaysError, RetryPolicyKind, delays_parse, delays_text
from webhooks.models import OutboundProxy, Webhook
from webhooks.secrets import MASK

SECRET_FIELDS = ("secret_key", "basic_password", "oauth_app_secret", "client_key")
# Mutual TLS: set by Administrators only (webhookhub/roles.py); Marketers choose proxies and CAs, never these.
ADMINISTRATOR_FIELDS = ("client_certificate", "client_key")
# Shown and used only with the right to manage secrets, like the secrets themselves.
ROTATION_FIELDS = ("keep_previous_signature", "previous_signature_hours")


class SecretInput(forms.PasswordInput):
    """Write-only: a stored secret is never sent to the browser; a 'replace' box opens the input."""

    def __init__(self, attrs=None):
        super().__init__(attrs, render_value=False)
        self.is_set = False
        self.undecryptable = False

    def render(self, name, value, attrs=None, renderer=None):
        box = super().render(name, None, attrs, renderer)
        if not self.is_set:
            return box
        if self.undecryptable:
            # The page still opens (a wrong or rotated-away key): it says so and offers the replacement.
            state = format_html(
                '<span class="secret-set secret-undecryptable errornote" data-secret-undecryptable="{}">{}</span>',
                name,
                _("Set, but it cannot be decrypted with SECRETS_ENCRYPTION_KEYS: replace it."),
            )
        else:
            state = format_html('<span class="secret-set">{} {}</span>', MASK, _("(set)"))
        return format_html(
            '{} <label class="secret-replace">'
            '<input type="checkbox" name="{}__replace" data-secret-replace="{}"> {}</label>'
            '<span class="secret-input" hidden>{}</span>',
            state,
            name,
            name,
            _("Replace"),
            box,
        )

    def value_from_datadict(self, data, files, name):
        if self.is_set and not data.get(f"{name}__replace"):
            return KEEP
        return data.get(name, "")


KEEP = object()  # the user left a stored secret as it is


def pem_text(value: str) -> str:
    """PEM as pasted (a browser sends CRLF, editors add spaces) in one form: LF lines, one final newline."""
    lines = [line.strip() for line in value.strip().splitlines()]
    return "\n".join(lines) + "\n" if lines else ""


class SecretTextarea(SecretInput):
    """A write-only secret of several lines (a PEM key): a password box would drop its line breaks."""

    template_name = "django/forms/widgets/textarea.html"

    def __init__(self, attrs=None):
        super().__init__({"rows": 4, "class": "vLargeTextField", "spellcheck": "false", **(attrs or {})})


class DelaysField(forms.CharField):
    """A custom retry schedule typed as "30m, 2h, 1d" (a bare number is minutes); a list of seconds inside."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return delays_text(value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        try:
            return delays_parse(value if isinstance(value, list | tuple) else super().to_python(value))
        except DelaysError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc

    def has_changed(self, initial, data):
        try:
            return list(initial or []) != self.to_python(data)
        except forms.ValidationError:
            return True


class SecretField(forms.CharField):
    widget = SecretInput

    def __init__(self, **kwargs):
        kwargs.pop("max_length", None)
        kwargs.update(required=False, strip=False)
        super().__init__(**kwargs)

    def clean(self, value):
        return KEEP if value is KEEP else super().clean(value)

    def has_changed(self, initial, data):
        # Changed only when a value was entered, or a stored one was cleared: not on every save (the
        # stored secret is never sent to the browser, so comparing it with the empty box would say so).
        if data is KEEP:
            return False
        return bool(data) or self.widget.is_set


class WebhookForm(forms.ModelForm):
    class Meta:
        model = Webhook
        fields = [
            "name",
            "url",
            "is_active",
            "auto_retry",
            "auth_type",
            "secret_key",
            "basic_username",
            "basic_password",
            "oauth_token_url",
            "oauth_app_id",
            "oauth_app_secret",
            "trigger_type",
            "message_type",
            "body_template",
            "empty_text",
            "event",
            "verify_ssl",
            "connect_timeout",
            "read_timeout",
            "max_concurrency",
            "rate_limit",
            "standard_webhooks",
            "retry_policy",
            "retry_delays",
            "autopause",
            "autopause_hours",
            "autopause_failures",
            "alert_after_failures",
            "egress",
            "proxy",
            "private_ca",
            "client_certificate",
            "client_key",
            "send_traceparent",
        ]
        widgets = {
            "body_template": forms.Textarea(attrs={"rows": 6, "class": "vLargeTextField", "spellcheck": "false"}),
            **{name: SecretInput for name in SECRET_FIELDS},
            "client_key": SecretTextarea,
            "client_certificate": forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField", "spellcheck": "false"}),
        }
        field_classes = {name: SecretField for name in SECRET_FIELDS} | {
            "url": FullURLField,
            "oauth_token_url": FullURLField,
        }

    retry_delays = DelaysField(
        label=_("retry delays"),
        help_text=_("For custom delays: each retry's wait after the failure before it, e.g. 1m, 10m, 1h, 6h, 1d."),
        widget=forms.TextInput(attrs={"class": "vTextField", "placeholder": "1m, 10m, 1h, 6h, 1d"}),
    )

    # The rotation helper of the DM Hub signature: asked when the secret key is replaced.
    keep_previous_signature = forms.BooleanField(
        label=_("Old key keeps signing"),
        required=False,
        help_text=_(
            "When replacing the secret key: also send the old key's signature, in the header "
            "X-Clab-Hmac-Signature-Previous, for the hours below, so the receiver can switch without downtime."
        ),
    )
    previous_signature_hours = forms.IntegerField(
        label=_("Overlap (hours)"), required=False, initial=24, min_value=1, max_value=720
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            field = self.fields.get(name)
            if field is None:  # left out for a user who may not see secrets
                continue
            stored = getattr(self.instance, name, None) if self.instance.pk else None
            field.widget.is_set = bool(stored)
            field.widget.undecryptable = bool(stored) and getattr(stored, "is_undecryptable", False)
            field.initial = None
        if "retry_policy" in self.fields:
            # Left out (an older script posting the form): DM Hub's, the default.
            self.fields["retry_policy"].required = False
        if "egress" in self.fields:
            # Left out (an older script posting the form): the installation's, the default.
            self.fields["egress"].required = False

    def clean_retry_policy(self):
        return self.cleaned_data.get("retry_policy") or RetryPolicyKind.DMHUB

    def clean_client_certificate(self):
        return pem_text(self.cleaned_data.get("client_certificate") or "")

    def clean_client_key(self):
        value = self.cleaned_data.get("client_key")
        return value if value is KEEP else pem_text(value or "")

    def clean_egress(self):
        return self.cleaned_data.get("egress") or Webhook.Egress.DEFAULT

    def clean(self):
        # A secret left as it is keeps the stored (encrypted) value; the model then validates it
        # (clean() runs before the instance is built and validated).
        cleaned = super().clean()
        for name in SECRET_FIELDS:
            if name in self.cleaned_data and self.cleaned_data[name] is KEEP:
                self.cleaned_data[name] = getattr(self.instance, name)
        custom = self.cleaned_data.get("retry_policy") == RetryPolicyKind.CUSTOM
        if custom and not self.cleaned_data.get("retry_delays") and "retry_delays" not in self.errors:
            self.add_error("retry_delays", _("Enter at least one delay for a custom retry policy."))
        return cleaned

    def body_template_warnings(self) -> list[str]:
        """Names of the saved template that nothing can fill (no customer has the attribute, no form the
        field): said, not refused, since the attribute may be imported later."""
        instance = self.instance
        if instance.is_fixed or "body_template" not in self.cleaned_data:
            return []
        try:
            names = compile_template(instance.body_template, message_type=instance.message_type).names
        except TemplateError:
            return []
        return template_warnings(names)

    def previous_signature_overlap(self):
        """The rotation helper's overlap, or None when the old key's signature is not wanted."""
        if not self.cleaned_data.get("keep_previous_signature"):
            return None
        return timedelta(hours=self.cleaned_data.get("previous_signature_hours") or 24)


class OutboundProxyForm(forms.ModelForm):
    """A proxy's password is write-only, like a webhook's secrets."""

    class Meta:
        model = OutboundProxy
        fields = ["name", "url", "username", "password"]
        widgets = {"password": SecretInput}
        field_classes = {"password": SecretField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.password if self.instance.pk else None
        self.fields["password"].widget.is_set = bool(stored)
        self.fields["password"].initial = None

    def clean(self):
        cleaned = super().clean()
        if self.cleaned_data.get("password") is KEEP:
            self.cleaned_data["password"] = self.instance.password
        return cleaned


class SecretRotateForm(forms.Form):
    overlap_hours = forms.IntegerField(
        label=_("Overlap (hours)"),
        initial=24,
        min_value=0,
        max_value=720,
        help_text=_("How long the old secret keeps signing beside the new one; 0 stops it at once."),
    )


# --- Sending from the admin --------------------------------------------------------------------

DATETIME_LOCAL_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


class GroupChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        count = getattr(obj, "customer_count", None)
        if count is None:
            return str(obj)
        return _("%(name)s (%(count)s members)") % {"name": obj, "count": count}


class GroupSendForm(forms.Form):
    """A group send: the group, and now or a time read in the user's own time zone."""

    class When(models.TextChoices):
        NOW = "now", _("Send now")
        SCHEDULED = "scheduled", _("Send at a set time")

    group = GroupChoiceField(label=_("Send to group"), queryset=Group.objects.none(), empty_label=_("Choose a group"))
    when = forms.ChoiceField(
        label=_("Send time"),
        choices=When.choices,
        initial=When.NOW,
        widget=forms.RadioSelect(attrs={"class": "hub-when"}),
    )
    scheduled_at = forms.CharField(
        label=_("Scheduled time"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
    )
    # The browser's IANA time zone (Intl API), so the time means what the user saw on the clock.
    time_zone = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(GroupChoiceField, self.fields["group"]).queryset = groups_with_counts()

    def _zone(self):
        name = self.cleaned_data.get("time_zone")
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                pass
        return timezone.get_current_timezone()

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("when") != self.When.SCHEDULED:
            cleaned["scheduled_at"] = None
            return cleaned
        raw = (cleaned.get("scheduled_at") or "").strip()
        if not raw:
            self.add_error("scheduled_at", _("Choose the date and time to send at."))
            return cleaned
        for fmt in DATETIME_LOCAL_FORMATS:
            try:
                naive = datetime.strptime(raw, fmt)  # noqa: DTZ007 - made aware in the user's zone below
                break
            except ValueError:
                continue
        else:
            self.add_error("scheduled_at", _("Enter a valid date and time."))
            return cleaned
        moment = timezone.make_aware(naive, self._zone())
        if moment <= timezone.now():
            self.add_error("scheduled_at", _("The scheduled time is in the past; choose a later time."))
            return cleaned
        cleaned["scheduled_at"] = moment
        return cleaned


class TestSendForm(forms.Form):
    customer = forms.ModelChoiceField(
        label=_("Customer"),
        queryset=Customer.objects.all(),
        error_messages={
            "required": _("Choose a customer to send the test to."),
            "invalid_choice": _("That customer does not exist."),
        },
    )


class TemplatePreviewForm(forms.Form):
    """A body template (the one being edited, or else the saved one) and the customer to render it for."""

    customer = forms.ModelChoiceField(
        label=_("Customer"),
        queryset=Customer.objects.select_related("level"),
        error_messages={
            "required": _("Choose a customer to preview the message for."),
            "invalid_choice": _("That customer does not exist."),
        },
    )
    body_template = forms.CharField(required=False, strip=False)
    message_type = forms.ChoiceField(required=False, choices=Webhook.MessageType.choices)
    empty_text = forms.CharField(required=False, strip=False)


class TemplateCheckForm(forms.Form):
    """A body template being typed, checked before it is saved (the editor's live warnings)."""

    body_template = forms.CharField(required=False, strip=False, max_length=100_000)
    message_type = forms.ChoiceField(required=False, choices=Webhook.MessageType.choices)
    empty_text = forms.CharField(required=False, strip=False)
