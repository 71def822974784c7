import json

from django import forms

from webhookhub.text import displayable


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

    def prepare_value(self, value):
        return displayable(super().prepare_value(value))
