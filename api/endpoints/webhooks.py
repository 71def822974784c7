"""Webhooks: list, create, read, update, pause and resume, test send, secret rotation, history.

Input goes through the admin's own WebhookForm (the model's validators and clean(): URL, the secrets an
authentication needs, the template check), then webhook_save: the API and the admin accept exactly
the same webhooks. Secrets are write-only: answers say whether one is set, never what it is.
"""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from django.db import models
from django.forms.models import model_to_dict
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from customers.models import Customer
from webhookhub.roles import is_administrator
from webhooks import services
from webhooks.content.events import FixedEvent
from webhooks.engine.retry_policy import MAX_CUSTOM_RETRIES, RetryPolicyKind
from webhooks.forms import ADMINISTRATOR_FIELDS, SECRET_FIELDS, WebhookForm
from webhooks.health.selectors import webhook_health_api
from webhooks.models import DEFAULT_BODY_TEMPLATE, OutboundProxy, PrivateCA, Webhook, WebhookHistory
from webhooks.services.connection_check import webhook_connection_test
from webhooks.services.webhook_config import MAX_OVERLAP

from ..errors import ApiError, missing
from ..hub import ScopedKey
from ..models import Scope
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from ..schemas import BODY, FILLED, pk_path, responses, text_query

router = Router(tags=["Webhooks"])
READ, WRITE = ScopedKey(Scope.WEBHOOKS_READ), ScopedKey(Scope.WEBHOOKS_WRITE)


def _max(name: str) -> int:
    field = Webhook._meta.get_field(name)
    assert isinstance(field, models.CharField)
    return field.max_length or 0


# Built from the models' choices, so the document lists exactly what the forms accept; mypy sees text.
if TYPE_CHECKING:
    AuthType: TypeAlias = str
    TriggerType: TypeAlias = str
    MessageType: TypeAlias = str
    EventName: TypeAlias = str
    RetryPolicyName: TypeAlias = str
    EgressName: TypeAlias = str
else:
    AuthType = Literal[tuple(Webhook.AuthType.values)]
    TriggerType = Literal[tuple(Webhook.TriggerType.values)]
    MessageType = Literal[tuple(Webhook.MessageType.values)]
    EventName = Literal[("", *FixedEvent.values)]
    RetryPolicyName = Literal[tuple(RetryPolicyKind.values)]
    EgressName = Literal[tuple(Webhook.Egress.values)]
FORM_FIELDS = tuple(WebhookForm.Meta.fields)
INT32_MAX = 2**31 - 1
# A PATCH field's default when left out (never validated, so never in the data: model_dump(exclude_unset)).
NOT_SENT: Any = None
RetryDelay = Annotated[int, Field(ge=1, le=604800)]
# The API's names of the form's choices among what an Administrator configured.
CHOICE_FIELDS = {"proxy_id": "proxy", "private_ca_id": "private_ca"}


