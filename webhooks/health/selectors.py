"""Reads of a webhook's health for the admin and the Open API (the writes are in health.py)."""

from datetime import UTC, datetime, timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from webhookhub.roles import administrator_names, is_administrator
from webhooks.health.services import alert_after, autopause_policy
from webhooks.models import Webhook
from webhooks.models.health import (
    WebhookHealth,
    WebhookHealthHour,
    WebhookIncident,
    WorkerHeartbeat,
    incident_pause_words,
)

HOUR = timedelta(hours=1)


class State:
    HEALTHY = "healthy"
    FAILING = "failing"
    PAUSED = "paused"
    GONE = "gone"
    UNKNOWN = "unknown"


def _health_of(webhook: Webhook) -> WebhookHealth | None:
    try:
        return webhook.health
    except WebhookHealth.DoesNotExist:
        return None


def health_state(webhook: Webhook) -> dict:
    """The one word of the webhook list: gone, paused, failing since …, healthy, or not sent yet."""
    health = _health_of(webhook)
    if webhook.is_paused and webhook.gone_at:
        state, label = State.GONE, _("gone (410), paused")
    elif webhook.is_paused:
        state, label = State.PAUSED, _("paused")
    elif health is not None and health.consecutive_failures and health.failing_since:
        state = State.FAILING
        label = _("failing since %(time)s") % {
            "time": timezone.localtime(health.failing_since).strftime("%Y-%m-%d %H:%M")
        }
    elif health is not None and health.last_success_at:
        state, label = State.HEALTHY, _("healthy")
    else:
        state, label = State.UNKNOWN, _("nothing sent yet")
    return {
        "state": state,
        "label": label,
        "title": webhook.pause_text if webhook.is_paused else (health.last_error_text if health else ""),
        # Failing, but not yet past the alert threshold: shown amber, not red.
        "warning": state == State.FAILING and health is not None and health.consecutive_failures < alert_after(webhook),
    }


def success_rates(*, webhook_id: int, now: datetime | None = None) -> dict[str, dict]:
    """Success rate over the last hour and the last day, from the hourly buckets.

    A bucket only partly inside the window counts for that part (of its elapsed time): the rate over
    "the last hour" is not the rate since the top of the hour.
    """
    now = now or timezone.now()
    windows = {"hour": HOUR, "day": timedelta(days=1)}
    oldest = (now - windows["day"]).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    buckets = list(
        WebhookHealthHour.objects.filter(webhook_id=webhook_id, hour__gte=oldest).values_list(
            "hour", "succeeded", "failed"
        )
    )
    rates = {}
    for name, span in windows.items():
        start = now - span
        ok = failed = 0.0
        for hour, succeeded, failures in buckets:
            end = min(hour + HOUR, now)
            if end <= start or end <= hour:
                continue
            part = (end - max(hour, start)) / (end - hour)
            ok += succeeded * part
            failed += failures * part
        total = ok + failed
        rates[name] = {
            "succeeded": round(ok),
            "failed": round(failed),
            "rate": round(100 * ok / total, 1) if total >= 0.5 else None,
        }
    return rates


def webhook_health(*, webhook: Webhook) -> dict:
    """Everything the health block of the webhook's page shows."""
    health = _health_of(webhook)
    policy = autopause_policy(webhook)
    return {
        **health_state(webhook),
        "pause_text": webhook.pause_text,
        "consecutive_failures": health.consecutive_failures if health else 0,
        "failing_since": health.failing_since if health else None,
        "last_success_at": health.last_success_at if health else None,
        "last_failure_at": health.last_failure_at if health else None,
        "last_error": health.last_error_text if health else "",
        "last_status_code": health.last_status_code if health else None,
        "incident_id": health.incident_id if health else None,
        "rates": success_rates(webhook_id=webhook.pk),
        "alert_after": alert_after(webhook),
        "autopause": {"hours": policy[0], "failures": policy[1]} if policy else None,
        "incidents": list(WebhookIncident.objects.filter(webhook=webhook)[:5]),
    }


def webhook_health_api(webhook: Webhook) -> dict:
    """The health as the Open API answers it (JSON values only; one query beyond the health row)."""
    health = _health_of(webhook)
    rates = success_rates(webhook_id=webhook.pk)
    return {
        "state": health_state(webhook)["state"],
        "consecutive_failures": health.consecutive_failures if health else 0,
        "failing_since": health.failing_since if health else None,
        "last_success_at": health.last_success_at if health else None,
        "last_error": health.last_error if health else "",
        "last_status_code": health.last_status_code if health else None,
        "success_rate_hour": rates["hour"]["rate"],
        "success_rate_day": rates["day"]["rate"],
        "incident_id": health.incident_id if health else None,
    }


# --- A paused webhook, wherever its work waits ----------------------------------------------------

# Administrators a Marketer is told to ask, at most this many names.
ASK_NAMES = 3


def pause_reason_words(webhook: Webhook, incident: WebhookIncident | None) -> str:
    """Why the webhook is paused, in the reader's language: its incident's cause and facts worded as the
    history words them (models/health.py), and the receiver's last answer."""
    if incident is not None and incident.paused_at:
        reason = incident_pause_words(incident)
    else:
        reason = webhook.pause_reason or _("Paused.")
    if incident is not None and incident.last_status_code:
        reason = _("%(reason)s Last answer: HTTP %(status)s.") % {"reason": reason, "status": incident.last_status_code}
    return reason


def paused_notes(*, webhooks, user) -> dict[int, dict]:
    """For each paused webhook among these: why (in the reader's language), and a way on for this reader:
    the link to resume it (those who may) or whom to ask (the others). Two queries, whatever the count."""
    paused = {webhook.pk: webhook for webhook in webhooks if webhook is not None and webhook.is_paused}
    if not paused:
        return {}
    incidents = {
        incident.webhook_id: incident
        for incident in WebhookIncident.objects.filter(
            webhook_id__in=list(paused), ended_at__isnull=True, paused_at__isnull=False
        ).order_by("started_at")
    }
    can_resume = is_administrator(user)  # pausing and resuming stay with the administrators (roles.py)
    ask = ""
    if not can_resume:
        names = administrator_names(limit=ASK_NAMES)
        ask = (
            _("Only an administrator can resume it: ask %(names)s.") % {"names": ", ".join(names)}
            if names
            else _("Only an administrator can resume it: ask yours.")
        )
    return {
        pk: {
            "webhook_id": pk,
            "name": webhook.name,
            "reason": pause_reason_words(webhook, incidents.get(pk)),
            "resume_url": reverse("admin:webhooks_webhook_change", args=[pk]) + "#webhook-health" if can_resume else "",
            "ask": ask,
        }
        for pk, webhook in paused.items()
    }


def workers_seen(*, within: int, now: datetime | None = None) -> dict:
    """The hub workers that wrote a heartbeat within `within` seconds, by state, and the freshest's age.

    Read from the workers' own rows (health_models.WorkerHeartbeat), not from rq's registry in Redis:
    a Redis restarted empty forgets rq's worker set, not the workers.
    """
    now = now or timezone.now()
    rows = list(WorkerHeartbeat.objects.values_list("state", "seen_at"))
    fresh = [state for state, seen_at in rows if (now - seen_at).total_seconds() <= within]
    by_state = {state: fresh.count(state) for state in WorkerHeartbeat.State.values}
    ages = [(now - seen_at).total_seconds() for _state, seen_at in rows]
    return {"seen": len(fresh), "by_state": by_state, "freshest_seconds": min(ages) if ages else None}
