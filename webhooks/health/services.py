"""A webhook's health, its incidents and auto-pause; pausing and resuming by hand.

Counting (in record.py's wave transaction, one statement each per webhook and wave, never per delivery):
- the counters (WebhookHealth): consecutive failed attempts, failing since, last success;
- the hourly buckets (WebhookHealthHour): attempts succeeded and failed, for the success rates.

What counts: every attempt the receiver answered or failed to answer (a refused connection, a timeout,
a 5xx, a 4xx, a 3xx, 410), test sends and redeliveries included; an attempt that got a 2xx is a
success. A "worker lost" attempt does not count: our worker died, the receiver may well have answered;
blaming it would let the hub's own crashes pause a healthy receiver. A delivery cancelled before its
attempt has no attempt and counts for nothing.

Incidents: one begins when the consecutive failures reach the alert threshold ("failing"), or when the
webhook is paused, whichever comes first; it ends at the first successful attempt after it (while the
webhook is not paused) or when a person resumes the webhook ("recovered"; the counters then start
again, so the auto-pause policy gives the receiver a full new window). `webhook_health_changed` is sent
after the commit, at most once per incident and kind (see health_models.WebhookIncident).

Auto-pause: failing continuously for WEBHOOK_AUTOPAUSE_HOURS AND at least WEBHOOK_AUTOPAUSE_FAILURES
consecutive failures (each webhook may set its own or turn it off); at once on 410 Gone.

Race-freedom on PostgreSQL: the counters' UPDATE … RETURNING locks the webhook's health row until the
wave's transaction commits, so the waves of one webhook recorded by several workers pass the
transitions one at a time, each seeing the counters the previous one left. A person's pause and
resume lock the same row first (then the webhook row), in the same order as the record.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, PositiveSmallIntegerField, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from webhookhub.errors import HubError
from webhooks.engine import doorbell
from webhooks.engine.http import AttemptResult
from webhooks.models import Delivery, Webhook, WebhookHistory
from webhooks.models.health import WebhookHealth, WebhookHealthHour, WebhookIncident, WorkerHeartbeat
from webhooks.signals import webhook_health_changed

logger = logging.getLogger(__name__)

ERROR_LIMIT = 500
# The success rates read a day of hourly buckets and the webhook page's chart a week; the daily prune
# deletes older ones.
HEALTH_HOURS_KEPT = timedelta(days=8)
FAILING, PAUSED, RECOVERED = "failing", "paused", "recovered"
Cause = WebhookIncident.PauseCause


# --- Policy ---------------------------------------------------------------------------------------


def alert_after(webhook: Webhook) -> int:
    return webhook.alert_after_failures or settings.WEBHOOK_ALERT_AFTER_FAILURES


def autopause_policy(webhook: Webhook) -> tuple[float, int] | None:
    """(hours, consecutive failures) after which the webhook is paused, or None when it never is."""
    if not webhook.autopause:
        return None
    hours = webhook.autopause_hours if webhook.autopause_hours is not None else settings.WEBHOOK_AUTOPAUSE_HOURS
    return hours, webhook.autopause_failures or settings.WEBHOOK_AUTOPAUSE_FAILURES


# --- Reading raw rows -----------------------------------------------------------------------------


def _aware(value) -> datetime | None:
    """A timestamp as a raw cursor returns it (SQLite: text in UTC), made an aware datetime."""
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str):
        value = parse_datetime(value)
    return value.replace(tzinfo=UTC) if value is not None else None


def _db_time(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


# --- Announcing -----------------------------------------------------------------------------------


def _facts(health: WebhookHealth | None, incident: WebhookIncident, **extra) -> dict:
    failing_since = health.failing_since if health else None
    facts = {
        "consecutive_failures": health.consecutive_failures if health else incident.consecutive_failures,
        "failing_since": (failing_since or incident.started_at).isoformat(),
        "last_error": (health.last_error if health else "") or incident.last_error,
        "last_status_code": (health.last_status_code if health else None) or incident.last_status_code,
        "reason": incident.pause_reason,
        "by": "",
    }
    facts.update(extra)
    return facts


def _send(webhook_id: int, kind: str, incident_id: int, facts: dict) -> None:
    webhook = Webhook.objects.filter(pk=webhook_id).first()
    if webhook is None:
        return
    for receiver, error in webhook_health_changed.send_robust(
        sender=Webhook, webhook=webhook, kind=kind, incident_id=incident_id, facts=facts
    ):
        if isinstance(error, Exception):
            logger.error("webhook_health_changed receiver %r failed: %r", receiver, error)


def _announce(incident: WebhookIncident, kind: str, facts: dict, *, now: datetime) -> bool:
    """Announce this kind of this incident after the commit, unless it was announced already."""
    column = f"{kind}_announced_at"
    claimed = WebhookIncident.objects.filter(pk=incident.pk, **{f"{column}__isnull": True}).update(**{column: now})
    if not claimed:
        return False
    setattr(incident, column, now)
    webhook_id, incident_id = incident.webhook_id, incident.pk
    transaction.on_commit(lambda: _send(webhook_id, kind, incident_id, facts), robust=True)
    return True


def _history(webhook_id: int, action: str, actor: str, **data) -> None:
    WebhookHistory.objects.create(webhook_id=webhook_id, action=action, actor=str(actor or "")[:255], data=data)


def _incident_open(health: WebhookHealth, *, now: datetime) -> WebhookIncident:
    """The health row's open incident, or a new one (the caller holds the health row's lock)."""
    if health.incident_id:
        incident = WebhookIncident.objects.filter(pk=health.incident_id).first()
        if incident is not None:
            return incident
    incident = WebhookIncident.objects.create(
        webhook_id=health.webhook_id,
        started_at=health.failing_since or now,
        consecutive_failures=health.consecutive_failures,
        last_error=health.last_error,
        last_status_code=health.last_status_code,
        last_error_code=health.last_error_code,
        last_error_params=health.last_error_params,
    )
    health.incident = incident
    WebhookHealth.objects.filter(pk=health.pk).update(incident=incident)
    return incident


def _pause_recorded(health: WebhookHealth, *, cause: str, reason: str, by: str, now: datetime) -> WebhookIncident:
    """The webhook was just paused: its incident says when, why and by whom, and "paused" goes out."""
    incident = _incident_open(health, now=now)
    incident.paused_at = now
    incident.pause_cause = cause
    incident.pause_reason = reason[:500]
    incident.paused_by = by[:255]
    incident.consecutive_failures = health.consecutive_failures
    incident.last_error = health.last_error
    incident.last_status_code = health.last_status_code
    incident.last_error_code = health.last_error_code
    incident.last_error_params = health.last_error_params
    incident.save(
        update_fields=[
            "paused_at",
            "pause_cause",
            "pause_reason",
            "paused_by",
            "consecutive_failures",
            "last_error",
            "last_status_code",
            "last_error_code",
            "last_error_params",
        ]
    )
    _history(
        health.webhook_id,
        WebhookHistory.Action.PAUSED,
        by,
        cause=cause,
        reason=reason,
        by=by,
        failures=incident.consecutive_failures,
        since=incident.started_at.isoformat(),
    )
    _announce(incident, PAUSED, _facts(health, incident, by=by, cause=cause), now=now)
    return incident


def _incident_end(health: WebhookHealth, incident: WebhookIncident, *, by: str, now: datetime) -> None:
    facts = _facts(health, incident, by=by)
    incident.ended_at = now
    incident.save(update_fields=["ended_at"])
    WebhookHealth.objects.filter(pk=health.pk).update(incident=None)
    health.incident = None
    _announce(incident, RECOVERED, facts, now=now)


# --- Recording a wave -----------------------------------------------------------------------------


def _counts(results: list[AttemptResult]) -> dict:
    """A wave's results in time order: successes, failures, and the failures after the last success."""
    ordered = sorted(results, key=lambda r: r.started_at)
    succeeded = sum(1 for r in ordered if r.succeeded)
    last_ok = max((i for i, r in enumerate(ordered) if r.succeeded), default=-1)
    trailing = ordered[last_ok + 1 :]
    last_failure = trailing[-1] if trailing else next((r for r in reversed(ordered) if not r.succeeded), None)
    return {
        "succeeded": succeeded,
        "failed": len(ordered) - succeeded,
        "trailing": len(trailing),
        "first_trailing_at": trailing[0].started_at if trailing else None,
        "last_failure": last_failure,
    }


