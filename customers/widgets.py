import json

from django import forms


class KeyValueWidget(forms.Textarea):
    """Custom attributes as rows of key and value; the JSON stays in the textarea, so no JS still works."""

    template_name = "customers/widgets/key_value.html"

    class Media:
        js = ("customers/key_value.js",)
        css = {"all": ("customers/key_value.css",)}

    def format_value(self, value):
        if isinstance(value, str):
            return value
        return json.dumps(value or {}, ensure_ascii=False, indent=1)
