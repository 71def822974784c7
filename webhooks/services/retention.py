"""Retention: how long deliveries, attempts and their bodies are kept, and the prune that enforces it.

- After RETENTION_BODIES_DAYS (30) a finished delivery's rendered body and its attempts' request
  and response bodies and headers are blanked: what was sent and answered is personal data.
- After RETENTION_DAYS (180) a finished delivery is deleted with all its attempts.
- Deleting a customer blanks the bodies of their deliveries the same way (and cancels those still
  waiting): the rows, their status and counts stay, so a group send's progress does not change.

A prune works in batches of RETENTION_BATCH_SIZE deliveries, one short transaction each, oldest
first along the created_at index: the engine's writes wait at most one batch. It is the engine's due
work like any other (webhooks/engine/due.py): at RETENTION_PRUNE_AT a drain runs it on its second
thread, in slices of RETENTION_SLICE_SECONDS that give way to a group send's fan-out; by hand it is
`manage.py prune`.

Its book is one database row (`PruneState`): when the next run is due, the slice running now, the
blanking's watermark (how far it has come, so a daily run reads only the day's new rows) and what the
last run did. Redis holds none of it: an emptied Redis changes nothing.
"""

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from webhooks.content.failures import Code
from webhooks.health.services import HEALTH_HOURS_KEPT, health_hours_prune
from webhooks.models import Attempt, Delivery, PruneState

logger = logging.getLogger(__name__)

UNFINISHED = (*Delivery.WAITING_STATUSES, Delivery.Status.SENDING)


def _attempt_blank_values() -> dict:
    values = {"request_headers": {}, "response_headers": {}, "response_body": ""}
    # The request body is the delivery's body; while Attempt still has its own copy, blank it too.
    if any(f.name == "request_body" for f in Attempt._meta.concrete_fields):
        values["request_body"] = ""
    return values


@dataclass
class PruneReport:
    deliveries_deleted: int = 0
    attempts_deleted: int = 0
    bodies_blanked: int = 0
    attempts_blanked: int = 0
    batches: int = 0
    longest_batch_ms: int = 0
    seconds: float = 0.0
    finished: bool = True
    started_at: str = ""
    cutoffs: dict = field(default_factory=dict)

    def add(self, other: "PruneReport") -> "PruneReport":
        for name in ("deliveries_deleted", "attempts_deleted", "bodies_blanked", "attempts_blanked", "batches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.longest_batch_ms = max(self.longest_batch_ms, other.longest_batch_ms)
        self.seconds = round(self.seconds + other.seconds, 3)
        self.finished = other.finished
        self.started_at = self.started_at or other.started_at
        self.cutoffs = other.cutoffs or self.cutoffs
        return self

    def summary(self) -> str:
        state = "" if self.finished else " (more to do: continued by the next slice or run)"
        return (
            f"deleted {self.deliveries_deleted} deliveries and {self.attempts_deleted} attempts; "
            f"blanked the bodies of {self.bodies_blanked} deliveries and {self.attempts_blanked} attempts; "
            f"{self.batches} batches, longest {self.longest_batch_ms} ms, {self.seconds:.1f} s{state}"
        )


def policy() -> dict:
    """What is kept and for how long, and what the last prune did: for the admin pages."""
    return {
        "bodies_days": settings.RETENTION_BODIES_DAYS,
        "days": settings.RETENTION_DAYS,
        "prune_at": settings.RETENTION_PRUNE_AT,
        "last_run": last_run(),
    }


def _state() -> PruneState:
    state, _created = PruneState.objects.get_or_create(pk=1)
    return state


def _state_update(**fields) -> None:
    """Write these fields of the prune's one row (made on first use, by `_state`)."""
    if not PruneState.objects.filter(pk=1).update(**fields):
        _state()
        PruneState.objects.filter(pk=1).update(**fields)


def last_run() -> dict | None:
    return PruneState.objects.filter(pk=1).values_list("last_report", flat=True).first()


def last_run_store(report: PruneReport) -> None:
    _state_update(last_report={**asdict(report), "at": timezone.now().isoformat()})


# --- The prune ------------------------------------------------------------------------------------


class _Clock:
    def __init__(self, budget: float | None, report: PruneReport):
        self.start = time.monotonic()
        self.budget = budget
        self.report = report

    def out_of_time(self) -> bool:
        # Never before the first batch: however short the budget, every slice makes progress.
        if self.budget is None or not self.report.batches:
            return False
        return time.monotonic() - self.start >= self.budget

    def batch(self, started: float) -> None:
        self.report.batches += 1
        self.report.longest_batch_ms = max(self.report.longest_batch_ms, int((time.monotonic() - started) * 1000))


def prune(*, now: datetime | None = None, time_budget: float | None = None, on_batch=None) -> PruneReport:
    """Delete what is past RETENTION_DAYS, then blank bodies past RETENTION_BODIES_DAYS.

    Stops after `time_budget` seconds (between batches) with `finished` False; the next call goes on
    where this one stopped. `on_batch(report)` is called after each batch (progress output).
    """
    now = now or timezone.now()
    report = PruneReport(started_at=now.isoformat())
    delete_before = now - timedelta(days=settings.RETENTION_DAYS)
    blank_before = now - timedelta(days=settings.RETENTION_BODIES_DAYS)
    report.cutoffs = {"delete_before": delete_before.isoformat(), "blank_before": blank_before.isoformat()}
    clock = _Clock(time_budget, report)
    health_hours_prune(before=now - HEALTH_HOURS_KEPT)
    report.finished = _delete_old(delete_before, clock, on_batch) and _blank_old(blank_before, clock, on_batch)
    report.seconds = round(time.monotonic() - clock.start, 3)
    return report


def _delete_old(before: datetime, clock: _Clock, on_batch) -> bool:
    size = settings.RETENTION_BATCH_SIZE
    while True:
        if clock.out_of_time():
            return False
        started = time.monotonic()
        with transaction.atomic():
            # Oldest first along the created_at index; rows a redelivery holds right now are left for later.
            ids = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(created_at__lt=before)
                .exclude(status__in=UNFINISHED)
                .order_by("created_at")
                .values_list("pk", flat=True)[:size]
            )
            if not ids:
                return True
            attempts, _ = Attempt.objects.filter(delivery_id__in=ids).delete()
            _, per_model = Delivery.objects.filter(pk__in=ids).only("pk").delete()
        clock.report.attempts_deleted += attempts
        clock.report.deliveries_deleted += per_model.get(Delivery._meta.label, 0)
        clock.batch(started)
        if on_batch:
            on_batch(clock.report)