class WebhookIn(Schema):
    """A new webhook. Fields as in the admin's form; secrets are written here and never read back."""

    model_config = BODY

    name: str = Field(min_length=1, max_length=_max("name"), pattern=FILLED)
    url: str = Field(
        min_length=1, max_length=_max("url"), pattern=FILLED, description="http or https; the receiving URL."
    )
    is_active: bool = True
    auto_retry: bool = Field(False, description="Retry a failed delivery 3 times: 30, 60 and 90 minutes later.")
    auth_type: AuthType = "none"
    secret_key: str = Field("", description="Write-only. Signs X-Clab-Hmac-Signature (auth_type secret).")
    basic_username: str = Field("", max_length=_max("basic_username"))
    basic_password: str = Field("", description="Write-only.")
    oauth_token_url: str = Field("", max_length=_max("oauth_token_url"))
    oauth_app_id: str = Field("", max_length=_max("oauth_app_id"))
    oauth_app_secret: str = Field("", description="Write-only.")
    trigger_type: TriggerType = "non_fixed"
    message_type: MessageType = "json"
    body_template: str = DEFAULT_BODY_TEMPLATE
    empty_text: str = Field("", max_length=_max("empty_text"))
    event: EventName = Field("", description="The loyalty event of a fixed-event webhook.")
    verify_ssl: bool = True
    connect_timeout: float | None = Field(
        None, ge=0.1, le=60, description="Seconds, 0.1 to 60; null: the installation's default."
    )
    read_timeout: float | None = Field(
        None, ge=0.1, le=300, description="Seconds, 0.1 to 300; null: the installation's default."
    )
    standard_webhooks: bool = Field(
        False, description="Also send the Standard Webhooks headers; the hub generates the whsec_ secret."
    )
    retry_policy: RetryPolicyName = Field(
        "dmhub",
        description="With auto_retry: dmhub (3 retries, 30, 60, 90 minutes), extended (10 retries over about "
        "3 days, exponential with jitter) or custom (retry_delays).",
    )
    retry_delays: list[RetryDelay] = Field(
        [], max_length=MAX_CUSTOM_RETRIES, description="custom: seconds before each retry (1 to 604800)."
    )
    autopause: bool = Field(True, description="Pause the webhook when it keeps failing (the policy below).")
    autopause_hours: float | None = Field(
        None, ge=0, le=24 * 365, description="Failing for this many hours; null: the default."
    )
    autopause_failures: int | None = Field(
        None, ge=1, le=INT32_MAX, description="And this many failures in a row; null: the default."
    )
    alert_after_failures: int | None = Field(
        None,
        ge=1,
        le=INT32_MAX,
        description="Failures in a row after which the webhook is failing (an incident); null: the default.",
    )
    egress: EgressName = Field(
        "default",
        description="default: the installation's proxy (WEBHOOK_PROXY_URL) when set, else direct; direct; "
        "proxy: through proxy_id.",
    )
    proxy_id: int | None = Field(None, ge=1, le=2**63 - 1, description="With egress proxy: one of GET /proxies.")
    private_ca_id: int | None = Field(
        None,
        ge=1,
        le=2**63 - 1,
        description="Verify the receiver against this private CA (GET /private-cas) instead of the public CAs.",
    )
    client_certificate: str = Field(
        "", description="Administrators' keys only. PEM certificate (and chain) for mutual TLS."
    )
    client_key: str = Field("", description="Administrators' keys only. Write-only. The certificate's PEM key.")
    send_traceparent: bool = Field(
        False, description="Send the W3C traceparent header (when the installation exports traces)."
    )


class WebhookPatch(Schema):
    """The fields to change; those left out stay as they are (a secret left out is kept)."""

    model_config = BODY

    # Left out: unchanged. Fields that cannot be empty in the database take no null either.
    name: str = Field(NOT_SENT, min_length=1, max_length=_max("name"), pattern=FILLED)
    url: str = Field(NOT_SENT, min_length=1, max_length=_max("url"), pattern=FILLED)
    is_active: bool = NOT_SENT
    auto_retry: bool = NOT_SENT
    auth_type: AuthType = NOT_SENT
    secret_key: str | None = Field(None, description="Write-only. Replaces the secret key.")
    basic_username: str | None = Field(None, max_length=_max("basic_username"))
    basic_password: str | None = None
    oauth_token_url: str | None = Field(None, max_length=_max("oauth_token_url"))
    oauth_app_id: str | None = Field(None, max_length=_max("oauth_app_id"))
    oauth_app_secret: str | None = None
    trigger_type: TriggerType = NOT_SENT
    message_type: MessageType = NOT_SENT
    body_template: str = NOT_SENT
    empty_text: str = Field(NOT_SENT, max_length=_max("empty_text"))
    event: EventName = NOT_SENT
    verify_ssl: bool = NOT_SENT
    connect_timeout: float | None = Field(None, ge=0.1, le=60)
    read_timeout: float | None = Field(None, ge=0.1, le=300)
    standard_webhooks: bool = NOT_SENT
    retry_policy: RetryPolicyName = NOT_SENT
    retry_delays: list[RetryDelay] = Field(NOT_SENT, max_length=MAX_CUSTOM_RETRIES)
    autopause: bool = NOT_SENT
    autopause_hours: float | None = Field(None, ge=0, le=24 * 365)
    autopause_failures: int | None = Field(None, ge=1, le=INT32_MAX)
    alert_after_failures: int | None = Field(None, ge=1, le=INT32_MAX)
    egress: EgressName = NOT_SENT
    proxy_id: int | None = Field(None, ge=1, le=2**63 - 1)
    private_ca_id: int | None = Field(None, ge=1, le=2**63 - 1)
    client_certificate: str = Field(NOT_SENT, description='Administrators\' keys only; "" removes it.')
    client_key: str = Field(NOT_SENT, description="Administrators' keys only. Write-only.")
    send_traceparent: bool = NOT_SENT
    previous_signature_hours: int | None = Field(
        None,
        ge=1,
        le=720,
        description="With a new secret_key: the old key keeps signing, in X-Clab-Hmac-Signature-Previous, "
        "for this many hours (the rotation helper; off when left out).",
    )


