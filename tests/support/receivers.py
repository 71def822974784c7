"""HTTP servers on 127.0.0.1 for the engine's tests: a scripted server whose answers a test decides, and
a TLS context for it."""

import asyncio
import threading
import time
from dataclasses import dataclass

from aiohttp import web


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