def _watermark_read() -> tuple[datetime, str] | None:
    row = PruneState.objects.filter(pk=1).values_list("bodies_until_at", "bodies_until_id").first()
    return (row[0], row[1]) if row and row[0] else None


def _watermark_write(mark: tuple[datetime, str] | None) -> None:
    if mark is None:
        return
    _state_update(bodies_until_at=mark[0], bodies_until_id=mark[1])


def _blank_old(before: datetime, clock: _Clock, on_batch) -> bool:
    """Blank bodies of finished deliveries created before `before`, from the watermark on."""
    size = settings.RETENTION_BATCH_SIZE
    cursor = _watermark_read()
    # The watermark never passes a delivery still waiting (a paused webhook's): it is read again
    # each run until it finishes, then blanked.
    pinned: tuple[datetime, str] | None = None
    blank_attempts = _attempt_blank_values()
    while True:
        if clock.out_of_time():
            _watermark_write(pinned or cursor)
            return False
        started = time.monotonic()
        rows = Delivery.objects.filter(created_at__lt=before)
        if cursor:
            rows = rows.filter(Q(created_at__gt=cursor[0]) | Q(created_at=cursor[0], pk__gt=cursor[1]))
        batch = list(rows.order_by("created_at", "pk").values_list("pk", "created_at", "status")[:size])
        if not batch:
            _watermark_write(pinned or cursor)
            return True
        done = [pk for pk, _created, status in batch if status not in UNFINISHED]
        waiting = [(created, pk) for pk, created, status in batch if status in UNFINISHED]
        if waiting and pinned is None:
            first = min(waiting)
            # Just before the first waiting row: (its time, an id lower than any).
            pinned = (first[0], "")
        with transaction.atomic():
            # Only deliveries that still have a body: rows re-read behind a pinned watermark cost no write.
            ids = list(Delivery.objects.filter(pk__in=done).exclude(body="").values_list("pk", flat=True))
            bodies = Delivery.objects.filter(pk__in=ids).update(body="")
            attempts = Attempt.objects.filter(delivery_id__in=ids).update(**blank_attempts)
        clock.report.bodies_blanked += bodies
        clock.report.attempts_blanked += attempts
        cursor = (batch[-1][1], batch[-1][0])
        clock.batch(started)
        if on_batch:
            on_batch(clock.report)


# --- A customer deleted ---------------------------------------------------------------------------


def customer_bodies_erase(*, customer_ids) -> int:
    """Blank the bodies of these customers' deliveries and attempts; cancel the ones still waiting.

    Called as the customers are deleted (before their deliveries lose the link to them). Returns the
    number of deliveries touched.
    """
    customer_ids = list(customer_ids)
    if not customer_ids:
        return 0
    now = timezone.now()
    blank_attempts = _attempt_blank_values()
    ids = list(Delivery.objects.filter(customer_id__in=customer_ids).values_list("pk", flat=True))
    size = settings.RETENTION_BATCH_SIZE
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        Delivery.objects.filter(pk__in=chunk, status__in=Delivery.WAITING_STATUSES).update(
            status=Delivery.Status.CANCELLED,
            next_attempt_at=None,
            last_error=gettext("The customer was deleted."),
            last_error_code=Code.CUSTOMER_DELETED,
            updated_at=now,
        )
        Delivery.objects.filter(pk__in=chunk).update(body="", updated_at=now)
        Attempt.objects.filter(delivery_id__in=chunk).update(**blank_attempts)
    return len(ids)


