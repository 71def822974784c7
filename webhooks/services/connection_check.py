"""Test connection: does a webhook's receiver answer, without sending anything of a customer's?

One signed POST of a small ping body (event `webhookhub/ping`, docs/contract.md section 4) through
webhooks.engine.http.attempt, the one HTTP attempt, with the webhook's own authentication, TLS setting and
timeouts, through the webhook's proxy when it has one. Before it the host is looked up and judged by the
SSRF guard, so a failure says which step failed: the name, the guard, the proxy, the connection, TLS,
authentication (an OAuth2 token) or the answer.

Nothing is recorded: a ping is not a delivery (no Message, Delivery or Attempt), and the webhook's
history keeps configuration changes, not checks. The person (or API client) who asked sees the result.
"""

import asyncio
import ipaddress
import socket
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from webhooks.content.events import PING_EVENT
from webhooks.content.payloads import iso_utc
from webhooks.content.signing import canonical_json
from webhooks.engine import doorbell
from webhooks.engine.http import AttemptResult, Endpoint, Outgoing, attempt, new_session
from webhooks.engine.oauth import TokenCache, TokenSource
from webhooks.engine.ssrf import address_allowed, blocked_error, url_port
from webhooks.models import Webhook


class Outcome(models.TextChoices):
    OK = "ok", gettext_lazy("Connected")
    DNS_FAILED = "dns_failed", gettext_lazy("DNS lookup failed")
    BLOCKED = "blocked", gettext_lazy("Blocked by the SSRF guard")
    PROXY_FAILED = "proxy_failed", gettext_lazy("The proxy failed")
    CONNECT_FAILED = "connect_failed", gettext_lazy("Cannot connect")
    TIMEOUT = "timeout", gettext_lazy("Timed out")
    TLS_FAILED = "tls_failed", gettext_lazy("TLS certificate verification failed")
    OAUTH_FAILED = "oauth_failed", gettext_lazy("OAuth2: no access token obtained")
    AUTH_FAILED = "auth_failed", gettext_lazy("Authentication failed")
    REDIRECT = "redirect", gettext_lazy("The receiver redirects")
    HTTP_ERROR = "http_error", gettext_lazy("The receiver answered with an error")
    ERROR = "error", gettext_lazy("The request failed")


class Step(models.TextChoices):
    RESOLVE = "resolve", gettext_lazy("Address lookup")
    ALLOWED = "allowed", gettext_lazy("SSRF guard")
    PROXY = "proxy", gettext_lazy("Proxy")
    CONNECT = "connect", gettext_lazy("Connection")
    TLS = "tls", gettext_lazy("TLS")
    AUTH = "auth", gettext_lazy("Authentication")
    ANSWER = "answer", gettext_lazy("Answer")


OK, FAILED, SKIPPED = "ok", "failed", "skipped"
TLS_ERRORS = ("ClientConnectorCertificateError", "ClientSSLError", "ClientConnectorSSLError")


@dataclass
class CheckStep:
    step: str
    label: str
    state: str  # ok, failed, skipped
    detail: str = ""


@dataclass
class ConnectionCheck:
    ok: bool
    outcome: str
    title: str
    detail: str
    tested_at: datetime
    steps: list[CheckStep] = field(default_factory=list)
    # The ping as sent and answered (secrets masked), when it was sent.
    request: dict | None = None
    response: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def ping_body(webhook: Webhook, at: datetime) -> str:
    return canonical_json(
        {"tenantId": settings.TENANT_ID, "event": PING_EVENT, "webhookId": webhook.pk, "date": iso_utc(at)}
    )


def _step(step: Step, state: str, detail: str = "") -> CheckStep:
    return CheckStep(step=step.value, label=str(step.label), state=state, detail=detail)


async def _resolve(host: str, port: int, timeout: float) -> list[str]:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _token_source() -> TokenSource:
    # The workers' shared cache: a token they hold is reused, and one fetched here serves them (some token
    # endpoints retire the previous token when a new one is issued).
    try:
        cache = TokenCache(doorbell.redis())
        cache.redis.ping()
    except Exception:  # noqa: BLE001 - without Redis, a token of this check's own
        return TokenSource(None)
    return TokenSource(cache)