def _bucket_add(webhook_id: int, *, hour: datetime, succeeded: int, failed: int) -> None:
    table = WebhookHealthHour._meta.db_table
    sql = (
        f"INSERT INTO {table} (webhook_id, hour, succeeded, failed) VALUES (%s, %s, %s, %s) "  # noqa: S608
        f"ON CONFLICT (webhook_id, hour) DO UPDATE SET succeeded = {table}.succeeded + excluded.succeeded, "
        f"failed = {table}.failed + excluded.failed"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [webhook_id, _db_time(hour), succeeded, failed])


def _counters_update(webhook_id: int, counts: dict, *, now: datetime):
    """One UPDATE … RETURNING of the webhook's counters (creating its row the first time)."""
    table = WebhookHealth._meta.db_table
    sets, params = [], []
    if counts["succeeded"]:
        sets += ["consecutive_failures = %s", "failing_since = %s", "last_success_at = %s"]
        first = counts["first_trailing_at"]
        params += [counts["trailing"], _db_time(first) if first else None, _db_time(now)]
    else:
        sets += ["consecutive_failures = consecutive_failures + %s", "failing_since = COALESCE(failing_since, %s)"]
        params += [counts["trailing"], _db_time(counts["first_trailing_at"])]
    failure = counts["last_failure"]
    if failure is not None:
        error = failure.error_message or failure.error_class or (f"HTTP {failure.response_status}")
        sets += [
            "last_failure_at = %s",
            "last_error = %s",
            "last_status_code = %s",
            "last_error_code = %s",
            # PostgreSQL's column is jsonb: the parameter is its text.
            "last_error_params = %s::jsonb" if connection.vendor == "postgresql" else "last_error_params = %s",
        ]
        params += [
            _db_time(now),
            error[:ERROR_LIMIT],
            failure.response_status,
            failure.error_code or "",
            json.dumps(failure.error_params or {}),
        ]
    sql = (
        f"UPDATE {table} SET {', '.join(sets)} WHERE webhook_id = %s "  # noqa: S608 - values bound
        "RETURNING consecutive_failures, failing_since, incident_id, last_error, last_status_code, "
        "last_error_code, last_error_params"
    )
    for _try in range(2):
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, webhook_id])
            row = cursor.fetchone()
        if row is not None:
            return row
        WebhookHealth.objects.get_or_create(webhook_id=webhook_id)
    raise AssertionError("the health row exists after get_or_create")


