"""Group sends (群发): create now or at a set time, list, read progress, cancel or stop."""

from datetime import datetime
from typing import TYPE_CHECKING, Literal, TypeAlias

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from customers.models import Group
from webhooks import services
from webhooks.models import GroupSend, Webhook
from webhooks.selectors import group_send_progress, progress_summary

from ..errors import missing
from ..hub import ScopedKey
from ..models import Scope
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from ..schemas import BODY, Moment, id_query, pk_path, responses, text_query

router = Router(tags=["Group sends"])
READ, WRITE = ScopedKey(Scope.SENDS_READ), ScopedKey(Scope.SENDS_WRITE)

if TYPE_CHECKING:
    SendStatus: TypeAlias = str
else:
    SendStatus = Literal[tuple(GroupSend.Status.values)]


class SendIn(Schema):
    model_config = BODY

    webhook_id: int = Field(ge=1, le=2**63 - 1, description="A non-fixed, active webhook.")
    group_id: int = Field(ge=1, le=2**63 - 1)
    scheduled_at: Moment | None = Field(None, description="A future time with its zone; left out: now.")


class Progress(Schema):
    total: int
    succeeded: int
    failed: int
    cancelled: int
    pending: int


class SendOut(Schema):
    id: int
    webhook_id: int
    group_id: int
    status: str
    status_label: str
    scheduled_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    progress: Progress


class SendPage(Schema):
    items: list[SendOut]
    next_cursor: str | None


def sends_as_dicts(sends: list[GroupSend]) -> list[dict]:
    counts = group_send_progress(send_ids=[send.pk for send in sends])
    result = []
    for send in sends:
        summary = progress_summary(send, counts[send.pk])
        result.append(
            {
                "id": send.pk,
                "webhook_id": send.webhook_id,
                "group_id": send.group_id,
                "status": send.status,
                "status_label": send.get_status_display(),
                "scheduled_at": send.scheduled_at,
                "started_at": send.started_at,
                "finished_at": send.finished_at,
                "created_at": send.created_at,
                "progress": {key: summary[key] for key in Progress.model_fields},
            }
        )
    return result


def send_as_dict(send: GroupSend) -> dict:
    return sends_as_dicts([send])[0]


@router.get("/sends", response=responses({200: SendPage}), auth=READ, operation_id="listSends")
def list_sends(
    request,
    cursor: str | None = text_query(1000),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    webhook_id: int | None = id_query(),
    status: SendStatus | None = None,
):
    """Group sends, newest first, with their progress (one aggregate query per page)."""
    queryset = GroupSend.objects.all()
    if webhook_id is not None:
        queryset = queryset.filter(webhook_id=webhook_id)
    if status:
        queryset = queryset.filter(status=status)
    result = page(queryset, cursor=cursor, limit=limit, serialize=lambda send: send)
    result["items"] = sends_as_dicts(result["items"])
    return result


@router.post(
    "/sends",
    response=responses({201: SendOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="createSend",
)
def create_send(request, payload: SendIn):
    """Send a webhook's message to every customer of a group, now or at `scheduled_at`."""
    fields = {}
    webhook = Webhook.objects.filter(pk=payload.webhook_id).first()
    group = Group.objects.filter(pk=payload.group_id).first()
    if webhook is None:
        fields["webhook_id"] = [_("There is no such webhook.")]
    if group is None:
        fields["group_id"] = [_("There is no such group.")]
    if webhook is None or group is None:
        raise missing(fields)
    send = services.group_send_create(
        webhook=webhook, group=group, scheduled_at=payload.scheduled_at, user=request.auth.created_by
    )
    return Status(201, send_as_dict(send))


@router.get("/sends/{send_id}", response=responses({200: SendOut}), auth=READ, operation_id="getSend")
def get_send(request, send_id: int = pk_path()):
    """A send's status and progress: succeeded, failed, cancelled and pending out of the total."""
    return send_as_dict(get_object_or_404(GroupSend, pk=send_id))


@router.post(
    "/sends/{send_id}/cancel",
    response=responses({200: SendOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="cancelSend",
)
def cancel_send(request, send_id: int = pk_path()):
    """Cancel a scheduled send, or stop a running one: what is not yet sent is cancelled."""
    send = services.group_send_cancel(send=get_object_or_404(GroupSend, pk=send_id), user=request.auth.created_by)
    return send_as_dict(send)
