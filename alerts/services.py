"""Writes of the alerts app: recording alerts, sending them, recording what the channel answered.

The database holds every alert first; an rq job enqueued after the commit sends it at once. When Redis
lost that job, the alert stays pending and falls due ALERT_JOB_GRACE seconds later: the drain's due work
(registered in apps.py) hands it to a new job. A failed alert is tried again after ALERT_RETRY_DELAYS.
"""

import logging
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from webhooks.engine import doorbell
from webhooks.models import Webhook
from webhooks.secrets import SecretUndecryptable

from . import selectors
from .messages import alert_message, robot_payload
from .models import Alert, Channel
from .robots import robot_request
from .sending import Email, Outbound, SendResult, deadline, send_all

logger = logging.getLogger(__name__)

SEND_JOB = "alerts.jobs.alerts_send"
# Alerts one job sends at most; the due work hands out the rest in further jobs.
BATCH = 50


def _lease() -> timedelta:
    """How long a sender holds an alert: its whole send, with room to record it."""
    return timedelta(seconds=deadline() + 30)


def alerts_enqueue(*, alert_ids: list[int]) -> bool:
    """Ask a worker to send these alerts now. False without Redis: the due work sends them later."""
    try:
        django_rq.get_queue(doorbell.REALTIME_QUEUE).enqueue(
            SEND_JOB,
            alert_ids=alert_ids,
            job_timeout=int(deadline() + 60),
            result_ttl=60,
            failure_ttl=86400,
        )
        return True
    except RedisError as exc:
        logger.warning("enqueueing %s alerts failed (%s); the due work sends them", len(alert_ids), exc)
        return False


def alerts_record(*, webhook, kind: str, incident_id: int, facts: dict) -> list[Alert]:
    """One pending alert per channel covering this webhook and kind; an incident's alert is never recorded twice."""
    if kind not in selectors.RECORDED_KINDS:
        logger.warning("webhook %s: unknown health change %r, no alert", webhook.pk, kind)
        return []
    created = []
    due_at = timezone.now() + timedelta(seconds=settings.ALERT_JOB_GRACE)
    with transaction.atomic():
        for channel in selectors.channels_covering(webhook=webhook, kind=kind):
            alert, is_new = Alert.objects.get_or_create(
                channel=channel,
                incident_id=incident_id,
                kind=kind,
                defaults={
                    "webhook": webhook,
                    "webhook_name": webhook.name[:128],
                    "facts": facts,
                    "next_attempt_at": due_at,
                },
            )
            if is_new:
                created.append(alert)
        if created:
            ids = [alert.pk for alert in created]
            transaction.on_commit(lambda: alerts_enqueue(alert_ids=ids))
            # Should Redis have lost the job, the scheduler rings the drain when the due work takes over.
            doorbell.ring_at_on_commit(due_at)
    return created


def certificates_announce() -> int:
    """Due work: each client certificate that ends within CLIENT_CERTIFICATE_WARNING_DAYS, announced once.

    Once per certificate: a replaced certificate (another expiry date) is announced again when its time comes.
    """
    announced = 0
    for webhook in selectors.certificates_to_announce()[:BATCH]:
        expires_at = webhook.client_certificate_expires_at
        if expires_at is None:
            continue  # the selector reads only certificates with an expiry
        with transaction.atomic():
            taken = Webhook.objects.filter(pk=webhook.pk, client_certificate_expires_at=expires_at).update(
                client_certificate_announced=expires_at
            )
            if not taken:
                continue  # replaced meanwhile: its new certificate has its own turn
            # One incident per webhook and certificate, so the unique constraint keeps it to one alert per channel.
            incident = webhook.pk * 10**8 + int(expires_at.timestamp()) // 60 % 10**8
            alerts_record(
                webhook=webhook,
                kind=Alert.Kind.CERTIFICATE,
                incident_id=incident,
                facts={"expires_at": expires_at.isoformat()},
            )
        announced += 1
    return announced


def alerts_due_enqueue() -> int:
    """The drain's due work: pending alerts no job sent in time go to a new job (Redis lost theirs)."""
    ids = selectors.alerts_due_ids(limit=BATCH)
    if not ids:
        return 0
    # Not due again until this job had its chance; if Redis loses it too, the next turn enqueues again.
    Alert.objects.filter(pk__in=ids).update(next_attempt_at=timezone.now() + _lease())
    alerts_enqueue(alert_ids=ids)
    return len(ids)


