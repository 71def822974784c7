"""Reads for micro-pages and flows."""

from django.db.models import Count, Q

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
