"""The requests an alert makes: one robot POST or one email, under a deadline, never raising.

Robot requests go through the engine's HTTP client setup (webhooks/engine/http.py `new_session`: aiohttp with
the SSRF guard's resolver, no cookies; through the installation's WEBHOOK_PROXY_URL when set, the
destination judged first) and the engine's reading of errors (`describe_error`); IP literals are judged
by `check_literal_host` as for deliveries. webhooks/engine/http.py's `attempt()` itself is a
delivery's attempt (signature headers, auth, attempt rows): an alert is not one, so it is not reused.
"""

import asyncio
import concurrent.futures
import logging
from dataclasses import dataclass, field

import aiohttp
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.translation import gettext as _

from webhooks.engine.http import (
    RESPONSE_BODY_LIMIT,
    USER_AGENT,
    Sessions,
    describe_error,
    installation_proxy,
    new_session,
)
from webhooks.engine.redact import scrub
from webhooks.engine.ssrf import check_literal_host

from .robots import RobotRequest, robot_answer_error

logger = logging.getLogger(__name__)
# What an alert keeps of a robot's answer.
ANSWER_LIMIT = 4000


@dataclass
class Email:
    subject: str
    text: str
    html: str
    recipients: list[str]


@dataclass
class Outbound:
    """One alert's request, secrets already decrypted (kept out of repr)."""

    kind: str
    robot: RobotRequest | None = field(default=None, repr=False)
    email: Email | None = None


@dataclass
class SendResult:
    ok: bool
    status: int | None = None
    body: str = ""
    error: str = ""


def deadline() -> float:
    return settings.ALERT_TIMEOUT + 2.0


async def _post(session: Sessions, kind: str, request: RobotRequest) -> SendResult:
    result = SendResult(ok=False)
    timeout = aiohttp.ClientTimeout(total=settings.ALERT_TIMEOUT, sock_connect=min(5.0, settings.ALERT_TIMEOUT))
    proxy = installation_proxy()
    try:
        check_literal_host(request.url)
        async with asyncio.timeout(deadline()):
            await session.judge(request.url, proxy, timeout=min(5.0, settings.ALERT_TIMEOUT))
        async with (
            asyncio.timeout(deadline()),
            session.request(
                "POST",
                request.url,
                proxy=proxy,
                json=request.body,
                headers={"User-Agent": USER_AGENT},
                timeout=timeout,
                allow_redirects=False,
            ) as response,
        ):
            result.status = response.status
            raw = await response.content.read(RESPONSE_BODY_LIMIT)
            result.body = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")[:ANSWER_LIMIT]
    except Exception as exc:  # noqa: BLE001 - a robot's failure is recorded, never raised
        _error_class, result.error = describe_error(exc)
    if not result.error:
        if result.status is not None and 200 <= result.status < 300:
            answer_error = robot_answer_error(kind, result.body)
            result.ok = not answer_error
            if answer_error:
                result.error = _("The robot refused the message: %(error)s") % {"error": answer_error}
        else:
            result.error = _("HTTP %(status)s") % {"status": result.status}
    # A robot may echo the URL or the signature back: nothing of the channel's secrets is kept.
    result.body = scrub(result.body, request.secrets)
    result.error = scrub(result.error, [*request.secrets, proxy.password if proxy else ""])
    return result


def _send_email(email: Email) -> None:
    message = EmailMultiAlternatives(
        subject=email.subject, body=email.text, from_email=settings.DEFAULT_FROM_EMAIL, to=email.recipients
    )
    message.attach_alternative(email.html, "text/html")
    message.send(fail_silently=False)


async def _mail(email: Email) -> SendResult:
    try:
        async with asyncio.timeout(deadline()):
            await asyncio.to_thread(_send_email, email)
    except Exception as exc:  # noqa: BLE001 - recorded with its reason
        error = _("No answer from the mail server within the timeout.") if isinstance(exc, TimeoutError) else str(exc)
        return SendResult(ok=False, error=scrub(error or type(exc).__name__, [settings.EMAIL_HOST_PASSWORD]))
    return SendResult(
        ok=True, body=_("Accepted by the mail server for %(count)s recipients.") % {"count": len(email.recipients)}
    )


async def _send_all(outbounds: list[Outbound]) -> list[SendResult]:
    async with new_session(max(4, len(outbounds))) as session:
        return list(
            await asyncio.gather(
                *(
                    _mail(o.email) if o.email is not None else _post(session, o.kind, o.robot)  # type: ignore[arg-type]
                    for o in outbounds
                )
            )
        )


def send_all(outbounds: list[Outbound]) -> list[SendResult]:
    """Send every alert at once (one slow robot holds none of the others back); results in order."""
    if not outbounds:
        return []
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_send_all(outbounds))
    # Called from code that runs an event loop on this thread: the sends get a thread of their own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _send_all(outbounds)).result()