class HealthOut(Schema):
    """Read-only: counted from the webhook's attempts ("worker lost" ones aside)."""

    state: str = Field(description="healthy, failing, paused, gone or unknown (nothing sent yet).")
    consecutive_failures: int
    failing_since: datetime | None
    last_success_at: datetime | None
    last_error: str
    last_status_code: int | None
    success_rate_hour: float | None = Field(description="Percent of attempts that succeeded in the last hour.")
    success_rate_day: float | None = Field(description="Percent of attempts that succeeded in the last 24 hours.")
    incident_id: int | None = Field(description="The open incident, if any.")


class WebhookOut(Schema):
    id: int
    name: str
    url: str
    is_active: bool
    auto_retry: bool
    auth_type: str
    secret_key_set: bool
    basic_username: str
    basic_password_set: bool
    oauth_token_url: str
    oauth_app_id: str
    oauth_app_secret_set: bool
    trigger_type: str
    message_type: str
    body_template: str
    empty_text: str
    event: str
    verify_ssl: bool
    connect_timeout: float | None
    read_timeout: float | None
    standard_webhooks: bool
    standard_secret_previous_until: datetime | None = Field(
        description="While a rotation's overlap lasts: when the old Standard Webhooks secret stops signing."
    )
    secret_key_previous_until: datetime | None = Field(
        description="While the rotation helper runs: when X-Clab-Hmac-Signature-Previous stops."
    )
    retry_policy: str
    retry_delays: list[int]
    autopause: bool
    autopause_hours: float | None
    autopause_failures: int | None
    alert_after_failures: int | None
    egress: str
    proxy_id: int | None
    private_ca_id: int | None
    client_certificate: str
    client_key_set: bool
    client_certificate_expires_at: datetime | None = Field(description="When the client certificate ends.")
    send_traceparent: bool
    paused: bool
    paused_at: datetime | None
    pause_reason: str
    gone_at: datetime | None
    health: HealthOut
    created_at: datetime
    updated_at: datetime
    standard_secret: str | None = Field(
        None, description="Only in the answer that generated it (Standard Webhooks turned on): shown this once."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="Only in the answer to a create or update, in the request's language: names of the body "
        "template nothing can fill (e.g. a misspelt customer attribute, ${customer.nmae}). The webhook is saved.",
    )


class WebhookPage(Schema):
    items: list[WebhookOut]
    next_cursor: str | None


class HistoryOut(Schema):
    at: datetime
    action: str
    action_label: str
    actor: str
    details: str


class HistoryPage(Schema):
    items: list[HistoryOut]
    next_cursor: str | None


class RotateIn(Schema):
    model_config = BODY

    overlap_hours: int = Field(
        24, ge=0, le=MAX_OVERLAP.days * 24, description="How long the old secret keeps signing; 0 stops it at once."
    )


class RotatedOut(Schema):
    standard_secret: str = Field(description="The new whsec_ secret, shown this once.")
    previous_valid_until: datetime | None
    webhook: WebhookOut


class TestIn(Schema):
    model_config = BODY

    customer_id: int = Field(ge=1, le=2**63 - 1, description="The customer the message is rendered for.")


class TestOut(Schema):
    delivery_id: str = Field(description="Read its result at GET /deliveries/{delivery_id}.")


class SampleOut(Schema):
    delivery_id: str = Field(description="Read its result at GET /deliveries/{delivery_id}.")
    event: str = Field(description="The webhook's loyalty event, sent with its exact payload.")
    sample_members: list[str] = Field(
        description="Payload members sent as marked sample values, because the member has none of their own."
    )


