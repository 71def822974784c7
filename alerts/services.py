"""Writes of the alerts app: recording alerts, sending them, recording what the channel answered.

The database holds every alert first, due at once. Two senders race for it and the first to claim it
sends it: an rq job on the `realtime` queue, enqueued after the commit (an idle worker takes it at once),
and every running drain, whose realtime turn runs the due work registered in apps.py and sends due alerts
from a thread beside its waves. So an alert never waits behind bulk work that keeps every worker busy,
and a Redis that lost the job costs nothing (a worker's tick finds the due alert and rings a drain).
A failed alert is tried again after ALERT_RETRY_DELAYS. A sender that died during its request leaves
the alert `unconfirmed`, never sent twice (`sending_since`).
"""

import concurrent.futures
import logging
import os
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import connections, transaction
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
    """How long a sender holds an alert: its whole send, with room to record it (one short write, given
    as long again as the send, at least 5 s), so a killed sender's alert is taken over soon after."""
    return timedelta(seconds=deadline() + max(settings.ALERT_TIMEOUT, 5.0))


def alerts_enqueue(*, alert_ids: list[int]) -> bool:
    """Ask an idle worker to send these alerts now. False without Redis: the due work sends them."""
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
    now = timezone.now()
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
                    # Due at once: a running drain sends it if no idle worker takes the job first.
                    "next_attempt_at": now,
                },
            )
            if is_new:
                created.append(alert)
        if created:
            ids = [alert.pk for alert in created]
            transaction.on_commit(lambda: alerts_enqueue(alert_ids=ids))
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


class _DrainSender:
    """A drain's alert sender: one thread in the worker process, beside the drain's waves and database
    thread, so a robot that answers slowly holds up neither. The drain waits for it before it ends."""

    def __init__(self):
        self.pid = 0
        self.executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.futures: list[concurrent.futures.Future] = []

    def submit(self, alert_ids: list[int]) -> None:
        # Made in the process that sends: a work horse forked from the worker starts its own thread.
        if self.executor is None or self.pid != os.getpid():
            self.pid, self.futures = os.getpid(), []
            self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="alerts-send")
        self.futures.append(self.executor.submit(_claimed_send_in_thread, alert_ids))

    def settle(self) -> None:
        futures, self.futures = self.futures, []
        if futures and self.pid == os.getpid():
            concurrent.futures.wait(futures, timeout=deadline() + 10)


_drain_sender = _DrainSender()


def _claimed_send_in_thread(alert_ids: list[int]) -> None:
    try:
        _claimed_send(alert_ids)
    except Exception:
        # Still claimed: after the lease another sender takes them (or records them unconfirmed).
        logger.exception("sending alerts %s failed", alert_ids)
    finally:
        connections.close_all()  # this thread's own connection


def alerts_due_send() -> int:
    """The drain's due work, every realtime turn: claim the due alerts and send them beside the waves."""
    due = selectors.alerts_due_ids(limit=BATCH)
    ids = alerts_claim(alert_ids=due) if due else []
    if ids:
        _drain_sender.submit(ids)
    return len(ids)


def alerts_due_settle() -> None:
    """The drain ends: its alerts in flight are sent and recorded first (the work horse exits after it)."""
    _drain_sender.settle()


def alerts_claim(*, alert_ids: list[int]) -> list[int]:
    """Hold these alerts for one sender, if pending and held by no other (two senders never send one alert).

    An alert whose last sender died during its request (its claim expired with `sending_since` set) has
    probably reached its channel: it is recorded unconfirmed, not sent again.
    """
    now = timezone.now()
    with transaction.atomic():
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        rows = list(
            Alert.objects.select_for_update(skip_locked=True)
            .filter(pk__in=alert_ids, status=Alert.Status.PENDING)
            .filter(free)
            .values_list("pk", "sending_since")
        )
        ids = [pk for pk, since in rows if since is None]
        lost = [pk for pk, since in rows if since is not None]
        Alert.objects.filter(pk__in=ids).update(claimed_until=now + _lease())
        if lost:
            Alert.objects.filter(pk__in=lost).update(
                status=Alert.Status.UNCONFIRMED,
                claimed_until=None,
                next_attempt_at=None,
                error=_(
                    "The sender stopped during the request (its worker ended): the channel has probably "
                    "received this alert. It is not sent again, so that it never arrives twice."
                ),
            )
            logger.warning("alerts %s: their sender stopped during the request; recorded unconfirmed", lost)
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
    return _claimed_send(alerts_claim(alert_ids=alert_ids))


def _claimed_send(ids: list[int]) -> dict:
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
    # Committed before any request goes out: should this sender die during it, the alert is not sent again.
    Alert.objects.filter(pk__in=[alert.pk for alert, _outbound in ready]).update(sending_since=timezone.now())
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
    alert.sending_since = None
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
                "sending_since",
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
