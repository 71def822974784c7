"""The HTTP attempt: the one place a delivery's request leaves the hub (docs/contract.md sections 1 and 2).

aiohttp on the drain's event loop: one connection pool per way out (direct, or each proxy) reused across
waves, many requests in flight on one core. Every attempt runs under a deadline and never raises: each
outcome becomes an AttemptResult.

Also here, since they decide how a request leaves: the egress (direct or through an HTTP proxy, with the
SSRF guard's judgement made before anything reaches the proxy) and the TLS context (a private CA to
verify the receiver against, a client certificate for mutual TLS).
"""

import asyncio
import base64
import codecs
import ipaddress
import json
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit

import aiohttp
from django.conf import settings
from django.utils.translation import gettext as _

import webhookhub
from webhookhub import tracing
from webhooks.content.failures import Code, failure_of_exception, failure_of_status
from webhooks.content.signing import sign, standard_signature
from webhooks.engine.oauth import OAuthError, TokenSource, with_query
from webhooks.engine.redact import masked_headers, masked_url, scrub, url_secrets
from webhooks.engine.ssrf import (
    BlockedAddressError,
    GuardedResolver,
    ProxyResolver,
    address_allowed,
    blocked_error,
    check_literal_host,
)
from webhooks.engine.tls import tls_context
from webhooks.models import Webhook
from webhooks.secrets import secret_revealed

USER_AGENT = f"WebhookHub/{webhookhub.__version__}"
RESPONSE_BODY_LIMIT = 64 * 1024
# Past this much a response body is no longer read just to count it.
RESPONSE_COUNT_LIMIT = 16 * 1024 * 1024
SIGNATURE_HEADER = "X-Clab-Hmac-Signature"
# The old secret key's signature during a rotation, when the webhook's rotation helper asks for it.
PREVIOUS_SIGNATURE_HEADER = "X-Clab-Hmac-Signature-Previous"
# An attempt's deadline beyond its webhook's connect + response timeouts: a token fetch, the loop's lag.
DEADLINE_MARGIN = 2.0
# How much of a refusing token endpoint's answer is kept in the error.
TOKEN_ANSWER_LIMIT = 500


# --- Egress: direct, or through an HTTP proxy ------------------------------------------------------


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy: https requests go through it with CONNECT, http ones in absolute form."""

    url: str  # http://host:port, never with credentials (it appears in errors)
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def auth(self) -> aiohttp.BasicAuth | None:
        # aiohttp 3.14 deprecates proxy_auth for proxy_headers, but sends proxy_headers only with CONNECT
        # (https): an http:// request through the proxy would go without its credentials.
        return aiohttp.BasicAuth(self.username, self.password) if self.username else None

    @property
    def address(self) -> str:
        return urlsplit(self.url).netloc


def proxy_from_url(url: str) -> Proxy | None:
    """WEBHOOK_PROXY_URL (credentials in it, percent-encoded) as a Proxy; None when empty."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return Proxy(url=f"http://{netloc}", username=unquote(parts.username or ""), password=unquote(parts.password or ""))


def installation_proxy() -> Proxy | None:
    return proxy_from_url(settings.WEBHOOK_PROXY_URL)


def webhook_proxy(webhook) -> Proxy | None:
    """The proxy the webhook's requests (and its OAuth2 token requests) go through; None: direct."""
    if webhook.egress == Webhook.Egress.DIRECT:
        return None
    if webhook.egress == Webhook.Egress.PROXY and webhook.proxy is not None:
        chosen = webhook.proxy
        return Proxy(url=chosen.url.rstrip("/"), username=chosen.username, password=secret_revealed(chosen.password))
    return installation_proxy()


# --- TLS: a private CA, a client certificate -------------------------------------------------------


def _webhook_tls(webhook) -> ssl.SSLContext | bool:
    ca = webhook.private_ca.bundle if webhook.private_ca_id else ""
    return tls_context(
        verify=webhook.verify_ssl,
        ca_bundle=ca,
        certificate=webhook.client_certificate,
        key=secret_revealed(webhook.client_key),
    )


