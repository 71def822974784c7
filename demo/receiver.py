"""A receiver of the hub's messages, as a customer's developer would write one.

It verifies X-Clab-Hmac-Signature and Basic auth as docs/contract.md says, answers OAuth2 token
requests, and records what it got. The path scripts the answer, so one receiver serves the demo,
the tests and the benchmark:
  /status/<code>       answer with that status (429 and 503 add Retry-After with ?retry_after=N)
  /delay/<ms>          answer 200 after that many milliseconds
  /redirect            answer 302 to /elsewhere
  /oauth/token         issue an access token for ?appid=…&secret=… (GET, as DM Hub asks)
  anything else        answer 200 after the receiver's default delay
"""

import asyncio
import base64
import hmac
import os
import secrets
import threading
from dataclasses import dataclass, field

from aiohttp import web

from webhooks.content.signing import verify

# What the demo webhooks (manage.py demo_data) and the demo receiver agree on; demo only.
DEMO_SECRET = os.environ.get("DEMO_SECRET", "demo-secret")
DEMO_BASIC = os.environ.get("DEMO_BASIC", "demo:demo-password").partition(":")[::2]
DEMO_OAUTH = os.environ.get("DEMO_OAUTH", "demo-app:demo-app-secret").partition(":")[::2]


@dataclass
class Received:
    method: str
    path: str
    query: dict
    headers: dict
    body: str
    signature_ok: bool | None
    basic_ok: bool | None
    token_ok: bool | None
    status: int


@dataclass
class ReceiverConfig:
    secret: str = ""
    basic_username: str = ""
    basic_password: str = ""
    oauth_app_id: str = ""
    oauth_app_secret: str = ""
    delay_ms: int = 0
    record: bool = True
    quiet: bool = True
    received: list = field(default_factory=list)
    tokens: set = field(default_factory=set)
    count: int = 0


def _basic_ok(config: ReceiverConfig, header: str) -> bool | None:
    if not config.basic_username:
        return None
    expected = "Basic " + base64.b64encode(f"{config.basic_username}:{config.basic_password}".encode()).decode()
    return hmac.compare_digest(header.encode(), expected.encode())


def make_app(config: ReceiverConfig) -> web.Application:
    async def token(request):
        query = request.query
        if query.get("appid") == config.oauth_app_id and query.get("secret") == config.oauth_app_secret:
            value = secrets.token_hex(16)
            config.tokens.add(value)
            return web.json_response({"access_token": value, "expires_in": 7200})
        return web.json_response({"error": "invalid_client"}, status=401)

    async def handle(request):
        body = (await request.read()).decode("utf-8", errors="replace")
        headers = dict(request.headers)
        signature = headers.get("X-Clab-Hmac-Signature")
        # Each check runs when its credential is present: one receiver serves webhooks of every kind.
        signature_ok = verify(body, signature, config.secret) if config.secret and signature is not None else None
        basic_ok = _basic_ok(config, headers["Authorization"]) if "Authorization" in headers else None
        token_ok = None
        if config.oauth_app_id and "access_token" in request.query:
            token_ok = request.query["access_token"] in config.tokens
        parts = request.path.strip("/").split("/")
        status, extra, delay = 200, {}, config.delay_ms
        if parts[0] == "status" and len(parts) > 1 and parts[1].isdigit():
            status = int(parts[1])
            if "retry_after" in request.query:
                extra["Retry-After"] = request.query["retry_after"]
        elif parts[0] == "delay" and len(parts) > 1 and parts[1].isdigit():
            delay = int(parts[1])
        elif parts[0] == "redirect":
            status, extra = 302, {"Location": "/elsewhere"}
        if signature_ok is False or basic_ok is False or token_ok is False:
            status = 401
        if delay:
            await asyncio.sleep(delay / 1000)
        config.count += 1
        if config.record:
            config.received.append(
                Received(
                    request.method,
                    request.path,
                    dict(request.query),
                    headers,
                    body,
                    signature_ok,
                    basic_ok,
                    token_ok,
                    status,
                )
            )
        if not config.quiet:
            checks = " ".join(
                f"{name}={'ok' if value else 'BAD'}"
                for name, value in (("signature", signature_ok), ("basic", basic_ok), ("token", token_ok))
                if value is not None
            )
            print(
                f"← {request.method} {request.path} {headers.get('X-Clab-Event', '')} "
                f"id={headers.get('X-Clab-Delivery-Id', '')} {checks} → {status}\n  {body}",
                flush=True,
            )
        return web.json_response({"received": status // 100 == 2}, status=status, headers=extra)

    app = web.Application()
    app.router.add_get("/oauth/token", token)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def serve_forever(config: ReceiverConfig, *, host: str = "127.0.0.1", port: int = 8099) -> None:
    web.run_app(make_app(config), host=host, port=port, print=None, access_log=None, backlog=1024)


class ThreadedReceiver:
    """The receiver on its own thread and event loop, for tests: `with ThreadedReceiver() as r:`."""

    def __init__(self, config: ReceiverConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self.config = config or ReceiverConfig()
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(make_app(self.config), access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, self.host, self.port)
        self._loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._runner = runner
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def received(self) -> list[Received]:
        return self.config.received

    def __enter__(self):
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("receiver did not start")
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