class ConnectionStepOut(Schema):
    step: str = Field(description="resolve, allowed, proxy, connect, tls, auth or answer.")
    label: str
    state: str = Field(description="ok, failed or skipped.")
    detail: str


class PingRequestOut(Schema):
    url: str = Field(description="The URL as requested (an OAuth2 access token masked).")
    headers: dict[str, str] = Field(description="Headers as sent, secrets masked.")
    body: str
    duration_ms: int


class PingResponseOut(Schema):
    status: int
    headers: dict[str, str]
    body: str


class ConnectionTestOut(Schema):
    ok: bool = Field(description="The receiver answered the ping with 2xx.")
    outcome: str = Field(
        description="ok, dns_failed, blocked, proxy_failed, connect_failed, timeout, tls_failed, oauth_failed, "
        "auth_failed, redirect, http_error or error."
    )
    title: str = Field(description="The outcome in words, in the request's language.")
    detail: str = Field(description="The technical detail (the error, or the HTTP status and time).")
    tested_at: datetime
    steps: list[ConnectionStepOut]
    request: PingRequestOut | None = Field(None, description="The ping as sent, when it was sent.")
    response: PingResponseOut | None = Field(None, description="The receiver's answer, when there was one.")


def webhook_as_dict(webhook: Webhook, *, standard_secret: str = "") -> dict:
    data = {name: getattr(webhook, name) for name in WebhookOut.model_fields if hasattr(webhook, name)}
    data.update(
        secret_key_set=bool(webhook.secret_key),
        basic_password_set=bool(webhook.basic_password),
        oauth_app_secret_set=bool(webhook.oauth_app_secret),
        client_key_set=bool(webhook.client_key),
        paused=webhook.is_paused,
        pause_reason=webhook.pause_text,
        standard_secret=standard_secret or None,
        health=webhook_health_api(webhook),
    )
    for name in SECRET_FIELDS:
        data.pop(name, None)
    return data


def _form(data: dict, instance: Webhook | None = None) -> WebhookForm:
    """The admin's form over JSON values: a secret sent replaces the stored one, one left out is kept."""
    values = (
        {} if instance is None else model_to_dict(instance, fields=[f for f in FORM_FIELDS if f not in SECRET_FIELDS])
    )
    for name, value in data.items():
        name = CHOICE_FIELDS.get(name, name)
        if name in SECRET_FIELDS:
            values[name] = value or ""
            values[f"{name}__replace"] = True
        elif name in FORM_FIELDS:
            values[name] = "" if value is None and name not in ("connect_timeout", "read_timeout") else value
    for name in ("connect_timeout", "read_timeout", "proxy", "private_ca"):
        if values.get(name) is None:
            values[name] = ""
    return WebhookForm(data=values, instance=instance)


def _validated(form: WebhookForm) -> Webhook:
    if not form.is_valid():
        fields = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
        raise ApiError(400, "invalid_fields", _("Some fields are invalid; nothing was changed."), fields=fields)
    return form.save(commit=False)


def _webhook(pk: int) -> Webhook:
    return get_object_or_404(Webhook, pk=pk)


def _administrator_only(request, message) -> None:
    """What stays an Administrator's (webhookhub/roles.py) is done only with a key an Administrator owns."""
    owner = request.auth.created_by
    if owner is None or not is_administrator(owner):
        raise ApiError(403, "administrator_only", message)


def _administrator_fields_allowed(request, data: dict) -> None:
    """A client certificate and key are an Administrator's: set only with a key its Administrator created."""
    if any(data.get(name) for name in ADMINISTRATOR_FIELDS):
        _administrator_only(
            request, _("Only an API key created by an Administrator may set a client certificate and key.")
        )


@router.get("/webhooks", response=responses({200: WebhookPage}), auth=READ, operation_id="listWebhooks")
def list_webhooks(
    request,
    cursor: str | None = text_query(1000),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    is_active: bool | None = None,
    trigger_type: TriggerType | None = None,
    auth_type: AuthType | None = None,
    event: EventName | None = None,
    q: str | None = text_query(200, "Name or URL contains."),
):
    """The webhooks, newest first, filtered as in the admin's list."""
    queryset = Webhook.objects.select_related("health")
    for name, value in (("is_active", is_active), ("trigger_type", trigger_type), ("auth_type", auth_type)):
        if value is not None:
            queryset = queryset.filter(**{name: value})
    if event is not None:
        queryset = queryset.filter(event=event)
    if q:
        queryset = queryset.filter(name__icontains=q) | queryset.filter(url__icontains=q)
    return page(queryset, cursor=cursor, limit=limit, serialize=webhook_as_dict)


