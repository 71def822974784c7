"""A PgBouncer of a test's own, in transaction mode, in front of the test run's PostgreSQL, on a free port."""

import os
import shutil
import subprocess
import tempfile

import psycopg

from .ports import free_port
from .prerequisites import APT, require_executable
from .waiting import wait_until


class OwnPgBouncer:
    def __init__(self, *, host: str, port: int, user: str, pool_size: int = 4):
        # Debian puts it in /usr/sbin, which a non-root PATH may lack.
        found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else "")
        self.executable = require_executable(found or "pgbouncer", install=f"{APT} pgbouncer")
        self.user = user
        self.port = free_port()
        # PgBouncer refuses to run as root: it drops to the postgres user, who must read and write here.
        self.directory = tempfile.mkdtemp(prefix="pgbouncer-")
        os.chmod(self.directory, 0o777)  # noqa: S103 - a throw-away directory of this test
        config = {
            "listen_addr": "127.0.0.1",
            "listen_port": self.port,
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": f"{self.directory}/userlist.txt",
            "pool_mode": "transaction",
            # Fewer server connections than clients: consecutive transactions of one client land on
            # different server connections, as they do under load.
            "default_pool_size": pool_size,
            "max_client_conn": 200,
            "logfile": f"{self.directory}/pgbouncer.log",
            "pidfile": f"{self.directory}/pgbouncer.pid",
        }
        lines = ["[databases]", f"* = host={host} port={port}", "[pgbouncer]"]
        lines += [f"{key} = {value}" for key, value in config.items()]
        self._write("pgbouncer.ini", "\n".join(lines) + "\n")
        self._write("userlist.txt", f'"{user}" ""\n')
        self.process: subprocess.Popen | None = None

    def _write(self, name: str, text: str) -> None:
        path = os.path.join(self.directory, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)

    def url(self, database: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def answers(self, database: str) -> bool:
        try:
            with psycopg.connect(self.url(database).replace("postgres://", "postgresql://"), connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    def start(self, database: str) -> "OwnPgBouncer":
        args = [self.executable]
        if os.geteuid() == 0:
            args += ["-u", "postgres"]
        self.process = subprocess.Popen(
            [*args, f"{self.directory}/pgbouncer.ini"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        wait_until(lambda: self.answers(database), timeout=15, message="the test's own PgBouncer: " + self.log())
        return self

    def log(self) -> str:
        try:
            with open(os.path.join(self.directory, "pgbouncer.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
