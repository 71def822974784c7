"""Bulk recover: send failed and cancelled deliveries again (same ids) by ids, the list's filters, a send or
a webhook since a time; read a recovery's progress; stop it. The work is webhooks/services/recoveries.py's."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from pydantic import Field

from webhooks import services
from webhooks.content.events import Event
from webhooks.models import Delivery, GroupSend, Recovery, Webhook
from webhooks.services import recoveries

from ..errors import ApiError, missing
from ..hub import ScopedKey
from ..models import Scope
from ..schemas import BODY, INT64_MAX, TEXT, Moment, pk_path, responses

router = Router(tags=["Bulk recovers"])
READ, WRITE = ScopedKey(Scope.DELIVERIES_READ), ScopedKey(Scope.DELIVERIES_WRITE)

if TYPE_CHECKING:
    DeliveryStatus: TypeAlias = str
    EventName: TypeAlias = str
else:
    DeliveryStatus = Literal[tuple(Delivery.Status.values)]
    EventName = Literal[tuple(Event.values)]

DeliveryId = Annotated[str, Field(min_length=1, max_length=64, pattern=TEXT)]
FILTERS = ("webhook_id", "status", "event", "send_id", "customer", "created_after", "created_before")


class RecoverIn(Schema):
    """One of: `delivery_ids`; `webhook_id` with `since`; `send_id` alone (the send's failed and
    cancelled); or the deliveries list's filters (at least one)."""

    model_config = BODY

    delivery_ids: list[DeliveryId] | None = Field(
        None, min_length=1, max_length=recoveries.MAX_IDS, description="These deliveries, by id (alone)."
    )
    since: Moment | None = Field(None, description="With webhook_id alone: its deliveries created since then.")
    webhook_id: int | None = Field(None, ge=1, le=INT64_MAX)
    status: DeliveryStatus | None = None
    event: EventName | None = None
    send_id: int | None = Field(None, ge=1, le=INT64_MAX, description="A group send's deliveries.")
    customer: str | None = Field(None, max_length=64, pattern=TEXT, description="The customer's id or mobile.")
    created_after: Moment | None = None
    created_before: Moment | None = None


class RecoveryProgress(Schema):
    total: int
    succeeded: int
    failed: int
    cancelled: int
    pending: int


class RecoveryOut(Schema):
    id: int
    kind: str = Field(description="selection, filter, send or webhook.")
    criteria: dict[str, Any] = Field(description="What was asked for, as stored.")
    status: str = Field(description="running, completed or stopped.")
    status_label: str
    created_at: datetime
    finished_at: datetime | None
    webhook_ids: list[int]
    total: int = Field(description="Deliveries sent again (failed or cancelled ones of active webhooks).")
    skipped: int = Field(
        description="Named but not sent again: already pending or sending, succeeded, test sends, bodies gone."
    )
    moved: int = Field(description="Moved back to due so far (in batches, by the workers).")
    progress: RecoveryProgress


def recovery_as_dict(recovery: Recovery) -> dict:
    recovery = recoveries.recoveries_with_progress([recovery])[0]
    progress = recovery.progress
    return {
        "id": recovery.pk,
        "kind": recovery.kind,
        "criteria": recovery.criteria,
        "status": recovery.status,
        "status_label": recovery.get_status_display(),
        "created_at": recovery.created_at,
        "finished_at": recovery.finished_at,
        "webhook_ids": [int(pk) for pk in recovery.webhook_ids],
        "total": recovery.total,
        "skipped": recovery.skipped,
        "moved": recovery.moved,
        "progress": {key: progress[key] for key in RecoveryProgress.model_fields},
    }


def _invalid(fields: dict) -> ApiError:
    return ApiError(400, "invalid_fields", _("Some fields are invalid; nothing was changed."), fields=fields)


def _kind_and_criteria(payload: RecoverIn) -> tuple[str, dict]:
    given = {key for key in (*FILTERS, "delivery_ids", "since") if getattr(payload, key) is not None}
    if payload.delivery_ids is not None:
        if given - {"delivery_ids"}:
            raise _invalid({"delivery_ids": [_("Give delivery_ids alone, without filters.")]})
        return Recovery.Kind.SELECTION, {"ids": payload.delivery_ids}
    if payload.webhook_id is not None and not Webhook.objects.filter(pk=payload.webhook_id).exists():
        raise missing({"webhook_id": [_("There is no such webhook.")]})
    if payload.send_id is not None and not GroupSend.objects.filter(pk=payload.send_id).exists():
        raise missing({"send_id": [_("There is no such group send.")]})
    if payload.since is not None:
        if given != {"since", "webhook_id"}:
            raise _invalid({"since": [_("Give since with webhook_id alone.")]})
        return Recovery.Kind.WEBHOOK, {"webhook_id": payload.webhook_id, "since": payload.since}
    if given == {"send_id"}:
        return Recovery.Kind.SEND, {"send_id": payload.send_id}
    if not given:
        raise _invalid({"body": [_("Name at least one filter (webhook, status, event, send, customer or time).")]})
    return Recovery.Kind.FILTER, {key: getattr(payload, key) for key in FILTERS if key in given}


@router.post(
    "/deliveries/recover",
    response=responses({202: RecoveryOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="recoverDeliveries",
)
def recover_deliveries(request, payload: RecoverIn):
    """Send failed and cancelled deliveries again in bulk, each with its own delivery id.

    Answered at once with the recovery (counted, nothing sent yet); the workers move its deliveries back
    to due in batches and send them in the bulk lane, after realtime messages, at each webhook's limits.
    Each new attempt is a redelivery by the key's creator. Follow it with getRecovery; stop it with
    stopRecovery. Refused (409) when none of them can be sent again.
    """
    kind, criteria = _kind_and_criteria(payload)
    recovery = services.recovery_create(kind=kind, criteria=criteria, user=request.auth.created_by)
    return Status(202, recovery_as_dict(recovery))


@router.get("/recoveries/{recovery_id}", response=responses({200: RecoveryOut}), auth=READ, operation_id="getRecovery")
def get_recovery(request, recovery_id: int = pk_path()):
    """A bulk recover's status and progress: succeeded, failed, cancelled and pending out of the total."""
    return recovery_as_dict(get_object_or_404(Recovery, pk=recovery_id))


@router.post(
    "/recoveries/{recovery_id}/stop",
    response=responses({200: RecoveryOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="stopRecovery",
)
def stop_recovery(request, recovery_id: int = pk_path()):
    """Stop a running bulk recover: nothing more is sent; what it moved and has not sent is cancelled."""
    recovery = services.recovery_stop(
        recovery=get_object_or_404(Recovery, pk=recovery_id), user=request.auth.created_by
    )
    return recovery_as_dict(recovery)
