"""Helpers for the engine's integration and crash tests (no tests here).

A scripted HTTP server whose answers a test decides, long-running rq workers that are always
stopped (with their work horses), and bounded waiting.
"""

import asyncio
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from aiohttp import web

from .conftest import start_worker


def wait_until(predicate, *, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Poll until predicate() is truthy; fail after `timeout` seconds. Returns the truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@dataclass
class Hit:
    at: float
    method: str
    path: str
    query: dict
    headers: dict
    body: str
    status: int

    @property
    def delivery_id(self) -> str:
        return self.headers.get("X-Clab-Delivery-Id", "")


class ScriptedServer:
    """An HTTP server on 127.0.0.1 whose answer to each request is `answer(hit) -> (status, headers, body)`."""

    def __init__(self, answer=None, *, delay: float = 0.0, ssl_context=None):
        self.ssl_context = ssl_context
        self.answer = answer or (lambda hit: (200, {}, b'{"ok":true}'))
        self.delay = delay
        self.hits: list[Hit] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    async def _handle(self, request):
        body = (await request.read()).decode("utf-8", errors="replace")
        path = request.path
        self.in_flight[path] = self.in_flight.get(path, 0) + 1
        self.max_in_flight[path] = max(self.max_in_flight.get(path, 0), self.in_flight[path])
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight[path] -= 1
        hit = Hit(time.monotonic(), request.method, request.path, dict(request.query), dict(request.headers), body, 0)
        status, headers, payload = self.answer(hit)
        hit.status = status
        with self._lock:
            self.hits.append(hit)
        return web.Response(status=status, headers=headers, body=payload)

    def _run(self):
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024, ssl_context=self.ssl_context)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def url(self, path: str = "/hook") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def posts(self) -> list[Hit]:
        with self._lock:
            return [hit for hit in self.hits if hit.method == "POST"]

    def __enter__(self):
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("scripted server did not start")
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def descendants(pid: int) -> list[int]:
    """Every process below pid (the work horse runs in a process group of its own)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_hard(process: subprocess.Popen) -> None:
    """kill -9 the worker's process group and every process below it (work horse, scheduler)."""
    pids = [process.pid, *descendants(process.pid)]
    own_group = os.getpgid(0)
    for pid in pids:
        with suppress(ProcessLookupError):
            group = os.getpgid(pid)
            if group != own_group:
                os.killpg(group, signal.SIGKILL)
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(10)


@contextmanager
def running_worker(*, scheduler: bool = True, queues=None, **env):
    """A non-burst worker (with rq's scheduler) for the duration of the block; its log is in .log."""
    # The tests read recorded reasons in English; the installation's default language is zh-hans.
    kwargs = {"burst": False, "scheduler": scheduler, "LANGUAGE_CODE": "en", **env}
    if queues is not None:
        kwargs["queues"] = queues
    process = start_worker(**kwargs)
    handle = WorkerHandle(process)
    try:
        yield handle
    finally:
        handle.stop()


class WorkerHandle:
    """A worker process whose output is drained by a thread (a full pipe would block the worker)."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self):
        for line in self.process.stdout:
            self._lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self._lines)

    def stop(self, timeout: float = 10) -> str:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                kill_hard(self.process)
        self._reader.join(5)
        return self.log

    def kill9(self) -> None:
        kill_hard(self.process)
        self._reader.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_context(tmp_path):
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


# --- The crash proofs' common part ----------------------------------------------------------------

CRASH_ENV = {
    # Short lease and tick so that orphaned work comes back within seconds.
    "WEBHOOK_CLAIM_LEASE": "6",
    "WEBHOOK_TICK_INTERVAL": "1",
    "WEBHOOK_WAVE_SIZE": "20",
    "WEBHOOK_MAX_CONCURRENCY": "20",
    "WEBHOOK_FANOUT_CHUNK": "500",
}


def crash_during_group_send(
    *, recipients: int, crash, worker_env: dict | None = None, deadline: float = 75, restart: bool = True
):
    """Run a group send, call crash(worker, server) half-way, then (restart) start a fresh worker or
    (not restart) leave the same worker to recover through its periodic reconcile, and check that
    nothing was lost. Returns figures for the report."""
    from webhooks import services
    from webhooks.models import Attempt, Delivery, GroupSend

    from .factories import make_customers, make_group, make_webhook

    env = {**CRASH_ENV, **(worker_env or {})}
    started = time.monotonic()
    with ScriptedServer(delay=0.05) as server:
        customers = make_customers(recipients)
        group = make_group(customers)
        webhook = make_webhook(server.url())
        worker = WorkerHandle(start_worker(burst=False, scheduler=True, **env))
        try:
            send = services.group_send_create(webhook=webhook, group=group)
            wait_until(
                lambda: len(server.posts()) >= recipients // 4,
                timeout=30,
                interval=0.01,
                message="a quarter of the send delivered",
            )
            # Strike while a batch is in flight: some deliveries claimed, many still waiting.
            wait_until(
                lambda: Delivery.objects.filter(status=Delivery.Status.SENDING).exists(),
                timeout=10,
                interval=0.005,
                message="a batch in flight",
            )
            crashed_at = time.monotonic()
            figures = {"hits_before_crash": len(server.posts()), **(crash(worker, server) or {})}
            figures["sending_at_crash"] = Delivery.objects.filter(status=Delivery.Status.SENDING).count()
            figures["waiting_at_crash"] = Delivery.objects.filter(status__in=Delivery.WAITING_STATUSES).count()
        except BaseException:
            worker.stop()
            raise
        if restart:
            worker.stop()
            fresh = WorkerHandle(start_worker(burst=False, scheduler=True, **env))
        else:
            fresh = worker
        try:
            remaining = deadline - (time.monotonic() - started)
            wait_until(
                lambda: GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.COMPLETED,
                timeout=remaining,
                interval=0.2,
                message="the send completed after the crash",
            )
        except AssertionError:
            print(fresh.stop()[-4000:])
            raise
        finally:
            fresh.stop()
        figures["recovery_seconds"] = round(time.monotonic() - crashed_at, 1)
        hits = server.posts()

    deliveries = dict(Delivery.objects.filter(message__group_send=send).values_list("id", "status"))
    assert len(deliveries) == recipients, "one delivery per recipient, no more, no less"
    assert set(deliveries.values()) == {Delivery.Status.SUCCEEDED}, "every delivery reached its final state"
    seen: dict[str, list[Hit]] = {}
    for hit in hits:
        seen.setdefault(hit.delivery_id, []).append(hit)
    assert set(seen) == set(deliveries), "the receiver saw every delivery id, and no other"
    duplicates = {delivery_id: copies for delivery_id, copies in seen.items() if len(copies) > 1}
    for copies in duplicates.values():
        # A duplicate is the same message again: same idempotency key, same body, same signature.
        assert len({(c.delivery_id, c.body, c.headers.get("X-Clab-Hmac-Signature")) for c in copies}) == 1
    # Every request the receiver saw has an attempt row (a lost one is recorded as "worker lost").
    attempts = Counter(Attempt.objects.filter(delivery__message__group_send=send).values_list("delivery_id", flat=True))
    figures["unrecorded"] = sum(max(0, len(copies) - attempts[delivery_id]) for delivery_id, copies in seen.items())
    figures.update(
        recipients=recipients,
        hits=len(hits),
        duplicates=sum(len(c) - 1 for c in duplicates.values()),
        total_seconds=round(time.monotonic() - started, 1),
    )
    return figures
