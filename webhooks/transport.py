"""The HTTP attempt: the one place a request leaves the hub (docs/contract.md sections 1 and 2).

aiohttp on an asyncio loop per batch job: one connection pool reused across the batch, many
requests in flight on one core, a cap per webhook so one slow receiver cannot take every slot.
The SSRF guard sits in the resolver, so the address checked is the address connected to.
"""

import asyncio
import base64
import codecs
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from django.conf import settings
from django.utils.translation import gettext as _

import webhookhub

from .secrets import MASK
from .signing import sign

USER_AGENT = f"WebhookHub/{webhookhub.__version__}"
RESPONSE_BODY_LIMIT = 64 * 1024
# Past this much a response body is no longer read just to count it.
RESPONSE_COUNT_LIMIT = 16 * 1024 * 1024
SIGNATURE_HEADER = "X-Clab-Hmac-Signature"


# --- SSRF guard ---------------------------------------------------------------------------------


class BlockedAddressError(OSError):
    """The receiver's address is private, loopback, link-local or otherwise not public."""


def _allow_list():
    return _parse_allow_list(tuple(settings.WEBHOOK_ALLOWED_HOSTS))


@lru_cache(maxsize=8)
def _parse_allow_list(entries: tuple[str, ...]):
    # Parsed once per setting value, not once per request.
    hosts, networks = set(), []
    for entry in entries:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry)
    return hosts, networks


def address_allowed(host: str, address: str) -> bool:
    """May the hub connect to `address` (which `host` resolved to)?"""
    hosts, networks = _allow_list()
    if host.lower().rstrip(".") in hosts:
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in network for network in networks):
        return True
    # is_global is False for loopback, private, link-local (169.254.169.254 metadata), CGNAT,
    # unique-local IPv6 (fd00:ec2::254 metadata) and reserved ranges.
    return ip.is_global and not ip.is_multicast


def _blocked(host: str, address: str) -> BlockedAddressError:
    return BlockedAddressError(
        _(
            "Blocked: %(host)s resolves to %(address)s, which is not a public address; allow it with "
            "WEBHOOK_ALLOWED_HOSTS for an on-premise receiver."
        )
        % {"host": host, "address": address}
    )


class GuardedResolver(AbstractResolver):
    def __init__(self):
        self._resolver = DefaultResolver()

    async def resolve(self, host, port=0, family=socket.AF_INET):
        results = await self._resolver.resolve(host, port, family)
        allowed = [r for r in results if address_allowed(host, r["host"])]
        if not allowed:
            raise _blocked(host, results[0]["host"] if results else "?")
        return allowed

    async def close(self):
        await self._resolver.close()


def _check_literal_host(url: str) -> None:
    # aiohttp does not ask the resolver about IP literals, so they are checked here.
    host = _blocked_literal(url, tuple(settings.WEBHOOK_ALLOWED_HOSTS))
    if host:
        raise _blocked(host, host)


@lru_cache(maxsize=1024)
def _blocked_literal(url: str, allowed: tuple) -> str:
    """The URL's host when it is an IP literal the guard refuses, else ''. Cached: a batch has one URL."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return ""
    return "" if address_allowed(host, host) else host


# --- Requests and results -----------------------------------------------------------------------


def _reveal(value) -> str:
    # A webhook read from the database holds Secret objects; one just built in memory, plain text.
    if not value:
        return ""
    return value.reveal() if hasattr(value, "reveal") else str(value)


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

    @classmethod
    def from_webhook(cls, webhook) -> "Endpoint":
        return cls(
            id=webhook.pk,
            url=webhook.url,
            auth_type=webhook.auth_type,
            is_json=webhook.message_type == "json",
            verify_ssl=webhook.verify_ssl,
            connect_timeout=webhook.effective_connect_timeout,
            read_timeout=webhook.effective_read_timeout,
            secret_key=_reveal(webhook.secret_key),
            basic_username=webhook.basic_username,
            basic_password=_reveal(webhook.basic_password),
            oauth_token_url=webhook.oauth_token_url,
            oauth_app_id=webhook.oauth_app_id,
            oauth_app_secret=_reveal(webhook.oauth_app_secret),
        )


@dataclass
class Outgoing:
    delivery_id: str
    event: str
    body: str


@dataclass
class AttemptResult:
    delivery_id: str
    started_at: datetime
    duration_ms: int
    url: str
    request_headers: dict
    request_body: str
    succeeded: bool = False
    response_status: int | None = None
    response_headers: dict = field(default_factory=dict)
    response_body: str = ""
    response_size: int = 0
    error_class: str = ""
    error_message: str = ""
    retry_after: int | None = None


def request_headers(endpoint: Endpoint, outgoing: Outgoing) -> dict:
    headers = {
        "Content-Type": "application/json; charset=utf-8" if endpoint.is_json else "text/plain; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Clab-Delivery-Id": outgoing.delivery_id,
        "X-Clab-Event": outgoing.event,
    }
    if endpoint.auth_type == "secret" and endpoint.secret_key:
        headers[SIGNATURE_HEADER] = sign(outgoing.body, endpoint.secret_key)
    elif endpoint.auth_type == "basic":
        token = base64.b64encode(f"{endpoint.basic_username}:{endpoint.basic_password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return headers


def masked_headers(headers: dict) -> dict:
    return {
        name: (f"{value.split(' ', 1)[0]} {MASK}" if name.lower() == "authorization" else value)
        for name, value in headers.items()
    }


def _with_query(url: str, **params) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def masked_url(url: str) -> str:
    parts = urlsplit(url)
    if "access_token" not in parts.query:
        return url
    placeholder = "MASKEDTOKEN"
    query = [(k, placeholder if k == "access_token" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    # The mask is put in after encoding, so the record reads access_token=•••••• rather than %E2%80%A2….
    return urlunsplit(parts._replace(query=urlencode(query).replace(placeholder, MASK)))


def _retry_after(response) -> int | None:
    if response.status not in (429, 503):
        return None
    value = response.headers.get("Retry-After", "")
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        from email.utils import parsedate_to_datetime

        return max(0, int((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()))
    except (TypeError, ValueError):
        return None


def _describe(exc: BaseException) -> tuple[str, str]:
    """An error's class and a reason a person can act on; secrets never enter these strings."""
    cause = exc
    while cause is not None:
        if isinstance(cause, BlockedAddressError):
            return "BlockedAddress", str(cause)
        cause = cause.__cause__ or getattr(cause, "os_error", None)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "Timeout", _("No complete response within the timeout.")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return type(exc).__name__, _("TLS error: %(reason)s") % {"reason": exc}
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "ConnectionError", _("Cannot connect: %(reason)s") % {"reason": exc.os_error or exc}
    return type(exc).__name__, str(exc) or type(exc).__name__


