"""Reads for micro-pages and flows."""

from django.db.models import Count, Q
from django.utils import timezone

from .models import Flow, FlowRun, FlowStep, MicroPage


def page_for_public(*, slug: str) -> MicroPage | None:
    return MicroPage.objects.filter(slug=slug, is_active=True).prefetch_related("fields").first()


def flows_active(*, trigger: str, **params):
    return Flow.objects.filter(is_active=True, trigger=trigger, **params)


def flow_steps(*, flow_id: int) -> list[FlowStep]:
    return list(FlowStep.objects.filter(flow_id=flow_id).select_related("webhook").order_by("order", "id"))


def flow_run_counts(*, flow: Flow) -> dict:
    counts = FlowRun.objects.filter(flow=flow).aggregate(
        **{status: Count("id", filter=Q(status=status)) for status in FlowRun.Status.values}
    )
    return {FlowRun.Status(status).label: counts[status] for status in FlowRun.Status.values}


def flow_runs_recent(*, flow: Flow, limit: int = 50):
    return FlowRun.objects.filter(flow=flow).select_related("customer").order_by("-updated_at")[:limit]


def flow_runs_due() -> bool:
    return FlowRun.objects.filter(
        status__in=FlowRun.OPEN_STATUSES, next_run_at__lte=timezone.now(), flow__is_active=True
    ).exists()


def flow_runs_next_at():
    return (
        FlowRun.objects.filter(status__in=FlowRun.OPEN_STATUSES, flow__is_active=True, next_run_at__isnull=False)
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )
