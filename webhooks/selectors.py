"""Reads for the admin pages: progress of sends, results of deliveries, a webhook's statistics."""

from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

import django_rq
from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError
from rq.scheduler import RQScheduler

from customers.selectors import customer_search
from webhooks.engine.doorbell import BEACON_KEY
from webhooks.models import Attempt, Delivery, GroupSend, Message, Webhook
from webhooks.models.health import WebhookHealthHour

Status = Delivery.Status


def deliveries_of_send(queryset, send_id: int):
    """A group send's deliveries. The message id first: filtering on it uses the (message, status) index, a join
    does not."""
    message_id = Message.objects.filter(group_send_id=send_id).values_list("pk", flat=True).first()
    return queryset.filter(message_id=message_id) if message_id else queryset.none()


def deliveries_of_customer(queryset, value: str):
    """A customer's deliveries, by the customer's id or mobile (as typed into the admin's filter)."""
    value = (value or "").strip()
    if not value:
        return queryset
    if value.isdigit() and len(value) < 11:
        return queryset.filter(customer_id=int(value))
    return queryset.filter(customer__mobile=value)


HEX = frozenset("0123456789abcdef")
# Deliveries of at most this many matching customers are searched: the picker's own indexed lookups.
SEARCH_CUSTOMERS = 200


def deliveries_search(queryset, text: str):
    """Deliveries whose id starts with `text` (4 hex characters or more: the list shows the first 8), or
    whose customer's name, WeChat nickname or mobile starts with it (the customer picker's indexed search).
    Returns the queryset and whether the customers found were cut at SEARCH_CUSTOMERS.

    The id prefix is a range on the primary key's index, `id >= prefix AND id < prefix + 'g'` ('g' follows
    every hex digit): no LIKE, the same plan on SQLite and PostgreSQL. Customers are looked up first (at
    most SEARCH_CUSTOMERS, by the customers' own indexes), then their deliveries by the customer index.
    """
    text = (text or "").strip()
    if not text:
        return queryset, False
    condition = Q(pk__in=[])
    prefix = text.lower()
    if 4 <= len(prefix) <= 32 and set(prefix) <= HEX:
        condition |= Q(pk=prefix) if len(prefix) == 32 else Q(pk__gte=prefix, pk__lt=prefix + "g")
    customer_ids = [customer.pk for customer in customer_search(query=text, limit=SEARCH_CUSTOMERS + 1)]
    if customer_ids:
        condition |= Q(customer_id__in=customer_ids[:SEARCH_CUSTOMERS])
    return queryset.filter(condition), len(customer_ids) > SEARCH_CUSTOMERS


# HTTP status classes of a delivery's last answer, for the list's filter: (low, high) of last_status_code,
# None for no answer (an attempt was made, nothing came back: a timeout, a refused connection).
STATUS_CLASSES = {"2xx": (200, 300), "3xx": (300, 400), "4xx": (400, 500), "5xx": (500, 600), "none": None}


def deliveries_of_status_class(queryset, status_class: str):
    if status_class not in STATUS_CLASSES:
        return queryset
    bounds = STATUS_CLASSES[status_class]
    if bounds is None:
        return queryset.filter(last_status_code__isnull=True, attempt_count__gt=0)
    return queryset.filter(last_status_code__gte=bounds[0], last_status_code__lt=bounds[1])


def deliveries_filter(
    *,
    webhook_id: int | None = None,
    status: str | None = None,
    event: str | None = None,
    send_id: int | None = None,
    customer: str | None = None,
    created_after=None,
    created_before=None,
):
    """The deliveries the admin's list filters would show (webhook, status, event, send, customer, time)."""
    queryset = Delivery.objects.all()
    if webhook_id is not None:
        queryset = queryset.filter(webhook_id=webhook_id)
    if status:
        queryset = queryset.filter(status=status)
    if event:
        queryset = queryset.filter(event=event)
    if send_id is not None:
        queryset = deliveries_of_send(queryset, send_id)
    if customer:
        queryset = deliveries_of_customer(queryset, customer)
    if created_after is not None:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before is not None:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset


def group_send_results(*, send: GroupSend, chunk_size: int = 2000):
    """Every delivery of a send with its customer, as tuples, read in chunks (a server-side cursor on
    PostgreSQL): for the CSV export of a million rows. In the order of the (message, created_at) index."""
    message_id = Message.objects.filter(group_send=send).values_list("pk", flat=True).first()
    if message_id is None:
        return iter(())
    return (
        Delivery.objects.filter(message_id=message_id)
        .order_by("created_at")
        .values_list(
            "pk",
            "customer_id",
            "customer__name",
            "customer__mobile",
            "status",
            "attempt_count",
            "last_status_code",
            "last_error",
            "created_at",
            "updated_at",
        )
        .iterator(chunk_size=chunk_size)
    )


def group_send_progress(*, send_ids) -> dict[int, dict]:
    """Counts of each send's deliveries by outcome, for many sends in one aggregate query.

    Filtering on message ids (not joining the message) keeps the count inside the
    (message, status) index: tens of milliseconds for a send of 100,000.
    """
    ids = [int(pk) for pk in send_ids]
    if not ids:
        return {}
    message_to_send = dict(Message.objects.filter(group_send_id__in=ids).values_list("pk", "group_send_id"))
    progress = {pk: {"written": 0, "succeeded": 0, "failed": 0, "cancelled": 0} for pk in ids}
    if not message_to_send:
        return progress
    rows = (
        Delivery.objects.filter(message_id__in=list(message_to_send))
        .values("message_id")
        .annotate(
            written=Count("pk"),
            succeeded=Count("pk", filter=Q(status=Status.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
            cancelled=Count("pk", filter=Q(status=Status.CANCELLED)),
        )
        .order_by()
    )
    for row in rows:
        progress[message_to_send[row.pop("message_id")]] = row
    return progress


def progress_summary(send: GroupSend, counts: dict) -> dict:
    """Succeeded, failed, cancelled and pending out of the total, as numbers and percentages."""
    cancelled = send.status == GroupSend.Status.CANCELLED
    return progress_shape(
        total=max(send.total, counts["written"]),
        counts=counts,
        # Only a running send has deliveries waiting; a cancelled or stopped send's rest is never sent.
        running=send.status in (GroupSend.Status.SCHEDULED, GroupSend.Status.SENDING),
        rest_cancelled=cancelled,
        stopped=cancelled and send.started_at is not None,
    )


def progress_shape(*, total: int, counts: dict, running: bool, rest_cancelled: bool, stopped: bool) -> dict:
    """The progress of a group send or a bulk recover, as its bar and its words show it
    (admin/webhooks/groupsend/progress.html): numbers and percentages of the total."""
    pending = max(total - counts["succeeded"] - counts["failed"] - counts["cancelled"], 0)
    summary = {
        "total": total,
        "succeeded": counts["succeeded"],
        "failed": counts["failed"],
        "cancelled": counts["cancelled"],
        "pending": pending,
    }
    for key in ("succeeded", "failed", "cancelled", "pending"):
        summary[f"{key}_pct"] = round(100 * summary[key] / total, 2) if total else 0
    # Sent (succeeded or failed for good) out of the total, rounded down: 100 only when every one was sent.
    summary["sent"] = counts["succeeded"] + counts["failed"]
    summary["sent_pct"] = (100 * summary["sent"]) // total if total else 0
    summary["waiting"] = pending if running else 0
    summary["cancelled_total"] = counts["cancelled"] + (pending if rest_cancelled else 0)
    # A send stopped during its fan-out: customers it never wrote a delivery for. They are not
    # cancelled deliveries (the deliveries list has no row for them), and the page says so.
    written = counts.get("written")
    summary["unwritten"] = max(total - written, 0) if stopped and written is not None else 0
    summary["cancelled_total_pct"] = round(100 * summary["cancelled_total"] / total, 2) if total else 0
    summary["stopped"] = stopped
    return summary


def group_sends_with_progress(sends):
    """Set each send's `progress` (progress_summary) from one aggregate query for all of them."""
    sends = list(sends)
    counts = group_send_progress(send_ids=[send.pk for send in sends])
    for send in sends:
        send.progress = progress_summary(send, counts[send.pk])
    return sends


def group_sends_polled(*, send_ids) -> list[GroupSend]:
    """The sends the sends list polls, each with its progress."""
    sends = GroupSend.objects.filter(pk__in=list(send_ids)).only(
        "pk", "webhook_id", "status", "total", "scheduled_at", "started_at", "finished_at"
    )
    return group_sends_with_progress(sends)


def group_send_status(send: GroupSend) -> dict:
    """A polled send's state as data: its status, whether it can still be cancelled, its progress."""
    return {
        "id": send.pk,
        "status": send.status,
        "status_label": send.get_status_display(),
        "cancellable": send.status in (GroupSend.Status.SCHEDULED, GroupSend.Status.SENDING),
        "started_at": local_time(send.started_at),
        "finished_at": local_time(send.finished_at),
        "progress": send.progress,
    }


def local_time(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else None


def attempt_as_dict(attempt: Attempt) -> dict:
    return {
        "number": attempt.number,
        "trigger": attempt.get_trigger_display(),
        "requested_by": str(attempt.requested_by) if attempt.requested_by_id else None,
        "started_at": local_time(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "url": attempt.url,
        "request_headers": attempt.request_headers,
        "request_body": attempt.delivery.body,
        "response_status": attempt.response_status,
        "response_headers": attempt.response_headers,
        "response_body": attempt.response_body,
        "response_size": attempt.response_size,
        "response_truncated": attempt.response_truncated,
        "succeeded": attempt.succeeded,
        "error_class": attempt.error_class,
        "error_message": attempt.error_message,
        "error_code": attempt.error_code,
        "error_text": attempt.error_text,
    }


def delivery_result(*, delivery_id: str) -> dict | None:
    """A delivery's state and every attempt so far: what the test-send dialog polls."""
    delivery = Delivery.objects.filter(pk=delivery_id).select_related("webhook", "customer").first()
    if delivery is None:
        return None
    attempts = delivery.attempts.select_related("requested_by").order_by("number")
    return {
        "id": delivery.pk,
        "status": delivery.status,
        "status_label": delivery.get_status_display(),
        "final": delivery.is_final,
        "body": delivery.body,
        "last_error": delivery.last_error,
        "last_error_code": delivery.last_error_code,
        "last_error_text": delivery.last_error_text,
        "attempt_count": delivery.attempt_count,
        "retry_count": delivery.retry_count,
        "next_attempt_at": local_time(delivery.next_attempt_at),
        "attempts": [attempt_as_dict(attempt) for attempt in attempts],
    }


def delivery_state(*, delivery_id: str) -> dict | None:
    """A delivery's status and attempt count, and whether a redelivery still waits for its attempt."""
    row = Delivery.objects.filter(pk=delivery_id).values("status", "attempt_count", "redeliver_requested_by_id").first()
    if row is None:
        return None
    return {
        "status": row["status"],
        "attempt_count": row["attempt_count"],
        "final": row["status"] in Delivery.FINAL_STATUSES,
        "redelivery_waiting": row["redeliver_requested_by_id"] is not None,
    }


def webhook_stats(*, webhook: Webhook, days: int = 7) -> dict:
    """Attempts that succeeded and failed per day over the last `days` days (local dates), and the rate.

    Read from the webhook's hourly buckets, the one source of its health block's rates, the webhook
    list's health column and the Open API's health (health_selectors): every figure on the page agrees.
    """
    today = timezone.localdate()
    first_day = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first_day, time.min))
    per_day = {first_day + timedelta(days=offset): [0, 0] for offset in range(days)}
    buckets = WebhookHealthHour.objects.filter(webhook=webhook, hour__gte=start)
    for hour, succeeded, failed in buckets.values_list("hour", "succeeded", "failed"):
        # An hour (UTC) belongs to the local day it starts in (exact for whole-hour zones such as UTC+8).
        counts = per_day.get(timezone.localdate(hour))
        if counts is not None:
            counts[0] += succeeded
            counts[1] += failed
    series: list[dict[str, Any]] = [
        {"day": day, "succeeded": ok, "failed": failed} for day, (ok, failed) in per_day.items()
    ]
    peak = max([point["succeeded"] + point["failed"] for point in series] + [1])
    for point in series:
        point["succeeded_pct"] = round(100 * point["succeeded"] / peak, 2)
        point["failed_pct"] = round(100 * point["failed"] / peak, 2)
    succeeded = sum(point["succeeded"] for point in series)
    failed = sum(point["failed"] for point in series)
    finished = succeeded + failed
    return {
        "series": series,
        "peak": peak,
        "succeeded": succeeded,
        "failed": failed,
        "success_rate": round(100 * succeeded / finished, 1) if finished else None,
    }


def webhook_recent_deliveries(*, webhook: Webhook, limit: int = 10):
    deliveries = Delivery.objects.filter(webhook=webhook).select_related("customer", "message")
    return list(deliveries.order_by("-created_at")[:limit])


def deliveries_overdue_count() -> int:
    """Deliveries of running webhooks due for longer than WEBHOOK_OVERDUE_WARNING: the workers lag."""
    overdue_since = timezone.now() - timedelta(seconds=settings.WEBHOOK_OVERDUE_WARNING)
    return (
        Delivery.objects.filter(
            status__in=Delivery.WAITING_STATUSES, next_attempt_at__lt=overdue_since, webhook__paused_at__isnull=True
        )
        .order_by()
        .count()
    )


def day_overview(*, limit: int = 8) -> dict:
    """The admin's first screen: what is failing, paused or overdue, the sends running, and how far a new
    installation is in its first steps (a webhook, a message sent, its results read)."""
    webhooks = Webhook.objects.select_related("health")
    failing = list(
        webhooks.filter(
            paused_at__isnull=True, health__consecutive_failures__gt=0, health__failing_since__isnull=False
        ).order_by("health__failing_since")[:limit]
    )
    paused = list(webhooks.filter(paused_at__isnull=False).order_by("-paused_at")[:limit])
    running = group_sends_with_progress(
        GroupSend.objects.filter(status__in=(GroupSend.Status.SENDING, GroupSend.Status.SCHEDULED))
        .select_related("webhook", "group")
        .order_by("scheduled_at")[:limit]
    )
    has_webhook = Webhook.objects.exists()
    has_sent = GroupSend.objects.exists() or Delivery.objects.exists()
    return {
        "failing": failing,
        "paused": paused,
        "overdue": deliveries_overdue_count(),
        "running": running,
        "first_steps": {"webhook": has_webhook, "sent": has_sent},
        "new_installation": not (has_webhook and has_sent),
    }


def engine_warnings() -> list[str]:
    """What an administrator must know about the engine: no worker, no scheduler, overdue work."""
    warnings = []
    try:
        connection = django_rq.get_connection("realtime")
        if not connection.exists(BEACON_KEY):  # set by idle workers' ticks and by running drains
            warnings.append(_("No worker has been seen for a minute: nothing is being sent. Start the workers."))
        if not any(connection.exists(RQScheduler.get_locking_key(name)) for name in settings.WORKER_QUEUES):
            warnings.append(
                _("No worker runs rq's scheduler (--with-scheduler): retries and scheduled sends go out late.")
            )
    except RedisError:
        warnings.append(_("Redis does not answer: deliveries wait in the database until it is back."))
    overdue = deliveries_overdue_count()
    if overdue:
        warnings.append(
            _("%(count)s deliveries are overdue by more than %(seconds)s seconds: the workers cannot keep up.")
            % {"count": overdue, "seconds": settings.WEBHOOK_OVERDUE_WARNING}
        )
    return warnings


def webhook_security_warnings(*, webhook: Webhook) -> list[str]:
    """What a person should know before trusting this webhook's transport: allowed, but said out loud."""
    warnings = []
    if urlsplit(webhook.url or "").scheme == "http":
        warnings.append(
            _(
                "The receiving URL is plain http://: messages, customer data and signatures travel unencrypted "
                "and can be read or changed on the way. Use https:// unless the receiver is on a network you trust."
            )
        )
    if webhook.auth_type == Webhook.AuthType.OAUTH2 and urlsplit(webhook.oauth_token_url or "").scheme == "http":
        warnings.append(_("The OAuth2 token URL is plain http://: the app secret is sent unencrypted."))
    if not webhook.verify_ssl and urlsplit(webhook.url or "").scheme != "http":
        warnings.append(
            _(
                "SSL certificate verification is off: anyone between the hub and the receiver can pose as the "
                "receiver and read or change messages. Turn it on unless the receiver's certificate is one you trust."
            )
        )
    return warnings


# --- Operations: what /metrics and /healthz read ---------------------------------------------------

# The lanes of Delivery.priority: realtime (a person or a system waits) and bulk (group sends), each
# with its retries.
LANES = {
    "realtime": (Delivery.Priority.REALTIME, Delivery.Priority.REALTIME_RETRY),
    "bulk": (Delivery.Priority.BULK, Delivery.Priority.BULK_RETRY),
}


def due_backlog(*, now=None, cap: int | None = None) -> dict[str, dict]:
    """Deliveries due and not yet claimed, per lane: how many (up to `cap`), how long the oldest has waited.

    Cheap whatever the backlog (a scrape during a 100,000 send): per priority, the oldest is the first
    entry of the claim index (priority, next_attempt_at; waiting rows only), and the count reads at most
    `cap` of its entries (settings.METRICS_BACKLOG_CAP; "at least cap" beyond).
    """
    now = now or timezone.now()
    cap = cap or settings.METRICS_BACKLOG_CAP
    waiting = Delivery.objects.filter(status__in=Delivery.WAITING_STATUSES, next_attempt_at__lte=now)
    backlog = {}
    for lane, priorities in LANES.items():
        due = [
            oldest
            for priority in priorities
            for oldest in waiting.filter(priority=priority)
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)[:1]
            if oldest is not None
        ]
        oldest = min(due, default=None)
        backlog[lane] = {
            "count": waiting.filter(priority__in=priorities).values("pk")[:cap].count(),
            "oldest_due_seconds": max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        }
    return backlog


def retries_scheduled_count(*, cap: int | None = None) -> int:
    """Deliveries waiting for an automatic retry, counted up to `cap` (settings.METRICS_BACKLOG_CAP)."""
    return Delivery.objects.filter(status=Status.RETRYING).values("pk")[: cap or settings.METRICS_BACKLOG_CAP].count()


def webhook_states() -> list[dict]:
    """Each webhook's id, name and whether it is active and paused (few rows: read them all)."""
    return [
        {
            "id": webhook.pk,
            "name": webhook.name,
            "active": webhook.is_active,
            "paused": webhook.is_paused,
        }
        for webhook in Webhook.objects.order_by("pk")
    ]


def rq_queues_state(*, connection, queue_names) -> dict:
    """rq's scheduler locks and queue sizes in Redis (the workers themselves are counted from the database)."""
    from rq import Queue
    from rq.registry import ScheduledJobRegistry
    from rq.scheduler import RQScheduler

    pipe = connection.pipeline()
    for name in queue_names:
        pipe.exists(RQScheduler.get_locking_key(name))
    scheduler_locks = dict(zip(queue_names, (bool(found) for found in pipe.execute()), strict=True))
    queues = {}
    for name in queue_names:
        queue = Queue(name, connection=connection)
        queues[name] = {"queued": queue.count, "scheduled": ScheduledJobRegistry(queue=queue).count}
    return {"scheduler_locks": scheduler_locks, "queues": queues}


def _rotations_ending():
    return Webhook.objects.filter(
        Q(standard_secret_previous_until__isnull=False) | Q(secret_key_previous_until__isnull=False)
    )


def webhook_rotations_due() -> bool:
    """Whether a rotation's overlap has ended and is not yet recorded (see webhook_rotations_expire)."""
    now = timezone.now()
    return (
        _rotations_ending()
        .filter(Q(standard_secret_previous_until__lte=now) | Q(secret_key_previous_until__lte=now))
        .exists()
    )


def webhook_rotations_next_at():
    """When the next overlap of a rotation ends, or None."""
    ends = _rotations_ending().aggregate(
        standard=Min("standard_secret_previous_until"), key=Min("secret_key_previous_until")
    )
    return min((moment for moment in ends.values() if moment is not None), default=None)


def delivery_is_sample(delivery: Delivery) -> bool:
    """A sample event (webhooks/services/samples.py): sent by hand to test a fixed-event webhook, not a real event."""
    context = delivery.message.context
    return isinstance(context, dict) and context.get("sample") is True