# --- OAuth2 client credentials --------------------------------------------------------------------


class OAuthError(Exception):
    pass


class TokenCache:
    """Access tokens in Redis until they expire, shared by every worker."""

    def __init__(self, redis):
        self.redis = redis

    @staticmethod
    def key(endpoint: Endpoint) -> str:
        # Keyed, so the Redis key says nothing about the app secret; a changed secret gets a new token.
        digest = hmac.new(
            settings.SECRET_KEY.encode(),
            f"{endpoint.oauth_token_url}|{endpoint.oauth_app_id}|{endpoint.oauth_app_secret}".encode(),
            hashlib.sha256,
        ).hexdigest()[:32]
        return f"webhookhub:oauth:{endpoint.id}:{digest}"

    def get(self, endpoint):
        value = self.redis.get(self.key(endpoint))
        return value.decode() if value else None

    def put(self, endpoint, token: str, expires_in: int):
        self.redis.set(self.key(endpoint), token, ex=max(1, expires_in - 30))

    def drop(self, endpoint):
        self.redis.delete(self.key(endpoint))


class TokenSource:
    """One batch's way to OAuth2 tokens: the shared Redis cache first, one fetch per endpoint at a time.

    Without the lock every request of a batch that finds the cache empty (or sees a 401) would fetch
    a token of its own: hundreds of token requests, each replacing the last.
    """

    def __init__(self, cache: TokenCache | None):
        self.cache = cache
        self._locks: dict[int, asyncio.Lock] = {}
        self._local: dict[int, str] = {}

    def _cached(self, endpoint) -> str | None:
        if self.cache is not None:
            return self.cache.get(endpoint)
        return self._local.get(endpoint.id)

    async def get(self, session, endpoint: Endpoint, *, stale: str | None = None) -> str:
        """A token for the endpoint; `stale` is one the receiver refused, so a new one is fetched."""
        token = self._cached(endpoint)
        if token and token != stale:
            return token
        async with self._locks.setdefault(endpoint.id, asyncio.Lock()):
            token = self._cached(endpoint)
            if token and token != stale:
                return token  # another request of this batch fetched it meanwhile
            token, expires_in = await _fetch_token(session, endpoint)
            if self.cache is not None:
                self.cache.put(endpoint, token, expires_in)
            else:
                self._local[endpoint.id] = token
            return token


async def _fetch_token(session, endpoint: Endpoint) -> tuple[str, int]:
    url = _with_query(
        endpoint.oauth_token_url,
        appid=endpoint.oauth_app_id,
        secret=endpoint.oauth_app_secret,
        grant_type="client_credentials",
    )
    _check_literal_host(url)
    timeout = aiohttp.ClientTimeout(total=endpoint.read_timeout, sock_connect=endpoint.connect_timeout)
    ssl = endpoint.verify_ssl
    try:
        async with session.get(url, timeout=timeout, allow_redirects=False, ssl=ssl) as r:
            raw = await r.content.read(RESPONSE_BODY_LIMIT)
            if r.status // 100 != 2:
                raise OAuthError(_("Token request answered HTTP %(status)s.") % {"status": r.status})
    except OAuthError:
        raise
    except Exception as exc:  # noqa: BLE001 - the reason, never the URL (it carries the app secret)
        error_class, reason = _describe(exc)
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


