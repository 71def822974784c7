"""What an alert says, in the installation's language: the one place alert texts are written.

Short and useful for a marketing team: which webhook, what happened, the last error, a link to the
webhook's page. One AlertMessage, then the form each channel wants (markdown, text, HTML mail).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from webhookhub.text import one_line

from .models import Alert, Channel
from .robots import masked_url

# Past this, a receiver's error is cut: WeCom takes 4096 bytes of markdown, 2048 of text.
ERROR_LIMIT = 300


@dataclass
class AlertMessage:
    title: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    link: str = ""
    link_text: str = ""
    is_test: bool = False
    # A card's colour where the robot has one (Feishu): what happened, at a glance.
    tone: str = "red"

    def __post_init__(self):
        # The title is a mail subject (one header line) or a card's title: a name may not break it.
        self.title = one_line(str(self.title))

    def text(self) -> str:
        parts = [self.title, *(_line(label, value) for label, value in self.lines)]
        if self.link:
            parts.append(_line(self.link_text, self.link))
        return "\n".join(parts)

    def markdown(self, *, line_break: str = "\n", title: bool = True) -> str:
        parts = [f"### {_md(self.title)}"] if title else []
        parts += [_line(f"**{_md(label)}**", _md(value)) for label, value in self.lines]
        if self.link:
            parts.append(f"[{_md(self.link_text)}]({self.link})")
        return line_break.join(parts)

    def html(self) -> str:
        return render_to_string("alerts/email.html", {"message": self})


def _line(label: str, value: str) -> str:
    # Chinese puts a full-width colon after a label: the pattern is translated.
    return _("%(label)s: %(value)s") % {"label": label, "value": value}


def _md(text: str) -> str:
    # A webhook's name or an error must not open a link, bold text or a new line in the robot's markdown.
    return str(text).replace("](", "] (").replace("\n", " ").replace("*", "\ufe61")


def absolute_url(path: str) -> str:
    return settings.HUB_BASE_URL.rstrip("/") + path


def _when(value) -> str:
    moment = parse_datetime(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        return str(value or "")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def _pause_reason(reason: str, by: str) -> str:
    key = (reason or "").strip().lower()
    if key in {"policy", "auto", "auto_pause", "threshold"}:
        return _("the auto-pause policy (too many consecutive failures)")
    if key in {"410", "gone", "http_410", "410_gone"}:
        return _("the receiver answered 410 Gone")
    if key in {"manual", "person", "user", "admin"} or (not key and by):
        return _("paused by %(by)s") % {"by": by} if by else _("paused by a person")
    return reason or _("not given")


def _pause_text(facts: dict) -> str:
    """Why, in the alert's language: the health's `cause` picks the words (its `reason` text was written
    in the worker's language); a person's own reason follows theirs."""
    cause = str(facts.get("cause") or "")
    reason = str(facts.get("reason") or "")
    by = str(facts.get("by") or "")
    if cause in {"policy", "gone"}:
        return _pause_reason(cause, by)
    if cause == "person":
        words = _pause_reason("person", by)
        return f"{words}: {reason}" if reason else words
    return _pause_reason(reason, by)


def _last_error(facts: dict) -> str:
    error = str(facts.get("last_error") or "")
    if len(error) > ERROR_LIMIT:
        error = error[:ERROR_LIMIT] + "…"
    status = facts.get("last_status_code")
    if status and f"HTTP {status}" not in error:
        return f"HTTP {status} · {error}" if error else f"HTTP {status}"
    return error


def alert_message(alert: Alert) -> AlertMessage:
    """The alert's message in settings.LANGUAGE_CODE (alerts go to a team, not to one reader).

    Its text, markdown and HTML are rendered in the language active then: call them within
    translation.override(settings.LANGUAGE_CODE) too (services do).
    """
    with translation.override(settings.LANGUAGE_CODE):
        if alert.kind == Alert.Kind.TEST:
            return _test_message(alert.channel, alert)
        if alert.kind == Alert.Kind.CERTIFICATE:
            return _certificate_message(alert)
        return _health_message(alert)


def _certificate_message(alert: Alert) -> AlertMessage:
    name = alert.webhook.name if alert.webhook else alert.webhook_name
    expires_at = parse_datetime(str((alert.facts or {}).get("expires_at") or ""))
    message = AlertMessage(
        title=_("[WebhookHub] Client certificate expiring: %(name)s") % {"name": name}, tone="orange"
    )
    message.lines.append((_("Webhook"), name))
    if expires_at:
        message.lines.append((_("Certificate expires"), _when(expires_at)))
    message.lines.append(
        (
            _("What now"),
            _(
                "An administrator uploads the renewed certificate and key on the webhook's page before then; "
                "after it, the receiver refuses the deliveries."
            ),
        )
    )
    if alert.webhook_id:
        message.link = absolute_url(reverse("admin:webhooks_webhook_change", args=[alert.webhook_id]))
        message.link_text = _("Open the webhook in WebhookHub")
    return message


def _health_message(alert: Alert) -> AlertMessage:
    facts = alert.facts or {}
    name = alert.webhook.name if alert.webhook else alert.webhook_name
    titles = {
        Alert.Kind.FAILING: _("[WebhookHub] Webhook failing: %(name)s"),
        Alert.Kind.PAUSED: _("[WebhookHub] Webhook paused: %(name)s"),
        Alert.Kind.RECOVERED: _("[WebhookHub] Webhook recovered: %(name)s"),
    }
    tones = {Alert.Kind.FAILING: "orange", Alert.Kind.PAUSED: "red", Alert.Kind.RECOVERED: "green"}
    kind = Alert.Kind(alert.kind)
    message = AlertMessage(title=titles[kind] % {"name": name}, tone=tones[kind])
    message.lines.append((_("Webhook"), name))
    if alert.webhook:
        message.lines.append((_("URL"), masked_url(alert.webhook.url)))
    failing_since = facts.get("failing_since")
    failures = facts.get("consecutive_failures")
    if alert.kind == Alert.Kind.FAILING:
        if failing_since:
            message.lines.append((_("Failing since"), _when(failing_since)))
        if failures is not None:
            message.lines.append((_("Consecutive failures"), str(failures)))
    elif alert.kind == Alert.Kind.PAUSED:
        message.lines.append((_("Paused because"), _pause_text(facts)))
        if failures:
            message.lines.append((_("Consecutive failures"), str(failures)))
        message.lines.append((_("What now"), _("Deliveries wait until the webhook is resumed on its page.")))
    elif alert.kind == Alert.Kind.RECOVERED:
        since = parse_datetime(failing_since) if isinstance(failing_since, str) else None
        if since:
            message.lines.append((_("Failing since"), _when(since)))
            message.lines.append((_("Recovered after"), timesince(since, alert.created_at)))
        if facts.get("by"):
            message.lines.append((_("Resumed by"), str(facts["by"])))
    last_error = _last_error(facts)
    if last_error and alert.kind != Alert.Kind.RECOVERED:
        message.lines.append((_("Last error"), last_error))
    elif last_error:
        message.lines.append((_("Error before recovery"), last_error))
    if alert.webhook_id:
        message.link = absolute_url(reverse("admin:webhooks_webhook_change", args=[alert.webhook_id]))
        message.link_text = _("Open the webhook in WebhookHub")
    return message


def _test_message(channel: Channel, alert: Alert) -> AlertMessage:
    message = AlertMessage(title=_("[WebhookHub] [TEST] Test alert from %(channel)s") % {"channel": channel.name})
    message.is_test = True
    message.tone = "blue"
    message.lines.append((_("Test"), _("This is a test alert: no webhook is affected.")))
    message.lines.append((_("Channel"), channel.name))
    message.lines.append((_("Sent at"), _when(alert.created_at or timezone.now())))
    message.link = absolute_url(reverse("admin:alerts_channel_change", args=[channel.pk]))
    message.link_text = _("Open the channel in WebhookHub")
    return message


def robot_payload(channel: Channel, message: AlertMessage) -> dict:
    """The vendor's JSON body for one message (before any signature is added)."""
    markdown = channel.message_format == Channel.Format.MARKDOWN
    if channel.kind == Channel.Kind.WECOM:
        if markdown:
            return {"msgtype": "markdown", "markdown": {"content": message.markdown()}}
        return {"msgtype": "text", "text": {"content": message.text()}}
    if channel.kind == Channel.Kind.DINGTALK:
        if markdown:
            # DingTalk's markdown breaks a line only at a blank line.
            return {
                "msgtype": "markdown",
                "markdown": {"title": message.title, "text": message.markdown(line_break="\n\n")},
            }
        return {"msgtype": "text", "text": {"content": message.text()}}
    if channel.kind == Channel.Kind.FEISHU:
        if markdown:
            return {
                "msg_type": "interactive",
                "card": {
                    "config": {"wide_screen_mode": True},
                    "header": {
                        "template": message.tone,
                        "title": {"tag": "plain_text", "content": message.title},
                    },
                    "elements": [{"tag": "markdown", "content": message.markdown(title=False)}],
                },
            }
        return {"msg_type": "text", "content": {"text": message.text()}}
    raise ValueError(f"not a robot: {channel.kind}")
