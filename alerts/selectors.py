"""Reads of the alerts app."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Min, Q, QuerySet
from django.utils import timezone

from webhooks.models import Webhook

from .models import Alert, Channel

HEALTH_KINDS = (Alert.Kind.FAILING, Alert.Kind.PAUSED, Alert.Kind.RECOVERED)
# What alerts_record records: the health changes, and client certificates about to end.
RECORDED_KINDS = (*HEALTH_KINDS, Alert.Kind.CERTIFICATE)


def channels_covering(*, webhook, kind: str) -> QuerySet[Channel]:
    """The active channels that want `kind` for this webhook."""
    wants = {f"on_{kind}": True} if kind in HEALTH_KINDS else {}
    return (
        Channel.objects.filter(is_active=True, **wants)
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


def _unannounced_certificates() -> QuerySet[Webhook]:
    expires = F("client_certificate_expires_at")
    return Webhook.objects.filter(client_certificate_expires_at__isnull=False).filter(
        Q(client_certificate_announced__isnull=True)
        | Q(client_certificate_announced__lt=expires)
        | Q(client_certificate_announced__gt=expires)
    )


def certificates_to_announce() -> QuerySet[Webhook]:
    """Webhooks whose client certificate ends within CLIENT_CERTIFICATE_WARNING_DAYS and was not announced."""
    horizon = timezone.now() + timedelta(days=settings.CLIENT_CERTIFICATE_WARNING_DAYS)
    return _unannounced_certificates().filter(client_certificate_expires_at__lte=horizon).order_by("pk")


def certificates_due() -> bool:
    return certificates_to_announce().exists()


def certificates_next_at() -> datetime | None:
    ends = _unannounced_certificates().aggregate(at=Min("client_certificate_expires_at"))["at"]
    return ends - timedelta(days=settings.CLIENT_CERTIFICATE_WARNING_DAYS) if ends else None
