"""Crash proof (b): FLUSHALL Redis in the middle of a group send.

Runs against a redis-server of its own (never the shared one): the workers get its URL through
their environment, this process through settings.RQ_QUEUES.
"""

import time

import pytest

from ..support.crash import crash_during_group_send

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


def test_flushall_mid_send_loses_nothing(own_redis):
    url, connection = own_redis.url, own_redis.client

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
