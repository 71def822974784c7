"""The public form of a micro-page, built from its fields; validation happens here, on the server."""

import re
import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from customers.validators import normalize_mobile, validate_mobile
from webhookhub.text import text_validated

from .models import FormField, MicroPage

# A field a person never sees (hidden by CSS, skipped by the keyboard) but a naive bot fills in.
HONEYPOT = "website"
FORM_TOKEN = "form_token"  # noqa: S105 - a field name, not a secret
FORM_TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
FIELD_PREFIX = "f_"
MAX_TEXT = 500


class MobileField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=20, **kwargs)
        self.widget.input_type = "tel"
        self.widget.attrs.update({"inputmode": "tel", "autocomplete": "tel"})

    def to_python(self, value):
        return normalize_mobile(super().to_python(value) or "")

    def validate(self, value):
        super().validate(value)
        validate_mobile(value)


def _form_field(field: FormField) -> forms.Field:
    return text_validated(_plain_form_field(field))


def _plain_form_field(field: FormField) -> forms.Field:
    common: dict[str, Any] = {"label": field.label, "required": field.required}
    kind = field.field_type
    if kind == FormField.Type.MOBILE:
        return MobileField(**common)
    if kind == FormField.Type.EMAIL:
        return forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}), **common)
    options = [(option, option) for option in field.option_list]
    if kind == FormField.Type.SELECT:
        return forms.ChoiceField(choices=[("", "—"), *options], **common)
    if kind == FormField.Type.CHECKBOX:
        if options:
            return forms.MultipleChoiceField(choices=options, widget=forms.CheckboxSelectMultiple, **common)
        return forms.BooleanField(**common)
    return forms.CharField(max_length=MAX_TEXT, **common)


class MicroPageForm(forms.Form):
    website = forms.CharField(
        required=False,
        label=_("Leave this empty"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    # A new token each time the form is shown; submits carrying the same one are one submission.
    form_token = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, page: MicroPage, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial[FORM_TOKEN] = uuid.uuid4().hex
        self.page = page
        self.page_fields = list(page.fields.all())
        # The honeypot goes last, so its position says nothing to a bot reading the form top-down.
        honeypot = self.fields.pop(HONEYPOT)
        for field in self.page_fields:
            self.fields[FIELD_PREFIX + field.key] = _form_field(field)
        self.fields[HONEYPOT] = honeypot

    @property
    def is_bot(self) -> bool:
        return bool((self.data.get(HONEYPOT) or "").strip())

    @property
    def visible_fields_list(self):
        return [self[name] for name in self.fields if name not in (HONEYPOT, FORM_TOKEN)]

    @property
    def token(self) -> str:
        """The form's token when it is well formed, else '' (then the submit is simply not deduplicated)."""
        token = (self.cleaned_data.get(FORM_TOKEN) or "").strip()
        return token if FORM_TOKEN_RE.match(token) else ""

    def clean(self):
        cleaned = super().clean()
        if self.is_bot:
            raise ValidationError(_("This submission cannot be accepted."), code="honeypot")
        return cleaned

    def submitted_data(self) -> dict:
        """The answers keyed by each field's key, in the page's order: what `form.<key>` shows."""
        data = {}
        for field in self.page_fields:
            value = self.cleaned_data.get(FIELD_PREFIX + field.key)
            if isinstance(value, str):
                value = value.strip()
            data[field.key] = value
        return data