# --- The attempt ----------------------------------------------------------------------------------


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


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
        quoted = quote_plus(secret) if secret else ""
        if quoted and quoted in text:
            text = text.replace(quoted, MASK)
    return text


async def _read_body(response) -> tuple[bytes, int]:
    """The first RESPONSE_BODY_LIMIT bytes, and the full size (counted up to RESPONSE_COUNT_LIMIT)."""
    kept = bytearray()
    size = 0
    while size < RESPONSE_COUNT_LIMIT:
        chunk = await response.content.read(RESPONSE_BODY_LIMIT)
        if not chunk:
            break
        size += len(chunk)
        if len(kept) < RESPONSE_BODY_LIMIT:
            kept += chunk[: RESPONSE_BODY_LIMIT - len(kept)]
    return bytes(kept), size


async def attempt(session, endpoint: Endpoint, outgoing: Outgoing, *, tokens: TokenSource | None = None):
    """POST one delivery once; never raises: every outcome becomes an AttemptResult."""
    headers = request_headers(endpoint, outgoing)
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    result = AttemptResult(
        delivery_id=outgoing.delivery_id,
        started_at=started_at,
        duration_ms=0,
        url=endpoint.url,
        request_headers=masked_headers(headers),
        request_body=outgoing.body,
    )
    timeout = aiohttp.ClientTimeout(total=endpoint.read_timeout, sock_connect=endpoint.connect_timeout)
    data = outgoing.body.encode("utf-8")
    tokens = tokens or TokenSource(None)
    token = None
    try:
        _check_literal_host(endpoint.url)
        for token_try in (1, 2):
            url = endpoint.url
            if endpoint.auth_type == "oauth2":
                token = await tokens.get(session, endpoint, stale=token)
                url = _with_query(endpoint.url, access_token=token)
                result.url = masked_url(url)
            async with session.post(
                url,
                data=data,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                ssl=endpoint.verify_ssl,
            ) as response:
                body, size = await _read_body(response)
                result.response_status = response.status
                result.response_headers = _headers_dict(response.headers)
                # PostgreSQL text cannot hold NUL: one binary answer would fail the whole batch's record.
                result.response_body = body.decode(
                    _charset(response.headers.get("Content-Type", "")), "replace"
                ).replace("\x00", "\ufffd")
                result.response_size = size
                result.retry_after = _retry_after(response)
                location = response.headers.get("Location", "?")
            # A 401 to a token: it may have been revoked or expired early; fetch a new one, once.
            if not (endpoint.auth_type == "oauth2" and response.status == 401 and token_try == 1):
                break
        status = result.response_status
        result.succeeded = 200 <= status < 300
        if 300 <= status < 400:
            result.error_class = "Redirect"
            result.error_message = _("HTTP %(status)s redirect to %(location)s (redirects are not followed).") % {
                "status": status,
                "location": location,
            }
        elif not result.succeeded:
            result.error_class = "HTTPError"
            result.error_message = _("HTTP %(status)s") % {"status": status}
    except OAuthError as exc:
        result.error_class, result.error_message = "OAuthError", str(exc)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
        result.error_class, result.error_message = _describe(exc)
    result.duration_ms = int((time.monotonic() - clock) * 1000)
    # Whatever the receiver or an exception echoed back, no secret of the hub is kept in the record.
    secrets = [endpoint.secret_key, endpoint.basic_password, endpoint.oauth_app_secret, token or ""]
    if endpoint.auth_type == "basic":
        secrets.append(headers["Authorization"].split(" ", 1)[1])
    result.error_message = _scrub(result.error_message, secrets)
    result.response_body = _scrub(result.response_body, secrets)
    result.response_headers = {k: _scrub(str(v), secrets) for k, v in result.response_headers.items()}
    return result


def new_session(limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, resolver=GuardedResolver(), ttl_dns_cache=60)
    return aiohttp.ClientSession(connector=connector, auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar())


async def attempt_all(pairs, *, concurrency_per_endpoint: int, token_cache: TokenCache | None = None):
    """Attempt every (endpoint, outgoing) pair concurrently; a semaphore per endpoint caps each."""
    semaphores: dict[int, asyncio.Semaphore] = {}
    tokens = TokenSource(token_cache)
    endpoints = len({endpoint.id for endpoint, _outgoing in pairs}) or 1
    async with new_session(limit=max(256, min(1024, endpoints * concurrency_per_endpoint))) as session:

        async def one(endpoint, outgoing):
            semaphore = semaphores.setdefault(endpoint.id, asyncio.Semaphore(concurrency_per_endpoint))
            async with semaphore:
                return await attempt(session, endpoint, outgoing, tokens=tokens)

        return await asyncio.gather(*(one(endpoint, outgoing) for endpoint, outgoing in pairs))


def attempt_batch(pairs, *, concurrency_per_endpoint: int, token_cache: TokenCache | None = None):
    return asyncio.run(attempt_all(pairs, concurrency_per_endpoint=concurrency_per_endpoint, token_cache=token_cache))