def wave_health_record(
    *, webhooks: dict[int, Webhook], attempts: Iterable[tuple[int, AttemptResult]], gone: dict[int, str], now
) -> None:
    """Count a wave's attempts into each webhook's health; open, pause and end incidents as they go.

    Called inside record.py's wave transaction; `attempts` leaves out "worker lost" ones; `gone`
    holds the webhooks that answered 410 Gone in this wave, with the reason.
    """
    by_webhook: dict[int, list[AttemptResult]] = defaultdict(list)
    for webhook_id, result in attempts:
        by_webhook[webhook_id].append(result)
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    # Always in the same order: two waves of several webhooks lock their health rows without deadlock.
    for webhook_id in sorted(set(by_webhook) | set(gone)):
        results = by_webhook.get(webhook_id, [])
        if not results:
            continue
        counts = _counts(results)
        _bucket_add(webhook_id, hour=hour, succeeded=counts["succeeded"], failed=counts["failed"])
        consecutive, failing_since, incident_id, last_error, last_status, error_code, error_params = _counters_update(
            webhook_id, counts, now=now
        )
        health = WebhookHealth(
            webhook_id=webhook_id,
            consecutive_failures=consecutive,
            failing_since=_aware(failing_since),
            incident_id=incident_id,
            last_error=last_error,
            last_status_code=last_status,
            last_error_code=error_code or "",
            # SQLite returns the JSON column as text.
            last_error_params=json.loads(error_params) if isinstance(error_params, str) else (error_params or {}),
        )
        _transitions(webhooks[webhook_id], health, counts, gone=gone.get(webhook_id), now=now)


def _transitions(webhook: Webhook, health: WebhookHealth, counts: dict, *, gone: str | None, now) -> None:
    if counts["succeeded"] and health.consecutive_failures == 0:
        if health.incident_id:
            paused = Webhook.objects.filter(pk=webhook.pk, paused_at__isnull=False).exists()
            incident = WebhookIncident.objects.filter(pk=health.incident_id).first()
            if incident is not None and not paused:
                _incident_end(health, incident, by="", now=now)
        return
    if not health.consecutive_failures:
        return
    if health.consecutive_failures >= alert_after(webhook):
        incident = _incident_open(health, now=now)
        if incident.failing_announced_at is None:
            _announce(incident, FAILING, _facts(health, incident), now=now)
    cause = ""
    if gone is not None:
        cause = Cause.GONE
        Webhook.objects.filter(pk=webhook.pk, gone_at__isnull=True).update(gone_at=now)
    else:
        policy = autopause_policy(webhook)
        if (
            policy is not None
            and health.consecutive_failures >= policy[1]
            and health.failing_since is not None
            # A wave that waited for the lock may hold a `now` a moment before the failing_since another
            # wave wrote: that counts as no time, not as a negative one.
            and max(now - health.failing_since, timedelta(0)) >= timedelta(hours=policy[0])
        ):
            cause = Cause.POLICY
    # The why is the cause code and the incident's facts (pause_words), worded when someone reads it.
    if cause and Webhook.objects.filter(pk=webhook.pk, paused_at__isnull=True).update(paused_at=now, pause_reason=""):
        _pause_recorded(health, cause=cause, reason="", by="", now=now)