@dataclass
class Endpoint:
    """What the transport needs of a webhook, secrets already decrypted (kept out of repr)."""

    id: int
    url: str
    auth_type: str
    is_json: bool
    verify_ssl: bool
    connect_timeout: float
    read_timeout: float
    secret_key: str = field(default="", repr=False)
    basic_username: str = ""
    basic_password: str = field(default="", repr=False)
    oauth_token_url: str = ""
    oauth_app_id: str = ""
    oauth_app_secret: str = field(default="", repr=False)
    secret_key_previous: str = field(default="", repr=False)
    secret_key_previous_until: datetime | None = None
    standard: bool = False
    standard_secret: str = field(default="", repr=False)
    standard_secret_previous: str = field(default="", repr=False)
    standard_secret_previous_until: datetime | None = None
    proxy: Proxy | None = None
    # aiohttp's ssl=: True (verify), False (do not), or a context with a private CA or a client certificate;
    # None: as verify_ssl says.
    tls: ssl.SSLContext | bool | None = field(default=None, repr=False)
    client_key: str = field(default="", repr=False)
    private_ca: str = ""  # its name, for people
    send_traceparent: bool = False

    def __post_init__(self):
        if self.tls is None:
            self.tls = self.verify_ssl

    def previous_secret_key(self, at: datetime) -> str:
        """The old secret key while its overlap lasts at `at`, else ''."""
        until = self.secret_key_previous_until
        return self.secret_key_previous if until and at < until else ""

    def standard_secrets(self, at: datetime) -> list[str]:
        """The Standard Webhooks secrets that sign at `at`: the current one, and the old one during an overlap."""
        secrets = [self.standard_secret] if self.standard_secret else []
        until = self.standard_secret_previous_until
        if self.standard_secret_previous and until and at < until:
            secrets.append(self.standard_secret_previous)
        return secrets

    @property
    def secrets(self) -> list[str]:
        """Every secret of the endpoint, for scrubbing what is recorded."""
        return [
            *url_secrets(self.url),
            self.secret_key,
            self.basic_password,
            self.oauth_app_secret,
            self.secret_key_previous,
            self.standard_secret,
            self.standard_secret_previous,
            self.client_key,
            self.proxy.password if self.proxy else "",
        ]

    @property
    def deadline(self) -> float:
        """Seconds after which an attempt is given up and recorded as a timeout, whatever it waits for."""
        return self.connect_timeout + self.read_timeout + DEADLINE_MARGIN

    @classmethod
    def from_webhook(cls, webhook) -> "Endpoint":
        return cls(
            id=webhook.pk,
            url=webhook.full_url,
            auth_type=webhook.auth_type,
            is_json=webhook.message_type == Webhook.MessageType.JSON,
            verify_ssl=webhook.verify_ssl,
            connect_timeout=webhook.effective_connect_timeout,
            read_timeout=webhook.effective_read_timeout,
            secret_key=secret_revealed(webhook.secret_key),
            basic_username=webhook.basic_username,
            basic_password=secret_revealed(webhook.basic_password),
            oauth_token_url=webhook.oauth_token_url,
            oauth_app_id=webhook.oauth_app_id,
            oauth_app_secret=secret_revealed(webhook.oauth_app_secret),
            secret_key_previous=secret_revealed(webhook.secret_key_previous),
            secret_key_previous_until=webhook.secret_key_previous_until,
            standard=webhook.standard_webhooks,
            standard_secret=secret_revealed(webhook.standard_secret),
            standard_secret_previous=secret_revealed(webhook.standard_secret_previous),
            standard_secret_previous_until=webhook.standard_secret_previous_until,
            proxy=webhook_proxy(webhook),
            tls=_webhook_tls(webhook),
            client_key=secret_revealed(webhook.client_key),
            private_ca=webhook.private_ca.name if webhook.private_ca_id else "",
            send_traceparent=webhook.send_traceparent,
        )


