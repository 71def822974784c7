"""Form submissions and automation flow runs, each state change in one named function.

Flows start from the services that change what they watch: `customers.services` announces changed
activity scores, `customers.groups` group joins and `webhooks.services` loyalty events, each after
its transaction commits (automation/receivers.py listens); a micro-page submission starts its flows
itself. A flow run lives in the database: its current step, status and when it is next due; the
engine's drain advances every due run (registered in apps.py), and the doorbell only wakes a worker
for it, so neither a restart nor an empty Redis loses a wait.
"""

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from customers.groups import group_customers_add
from customers.models import Customer
from customers.signals import ScoreChange
from webhookhub.net import client_key
from webhooks.content.events import Event
from webhooks.engine import doorbell
from webhooks.services import message_publish

from . import selectors
from .models import Flow, FlowRun, FlowStep, FormField, MicroPage, Submission

logger = logging.getLogger(__name__)

# Runs a single rq job wakes when they start: a bulk join of 100,000 queues 200 jobs, not 100,000.
START_BATCH = 500
RATE_KEY = "webhookhub:form-rate:{address}:{minute}"
# Seconds in which a tokenless submit of the same answers from the same client is the same submission.
CONTENT_REPEAT_WINDOW = 300


# --- Micro-page forms -----------------------------------------------------------------------------


