"""Why a delivery failed, as a code and its parameters, worded in the reader's language.

The code is decided where the failure is known (webhooks/engine/http.py for a request, record.py for a lost
worker, drain.py for a secret that cannot be decrypted, publishing.py for a template that cannot
render) and stored with the attempt and the delivery; the sentence is made when a page or the API
shows it, so a Chinese-speaking marketer and an English-speaking developer read the same row each in
their own language. The technical detail (error class, raw message) is stored beside it.
"""

import asyncio
import errno
import socket
import ssl
from urllib.parse import urlsplit

import aiohttp
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from webhooks.engine.oauth import OAuthError
from webhooks.engine.ssrf import BlockedAddressError


class Code:
    HTTP_STATUS = "http_status"  # {status}
    REDIRECT = "redirect"  # {status, location}
    GONE = "gone"  # {status}
    CONNECT_REFUSED = "connect_refused"  # {host, port}
    CONNECT_FAILED = "connect_failed"  # {host, port, reason}
    DISCONNECTED = "disconnected"  # {}
    DNS = "dns"  # {host}
    TIMEOUT = "timeout"  # {phase: connect | response | body, seconds, status?}
    TLS_VERIFY = "tls_verify"  # {host, reason}
    TLS = "tls"  # {host, reason}
    SSRF_BLOCKED = "ssrf_blocked"  # {host, address}
    PROXY = "proxy"  # {proxy, reason} or {status}: the proxy, not the receiver, failed
    OAUTH_TOKEN = "oauth_token"  # noqa: S105 - a code, not a token: {status?}
    WORKER_LOST = "worker_lost"  # {claimed_at}
    TEMPLATE_ERROR = "template_error"  # {detail}
    SECRET_UNDECRYPTABLE = "secret_undecryptable"  # noqa: S105 - a code, not a secret
    OTHER = "other"  # {}
    # Not failures of a request: why a delivery was cancelled before it was sent.
    CANCELLED = "cancelled"  # {user}
    CUSTOMER_DELETED = "customer_deleted"  # {}


def _host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    return parts.hostname or "", port


def failure_of_status(status: int, location: str = "") -> tuple[str, dict]:
    if status == 410:
        return Code.GONE, {"status": status}
    if 300 <= status < 400:
        return Code.REDIRECT, {"status": status, "location": location}
    return Code.HTTP_STATUS, {"status": status}


def failure_of_exception(
    exc: BaseException, *, url: str, connect_timeout: float, read_timeout: float, status: int | None = None
) -> tuple[str, dict]:
    """The code and parameters of a request that raised `exc` (never a secret: host and port only)."""
    host, port = _host_port(url)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, BlockedAddressError):
            return Code.SSRF_BLOCKED, {"host": cause.host or host, "address": cause.address}
        cause = cause.__cause__ or getattr(cause, "os_error", None)
    if isinstance(exc, OAuthError):
        return Code.OAUTH_TOKEN, dict(exc.params)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return Code.PROXY, {"proxy": f"{exc.host}:{exc.port}", "reason": str(exc.os_error or exc)[:300]}
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return Code.PROXY, {"status": exc.status}
    if isinstance(exc, socket.gaierror):
        return Code.DNS, {"host": host}
    if status is not None and isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Code.TIMEOUT, {"phase": "body", "seconds": read_timeout, "status": status}
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Code.TIMEOUT, {"phase": "connect", "seconds": connect_timeout}
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Code.TIMEOUT, {"phase": "response", "seconds": read_timeout}
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return Code.TLS_VERIFY, {"host": host, "reason": str(exc.certificate_error)[:300]}
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return Code.TLS, {"host": host, "reason": str(exc)[:300]}
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return Code.DNS, {"host": host}
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return Code.CONNECT_REFUSED, {"host": host, "port": port}
        return Code.CONNECT_FAILED, {"host": host, "port": port, "reason": str(exc.os_error or exc)[:300]}
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | ConnectionResetError):
        return Code.DISCONNECTED, {}
    # aiohttp wraps a peer's reset (a TLS 1.3 receiver refusing a missing client certificate, racing our
    # write) in ClientOSError: the receiver closed the connection all the same.
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE):
        return Code.DISCONNECTED, {}
    return Code.OTHER, {}