@router.post("/webhooks", response=responses({201: WebhookOut}, post=True), auth=WRITE, operation_id="createWebhook")
def create_webhook(request, payload: WebhookIn):
    """A new webhook, validated exactly as the admin validates it."""
    data = payload.model_dump()
    _administrator_fields_allowed(request, data)
    form = _form(data)
    webhook = _validated(form)
    webhook, secret = services.webhook_save(webhook=webhook, actor=request.auth.actor)
    return Status(201, {**webhook_as_dict(webhook, standard_secret=secret), "warnings": form.body_template_warnings()})


@router.get("/webhooks/{webhook_id}", response=responses({200: WebhookOut}), auth=READ, operation_id="getWebhook")
def get_webhook(request, webhook_id: int = pk_path()):
    return webhook_as_dict(_webhook(webhook_id))


@router.patch("/webhooks/{webhook_id}", response=responses({200: WebhookOut}), auth=WRITE, operation_id="updateWebhook")
def update_webhook(request, payload: WebhookPatch, webhook_id: int = pk_path()):
    """Change some fields; the others, and secrets not sent, stay as they are."""
    current = _webhook(webhook_id)
    data = payload.model_dump(exclude_unset=True)
    hours = data.pop("previous_signature_hours", None)
    _administrator_fields_allowed(request, data)
    if hours and "secret_key" not in data:
        message = _("Only with a new secret_key: it keeps the old key signing for these hours.")
        raise ApiError(400, "invalid_fields", message, fields={"previous_signature_hours": [message]})
    form = _form(data, instance=current)
    webhook = _validated(form)
    webhook, secret = services.webhook_save(
        webhook=webhook,
        actor=request.auth.actor,
        previous_signature_overlap=timedelta(hours=hours) if hours and "secret_key" in data else None,
    )
    return {**webhook_as_dict(webhook, standard_secret=secret), "warnings": form.body_template_warnings()}


