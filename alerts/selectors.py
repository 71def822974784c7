"""Reads of the alerts app."""

from datetime import datetime

from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from .models import Alert, Channel

HEALTH_KINDS = (Alert.Kind.FAILING, Alert.Kind.PAUSED, Alert.Kind.RECOVERED)


def channels_covering(*, webhook, kind: str) -> QuerySet[Channel]:
    """The active channels that want `kind` for this webhook."""
    return (
        Channel.objects.filter(is_active=True, **{f"on_{kind}": True})
        .filter(Q(all_webhooks=True) | Q(webhooks=webhook))
        .distinct()
        .order_by("pk")
    )


def _free(now) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def alerts_due_ids(*, limit: int = 50) -> list[int]:
    now = timezone.now()
    return list(
        Alert.objects.filter(status=Alert.Status.PENDING, next_attempt_at__lte=now)
        .filter(_free(now))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def alerts_due() -> bool:
    now = timezone.now()
    return Alert.objects.filter(status=Alert.Status.PENDING, next_attempt_at__lte=now).filter(_free(now)).exists()


def alerts_next_at() -> datetime | None:
    return Alert.objects.filter(status=Alert.Status.PENDING).aggregate(at=Min("next_attempt_at"))["at"]
