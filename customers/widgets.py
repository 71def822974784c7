import json

from django import forms
from django.forms.fields import InvalidJSONInput

from webhookhub.text import displayable, json_text_depth_exceeded, validate_json_text


class KeyValueWidget(forms.Textarea):
    """Custom attributes as rows of key and value; the JSON stays in the textarea, so no JS still works."""

    template_name = "customers/widgets/key_value.html"

    class Media:
        js = ("customers/key_value.js",)
        css = {"all": ("customers/key_value.css",)}

    def format_value(self, value):
        text = value if isinstance(value, str) else json.dumps(value or {}, ensure_ascii=False, indent=1)
        # A value stored before the hub refused them may hold a lone surrogate, which no page can encode:
        # shown as its JSON escape, the page opens and the form says what to fix.
        return displayable(text)


class AttributesField(forms.JSONField):
    """The custom attributes' form field: whatever it shows (the box, its hidden initial copy) can be encoded."""

    def to_python(self, value):
        # Checked before json.loads, which would recurse until a RecursionError (a 500).
        validate_json_text(value)
        return super().to_python(value)

    def bound_data(self, data, initial):
        # The form shown again with its error parses the text once more: kept as typed instead.
        if isinstance(data, str) and json_text_depth_exceeded(data):
            return InvalidJSONInput(data)
        return super().bound_data(data, initial)

    def prepare_value(self, value):
        return displayable(super().prepare_value(value))
