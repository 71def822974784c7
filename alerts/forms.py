from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.utils.translation import gettext_lazy as _

from webhooks.forms import KEEP, SecretField, SecretInput

from .models import Channel

SECRET_FIELDS = ("url", "secret")


class ChannelForm(forms.ModelForm):
    """A channel; its robot URL (which carries the robot's key) and signing secret are write-only."""

    class Meta:
        model = Channel
        fields = [
            "name",
            "kind",
            "is_active",
            "url",
            "secret",
            "message_format",
            "recipients",
            "all_webhooks",
            "webhooks",
            "on_failing",
            "on_paused",
            "on_recovered",
        ]
        widgets = {
            "recipients": forms.Textarea(attrs={"rows": 3}),
            **{name: SecretInput for name in SECRET_FIELDS},
        }
        field_classes = {name: SecretField for name in SECRET_FIELDS}
        help_texts = {
            "url": _(
                "WeCom: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…; DingTalk: "
                "https://oapi.dingtalk.com/robot/send?access_token=…; Feishu: "
                "https://open.feishu.cn/open-apis/bot/v2/hook/…. It carries the robot's key: kept encrypted, "
                "never shown."
            ),
            "secret": _(
                "DingTalk: the 加签 secret (starts with SEC). Feishu: the 签名校验 secret. Empty when the robot does "
                "not sign (WeCom never does)."
            ),
            "message_format": _("Markdown where the robot shows it (a card on Feishu); plain text otherwise."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            field = self.fields.get(name)
            if field is None:
                continue
            stored = getattr(self.instance, name, None) if self.instance.pk else None
            field.widget.is_set = bool(stored)
            field.widget.undecryptable = bool(stored) and getattr(stored, "is_undecryptable", False)
            field.initial = None

    def clean(self):
        cleaned: dict = super().clean() or {}
        for name in SECRET_FIELDS:
            if name in cleaned and cleaned[name] is KEEP:
                cleaned[name] = getattr(self.instance, name)
        kind = cleaned.get("kind")
        url = cleaned.get("url")
        if kind in Channel.ROBOTS:
            if not url:
                self.add_error("url", _("A robot channel needs the robot's webhook URL."))
            elif isinstance(url, str):
                try:
                    URLValidator(schemes=["https", "http"])(url)
                except ValidationError:
                    self.add_error("url", _("Enter the robot's webhook URL as its group settings show it (https://…)."))
        if kind == Channel.Kind.EMAIL:
            addresses = [p.strip() for p in (cleaned.get("recipients") or "").replace(",", "\n").splitlines()]
            addresses = [a for a in addresses if a]
            if not addresses:
                self.add_error("recipients", _("An email channel needs at least one recipient."))
            for address in addresses:
                try:
                    validate_email(address)
                except ValidationError:
                    self.add_error("recipients", _("Not an email address: %(address)s") % {"address": address})
        if not cleaned.get("all_webhooks") and not cleaned.get("webhooks"):
            self.add_error("webhooks", _("Choose the webhooks this channel covers, or tick “all webhooks”."))
        if not any(cleaned.get(name) for name in ("on_failing", "on_paused", "on_recovered")):
            self.add_error(None, _("Choose at least one kind of alert (failing, paused, recovered)."))
        return cleaned