def alerts_claim(*, alert_ids: list[int]) -> list[int]:
    """Hold these alerts for one sender, if pending and held by no other (two jobs never send one alert twice)."""
    now = timezone.now()
    with transaction.atomic():
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        ids = list(
            Alert.objects.select_for_update(skip_locked=True)
            .filter(pk__in=alert_ids, status=Alert.Status.PENDING)
            .filter(free)
            .values_list("pk", flat=True)
        )
        Alert.objects.filter(pk__in=ids).update(claimed_until=now + _lease())
    return ids


def _outbound(alert: Alert) -> Outbound:
    with translation.override(settings.LANGUAGE_CODE):
        return _outbound_in_language(alert)


def _outbound_in_language(alert: Alert) -> Outbound:
    channel = alert.channel
    message = alert_message(alert)
    if channel.kind == Channel.Kind.EMAIL:
        return Outbound(
            kind=channel.kind,
            email=Email(
                subject=message.title, text=message.text(), html=message.html(), recipients=channel.recipient_list()
            ),
        )
    request = robot_request(
        kind=channel.kind,
        url=channel.url.reveal(),
        secret=channel.secret.reveal(),
        payload=robot_payload(channel, message),
    )
    return Outbound(kind=channel.kind, robot=request)


def alerts_send(*, alert_ids: list[int]) -> dict:
    """Send the alerts this sender could claim, all at once; record each answer."""
    ids = alerts_claim(alert_ids=alert_ids)
    alerts = list(Alert.objects.select_related("channel", "webhook").filter(pk__in=ids).order_by("pk"))
    ready: list[tuple[Alert, Outbound]] = []
    counts = {"sent": 0, "failed": 0, "retry": 0}
    for alert in alerts:
        problem = ""
        if not alert.channel.is_active and alert.kind != Alert.Kind.TEST:
            problem = _("The channel was switched off before the alert was sent.")
        elif alert.channel.kind == Channel.Kind.EMAIL and not alert.channel.recipient_list():
            problem = _("The channel has no email recipients.")
        elif alert.channel.is_robot and not alert.channel.url:
            problem = _("The channel has no robot webhook URL.")
        if not problem:
            try:
                ready.append((alert, _outbound(alert)))
                continue
            except SecretUndecryptable as exc:
                problem = str(exc)
        counts[alert_record_result(alert=alert, result=SendResult(ok=False, error=problem), final=True)] += 1
    results = send_all([outbound for _alert, outbound in ready])
    for (alert, _sent), result in zip(ready, results, strict=True):
        counts[alert_record_result(alert=alert, result=result)] += 1
    return counts


def alert_record_result(*, alert: Alert, result: SendResult, final: bool = False) -> str:
    """What the channel answered: sent, tried again later, or failed for good. Returns which."""
    now = timezone.now()
    alert.tries += 1
    alert.response_status = result.status
    alert.response_body = result.body
    alert.error = result.error
    alert.claimed_until = None
    delays = settings.ALERT_RETRY_DELAYS
    if result.ok:
        outcome, alert.status, alert.sent_at, alert.next_attempt_at = "sent", Alert.Status.SENT, now, None
    elif not final and alert.kind != Alert.Kind.TEST and alert.tries <= len(delays):
        outcome, alert.status = "retry", Alert.Status.PENDING
        retry_at = alert.next_attempt_at = now + timedelta(seconds=delays[alert.tries - 1])
    else:
        outcome, alert.status, alert.next_attempt_at = "failed", Alert.Status.FAILED, None
    with transaction.atomic():
        alert.save(
            update_fields=[
                "tries",
                "response_status",
                "response_body",
                "error",
                "claimed_until",
                "status",
                "sent_at",
                "next_attempt_at",
            ]
        )
        if outcome == "retry":
            doorbell.ring_at_on_commit(retry_at)
    # Channel and alert by id only: a robot's URL and secret never reach a log.
    logger.info(
        "alert %s (%s) to channel %s: %s%s",
        alert.pk,
        alert.kind,
        alert.channel_id,
        outcome,
        f" ({result.error})" if result.error else "",
    )
    return outcome


def channel_test_send(*, channel: Channel) -> Alert:
    """A clearly marked test alert through this channel, now, in this process; the alert holds the answer."""
    alert = Alert.objects.create(channel=channel, kind=Alert.Kind.TEST)
    alerts_send(alert_ids=[alert.pk])
    alert.refresh_from_db()
    return alert