@router.post(
    "/webhooks/{webhook_id}/pause",
    response=responses({200: WebhookOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="pauseWebhook",
)
def pause_webhook(request, webhook_id: int = pk_path()):
    """Hold its deliveries: they wait, accepted, until it is resumed (an Administrator's key only)."""
    _administrator_only(request, _("Only an API key created by an Administrator may pause or resume a webhook."))
    webhook = services.webhook_pause(
        webhook=_webhook(webhook_id),
        reason=_("Paused by %(actor)s.") % {"actor": request.auth.actor},
        actor=request.auth.actor,
    )
    return webhook_as_dict(webhook)


class ResumeOut(WebhookOut):
    released: int = Field(
        description="How many waiting deliveries the resume made due now (retrying ones included); "
        "they are sent oldest first in each lane, at the webhook's limits."
    )


@router.post(
    "/webhooks/{webhook_id}/resume",
    response=responses({200: ResumeOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="resumeWebhook",
)
def resume_webhook(request, webhook_id: int = pk_path()):
    """Send what waited: every waiting delivery is due now, oldest first in each lane (an Administrator's key only)."""
    _administrator_only(request, _("Only an API key created by an Administrator may pause or resume a webhook."))
    resumed = services.webhook_resume(webhook=_webhook(webhook_id), actor=request.auth.actor)
    return {**webhook_as_dict(resumed.webhook), "released": resumed.released}


@router.post(
    "/webhooks/{webhook_id}/test",
    response=responses({201: TestOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="testWebhook",
)
def webhook_test_send(request, payload: TestIn, webhook_id: int = pk_path()):
    """Test the connection: the webhook's message, rendered for one customer, sent now (测试发送)."""
    webhook = _webhook(webhook_id)
    customer = Customer.objects.filter(pk=payload.customer_id).first()
    if customer is None:
        raise missing({"customer_id": [_("That customer does not exist.")]})
    delivery = services.message_test_send(webhook=webhook, customer=customer, user=request.auth.created_by)
    return Status(201, {"delivery_id": delivery.pk})


@router.post(
    "/webhooks/{webhook_id}/sample-event",
    response=responses({201: SampleOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="sendSampleEvent",
)
def webhook_sample_event(request, payload: TestIn, webhook_id: int = pk_path()):
    """A fixed-event webhook's event, with its exact payload built from one member's real data (发送示例事件).

    Sent to this webhook only, like a test send; nothing of the member changes and no flow starts.
    """
    webhook = _webhook(webhook_id)
    customer = Customer.objects.filter(pk=payload.customer_id).first()
    if customer is None:
        raise missing({"customer_id": [_("That customer does not exist.")]})
    delivery, sample = services.sample_event_send(webhook=webhook, customer=customer, user=request.auth.created_by)
    return Status(201, {"delivery_id": delivery.pk, "event": delivery.event, "sample_members": sample.sample_members})


@router.post(
    "/webhooks/{webhook_id}/test-connection",
    response=responses({200: ConnectionTestOut}, post=True),
    auth=WRITE,
    operation_id="testWebhookConnection",
)
def webhook_test_connection(request, webhook_id: int = pk_path()):
    """Test connection: one signed ping (event webhookhub/ping, nothing of a customer's) to the receiving URL.

    Says whether the host resolves and is allowed by the SSRF guard, connects, whether TLS verifies and
    whether the authentication is accepted (for OAuth2, that a token is obtained). Not a delivery; not recorded.
    """
    return webhook_connection_test(webhook=_webhook(webhook_id)).as_dict()


@router.post(
    "/webhooks/{webhook_id}/standard-secret/rotate",
    response=responses({200: RotatedOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="rotateStandardSecret",
)
def rotate_standard_secret(request, payload: RotateIn, webhook_id: int = pk_path()):
    """A new whsec_ secret (shown once); the old one keeps signing beside it for the overlap."""
    webhook, secret = services.webhook_standard_secret_rotate(
        webhook=_webhook(webhook_id), overlap=timedelta(hours=payload.overlap_hours), actor=request.auth.actor
    )
    return {
        "standard_secret": secret,
        "previous_valid_until": webhook.standard_secret_previous_until,
        "webhook": webhook_as_dict(webhook),
    }


@router.post(
    "/webhooks/{webhook_id}/rotation/end",
    response=responses({200: WebhookOut}, post=True, refused=True),
    auth=WRITE,
    operation_id="endRotation",
)
def end_rotation(request, webhook_id: int = pk_path()):
    """End a rotation's overlap now: only the new secrets sign."""
    return webhook_as_dict(services.webhook_rotation_end(webhook=_webhook(webhook_id), actor=request.auth.actor))


@router.get(
    "/webhooks/{webhook_id}/history", response=responses({200: HistoryPage}), auth=READ, operation_id="webhookHistory"
)
def webhook_history(
    request,
    webhook_id: int = pk_path(),
    cursor: str | None = text_query(1000),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
):
    """Creation, changes, Standard Webhooks on and off, rotations and their ends, newest first."""
    webhook = _webhook(webhook_id)

    def serialize(entry: WebhookHistory) -> dict:
        return {
            "at": entry.at,
            "action": entry.action,
            "action_label": entry.get_action_display(),
            "actor": entry.actor,
            "details": entry.details,
        }

    return page(WebhookHistory.objects.filter(webhook=webhook), cursor=cursor, limit=limit, serialize=serialize)


class ProxyOut(Schema):
    id: int
    name: str
    url: str = Field(description="http://host:port; its credentials are never shown.")


class PrivateCAOut(Schema):
    id: int
    name: str


@router.get("/proxies", response=responses({200: list[ProxyOut]}), auth=READ, operation_id="listProxies")
def list_proxies(request):
    """The outbound proxies an Administrator set up (in the admin), to choose as a webhook's proxy_id."""
    return [{"id": p.pk, "name": p.name, "url": p.url} for p in OutboundProxy.objects.all()]


@router.get("/private-cas", response=responses({200: list[PrivateCAOut]}), auth=READ, operation_id="listPrivateCAs")
def list_private_cas(request):
    """The private CAs an Administrator set up (in the admin), to choose as a webhook's private_ca_id."""
    return [{"id": ca.pk, "name": ca.name} for ca in PrivateCA.objects.all()]
