"""Shared fixtures: a receiver on 127.0.0.1, real rq workers in burst mode, a clean Redis."""

import os
import subprocess
import sys
from pathlib import Path

import django_rq
import pytest
from django.db import connection

from webhooks.receiver import ReceiverConfig, ThreadedReceiver

ROOT = Path(__file__).resolve().parent.parent
QUEUES = ["realtime", "default", "bulk"]  # settings.WORKER_QUEUES


@pytest.fixture(autouse=True)
def _settings_for_tests(settings):
    # The receivers of the tests listen on loopback: let them past the SSRF guard.
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def redis_conn():
    conn = django_rq.get_connection("default")
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def receiver():
    with ThreadedReceiver(ReceiverConfig(secret="s3cr3t", basic_username="hub", basic_password="pa:ss")) as r:
        yield r


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
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONPATH": str(ROOT),
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


def start_worker(*, burst=True, queues=QUEUES, scheduler=False, **extra_env) -> subprocess.Popen:
    args = [sys.executable, str(ROOT / "manage.py"), "rqworker", *queues]
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
