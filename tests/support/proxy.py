"""A real forward proxy for the tests: tinyproxy (Debian's package), started on 127.0.0.1 with its own
configuration, Basic credentials and a log the tests read to see what reached it."""

import socket
import subprocess
import time
from pathlib import Path

from .ports import free_port
from .prerequisites import APT, require_executable

USERNAME, PASSWORD = "hub", "pr0xy-Pass7"


class Tinyproxy:
    def __init__(self, tmp_path: Path, *, port: int | None = None):
        self.binary = require_executable("tinyproxy", install=f"{APT} tinyproxy")
        self.port = port or free_port()
        self.log = tmp_path / f"tinyproxy-{self.port}.log"
        self.config = tmp_path / f"tinyproxy-{self.port}.conf"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Tinyproxy":
        self.config.write_text(
            f"Port {self.port}\n"
            "Listen 127.0.0.1\n"
            "Timeout 30\n"
            f'LogFile "{self.log}"\n'
            "LogLevel Connect\n"
            "MaxClients 200\n"
            "Allow 127.0.0.1\n"
            f"BasicAuth {USERNAME} {PASSWORD}\n"
            # Any port may be CONNECTed to (the receivers listen on random ones): without ConnectPort lines.
        )
        self.log.touch()
        self.process = subprocess.Popen(
            [self.binary, "-d", "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.05)
                continue
            # The probe is a connection too: counted once it is logged, so the tests count from there.
            while time.monotonic() < deadline and self.connections() < 1:
                time.sleep(0.05)
            return self
        self.stop()
        raise RuntimeError("tinyproxy did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None

    def connections(self) -> int:
        """How many client connections the proxy accepted so far (its log's "Connect" lines)."""
        return sum(
            1 for line in self.log.read_text(errors="replace").splitlines() if "Connect (file descriptor" in line
        )

    def requests(self) -> list[str]:
        """The request lines the proxy logged ("Request (file descriptor N): GET http://… HTTP/1.1")."""
        return [
            line for line in self.log.read_text(errors="replace").splitlines() if "Request (file descriptor" in line
        ]

    def __enter__(self) -> "Tinyproxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
