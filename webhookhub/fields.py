"""Form fields the admin and the Open API share (the API validates with the admin's forms)."""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class FullURLField(forms.URLField):
    """An address typed out with its scheme. Django's URLField would save "crm.example.com/hook" as
    http://crm.example.com/hook without a word: plain HTTP to a receiver that may only speak HTTPS. Asked
    instead, with https:// suggested."""

    default_error_messages = {
        "scheme_missing": _("Enter the full address, including https:// (for example %(suggestion)s)."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("assume_scheme", "https")
        super().__init__(**kwargs)

    def to_python(self, value):
        value = value.strip() if isinstance(value, str) else value
        if value and not _HAS_SCHEME.match(value):
            raise ValidationError(
                self.error_messages["scheme_missing"],
                code="scheme_missing",
                params={"suggestion": "https://" + value.lstrip("/")},
            )
        return super().to_python(value)