@dataclass
class Outgoing:
    delivery_id: str
    event: str
    body: str
    # The trigger's W3C trace context (Message.trace_context) and when the delivery was claimed, for its span.
    trace_context: str = ""
    claimed_at: datetime | None = None


@dataclass
class AttemptResult:
    delivery_id: str
    started_at: datetime
    duration_ms: int
    url: str
    request_headers: dict
    succeeded: bool = False
    response_status: int | None = None
    response_headers: dict = field(default_factory=dict)
    response_body: str = ""
    response_size: int = 0
    error_class: str = ""
    error_message: str = ""
    # Why it failed, for the reader's language (webhooks/content/failures.py); error_* keep the technical detail.
    error_code: str = ""
    error_params: dict = field(default_factory=dict)
    retry_after: int | None = None
    location: str = ""
    response_cut: bool = False
    # Tokens to scrub from the record; emptied before the result leaves attempt().
    secrets: list = field(default_factory=list, repr=False)


def request_headers(endpoint: Endpoint, outgoing: Outgoing, at: datetime | None = None) -> dict:
    """Every header of one attempt; `at` is the attempt's time (Standard Webhooks' timestamp)."""
    at = at or datetime.now(UTC)
    headers = {
        "Content-Type": "application/json; charset=utf-8" if endpoint.is_json else "text/plain; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Clab-Delivery-Id": outgoing.delivery_id,
        "X-Clab-Event": outgoing.event,
    }
    if endpoint.auth_type == Webhook.AuthType.SECRET and endpoint.secret_key:
        headers[SIGNATURE_HEADER] = sign(outgoing.body, endpoint.secret_key)
        previous = endpoint.previous_secret_key(at)
        if previous:
            headers[PREVIOUS_SIGNATURE_HEADER] = sign(outgoing.body, previous)
    elif endpoint.auth_type == Webhook.AuthType.BASIC:
        token = base64.b64encode(f"{endpoint.basic_username}:{endpoint.basic_password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    standard_secrets = endpoint.standard_secrets(at) if endpoint.standard else []
    if standard_secrets:
        # Signed over the exact bytes _post sends (the body as UTF-8), unlike the whitespace-stripped DM Hub text.
        timestamp = int(at.timestamp())
        headers["webhook-id"] = outgoing.delivery_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = standard_signature(
            standard_secrets, outgoing.delivery_id, timestamp, outgoing.body.encode("utf-8")
        )
    return headers


def _retry_after(response) -> int | None:
    if response.status not in (429, 503):
        return None
    value = response.headers.get("Retry-After", "")
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        return max(0, int((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()))
    except (TypeError, ValueError):
        return None


def describe_error(exc: BaseException) -> tuple[str, str]:
    """An error's class and a reason a person can act on; secrets never enter these strings."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, BlockedAddressError):
            return "BlockedAddress", str(cause)
        cause = cause.__cause__ or getattr(cause, "os_error", None)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return "ProxyError", _("Cannot connect to the proxy %(proxy)s: %(reason)s") % {
            "proxy": f"{exc.host}:{exc.port}",
            "reason": exc.os_error or exc,
        }
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return "ProxyError", _("The proxy refused the connection (HTTP %(status)s %(reason)s).") % {
            "status": exc.status,
            "reason": exc.message,
        }
    if isinstance(exc, socket.gaierror):
        return "DNSError", _("The address cannot be found (DNS): %(reason)s") % {"reason": exc.strerror or exc}
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "Timeout", _("No complete response within the timeout.")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return type(exc).__name__, _("TLS error: %(reason)s") % {"reason": exc}
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "ConnectionError", _("Cannot connect: %(reason)s") % {"reason": exc.os_error or exc}
    return type(exc).__name__, str(exc) or type(exc).__name__


async def fetch_token(session, endpoint: "Endpoint") -> tuple[str, int]:
    url = with_query(
        endpoint.oauth_token_url,
        appid=endpoint.oauth_app_id,
        secret=endpoint.oauth_app_secret,
        grant_type="client_credentials",
    )
    check_literal_host(url)
    timeout = aiohttp.ClientTimeout(total=endpoint.read_timeout, sock_connect=endpoint.connect_timeout)
    try:
        await session.judge(url, endpoint.proxy, timeout=endpoint.connect_timeout)
        async with session.request(
            "GET", url, proxy=endpoint.proxy, timeout=timeout, allow_redirects=False, ssl=endpoint.tls
        ) as r:
            raw = await r.content.read(RESPONSE_BODY_LIMIT)
            if r.status // 100 != 2:
                # The endpoint's own words say why (invalid_client…); attempt() scrubs the hub's secrets from them.
                answer = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd").strip()[:TOKEN_ANSWER_LIMIT]
                params = {"status": r.status}
                if not answer:
                    raise OAuthError(_("Token request answered HTTP %(status)s.") % params, params=params)
                raise OAuthError(
                    _("Token request answered HTTP %(status)s: %(answer)s") % {**params, "answer": answer},
                    params=params,
                )
    except OAuthError:
        raise
    except Exception as exc:  # noqa: BLE001 - the reason, never the URL (it carries the app secret)
        error_class, reason = describe_error(exc)
        raise OAuthError(
            _("Token request failed (%(error_class)s): %(reason)s") % {"error_class": error_class, "reason": reason}
        ) from None
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"))
        token = data["access_token"]
        if not isinstance(token, str) or not token:
            raise TypeError
        expires_in = int(data.get("expires_in") or 3600)
    except (ValueError, KeyError, TypeError, AttributeError):
        # The body is not shown: a token endpoint's answer may carry credentials.
        raise OAuthError(_("Token response is not JSON with an access_token.")) from None
    return token, expires_in


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _sep, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
            try:
                return codecs.lookup(charset).name
            except LookupError:
                break
    return "utf-8"


def _headers_dict(headers) -> dict:
    """Response headers as a plain dict; a header sent several times keeps every value."""
    result = {}
    for name in dict.fromkeys(headers.keys()):
        values = headers.getall(name)
        result[name] = values[0] if len(values) == 1 else ", ".join(values)
    return result


async def _read_body(response) -> tuple[bytes, int, bool]:
    """The first RESPONSE_BODY_LIMIT bytes, the size read (up to RESPONSE_COUNT_LIMIT) and whether it stopped early."""
    kept = bytearray()
    size = 0
    while True:
        if size >= RESPONSE_COUNT_LIMIT:
            return bytes(kept), size, True
        chunk = await response.content.read(RESPONSE_BODY_LIMIT)
        if not chunk:
            return bytes(kept), size, False
        size += len(chunk)
        if len(kept) < RESPONSE_BODY_LIMIT:
            kept += chunk[: RESPONSE_BODY_LIMIT - len(kept)]


def _declared_size(response, read: int) -> int:
    # A body cut short: its full size is what Content-Length says, when it says more than we read.
    try:
        return max(read, int(response.headers.get("Content-Length", "")))
    except ValueError:
        return read


async def _post(session, endpoint: Endpoint, outgoing: Outgoing, headers: dict, result, tokens: TokenSource):
    """The request itself; fills `result` as the answer arrives, so a later timeout keeps what came."""
    data = outgoing.body.encode("utf-8")
    timeout = aiohttp.ClientTimeout(total=endpoint.read_timeout, sock_connect=endpoint.connect_timeout)
    token = None
    for token_try in (1, 2):
        url = endpoint.url
        if endpoint.auth_type == Webhook.AuthType.OAUTH2:
            token = await tokens.get(session, endpoint, fetch=fetch_token, stale=token)
            result.secrets.append(token)
            url = with_query(endpoint.url, access_token=token)
            result.url = masked_url(url)
        await session.judge(url, endpoint.proxy, timeout=endpoint.connect_timeout)
        async with session.request(
            "POST",
            url,
            proxy=endpoint.proxy,
            data=data,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            ssl=endpoint.tls,
        ) as response:
            # Kept before the body is read: a receiver that answers and then drips its body still said 200.
            result.response_status = response.status
            result.response_headers = _headers_dict(response.headers)
            result.retry_after = _retry_after(response)
            result.location = response.headers.get("Location", "")
            result.response_cut = True
            body, size, cut = await _read_body(response)
            # PostgreSQL text cannot hold NUL: one binary answer would fail the whole wave's record.
            result.response_body = body.decode(_charset(response.headers.get("Content-Type", "")), "replace").replace(
                "\x00", "\ufffd"
            )
            result.response_size = _declared_size(response, size) if cut else size
            result.response_cut = cut
        # A 401 to a token: it may have been revoked or expired early; fetch a new one, once.
        if not (endpoint.auth_type == Webhook.AuthType.OAUTH2 and response.status == 401 and token_try == 1):
            return


async def attempt(session, endpoint: Endpoint, outgoing: Outgoing, *, tokens: TokenSource | None = None):
    """POST one delivery once, under the endpoint's deadline; never raises."""
    with tracing.attempt_spans(
        delivery_id=outgoing.delivery_id,
        webhook_id=endpoint.id,
        url=endpoint.url,
        trace_context=outgoing.trace_context,
        claimed_at=outgoing.claimed_at,
    ) as spans:
        result = await _attempt(session, endpoint, outgoing, tokens, spans)
        tracing.attempt_end(spans, succeeded=result.succeeded, status=result.response_status, code=result.error_code)
    return result


async def _attempt(session, endpoint: Endpoint, outgoing: Outgoing, tokens, spans) -> AttemptResult:
    started_at = datetime.now(UTC)
    headers = request_headers(endpoint, outgoing, started_at)
    if endpoint.send_traceparent:
        headers.update(tracing.propagation_headers(spans))
    clock = time.monotonic()
    result = AttemptResult(
        delivery_id=outgoing.delivery_id,
        started_at=started_at,
        duration_ms=0,
        url=masked_url(endpoint.url),
        request_headers=masked_headers(headers),
    )
    try:
        check_literal_host(endpoint.url)
        async with asyncio.timeout(endpoint.deadline):
            await _post(session, endpoint, outgoing, headers, result, tokens or TokenSource(None))
    except OAuthError as exc:
        result.error_class, result.error_message = "OAuthError", str(exc)
        result.error_code, result.error_params = failure_of_exception(
            exc, url=endpoint.url, connect_timeout=endpoint.connect_timeout, read_timeout=endpoint.read_timeout
        )
    except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
        result.error_class, result.error_message = describe_error(exc)
        result.error_code, result.error_params = failure_of_exception(
            exc,
            url=endpoint.url,
            connect_timeout=endpoint.connect_timeout,
            read_timeout=endpoint.read_timeout,
            status=result.response_status,
        )
        unanswered = result.response_status is None
        if result.error_code == Code.DISCONNECTED and unanswered and endpoint.url.startswith("https:"):
            # TLS 1.3 receivers refuse a missing client certificate after the handshake, by closing: say so.
            result.error_params = {"https": True, "client_certificate": bool(endpoint.client_key)}
            if not endpoint.client_key:
                result.error_message = _(
                    "The receiver closed the connection without answering. A receiver that requires a client "
                    "certificate (mutual TLS) does so when none is presented: an administrator sets one on the webhook."
                )
        if result.response_status is not None and result.error_class == "Timeout":
            result.error_message = _("HTTP %(status)s, but the body did not arrive within the timeout.") % {
                "status": result.response_status
            }
    status = result.response_status
    if not result.error_class and status == 407 and endpoint.proxy is not None:
        # Proxy Authentication Required: the proxy's answer to an http:// request, never the receiver's.
        result.error_class = "ProxyError"
        result.error_message = _("The proxy %(proxy)s refused the credentials (HTTP 407).") % {
            "proxy": endpoint.proxy.address
        }
        result.error_code, result.error_params = Code.PROXY, {"status": status}
    elif not result.error_class and status is not None:
        result.succeeded = 200 <= status < 300
        if 300 <= status < 400:
            result.error_class = "Redirect"
            result.error_message = _("HTTP %(status)s redirect to %(location)s (redirects are not followed).") % {
                "status": status,
                "location": result.location or "?",
            }
        elif not result.succeeded:
            result.error_class = "HTTPError"
            result.error_message = _("HTTP %(status)s") % {"status": status}
        if not result.succeeded:
            result.error_code, result.error_params = failure_of_status(status, result.location)
    result.duration_ms = int((time.monotonic() - clock) * 1000)
    # Whatever the receiver or an exception echoed back, no secret of the hub is kept in the record.
    secrets = [*endpoint.secrets, *result.secrets]
    if endpoint.auth_type == Webhook.AuthType.BASIC:
        secrets.append(headers["Authorization"].split(" ", 1)[1])
    result.error_message = scrub(result.error_message, secrets)
    result.error_params = {k: scrub(v, secrets) if isinstance(v, str) else v for k, v in result.error_params.items()}
    result.response_body = scrub(result.response_body, secrets)
    result.response_headers = {k: scrub(str(v), secrets) for k, v in result.response_headers.items()}
    result.secrets = []
    return result


# How long a destination judged before a proxied request stays judged (as the direct sessions' DNS cache).
JUDGED_TTL = 60.0


class Sessions:
    """The HTTP clients of one drain, check or alert job: one aiohttp session per way out.

    Direct requests share a session whose resolver is the SSRF guard's (the address judged is the address
    connected to). Each proxy gets a session whose resolver knows the proxy's host alone, so a request
    that forgot its proxy reaches nobody; before a proxied request the destination is resolved here and
    judged by the guard (`judge`), so nothing reaches the proxy for a refused destination.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._judged: dict[tuple[str, int], tuple[float, BaseException | None]] = {}

    def session(self, proxy: Proxy | None) -> aiohttp.ClientSession:
        key = proxy.url if proxy else ""
        session = self._sessions.get(key)
        if session is None:
            resolver = ProxyResolver(urlsplit(proxy.url).hostname or "") if proxy else GuardedResolver()
            # Through a proxy, one connection per request: proxies close kept-alive client connections at will
            # (tinyproxy after each request), and a POST is never sent again on a connection found closed.
            connector = aiohttp.TCPConnector(
                limit=self.limit, limit_per_host=0, resolver=resolver, ttl_dns_cache=60, force_close=proxy is not None
            )
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar()
            )
            self._sessions[key] = session
        return session

    def request(self, method: str, url: str, *, proxy: Proxy | None, **kwargs):
        if proxy is not None:
            kwargs.update(proxy=proxy.url, proxy_auth=proxy.auth)
        return self.session(proxy).request(method, url, **kwargs)

    async def judge(self, url: str, proxy: Proxy | None, *, timeout: float) -> None:
        """Before a proxied request: raise BlockedAddressError unless the destination resolves to an allowed address.

        The proxy resolves the name again, and may get another answer: its own ACL must refuse private
        ranges too (docs/deploy). A name the hub cannot resolve is refused as well.
        """
        if proxy is None:
            return  # the guarded resolver judges what the direct session connects to
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            ipaddress.ip_address(host)
            return  # an IP literal: check_literal_host judged it
        except ValueError:
            pass
        now = time.monotonic()
        cached = self._judged.get((host, port))
        if cached is None or now - cached[0] > JUDGED_TTL:
            error: BaseException | None = None
            try:
                loop = asyncio.get_running_loop()
                async with asyncio.timeout(timeout):
                    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                addresses = list(dict.fromkeys(info[4][0] for info in infos))
                if not any(address_allowed(host, address, port) for address in addresses):
                    error = blocked_error(host, addresses[0] if addresses else "?", port)
            except socket.gaierror as exc:
                error = exc
            cached = (now, error)
            self._judged[(host, port)] = cached
        if cached[1] is not None:
            raise cached[1]

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    async def __aenter__(self) -> "Sessions":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()


def new_session(limit: int) -> Sessions:
    return Sessions(limit)