async def _check(
    endpoint: Endpoint, outgoing: Outgoing, steps: list[CheckStep], *, show_addresses: bool
) -> tuple[str, str, AttemptResult | None]:
    parts = urlsplit(endpoint.url)
    host = parts.hostname or ""
    port = url_port(endpoint.url)
    try:
        ipaddress.ip_address(host)
        addresses = [host]
        steps.append(_step(Step.RESOLVE, OK, _("%(host)s is an IP address.") % {"host": host}))
    except ValueError:
        try:
            addresses = await _resolve(host, port, endpoint.connect_timeout)
        except (OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            detail = _("%(host)s does not resolve: %(reason)s") % {"host": host, "reason": reason}
            steps.append(_step(Step.RESOLVE, FAILED, detail))
            return Outcome.DNS_FAILED, detail, None
        resolved = f"{host} → {', '.join(addresses)}" if show_addresses else _("%(host)s resolves.") % {"host": host}
        steps.append(_step(Step.RESOLVE, OK, resolved))
    allowed = [address for address in addresses if address_allowed(host, address, port)]
    if not allowed:
        detail = str(blocked_error(host, addresses[0], port))
        steps.append(_step(Step.ALLOWED, FAILED, detail))
        return Outcome.BLOCKED, detail, None
    shown = _("Allowed: %(addresses)s") % {"addresses": ", ".join(allowed)} if show_addresses else ""
    steps.append(_step(Step.ALLOWED, OK, shown))
    async with new_session(limit=2) as session:
        result = await attempt(session, endpoint, outgoing, tokens=_token_source())
    return "", "", result


def _auth_words(endpoint: Endpoint) -> str:
    if endpoint.auth_type == Webhook.AuthType.SECRET:
        return _("Signed with the secret key (X-Clab-Hmac-Signature).")
    if endpoint.auth_type == Webhook.AuthType.BASIC:
        return _("Basic authentication as “%(user)s”.") % {"user": endpoint.basic_username}
    if endpoint.auth_type == Webhook.AuthType.OAUTH2:
        return _("OAuth2: an access token from the token URL was sent (the workers' cached one, when they hold one).")
    return _("No authentication.")


def _judge(endpoint: Endpoint, result: AttemptResult, steps: list[CheckStep]) -> tuple[str, str]:
    """The outcome of the ping's attempt, and the steps it passed or failed."""
    https = urlsplit(endpoint.url).scheme == "https"
    status = result.response_status
    error_class, message = result.error_class, result.error_message
    if error_class == "ProxyError":
        steps.append(_step(Step.PROXY, FAILED, message))
        return Outcome.PROXY_FAILED, message
    if endpoint.proxy is not None and error_class != "BlockedAddress":
        detail = _("Through the proxy %(proxy)s.") % {"proxy": endpoint.proxy.address}
        steps.append(_step(Step.PROXY, OK, detail))
    if error_class == "BlockedAddress":
        steps.append(_step(Step.CONNECT, FAILED, message))
        return Outcome.BLOCKED, message
    if error_class == "OAuthError":
        steps.append(_step(Step.AUTH, FAILED, message))
        return Outcome.OAUTH_FAILED, message
    if status is None:
        if error_class in TLS_ERRORS or "certificate" in message.lower() or "ssl" in error_class.lower():
            steps.append(_step(Step.CONNECT, OK))
            steps.append(_step(Step.TLS, FAILED, message))
            return Outcome.TLS_FAILED, message
        if error_class == "Timeout":
            steps.append(_step(Step.CONNECT, FAILED, message))
            return Outcome.TIMEOUT, message
        if error_class == "ConnectionError":
            steps.append(_step(Step.CONNECT, FAILED, message))
            return Outcome.CONNECT_FAILED, message
        steps.append(_step(Step.CONNECT, FAILED, f"{error_class}: {message}"))
        return Outcome.ERROR, f"{error_class}: {message}"
    steps.append(_step(Step.CONNECT, OK, result.url))
    if https:
        tls = (
            _("Certificate verified.") if endpoint.verify_ssl else _("Certificate not verified (verification is off).")
        )
        if endpoint.verify_ssl and endpoint.private_ca:
            tls = _("Certificate verified against the private CA “%(ca)s”.") % {"ca": endpoint.private_ca}
        if endpoint.client_key:
            tls += " " + _("Client certificate presented.")
        steps.append(_step(Step.TLS, OK, tls))
    if status in (401, 403):
        detail = _("HTTP %(status)s. %(auth)s") % {"status": status, "auth": _auth_words(endpoint)}
        steps.append(_step(Step.AUTH, FAILED, detail))
        return Outcome.AUTH_FAILED, detail
    steps.append(_step(Step.AUTH, OK if result.succeeded else SKIPPED, _auth_words(endpoint)))
    answer = _("HTTP %(status)s in %(ms)s ms") % {"status": status, "ms": result.duration_ms}
    if result.succeeded:
        steps.append(_step(Step.ANSWER, OK, answer))
        return Outcome.OK, answer
    steps.append(_step(Step.ANSWER, FAILED, message or answer))
    if 300 <= status < 400:
        return Outcome.REDIRECT, message
    if error_class == "Timeout":
        return Outcome.TIMEOUT, message
    return Outcome.HTTP_ERROR, answer


def webhook_connection_test(*, webhook: Webhook, show_addresses: bool = False) -> ConnectionCheck:
    """Ping the webhook's receiver once, now, and say what happened; records nothing.

    `show_addresses`: name the addresses the host resolved to (for Administrators); otherwise a blocked
    receiver is only "blocked", so a test cannot be used to map what internal names resolve to.
    """
    now = datetime.now(UTC)
    endpoint = Endpoint.from_webhook(webhook)
    outgoing = Outgoing(delivery_id=uuid.uuid4().hex, event=PING_EVENT, body=ping_body(webhook, now))
    steps: list[CheckStep] = []
    outcome, detail, result = asyncio.run(_check(endpoint, outgoing, steps, show_addresses=show_addresses))
    if result is not None:
        outcome, detail = _judge(endpoint, result, steps)
    title = str(Outcome(outcome).label)
    if outcome == Outcome.AUTH_FAILED and result is not None:
        title = _("Authentication failed (HTTP %(status)s)") % {"status": result.response_status}
    elif outcome == Outcome.HTTP_ERROR and result is not None:
        title = _("Connected, but the receiver answered HTTP %(status)s") % {"status": result.response_status}
    check = ConnectionCheck(
        ok=outcome == Outcome.OK, outcome=str(outcome), title=title, detail=detail, tested_at=now, steps=steps
    )
    if result is not None:
        check.request = {
            "url": result.url,
            "headers": result.request_headers,
            "body": outgoing.body,
            "duration_ms": result.duration_ms,
        }
        if result.response_status is not None:
            check.response = {
                "status": result.response_status,
                "headers": result.response_headers,
                "body": result.response_body,
            }
    return check