def customer_pre_delete(sender, instance, **kwargs) -> None:
    customer_bodies_erase(customer_ids=[instance.pk])


# --- The daily prune, as due work -----------------------------------------------------------------


def next_run_at(now: datetime | None = None) -> datetime | None:
    """The next RETENTION_PRUNE_AT (local time) after `now`; None when the daily prune is off."""
    if not settings.RETENTION_PRUNE_AT:
        return None
    hour, minute = (int(part) for part in settings.RETENTION_PRUNE_AT.split(":"))
    local_now = timezone.localtime(now or timezone.now())
    due = timezone.make_aware(datetime.combine(local_now.date(), clock_time(hour, minute)))
    return (
        due
        if due > local_now
        else timezone.make_aware(datetime.combine(local_now.date() + timedelta(days=1), clock_time(hour, minute)))
    )


def prune_due() -> bool:
    """A slice is due: the run's time has come and no live slice runs it, or its time is still to reckon."""
    if not settings.RETENTION_PRUNE_AT:
        return False
    row = PruneState.objects.filter(pk=1).values("due_at", "schedule", "running_until", "run_started_at").first()
    now = timezone.now()
    if row is None or row["due_at"] is None:
        return True
    if row["schedule"] != settings.RETENTION_PRUNE_AT and row["run_started_at"] is None:
        return True  # another time of day, between runs: to reckon (a run under way finishes first)
    return row["due_at"] <= now and (row["running_until"] is None or row["running_until"] < now)


def prune_next_at() -> datetime | None:
    """When the next run falls due (the scheduler's bell); while a slice runs, when it may be taken over."""
    if not settings.RETENTION_PRUNE_AT:
        return None
    row = PruneState.objects.filter(pk=1).values("due_at", "running_until").first()
    if row is None or row["due_at"] is None:
        return None
    return max(row["due_at"], row["running_until"] or row["due_at"])


def prune_slice_run() -> int:
    """One slice of the daily prune, if one is due and no other drain runs it; the rows it touched.

    The drain's second thread runs it (due work with `own_thread`). The slice takes the run with a
    conditional update of `running_until`, so two drains never prune at once; a slice killed with its
    worker is taken over once that time has passed. A run that is not finished stays due: the next
    upkeep (of this drain or another) runs the next slice, where the watermark and the cutoffs left it.
    """
    if not settings.RETENTION_PRUNE_AT:
        return 0
    state = _state()
    now = timezone.now()
    if state.due_at is None or (state.schedule != settings.RETENTION_PRUNE_AT and state.run_started_at is None):
        # First look, or RETENTION_PRUNE_AT changed between runs: the next run is reckoned from it.
        _state_update(due_at=next_run_at(now), schedule=settings.RETENTION_PRUNE_AT)
        return 0
    if state.due_at > now or (state.running_until is not None and state.running_until >= now):
        return 0  # not yet, or another drain's slice runs: every upkeep asks, and most find this
    slice_seconds = settings.RETENTION_SLICE_SECONDS
    taken = (
        PruneState.objects.filter(pk=1, due_at__lte=now)
        .filter(Q(running_until__isnull=True) | Q(running_until__lt=now))
        .update(
            # Past the slice's own end by a margin: the batch it is in when its time runs out ends first.
            running_until=now + timedelta(seconds=slice_seconds + 60),
            run_started_at=Coalesce(F("run_started_at"), Value(now)),
        )
    )
    if not taken:
        return 0
    # Read again now that it is ours: another drain may have ended a slice since the look above.
    state = _state()
    run_started = state.run_started_at or now
    try:
        report = prune(time_budget=slice_seconds)
    except Exception:
        # A failed slice (a locked or dropped database) lets go of the run at once, so the retry or the
        # next upkeep takes it on where the watermark stands, instead of waiting for `running_until`.
        _state_update(running_until=None)
        raise
    totals = PruneReport(**state.run_report) if state.run_report else PruneReport()
    totals.add(report)
    touched = report.deliveries_deleted + report.bodies_blanked
    if not report.finished:
        _state_update(running_until=None, run_report=asdict(totals))
        logger.info("prune of %s: a slice done: %s", run_started.isoformat(), totals.summary())
        return touched or 1
    _state_update(
        running_until=None,
        run_started_at=None,
        run_report={},
        last_report={**asdict(totals), "at": timezone.now().isoformat()},
        due_at=next_run_at(timezone.now()),
        schedule=settings.RETENTION_PRUNE_AT,
    )
    logger.info("prune of %s finished: %s", run_started.isoformat(), totals.summary(), extra={"prune": asdict(totals)})
    return touched
