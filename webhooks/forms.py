from django import forms
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import Webhook
from .secrets import MASK

SECRET_FIELDS = ("secret_key", "basic_password", "oauth_app_secret")


class SecretInput(forms.PasswordInput):
    """Write-only: a stored secret is never sent to the browser; a 'replace' box opens the input."""

    def __init__(self, attrs=None):
        super().__init__(attrs, render_value=False)
        self.is_set = False

    def render(self, name, value, attrs=None, renderer=None):
        box = super().render(name, None, attrs, renderer)
        if not self.is_set:
            return box
        return format_html(
            '<span class="secret-set">{} {}</span> <label class="secret-replace">'
            '<input type="checkbox" name="{}__replace" data-secret-replace="{}"> {}</label>'
            '<span class="secret-input" hidden>{}</span>',
            MASK, _("(set)"), name, name, _("Replace"), box,
        )

    def value_from_datadict(self, data, files, name):
        if self.is_set and not data.get(f"{name}__replace"):
            return KEEP
        return data.get(name, "")


KEEP = object()  # the user left a stored secret as it is


class SecretField(forms.CharField):
    widget = SecretInput

    def __init__(self, **kwargs):
        kwargs.pop("max_length", None)
        kwargs.update(required=False, strip=False)
        super().__init__(**kwargs)

    def clean(self, value):
        return KEEP if value is KEEP else super().clean(value)


class WebhookForm(forms.ModelForm):
    class Meta:
        model = Webhook
        fields = [
            "name", "url", "is_active", "auto_retry", "auth_type", "secret_key", "basic_username", "basic_password",
            "oauth_token_url", "oauth_app_id", "oauth_app_secret", "trigger_type", "message_type", "body_template",
            "empty_text", "event", "verify_ssl", "connect_timeout", "read_timeout",
        ]
        widgets = {
            "body_template": forms.Textarea(attrs={"rows": 6, "class": "vLargeTextField", "spellcheck": "false"}),
            **{name: SecretInput for name in SECRET_FIELDS},
        }
        field_classes = {name: SecretField for name in SECRET_FIELDS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            field = self.fields[name]
            field.widget.is_set = bool(self.instance.pk and getattr(self.instance, name, None))
            field.initial = None

    def _post_clean(self):
        # A secret left as it is keeps the stored (encrypted) value; the model then validates it.
        for name in SECRET_FIELDS:
            if self.cleaned_data.get(name) is KEEP:
                self.cleaned_data[name] = getattr(self.instance, name)
        super()._post_clean()
