"""The one HTTP attempt (docs/contract.md sections 1 and 2) and the SSRF guard, against servers on 127.0.0.1."""

import asyncio
import base64

import pytest

from webhooks import services
from webhooks.engine.drain import drain_run
from webhooks.engine.http import Endpoint, Outgoing, attempt, new_session
from webhooks.engine.ssrf import address_allowed
from webhooks.models import Attempt, Delivery
from webhooks.secrets import MASK

from ..factories import make_customers, make_webhook
from ..support.ports import free_port
from ..support.receivers import ScriptedServer, self_signed_context


def endpoint(url: str, **fields) -> Endpoint:
    values = {
        "id": 1,
        "url": url,
        "auth_type": "none",
        "is_json": True,
        "verify_ssl": True,
        "connect_timeout": 2.0,
        "read_timeout": 3.0,
    }
    values.update(fields)
    return Endpoint(**values)


def send_one(ep: Endpoint, body: str = '{"a":1}', delivery_id: str = "d" * 32):
    async def one():
        async with new_session(limit=4) as session:
            return await attempt(session, ep, Outgoing(delivery_id, "manual/test-send", body))

    return asyncio.run(one())


# --- SSRF guard -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.5",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104
        "::1",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "224.0.0.1",
    ],
)
def test_guard_blocks_non_public_addresses_by_default(settings, address):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    assert not address_allowed("example.test", address, 443)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_guard_lets_public_addresses_through(settings, address):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    assert address_allowed("example.test", address, 443)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",  # a name that resolves to loopback: checked on the address
        "http://[::ffff:127.0.0.1]:{port}/hook",  # IPv4-mapped IPv6
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata: refused before any packet
        "http://10.0.0.1/hook",
    ],
)
def test_blocked_attempt_records_the_reason_and_sends_nothing(settings, url):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with ScriptedServer() as server:
        result = send_one(endpoint(url.format(port=server.port)))
        assert server.hits == []
    assert not result.succeeded
    assert result.error_class == "BlockedAddress"
    assert "not a public address" in result.error_message
    assert "WEBHOOK_ALLOWED_HOSTS" in result.error_message


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        (["localhost:{port}"], "localhost"),
        (["127.0.0.0/8:{port}"], "127.0.0.1"),
        (["127.0.0.1:{port}"], "127.0.0.1"),
        (["127.0.0.0/8:*"], "localhost"),
    ],
)
def test_allow_list_lets_a_host_or_range_through(settings, allowed, host):
    with ScriptedServer() as server:
        settings.WEBHOOK_ALLOWED_HOSTS = [entry.format(port=server.port) for entry in allowed]
        result = send_one(endpoint(f"http://{host}:{server.port}/hook"))
        assert len(server.posts()) == 1
    assert result.succeeded, result.error_message


def test_an_allow_list_entry_without_a_port_opens_only_80_and_443(settings):
    # Issue 22 (10): an allow-listed 127.0.0.1 used to open every port (Redis, PostgreSQL) to a test.
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with ScriptedServer() as server:
        result = send_one(endpoint(f"http://127.0.0.1:{server.port}/hook"))
        assert server.hits == []
    assert result.error_class == "BlockedAddress"
    assert f"port {server.port}" in result.error_message


