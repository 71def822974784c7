"""Crash proof (b): FLUSHALL Redis in the middle of a group send.

Runs against a redis-server of its own (never the shared one): the workers get its URL through
their environment, this process through settings.RQ_QUEUES.
"""

import subprocess
import time

import pytest
import redis

from .support.crash import crash_during_group_send
from .support.ports import free_port
from .support.prerequisites import APT, require_executable
from .support.waiting import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def own_redis(settings, tmp_path):
    redis_server = require_executable("redis-server", install=f"{APT} redis-server")
    port = free_port()
    process = subprocess.Popen(
        [
            redis_server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    connection = redis.Redis.from_url(url)
    try:

        def answers():
            try:
                return connection.ping()
            except redis.ConnectionError:
                return False

        wait_until(answers, timeout=10, message="the test's own redis-server")
        settings.RQ_QUEUES = {name: {**config, "URL": url} for name, config in settings.RQ_QUEUES.items()}
        yield url, connection
    finally:
        connection.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_flushall_mid_send_loses_nothing(own_redis):
    url, connection = own_redis

    def flush(worker, server):
        keys = connection.dbsize()
        connection.flushall()
        time.sleep(0.5)  # let the in-flight batch finish against the emptied Redis
        return {"keys_flushed": keys}

    # The same worker lives through the FLUSHALL and brings the lost work back by its tick (the database holds it).
    figures = crash_during_group_send(recipients=2500, crash=flush, worker_env={"REDIS_URL": url}, restart=False)
    print(f"FLUSHALL proof: {figures}")
    assert figures["keys_flushed"] > 0
    assert figures["waiting_at_crash"] > 0  # work was lost from Redis, and came back from the database
    assert figures["duplicates"] == 0
    assert figures["unrecorded"] == 0
