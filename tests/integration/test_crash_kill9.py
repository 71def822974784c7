"""Crash proof (a): kill -9 a worker, parent and work horse, in the middle of a group send."""

import pytest

from ..support.crash import crash_during_group_send
from ..support.workers import descendants

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_kill_9_mid_send_loses_nothing(redis_conn):
    def kill(worker, server):
        family = [worker.process.pid, *descendants(worker.process.pid)]
        worker.kill9()
        return {"killed_processes": len(family)}

    figures = crash_during_group_send(recipients=2500, crash=kill)
    print(f"kill -9 proof: {figures}")
    assert figures["killed_processes"] >= 2  # the parent and at least its work horse
    assert figures["sending_at_crash"] > 0 or figures["waiting_at_crash"] > 0
    assert figures["unrecorded"] == 0
    # Sent again: at most what was in flight to the webhook when the worker died (its concurrency, 20).
    assert figures["duplicates"] <= 20
