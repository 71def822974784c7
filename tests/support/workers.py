"""rq worker processes for the tests: started with this test run's database and Redis, always stopped
(with their work horses)."""

import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager, suppress
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**extra) -> dict:
    """Environment for a worker process that shares this test run's database and Redis."""
    settings_dict = connection.settings_dict
    if settings_dict["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{settings_dict['NAME']}"
    else:
        database_url = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(
            **{k: settings_dict[k] or "" for k in ("USER", "HOST", "PORT", "NAME")}
        )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1:*",
        "PYTHONPATH": str(ROOT),
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


def start_worker(*, burst=True, queues=None, scheduler=False, **extra_env) -> subprocess.Popen:
    # The queues are named once, in settings.WORKER_QUEUES (what `manage.py hubworker` runs).
    args = [sys.executable, str(ROOT / "manage.py"), "rqworker", *(queues or settings.WORKER_QUEUES)]
    if burst:
        args.append("--burst")
    if scheduler:
        args.append("--with-scheduler")
    return subprocess.Popen(
        args,
        env=worker_env(**extra_env),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )


def run_worker(timeout=120, **kwargs) -> str:
    """Run a burst worker until the queues are empty; return its log."""
    process = start_worker(burst=True, **kwargs)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"worker did not finish in {timeout}s:\n{output[-3000:]}") from None
    assert process.returncode == 0, output[-3000:]
    return output


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