def health_hours_prune(*, before: datetime) -> int:
    """Delete the hourly buckets older than `before` (the daily prune, retention.py)."""
    deleted, _per_model = WebhookHealthHour.objects.filter(hour__lt=before).delete()
    return deleted


# --- Pausing and resuming by hand (and through the Open API) -------------------------------------


def _health_locked(webhook_id: int) -> WebhookHealth:
    WebhookHealth.objects.get_or_create(webhook_id=webhook_id)
    return WebhookHealth.objects.select_for_update().get(pk=webhook_id)


@transaction.atomic
def webhook_pause(*, webhook: Webhook, reason: str = "", user=None, actor=None) -> Webhook:
    """Hold the webhook's deliveries: due ones wait until it is resumed; what is in flight finishes.

    Recorded in the history with who and why; "paused" is announced (once per incident).
    """
    by = str(actor or user or "")
    health = _health_locked(webhook.pk)
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if webhook.is_paused:
        raise HubError(_("This webhook is already paused."))
    now = timezone.now()
    webhook.paused_at = now
    # A person's own words, as written; none: "Paused by …" is worded when read (pause_words).
    webhook.pause_reason = reason[:500]
    webhook.save(update_fields=["paused_at", "pause_reason", "updated_at"])
    _pause_recorded(health, cause=Cause.PERSON, reason=webhook.pause_reason, by=by, now=now)
    return webhook


@dataclass(frozen=True)
class Resumed:
    webhook: Webhook
    # How many waiting deliveries the resume made due now.
    released: int


def _waiting_release(webhook_id: int, *, now: datetime) -> int:
    """Every waiting delivery of the webhook due now, retrying ones included, oldest first in its lane.

    Due at its creation time and back in its lane's first priority: the claim (by priority, then due
    time) then takes a lane's deliveries in the order they were made, whatever retry time they held.
    """
    P = Delivery.Priority
    return Delivery.objects.filter(webhook_id=webhook_id, status__in=Delivery.WAITING_STATUSES).update(
        next_attempt_at=F("created_at"),
        priority=Case(
            When(priority=P.REALTIME_RETRY, then=Value(P.REALTIME.value)),
            When(priority=P.BULK_RETRY, then=Value(P.BULK.value)),
            default=F("priority"),
            output_field=PositiveSmallIntegerField(),
        ),
        updated_at=now,
    )


@transaction.atomic
def webhook_resume(*, webhook: Webhook, user=None, actor=None) -> Resumed:
    """Send everything that waited now, at the webhook's limits, oldest first in each lane.

    Clears the 410 and Retry-After marks (the person says the receiver is back), ends the incident
    ("recovered", by whom) and starts the counters again: the policy gives the receiver a full window.
    """
    by = str(actor or user or "")
    health = _health_locked(webhook.pk)
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if not webhook.is_paused:
        raise HubError(_("This webhook is not paused."))
    now = timezone.now()
    webhook.paused_at = None
    webhook.pause_reason = ""
    webhook.gone_at = None
    webhook.throttled_until = None
    webhook.save(update_fields=["paused_at", "pause_reason", "gone_at", "throttled_until", "updated_at"])
    released = _waiting_release(webhook.pk, now=now)
    _history(webhook.pk, WebhookHistory.Action.RESUMED, by, released=released)
    incident = WebhookIncident.objects.filter(pk=health.incident_id).first() if health.incident_id else None
    if incident is not None:
        incident.resumed_at = now
        incident.resumed_by = by[:255]
        incident.save(update_fields=["resumed_at", "resumed_by"])
        _incident_end(health, incident, by=by, now=now)
    WebhookHealth.objects.filter(pk=health.pk).update(consecutive_failures=0, failing_since=None)
    doorbell.ring_on_commit(doorbell.REALTIME_QUEUE)
    doorbell.ring_on_commit(doorbell.BULK_QUEUE)
    return Resumed(webhook=webhook, released=released)


def worker_heartbeat_record(*, name: str, host: str, pid: int, state: str, started_at: datetime) -> None:
    """A hub worker says it is alive (worker.py, at each of rq's heartbeats)."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        name=name, defaults={"host": host, "pid": pid, "state": state, "started_at": started_at, "seen_at": now}
    )
    # A worker killed with kill -9 leaves its row: silent for a day, it is only clutter.
    WorkerHeartbeat.objects.filter(seen_at__lt=now - timedelta(days=1)).delete()


def worker_heartbeat_forget(*, name: str) -> None:
    """A hub worker stops: it no longer counts, without waiting for its silence to run out."""
    WorkerHeartbeat.objects.filter(name=name).delete()
