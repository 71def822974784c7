"""The drain's database connection terminated mid-wave (PostgreSQL's pg_terminate_backend): the wave
that reached the receiver is recorded on a fresh connection, not sent again."""

from collections import Counter

import pytest
from django.db import connection

from webhooks import services
from webhooks.models import Attempt, Delivery, GroupSend

from ..factories import make_customers, make_group, make_webhook
from ..support.receivers import ScriptedServer
from ..support.waiting import wait_until
from ..support.workers import running_worker

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    # SQLite has no server connection to terminate; CI runs the suite on PostgreSQL too.
    pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates a PostgreSQL backend"),
]


def test_a_terminated_database_connection_sends_nothing_twice_beyond_the_wave(redis_conn):
    with ScriptedServer(delay=0.3) as server:
        group = make_group(make_customers(600))
        webhook = make_webhook(server.url(), max_concurrency=50)
        with running_worker(WEBHOOK_WAVE_SIZE="50", WEBHOOK_CLAIM_LEASE="6") as worker:
            send = services.group_send_create(webhook=webhook, group=group)
            wait_until(lambda: len(server.posts()) >= 100, timeout=30, message="the send under way")
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                (terminated,) = cursor.fetchone()
            wait_until(
                lambda: GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.COMPLETED,
                timeout=90,
                message="the send completed",
            )
            log = worker.log
        hits = server.posts()
    assert terminated >= 1
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 600, log[-3000:]
    seen = Counter(hit.delivery_id for hit in hits)
    assert len(seen) == 600
    assert sum(seen.values()) - len(seen) <= 50  # at most the wave in flight went out twice
    attempts = Counter(Attempt.objects.values_list("delivery_id", flat=True))
    assert all(attempts[delivery_id] >= copies for delivery_id, copies in seen.items())  # every request recorded
