"""Deliveries and their attempts: list with the admin's filters, read one with every attempt, redeliver."""

from datetime import datetime
from typing import TYPE_CHECKING, Literal, TypeAlias

from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router, Schema, Status
from pydantic import Field

from webhooks import services
from webhooks.content.events import Event
from webhooks.models import Attempt, Delivery
from webhooks.selectors import deliveries_filter

from ..hub import ScopedKey
from ..models import Scope
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from ..schemas import TEXT, Moment, id_query, responses, text_query

router = Router(tags=["Deliveries"])
READ, WRITE = ScopedKey(Scope.DELIVERIES_READ), ScopedKey(Scope.DELIVERIES_WRITE)

if TYPE_CHECKING:
    DeliveryStatus: TypeAlias = str
    EventName: TypeAlias = str
else:
    DeliveryStatus = Literal[tuple(Delivery.Status.values)]
    EventName = Literal[tuple(Event.values)]


class DeliveryOut(Schema):
    id: str = Field(description="The receiver's idempotency key: X-Clab-Delivery-Id and webhook-id.")
    webhook_id: int
    message_id: int
    group_send_id: int | None
    customer_id: int | None
    event: str
    status: str
    status_label: str
    attempt_count: int
    retry_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    last_error_code: str = Field(description="Why the last attempt failed, as a code (see error_code); empty if none.")
    last_error_text: str = Field(description="The last failure in the request's language (Accept-Language).")
    created_at: datetime
    updated_at: datetime


class AttemptOut(Schema):
    number: int
    trigger: str
    started_at: datetime
    duration_ms: int
    url: str
    request_headers: dict[str, str] = Field(description="As sent, secrets masked.")
    response_status: int | None
    response_headers: dict[str, str]
    response_body: str = Field(description="The first 64 KB, secrets masked.")
    response_size: int
    response_truncated: bool
    succeeded: bool
    error_class: str
    error_message: str
    error_code: str = Field(
        description="Why the attempt failed: http_status, redirect, gone, connect_refused, connect_failed, "
        "disconnected, dns, timeout, tls_verify, tls, ssrf_blocked, oauth_token, worker_lost, "
        "secret_undecryptable, other; empty when it succeeded or for attempts recorded before codes existed."
    )
    error_params: dict = Field(description='The code\'s facts, e.g. {"status": 401} or {"host": "…", "port": 443}.')
    error_text: str = Field(description="The failure in the request's language (Accept-Language).")


class DeliveryDetailOut(DeliveryOut):
    body: str = Field(description="The body as sent.")
    attempts: list[AttemptOut]


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    next_cursor: str | None


def delivery_as_dict(delivery: Delivery) -> dict:
    """A delivery whose message was read with it (select_related("message"))."""
    return {
        "id": delivery.pk,
        "webhook_id": delivery.webhook_id,
        "message_id": delivery.message_id,
        "group_send_id": delivery.message.group_send_id,
        "customer_id": delivery.customer_id,
        "event": delivery.event,
        "status": delivery.status,
        "status_label": delivery.get_status_display(),
        "attempt_count": delivery.attempt_count,
        "retry_count": delivery.retry_count,
        "next_attempt_at": delivery.next_attempt_at,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "last_error_code": delivery.last_error_code,
        "last_error_text": delivery.last_error_text,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
    }


def attempt_as_dict(attempt: Attempt) -> dict:
    return {
        "number": attempt.number,
        "trigger": attempt.trigger,
        "started_at": attempt.started_at,
        "duration_ms": attempt.duration_ms,
        "url": attempt.url,
        "request_headers": {str(k): str(v) for k, v in (attempt.request_headers or {}).items()},
        "response_status": attempt.response_status,
        "response_headers": {str(k): str(v) for k, v in (attempt.response_headers or {}).items()},
        "response_body": attempt.response_body,
        "response_size": attempt.response_size,
        "response_truncated": attempt.response_truncated,
        "succeeded": attempt.succeeded,
        "error_class": attempt.error_class,
        "error_message": attempt.error_message,
        "error_code": attempt.error_code,
        "error_params": attempt.error_params if isinstance(attempt.error_params, dict) else {},
        "error_text": attempt.error_text,
    }


def _detail(delivery_id: str) -> dict:
    delivery = get_object_or_404(Delivery.objects.select_related("message"), pk=delivery_id)
    data = delivery_as_dict(delivery)
    data["body"] = delivery.body
    data["attempts"] = [attempt_as_dict(a) for a in delivery.attempts.order_by("number")]
    return data


@router.get("/deliveries", response=responses({200: DeliveryPage}), auth=READ, operation_id="listDeliveries")
def list_deliveries(
    request,
    cursor: str | None = text_query(1000),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    webhook_id: int | None = id_query(),
    status: DeliveryStatus | None = None,
    event: EventName | None = None,
    send_id: int | None = id_query("A group send's deliveries."),
    customer: str | None = text_query(64, "The customer's id or mobile."),
    created_after: Moment | None = None,
    created_before: Moment | None = None,
):
    """Deliveries, newest first, with the admin list's filters."""
    queryset = deliveries_filter(
        webhook_id=webhook_id,
        status=status,
        event=event,
        send_id=send_id,
        customer=customer,
        created_after=created_after,
        created_before=created_before,
    ).select_related("message")

    return page(
        queryset.defer("body"), cursor=cursor, limit=limit, order=("-created_at", "-id"), serialize=delivery_as_dict
    )


@router.get(
    "/deliveries/{delivery_id}", response=responses({200: DeliveryDetailOut}), auth=READ, operation_id="getDelivery"
)
def get_delivery(request, delivery_id: str = Path(max_length=64, pattern=TEXT)):
    """One delivery with the body as sent and every attempt, as sent and answered."""
    return _detail(delivery_id)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    response=responses({202: DeliveryDetailOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="redeliverDelivery",
)
def redeliver(request, delivery_id: str = Path(max_length=64, pattern=TEXT)):
    """Send it again now, with the same delivery id: a new attempt, recorded as a redelivery by the key's creator."""
    delivery = get_object_or_404(Delivery, pk=delivery_id)
    services.delivery_redeliver(delivery=delivery, user=request.auth.created_by)
    return Status(202, _detail(delivery_id))
