import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from webhookhub.text import validate_json, validate_text

# Mainland China mobile numbers: 11 ASCII digits starting with 1[3-9]; an optional +86 is dropped.
# [0-9], not \d: \d also matches full-width and other scripts' digits, which would be stored as typed.
MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")


def normalize_mobile(value: str) -> str:
    # NFKC turns full-width digits, plus and hyphen (１３８, ＋, －), as a Chinese keyboard types them,
    # into ASCII, so a person who typed them still gets through.
    value = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", value or ""))
    if value.startswith("+86"):
        value = value[3:]
    return value


def validate_mobile(value: str) -> None:
    if value and not MOBILE_RE.match(value):
        raise ValidationError(
            _("Enter a valid mobile number: 11 digits starting with 13 to 19."), code="invalid_mobile"
        )


ATTRIBUTE_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def validate_attributes(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError(_("Custom attributes must be an object of key and value."), code="invalid")
    for key, item in value.items():
        if not ATTRIBUTE_KEY_RE.match(str(key)):
            validate_text(str(key))
            raise ValidationError(
                _("“%(key)s” is not a valid attribute key: use letters, digits and _, starting with a letter."),
                code="invalid_key",
                params={"key": key},
            )
        if isinstance(item, (dict, list)):
            raise ValidationError(
                _("The value of “%(key)s” must be text, a number or true/false."),
                code="invalid_value",
                params={"key": key},
            )
        validate_json(item, label=key)