def test_allow_list_of_one_host_does_not_open_another(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["receiver.internal"]
    with ScriptedServer() as server:
        result = send_one(endpoint(f"http://localhost:{server.port}/hook"))
        assert server.hits == []
    assert result.error_class == "BlockedAddress"


@pytest.mark.django_db(transaction=True)
def test_blocked_delivery_is_failed_with_a_clear_reason(settings, redis_conn):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    (customer,) = make_customers(1)
    webhook = make_webhook("http://localhost:9/hook", auto_retry=False)
    delivery = services.message_test_send(webhook=webhook, customer=customer)
    drain_run(budget=5)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert "Blocked: localhost (port 9)" in delivery.last_error
    assert "not a public address" in delivery.last_error
    # What the name resolved to is not told to whoever reads the delivery (Marketers, API keys).
    assert "127.0.0.1" not in delivery.last_error
    attempt = delivery.attempts.get()
    assert attempt.error_class == "BlockedAddress"
    assert attempt.response_status is None


# --- The request ----------------------------------------------------------------------------------


def test_headers_signature_and_masked_basic_auth_in_the_record():
    with ScriptedServer() as server:
        signed = send_one(endpoint(server.url(), auth_type="secret", secret_key="k3y"), body='{"a": "b c"}')
        basic = send_one(endpoint(server.url(), auth_type="basic", basic_username="hub", basic_password="pa:ss"))
        send_one(endpoint(server.url(), is_json=False), body="hello 你好")
        first, second, third = server.posts()
    assert first.headers["Content-Type"] == "application/json; charset=utf-8"
    assert first.headers["User-Agent"].startswith("WebhookHub/")
    assert first.headers["X-Clab-Delivery-Id"] == "d" * 32
    assert first.headers["X-Clab-Event"] == "manual/test-send"
    from webhooks.content.signing import sign

    assert first.headers["X-Clab-Hmac-Signature"] == sign('{"a": "b c"}', "k3y")
    assert signed.request_headers["X-Clab-Hmac-Signature"] == first.headers["X-Clab-Hmac-Signature"]
    assert second.headers["Authorization"] == "Basic " + base64.b64encode(b"hub:pa:ss").decode()
    assert basic.request_headers["Authorization"] == f"Basic {MASK}"
    assert third.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert third.body == "hello 你好"


def test_redirect_is_a_failure_with_its_location_and_is_not_followed():
    with ScriptedServer(lambda hit: (302, {"location": "http://127.0.0.1:1/elsewhere"}, b"")) as server:
        result = send_one(endpoint(server.url()))
        assert len(server.hits) == 1
    assert not result.succeeded
    assert result.response_status == 302
    assert result.error_class == "Redirect"
    assert "http://127.0.0.1:1/elsewhere" in result.error_message


def test_response_body_is_cut_at_64_kb_and_its_full_size_kept():
    big = ("x" * 1000 + "\n").encode() * 200  # 200,200 bytes
    with ScriptedServer(lambda hit: (500, {"Content-Type": "text/html"}, big)) as server:
        result = send_one(endpoint(server.url()))
    assert result.response_status == 500
    assert len(result.response_body.encode()) == 64 * 1024
    assert result.response_size == len(big)
    assert result.error_class == "HTTPError"


class StreamingServer:
    """A receiver on 127.0.0.1 that answers 200 with its headers at once, then a body at its own pace."""

    def __init__(self, *, chunks: int, chunk: bytes, pause: float, content_length: int | None = None):
        from aiohttp import web

        self.port = free_port()

        async def handle(request):
            await request.read()
            response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
            if content_length is not None:
                response.content_length = content_length
            await response.prepare(request)
            for _ in range(chunks):
                await response.write(chunk)
                await asyncio.sleep(pause)
            return response

        self._app = web.Application()
        self._app.router.add_post("/hook", handle)

    def __enter__(self):
        import threading

        from aiohttp import web

        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(self._app, access_log=None)
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def __exit__(self, *exc):
        # The dripping handler may still be writing: shut the server down before its loop stops.
        asyncio.run_coroutine_threadsafe(self._runner.shutdown(), self._loop).result(10)
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def test_a_dripped_body_keeps_the_status_that_arrived_and_is_marked_cut():
    with StreamingServer(chunks=30, chunk=b"x", pause=0.1) as server:
        result = send_one(endpoint(server.url(), read_timeout=0.8, connect_timeout=0.5))
    assert result.response_status == 200  # the receiver said 200 before its body stalled
    assert result.error_class == "Timeout"
    assert "HTTP 200" in result.error_message
    assert not result.succeeded
    assert result.response_cut


def test_a_body_past_the_read_limit_is_marked_cut_with_its_full_size():
    from webhooks.engine.http import RESPONSE_COUNT_LIMIT

    chunk = b"y" * (1024 * 1024)
    total = RESPONSE_COUNT_LIMIT + 4 * len(chunk)
    with StreamingServer(chunks=total // len(chunk), chunk=chunk, pause=0, content_length=total) as server:
        result = send_one(endpoint(server.url(), read_timeout=20))
    assert result.succeeded, result.error_message
    assert result.response_cut
    assert result.response_size == total  # the declared full size, not what was counted
    assert len(result.response_body.encode()) == 64 * 1024


def test_response_without_charset_is_read_not_turned_into_an_error():
    with ScriptedServer(lambda hit: (200, {"Content-Type": "text/html"}, "好".encode())) as server:
        result = send_one(endpoint(server.url()))
    assert result.succeeded, result.error_message
    assert result.response_body == "好"
    assert result.response_headers["Content-Type"] == "text/html"


def test_timeout_is_a_failed_attempt_with_its_reason():
    with ScriptedServer(delay=2.0) as server:
        result = send_one(endpoint(server.url(), read_timeout=0.5))
    assert not result.succeeded
    assert result.error_class == "Timeout"
    assert 400 <= result.duration_ms < 1900


def test_connection_refused_is_recorded():
    with ScriptedServer() as server:
        port = server.port
    result = send_one(endpoint(f"http://127.0.0.1:{port}/hook"))
    assert result.error_class == "ConnectionError"
    assert "Cannot connect" in result.error_message


def test_tls_certificate_is_verified_unless_the_box_is_cleared(tmp_path):
    with ScriptedServer(ssl_context=self_signed_context(tmp_path)) as server:
        on = send_one(endpoint(server.url(), verify_ssl=True))
        assert server.posts() == []
        off = send_one(endpoint(server.url(), verify_ssl=False))
        assert len(server.posts()) == 1
    assert not on.succeeded
    assert "certificate" in on.error_message.lower() or "ssl" in on.error_class.lower()
    assert off.succeeded, off.error_message


def test_secrets_echoed_back_by_a_receiver_are_masked_in_the_record():
    def echo(hit):
        return 400, {"X-Echo": hit.headers.get("Authorization", "")}, hit.headers.get("Authorization", "").encode()

    with ScriptedServer(echo) as server:
        result = send_one(endpoint(server.url(), auth_type="basic", basic_username="u", basic_password="hunter2xyz"))
    token = base64.b64encode(b"u:hunter2xyz").decode()
    assert token not in result.response_body
    assert token not in str(result.response_headers)


@pytest.mark.django_db(transaction=True)
def test_attempt_record_holds_what_was_sent_and_answered(redis_conn):
    with ScriptedServer(lambda hit: (201, {"X-Reply": "yes"}, b'{"got":1}')) as server:
        (customer,) = make_customers(1)
        webhook = make_webhook(
            server.url(),
            auth_type="basic",
            basic_username="hub",
            basic_password="pa:ss",
            body_template='{"name":"${customer.name}"}',
        )
        delivery = services.message_test_send(webhook=webhook, customer=customer)
        drain_run(budget=5)
        (hit,) = server.posts()
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.succeeded
    assert attempt.response_status == 201
    assert attempt.url == server.url()
    assert delivery.body == hit.body == '{"name":"客户0"}'
    assert attempt.request_headers["Authorization"] == f"Basic {MASK}"
    assert attempt.request_headers["X-Clab-Delivery-Id"] == delivery.id
    assert attempt.response_headers["X-Reply"] == "yes"
    assert attempt.response_body == '{"got":1}'
    assert attempt.response_size == 9
    assert attempt.duration_ms >= 0
    assert attempt.started_at is not None
    assert attempt.trigger == Attempt.Trigger.FIRST
    assert attempt.number == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempt_count == 1


@pytest.mark.django_db(transaction=True)
def test_failure_schedules_a_retry_and_a_doorbell_for_it_and_slows_the_webhook(settings, redis_conn):
    from django_rq import get_queue
    from rq.registry import ScheduledJobRegistry

    settings.WEBHOOK_RETRY_DELAYS = [30, 60, 90]
    with ScriptedServer(lambda hit: (503, {"Retry-After": "120"}, b"busy")) as server:
        customers = make_customers(2)
        webhook = make_webhook(server.url(), auto_retry=True)
        message = services.message_publish(event="form/submit", webhooks=[webhook], customer=customers[0])
        (first,) = message.deliveries.all()
        drain_run(budget=5)
    first.refresh_from_db()
    assert first.status == Delivery.Status.RETRYING
    assert first.priority == Delivery.Priority.REALTIME_RETRY
    attempt = first.attempts.get()
    # Retry-After (120 s) is longer than the first delay (30 s): it wins, for the whole webhook too.
    waited = (first.next_attempt_at - attempt.started_at).total_seconds()
    assert 119 <= waited <= 122
    webhook.refresh_from_db()
    assert 119 <= (webhook.throttled_until - attempt.started_at).total_seconds() <= 122
    # rq's scheduler holds a doorbell for when the retry falls due; the row itself is the work.
    (bell,) = ScheduledJobRegistry(queue=get_queue("bulk")).get_job_ids()
    assert bell == f"webhookhub-bell-{int(first.next_attempt_at.timestamp()) + 1}"


@pytest.mark.django_db(transaction=True)
def test_test_send_is_never_retried(redis_conn):
    with ScriptedServer(lambda hit: (500, {}, b"no")) as server:
        (customer,) = make_customers(1)
        webhook = make_webhook(server.url(), auto_retry=True)
        delivery = services.message_test_send(webhook=webhook, customer=customer)
        drain_run(budget=5)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.next_attempt_at is None
    assert delivery.last_error == "HTTP 500"