def failure_text(code: str, params: dict | None) -> str:
    """The sentence for a failure, in the active language; '' for an unknown code (show the stored text)."""
    p = params if isinstance(params, dict) else {}
    seconds = p.get("seconds")
    if isinstance(seconds, float) and seconds.is_integer():
        seconds = int(seconds)  # "1 s", not "1.0 s"
    if code == Code.HTTP_STATUS:
        status = p.get("status")
        if status in (401, 403):
            return _(
                "The receiver refused the request (HTTP %(status)s): check the authentication "
                "(secret key, username and password, or OAuth2 app)."
            ) % {"status": status}
        if status == 404:
            return _("The receiver answered HTTP 404 Not Found: check the receiving URL.")
        if status == 429:
            return _("The receiver is busy (HTTP 429 Too Many Requests).")
        if isinstance(status, int) and status >= 500:
            return _("The receiver had an error (HTTP %(status)s).") % {"status": status}
        return _("The receiver answered HTTP %(status)s, not a success (2xx).") % {"status": status}
    if code == Code.REDIRECT:
        return _(
            "The receiver answered a redirect (HTTP %(status)s) to %(location)s. Redirects are not followed and "
            "not retried: put the new address in the webhook's receiving URL."
        ) % {"status": p.get("status"), "location": p.get("location") or "?"}
    if code == Code.GONE:
        return _(
            "The receiver answered 410 Gone: the address no longer exists. Not retried, and the webhook is paused."
        )
    if code == Code.CONNECT_REFUSED:
        return _(
            "Nothing accepts connections at %(host)s port %(port)s: the receiver is not running or the port is wrong."
        ) % {"host": p.get("host"), "port": p.get("port")}
    if code == Code.CONNECT_FAILED:
        return _("Could not connect to %(host)s port %(port)s.") % {"host": p.get("host"), "port": p.get("port")}
    if code == Code.DISCONNECTED:
        if p.get("https") and not p.get("client_certificate"):
            return _(
                "The receiver closed the connection before answering. If it requires a client certificate "
                "(mutual TLS), an administrator sets one on the webhook."
            )
        return _("The receiver closed the connection before answering.")
    if code == Code.DNS:
        return _("The address %(host)s cannot be found (DNS): check the receiving URL.") % {"host": p.get("host")}
    if code == Code.TIMEOUT:
        phase = p.get("phase")
        if phase == "body":
            return _("The receiver answered HTTP %(status)s, but its body did not arrive within %(seconds)s s.") % {
                "status": p.get("status"),
                "seconds": seconds,
            }
        if phase == "connect":
            return _("No connection within %(seconds)s s (the connect timeout).") % {"seconds": seconds}
        return _("No answer within %(seconds)s s (the response timeout): the receiver is too slow or stuck.") % {
            "seconds": seconds
        }
    if code == Code.TLS_VERIFY:
        return _(
            "The HTTPS certificate of %(host)s could not be verified. Fix the certificate, or turn off "
            "“verify SSL certificate” if you trust this receiver."
        ) % {"host": p.get("host")}
    if code == Code.TLS:
        return _("The secure connection (TLS) to %(host)s failed.") % {"host": p.get("host")}
    if code == Code.SSRF_BLOCKED:
        # Without the address it resolved to: this text is on pages Marketers read.
        return _(
            "Not sent: %(host)s is a private or local address, or a port the allow-list does not open. An "
            "administrator can allow it with WEBHOOK_ALLOWED_HOSTS."
        ) % {"host": p.get("host")}
    if code == Code.PROXY:
        if p.get("status") == 407:
            return _("The proxy refused the hub's credentials (HTTP 407): check the proxy's username and password.")
        if p.get("status"):
            return _(
                "The proxy refused to connect to the receiver (HTTP %(status)s): check the proxy's access rules."
            ) % {"status": p["status"]}
        return _("The proxy %(proxy)s cannot be reached: %(reason)s") % {
            "proxy": p.get("proxy") or "?",
            "reason": p.get("reason") or "?",
        }
    if code == Code.OAUTH_TOKEN:
        if p.get("status"):
            return _("The OAuth2 token could not be obtained: the token URL answered HTTP %(status)s.") % {
                "status": p["status"]
            }
        return _("The OAuth2 token could not be obtained: check the token URL, app ID and app secret.")
    if code == Code.WORKER_LOST:
        claimed = parse_datetime(str(p.get("claimed_at") or ""))
        if claimed is not None:  # stored in UTC, read in the installation's time zone
            p = {**p, "claimed_at": timezone.localtime(claimed).strftime("%Y-%m-%d %H:%M:%S")}
        return _(
            "The worker sending this delivery stopped before the answer was recorded (claimed at %(time)s); "
            "the receiver may have received it."
        ) % {"time": p.get("claimed_at") or "?"}
    if code == Code.TEMPLATE_ERROR:
        return _("The message could not be made for this customer: %(detail)s") % {"detail": p.get("detail", "")}
    if code == Code.SECRET_UNDECRYPTABLE:
        return _(
            "Not sent: the webhook's secret cannot be decrypted with the installation's keys "
            "(SECRETS_ENCRYPTION_KEYS). An administrator must enter the secret again."
        )
    if code == Code.OTHER:
        return _("The request failed.")
    if code == Code.CANCELLED:
        return _("Cancelled by %(user)s.") % {"user": p.get("user") or "?"}
    if code == Code.CUSTOMER_DELETED:
        return _("The customer was deleted.")
    return ""