def form_rate_limit_hit(*, address: str) -> bool:
    """Count one submission from `address` in this minute; True once it is over the limit.

    A fixed one-minute window in Redis, shared by every web process, per IPv4 address or IPv6 /64. If
    Redis cannot be reached the form stays open: losing a lead costs more than a burst of submissions.
    """
    limit = settings.FORM_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return False
    key = RATE_KEY.format(address=client_key(address), minute=int(timezone.now().timestamp() // 60))
    try:
        connection = doorbell.redis()
        pipe = connection.pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _expire = pipe.execute()
    except RedisError as exc:
        logger.warning("form rate limit unavailable (%s); submission allowed", type(exc).__name__)
        return False
    return count > limit


def _submitted_contact(page: MicroPage, data: dict) -> tuple[str, str, str]:
    fields = list(page.fields.all())
    mobile = next((str(data[f.key]) for f in fields if f.field_type == FormField.Type.MOBILE and data.get(f.key)), "")
    email = next((str(data[f.key]) for f in fields if f.field_type == FormField.Type.EMAIL and data.get(f.key)), "")
    name = str(data.get("name") or "").strip()[:128] or mobile or email or _("Form visitor")
    return mobile, email, name


def submission_create(*, page: MicroPage, data: dict, ip: str | None = None, form_token: str = "") -> Submission:
    """Store a valid submission and push it; a repeat of the same form (same token) is the first one.

    A submit without a form token (a script leaves it out) is one submission per content: the same
    answers from the same client (IPv4 address or IPv6 /64) within CONTENT_REPEAT_WINDOW are the first.

    A submit whose mobile matches an existing customer is only that customer's when the page trusts
    submitted mobile numbers; otherwise anyone could type a customer's mobile and join them to a group,
    start their flows and push answers under their ID. It is then recorded and pushed as an unverified
    match (submission.matched, not submission.verified), with no customer in the message.
    """
    tokens = [form_token] if form_token else _content_tokens(page=page, data=data, ip=ip)
    repeat = Submission.objects.filter(page=page, form_token__in=tokens).first()
    if repeat is not None:
        return repeat
    try:
        return _submission_create(page=page, data=data, ip=ip, form_token=tokens[0])
    except IntegrityError:
        # The same form submitted twice at once: the other request stored it first.
        repeat = Submission.objects.filter(page=page, form_token__in=tokens).first()
        if repeat is None:
            raise
        return repeat


def _content_tokens(*, page: MicroPage, data: dict, ip: str | None) -> list[str]:
    """The token a tokenless submit stands under: a hash of page, client and answers in this window of
    CONTENT_REPEAT_WINDOW, then the same in the window before (a repeat just across the edge is one too).
    Stored like a form token, so the database's once-per-token constraint settles a race."""
    answers = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    window = int(timezone.now().timestamp() // CONTENT_REPEAT_WINDOW)
    return [
        hashlib.sha256(f"{page.pk}|{client_key(ip or '')}|{answers}|{w}".encode()).hexdigest()[:32]
        for w in (window, window - 1)
    ]


@transaction.atomic
def _submission_create(*, page: MicroPage, data: dict, ip: str | None, form_token: str) -> Submission:
    # One transaction: the submission, the customer, the group entry, the message, its deliveries and any
    # flow run it starts are written together or not at all; jobs are queued after commit.
    mobile, email, name = _submitted_contact(page, data)
    existing = Customer.objects.filter(mobile=mobile).first() if mobile else None
    matched = existing is not None
    verified = page.trust_submitted_mobile
    if existing is None:
        try:
            with transaction.atomic():
                customer = Customer.objects.create(name=name, mobile=mobile, email=email)
        except IntegrityError:
            # Created a moment ago by another submit with this mobile: it is a match now.
            found = Customer.objects.filter(mobile=mobile).first() if mobile else None
            if found is None:
                raise
            customer, matched = found, True
    else:
        customer = existing
    counts_as_customer = verified or not matched
    submission = Submission.objects.create(
        page=page,
        customer=customer,
        data=data,
        matched=matched,
        verified=verified,
        ip=ip or None,
        form_token=form_token,
    )
    if counts_as_customer and page.group is not None:
        group_customers_add(group=page.group, customers=[customer])
    webhooks = list(page.webhooks.filter(is_active=True))
    if webhooks:
        submission.message = message_publish(
            event=Event.FORM_SUBMIT,
            webhooks=webhooks,
            customer=customer if counts_as_customer else None,
            context={
                "form": data,
                "submission": {"id": submission.pk, "matched": matched, "verified": verified},
            },
        )
        submission.save(update_fields=["message"])
    if counts_as_customer:
        for flow in selectors.flows_active(trigger=Flow.Trigger.FORM_SUBMITTED, page=page):
            flow_runs_start(flow=flow, customer_ids=[customer.pk])
    return submission


# --- Flow runs ------------------------------------------------------------------------------------


def _wake_at(at: datetime) -> None:
    """The run's row holds its due time; rq's scheduler only rings the doorbell then (the tick, if Redis lost it)."""
    doorbell.ring_at_on_commit(at)


def flow_runs_start(*, flow: Flow, customer_ids: Iterable[int]) -> int:
    """Start the flow for each customer not yet in it (a customer never enters a flow twice); returns how many.

    The runs are written in bulk and woken START_BATCH at a time by one rq job each, after commit. A run
    started at the same moment by another process is left to it (the unique constraint decides).
    """
    ids = list(dict.fromkeys(customer_ids))
    started = 0
    with transaction.atomic():
        for start in range(0, len(ids), START_BATCH):
            chunk = ids[start : start + START_BATCH]
            present = set(
                FlowRun.objects.filter(flow=flow, customer_id__in=chunk).values_list("customer_id", flat=True)
            )
            new = [pk for pk in chunk if pk not in present]
            if not new:
                continue
            now = timezone.now()
            before = FlowRun.objects.filter(flow=flow, customer_id__in=new).count()
            FlowRun.objects.bulk_create(
                [FlowRun(flow=flow, customer_id=pk, next_run_at=now) for pk in new], ignore_conflicts=True
            )
            # Bulk inserts that skip conflicts return no primary keys: count what this one wrote.
            written = FlowRun.objects.filter(flow=flow, customer_id__in=new).count() - before
            if written:
                # Due now: the drain advances them (a flow step is realtime work).
                doorbell.ring_on_commit(doorbell.REALTIME_QUEUE)
                started += written
    return started


def _score_crossed(flow: Flow, change: ScoreChange) -> bool:
    """The score went from below the flow's threshold to the threshold or more (a new customer: from nothing)."""
    threshold = flow.score_threshold
    if threshold is None:
        return False  # a flow triggered otherwise than by a score
    return change.new >= threshold and (change.old is None or change.old < threshold)


def flows_on_scores_change(*, changes: list[ScoreChange]) -> int:
    """Start the score flows whose threshold each changed score reached from below; returns the runs started."""
    rising = [change for change in changes if change.new >= 1 and (change.old is None or change.new > change.old)]
    if not rising:
        return 0
    started = 0
    for flow in selectors.flows_active(trigger=Flow.Trigger.SCORE_REACHED, score_threshold__isnull=False):
        reached = [change.customer_id for change in rising if _score_crossed(flow, change)]
        if reached:
            started += flow_runs_start(flow=flow, customer_ids=reached)
    return started


def flows_on_group_join(*, group_id: int, customer_ids: list[int]) -> int:
    started = 0
    for flow in selectors.flows_active(trigger=Flow.Trigger.GROUP_JOINED, group_id=group_id):
        started += flow_runs_start(flow=flow, customer_ids=customer_ids)
    return started


def flows_on_loyalty_event(*, event: str, customer: Customer | None) -> int:
    if customer is None:
        return 0
    started = 0
    for flow in selectors.flows_active(trigger=Flow.Trigger.LOYALTY_EVENT, event=event):
        started += flow_runs_start(flow=flow, customer_ids=[customer.pk])
    return started


def flow_runs_advance_due(*, limit: int = 200) -> int:
    """Advance the runs whose time has come (the drain calls this every turn); returns how many."""
    now = timezone.now()
    due = list(
        FlowRun.objects.filter(status__in=FlowRun.OPEN_STATUSES, next_run_at__lte=now, flow__is_active=True)
        .order_by("next_run_at")
        .values_list("pk", flat=True)[:limit]
    )
    for run_id in due:
        flow_run_advance(run_id=run_id)
    return len(due)


def _run_webhook_step(run: FlowRun, step: FlowStep, position: int) -> None:
    if step.webhook is None or not step.webhook.is_active:
        logger.info("flow %s step %s: webhook %s is inactive, step skipped", run.flow_id, position, step.webhook_id)
        return
    message_publish(
        event=Event.FLOW_WEBHOOK,
        webhooks=[step.webhook],
        customer=run.customer,
        context={"flow_id": run.flow_id, "flow_step": position},
    )


def flow_run_advance(*, run_id: int) -> str | None:
    """Carry a run on from where it stands: past an elapsed wait, through webhook nodes, to the next wait.

    Everything one advance does commits together: a webhook node's message and the step moving on are
    never apart, so a worker killed half-way sends nothing twice. Returns the run's status.
    """
    try:
        with transaction.atomic():
            runs = FlowRun.objects.select_for_update(of=("self",)).select_related("flow", "customer__level")
            run = runs.filter(pk=run_id).first()
            if run is None or run.status not in FlowRun.OPEN_STATUSES:
                return None
            if not run.flow.is_active:
                return run.status  # paused with the flow; reconcile resumes it once the flow is active
            now = timezone.now()
            if run.next_run_at and run.next_run_at > now + timedelta(seconds=1):
                return run.status  # another drain advanced it a moment ago (the row lock let us in after it)
            steps = selectors.flow_steps(flow_id=run.flow_id)
            if run.status == FlowRun.Status.WAITING:
                run.step_index += 1
            run.status = FlowRun.Status.RUNNING
            while run.step_index < len(steps):
                step = steps[run.step_index]
                if step.kind == FlowStep.Kind.WAIT:
                    run.status = FlowRun.Status.WAITING
                    run.next_run_at = now + (step.wait or timedelta(0))
                    _wake_at(run.next_run_at)
                    run.save()
                    return run.status
                _run_webhook_step(run, step, run.step_index + 1)
                run.step_index += 1
            run.status, run.next_run_at, run.finished_at = FlowRun.Status.COMPLETED, None, now
            run.save()
            return run.status
    except (OperationalError, InterfaceError):
        raise  # the database, not the run: it stays due and the drain tries it again
    except Exception as exc:
        logger.exception("flow run %s failed", run_id)
        FlowRun.objects.filter(pk=run_id, status__in=FlowRun.OPEN_STATUSES).update(
            status=FlowRun.Status.FAILED,
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
            next_run_at=None,
        )
        return FlowRun.Status.FAILED
