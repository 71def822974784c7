"""Shared fixtures: a receiver on 127.0.0.1, real rq workers, a clean Redis; and the end-of-run list of
proofs skipped for a missing prerequisite (tests/support/prerequisites.py)."""

import django_rq
import pytest

from demo.receiver import ReceiverConfig, ThreadedReceiver

from .support import prerequisites, workers
from .support.redis_server import OwnRedis


@pytest.fixture(autouse=True)
def _settings_for_tests(settings):
    # The receivers of the tests listen on loopback: let them past the SSRF guard.
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1:*"]
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def marketer(django_user_model):
    """A staff user in the Marketer role (营销人员), as webhookhub/roles.py grants it."""
    from django.contrib.auth.models import Group

    from webhookhub.roles import MARKETER

    user = django_user_model.objects.create_user("mkt", password="pw-marketer-1", is_staff=True)
    user.groups.add(Group.objects.get(name=MARKETER))
    return user


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def redis_conn():
    conn = django_rq.get_connection("realtime")
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def receiver():
    with ThreadedReceiver(ReceiverConfig(secret="s3cr3t", basic_username="hub", basic_password="pa:ss")) as r:
        yield r


@pytest.fixture
def run_worker():
    """`run_worker(timeout=120, **kwargs) -> log`: a burst worker until the queues are empty."""
    return workers.run_worker


@pytest.fixture
def start_worker():
    """`start_worker(**kwargs) -> WorkerHandle`: a worker process, its output drained; any still running
    at the end of the test is stopped, work horse included."""
    handles = []

    def start(**kwargs) -> workers.WorkerHandle:
        handle = workers.WorkerHandle(workers.start_worker(**kwargs))
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


def pytest_terminal_summary(terminalreporter):
    lines = prerequisites.summary_lines(terminalreporter.stats.get("skipped", []))
    if lines:
        terminalreporter.section("proofs skipped for a missing prerequisite (a failure in CI)", yellow=True)
        for line in lines:
            terminalreporter.line(line)


@pytest.fixture
def own_redis(settings, tmp_path):
    """A redis-server of this test's own; this process reaches it through settings.RQ_QUEUES, workers
    through the REDIS_URL given to them."""
    server = OwnRedis(tmp_path).start()
    settings.RQ_QUEUES = {name: {**config, "URL": server.url} for name, config in settings.RQ_QUEUES.items()}
    try:
        yield server
    finally:
        server.client.close()
        server.stop()
