"""A redis-server of a test's own, on a free port: the crash tests FLUSHALL it or shut it down, so it
must never be the one the other tests (or anyone else) use."""

import subprocess

import redis

from .ports import free_port
from .prerequisites import APT, require_executable
from .waiting import wait_until


class OwnRedis:
    def __init__(self, directory):
        self.executable = require_executable("redis-server", install=f"{APT} redis-server")
        self.directory = str(directory)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis.from_url(self.url)
        self.process: subprocess.Popen | None = None

    def answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def start(self) -> "OwnRedis":
        self.process = subprocess.Popen(
            [
                *(self.executable, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, timeout=10, message="the test's own redis-server")
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None
