"""Form submissions and automation flow runs, each state change in one named function.

A flow run lives in the database: its current step, status and when it is next due. The rq job that
wakes it is queued only after the run commits, and `flow_runs_reconcile` queues again any due run
whose job Redis no longer holds, so neither a restart nor an empty Redis loses a wait.
"""

import logging
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from customers.models import Customer, GroupEntry
from webhooks import queueing
from webhooks.events import Event
from webhooks.services import message_publish

from . import selectors
from .models import Flow, FlowRun, FlowStep, FormField, MicroPage, Submission

logger = logging.getLogger(__name__)

FLOW_RUN_ADVANCE = "automation.jobs.flow_run_advance"
RATE_KEY = "webhookhub:form-rate:{address}:{minute}"


# --- Micro-page forms -----------------------------------------------------------------------------


def form_rate_limit_hit(*, address: str) -> bool:
    """Count one submission from `address` in this minute; True once it is over the limit.

    A fixed one-minute window in Redis, shared by every web process. If Redis cannot be reached the
    form stays open: losing a lead costs more than a burst of submissions.
    """
    limit = settings.FORM_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return False
    key = RATE_KEY.format(address=address or "unknown", minute=int(timezone.now().timestamp() // 60))
    try:
        connection = django_rq.get_connection(queueing.DEFAULT_QUEUE)
        pipe = connection.pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _expire = pipe.execute()
    except RedisError as exc:
        logger.warning("form rate limit unavailable (%s); submission allowed", type(exc).__name__)
        return False
    return count > limit


def _customer_for_submission(*, page: MicroPage, data: dict) -> Customer:
    """The customer with the form's mobile, or a new one named from the form when there is none."""
    fields = list(page.fields.all())
    mobile = next((data.get(f.key) for f in fields if f.field_type == FormField.Type.MOBILE and data.get(f.key)), "")
    email = next((data.get(f.key) for f in fields if f.field_type == FormField.Type.EMAIL and data.get(f.key)), "")
    name = str(data.get("name") or "").strip()[:128] or mobile or email or _("Form visitor")
    if mobile:
        customer, _created = Customer.objects.get_or_create(mobile=mobile, defaults={"name": name, "email": email})
        return customer
    return Customer.objects.create(name=name, email=email)


@transaction.atomic
def submission_create(*, page: MicroPage, data: dict, ip: str | None = None) -> Submission:
    """Store a valid submission, match or create its customer, join the page's group, send form/submit.

    One transaction: the submission, the customer, the group entry, the message, its deliveries
    and any flow run it starts are written together or not at all; jobs are queued after commit.
    """
    customer = _customer_for_submission(page=page, data=data)
    if page.group_id:
        # One row through the ORM (not a bulk insert), so that "joins a group" flows hear of it.
        GroupEntry.objects.get_or_create(group_id=page.group_id, customer=customer)
    submission = Submission.objects.create(page=page, customer=customer, data=data, ip=ip or None)
    webhooks = list(page.webhooks.filter(is_active=True))
    if webhooks:
        submission.message = message_publish(
            event=Event.FORM_SUBMIT, webhooks=webhooks, customer=customer, context={"form": data}
        )
        submission.save(update_fields=["message"])
    flow_runs_start(flows=selectors.flows_active(trigger=Flow.Trigger.FORM_SUBMITTED, page=page), customer=customer)
    return submission


# --- Flow runs ------------------------------------------------------------------------------------


def _schedule(run: FlowRun, *, at=None) -> None:
    run.job_id = queueing.new_job_id()
    queueing.enqueue_on_commit(queueing.DEFAULT_QUEUE, FLOW_RUN_ADVANCE, run.pk, job_id=run.job_id, at=at)


def flow_runs_start(*, flows, customer: Customer) -> list[FlowRun]:
    """Start each flow for the customer, once per (flow, customer): a customer never enters a flow twice."""
    started = []
    with transaction.atomic():
        for flow in flows:
            if FlowRun.objects.filter(flow=flow, customer=customer).exists():
                continue
            try:
                with transaction.atomic():
                    run = FlowRun.objects.create(flow=flow, customer=customer, next_run_at=timezone.now())
            except IntegrityError:
                continue  # started at the same moment by another process
            _schedule(run)
            run.save(update_fields=["job_id"])
            started.append(run)
    return started


def flows_on_score_change(*, customer: Customer, old: int | None, new: int) -> list[FlowRun]:
    if new < 1 or (old is not None and new <= old):
        return []
    return flow_runs_start(flows=selectors.flows_score_crossed(old=old, new=new), customer=customer)


def flows_on_group_join(*, entry: GroupEntry) -> list[FlowRun]:
    flows = selectors.flows_active(trigger=Flow.Trigger.GROUP_JOINED, group_id=entry.group_id)
    return flow_runs_start(flows=flows, customer=entry.customer)


def flows_on_loyalty_event(*, event: str, customer: Customer | None) -> list[FlowRun]:
    if customer is None:
        return []
    return flow_runs_start(
        flows=selectors.flows_active(trigger=Flow.Trigger.LOYALTY_EVENT, event=event), customer=customer
    )


def _run_webhook_step(run: FlowRun, step: FlowStep, position: int) -> None:
    if not step.webhook.is_active:
        logger.info("flow %s step %s: webhook %s is inactive, step skipped", run.flow_id, position, step.webhook_id)
        return
    message_publish(
        event=Event.FLOW_WEBHOOK,
        webhooks=[step.webhook],
        customer=run.customer,
        context={"flow_id": run.flow_id, "flow_step": position},
    )


def flow_run_advance(*, run_id: int, job_id: str | None = None) -> str | None:
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
            if job_id and run.job_id and job_id != run.job_id:
                return None  # an older wake-up call: the run was queued again since
            if not run.flow.is_active:
                return run.status  # paused with the flow; reconcile resumes it once the flow is active
            now = timezone.now()
            if run.next_run_at and run.next_run_at > now + timedelta(seconds=1):
                _schedule(run, at=run.next_run_at)
                run.save(update_fields=["job_id", "updated_at"])
                return run.status
            steps = selectors.flow_steps(flow_id=run.flow_id)
            if run.status == FlowRun.Status.WAITING:
                run.step_index += 1
            run.status = FlowRun.Status.RUNNING
            while run.step_index < len(steps):
                step = steps[run.step_index]
                if step.kind == FlowStep.Kind.WAIT:
                    run.status = FlowRun.Status.WAITING
                    run.next_run_at = now + step.wait
                    _schedule(run, at=run.next_run_at)
                    run.save()
                    return run.status
                _run_webhook_step(run, step, run.step_index + 1)
                run.step_index += 1
            run.status, run.next_run_at, run.job_id, run.finished_at = FlowRun.Status.COMPLETED, None, "", now
            run.save()
            return run.status
    except Exception as exc:
        logger.exception("flow run %s failed", run_id)
        FlowRun.objects.filter(pk=run_id, status__in=FlowRun.OPEN_STATUSES).update(
            status=FlowRun.Status.FAILED,
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
            job_id="",
        )
        return FlowRun.Status.FAILED


def flow_runs_reconcile() -> dict:
    """Queue every run that is due but whose job Redis no longer holds; start bulk group joins."""
    now = timezone.now()
    counts = {"runs": 0, "group_joins": 0}
    due = list(
        FlowRun.objects.filter(
            status__in=FlowRun.OPEN_STATUSES, next_run_at__lte=now, flow__is_active=True
        ).values_list("pk", "job_id")
    )
    alive = queueing.jobs_alive(
        (job_id for _pk, job_id in due), running_for_at_most=timedelta(seconds=queueing.JOB_TIMEOUT)
    )
    for pk, job_id in due:
        if job_id in alive:
            continue
        with transaction.atomic():
            new_job_id = queueing.new_job_id()
            FlowRun.objects.filter(pk=pk, job_id=job_id).update(job_id=new_job_id, updated_at=now)
            queueing.enqueue_on_commit(queueing.DEFAULT_QUEUE, FLOW_RUN_ADVANCE, pk, job_id=new_job_id)
        counts["runs"] += 1
    counts["group_joins"] = _group_joins_catch_up()
    if any(counts.values()):
        logger.info("flow reconcile: %s", counts)
    return counts


def _group_joins_catch_up() -> int:
    # Group imports and admin actions add members with bulk inserts, which send no post_save: the
    # joins since the flow became active that have no run yet start here, at most one interval late.
    started = 0
    for flow in Flow.objects.filter(is_active=True, trigger=Flow.Trigger.GROUP_JOINED, group__isnull=False):
        entries = (
            GroupEntry.objects.filter(group_id=flow.group_id, joined_at__gte=flow.activated_at or flow.created_at)
            .exclude(customer__flow_runs__flow=flow)
            .select_related("customer")[:5000]
        )
        for entry in entries:
            started += len(flow_runs_start(flows=[flow], customer=entry.customer))
    return started
