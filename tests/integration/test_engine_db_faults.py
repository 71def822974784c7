"""PostgreSQL faults: the drain's database connection terminated mid-wave (the wave that reached the
receiver is recorded on a fresh connection, not sent again); the delivery table locked longer than every
lease (no live drain's claim is taken back); an old snapshot held open (a claim reads as many buffers
at the 20,000th delivery as at the 2,000th)."""

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from webhooks import services
from webhooks.engine import claim, record
from webhooks.engine.bulk import rows_insert
from webhooks.engine.http import AttemptResult
from webhooks.models import Attempt, Delivery, GroupSend, Message
from webhooks.services import group_sends

from ..factories import make_customers, make_group, make_webhook
from ..support.receivers import ScriptedServer
from ..support.waiting import wait_until
from ..support.workers import running_worker

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    # SQLite has no server connection to terminate; CI runs the suite on PostgreSQL too.
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="PostgreSQL only: its backends, table locks and EXPLAIN BUFFERS"
    ),
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


def test_a_table_lock_longer_than_the_lease_takes_back_nothing_of_a_live_drain(redis_conn):
    # Every lease short (claims 6 s, drain heartbeat 4 s) and the delivery table locked for 10 s
    # mid-send: the records wait, the heartbeat (its own thread, its own row) does not.
    with ScriptedServer(delay=0.2) as server:
        group = make_group(make_customers(600))
        webhook = make_webhook(server.url(), max_concurrency=50)
        env = {"WEBHOOK_WAVE_SIZE": "50", "WEBHOOK_CLAIM_LEASE": "6", "WEBHOOK_DRAIN_TIMEOUT": "4"}
        with running_worker(**env) as first, running_worker(scheduler=False, **env) as second:
            send = services.group_send_create(webhook=webhook, group=group)
            wait_until(lambda: len(server.posts()) >= 100, timeout=30, message="the send under way")
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("LOCK TABLE webhooks_delivery IN ACCESS EXCLUSIVE MODE")
                time.sleep(10)
            wait_until(
                lambda: GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.COMPLETED,
                timeout=120,
                message="the send completed",
            )
            log = first.log + second.log
        hits = server.posts()
    assert not Attempt.objects.filter(error_class="WorkerLost").exists(), log[-3000:]
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 600
    rows = Counter(Attempt.objects.values_list("delivery_id", flat=True))
    counts = dict(Delivery.objects.values_list("id", "attempt_count"))
    assert all(rows[delivery_id] == count for delivery_id, count in counts.items())
    # What the receiver saw is what the history says: one request per delivery, each recorded.
    assert Counter(hit.delivery_id for hit in hits) == rows


def _statement_buffers(call):
    """Run `call` once, rolled back, then each of its statements with EXPLAIN (ANALYZE, BUFFERS), rolled
    back too: the shared buffers each statement read, and what `call` returned."""
    statements: list[tuple[str, list]] = []

    def capture(execute, sql, params, many, context):
        statements.append((sql, list(params or [])))
        return execute(sql, params, many, context)

    with transaction.atomic():
        with connection.execute_wrapper(capture):
            result = call()
        transaction.set_rollback(True)
    buffers = []
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in statements:
            if sql.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
                continue
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
            (plan,) = cursor.fetchone()[0]
            buffers.append(plan["Plan"].get("Shared Hit Blocks", 0) + plan["Plan"].get("Shared Read Blocks", 0))
        transaction.set_rollback(True)
    return buffers, result


def _claim_buffers(**claim_kwargs) -> tuple[list[int], int]:
    buffers, claimed = _statement_buffers(lambda: claim.deliveries_claim(**claim_kwargs))
    return buffers, len(claimed)


def test_with_an_old_snapshot_open_a_claim_reads_as_many_buffers_after_20000_deliveries_as_after_2000():
    import psycopg

    webhook = make_webhook("https://example.test/h")
    message = Message.objects.create(event="form/submit")
    start = timezone.now() - timedelta(hours=1)
    rows_insert(
        Delivery,
        [
            Delivery(
                message_id=message.pk,
                webhook_id=webhook.pk,
                event=message.event,
                body="{}",
                priority=Delivery.Priority.BULK,
                # As the fan-out writes them: chunks of 2,000, each row a microsecond after the one before.
                next_attempt_at=start + timedelta(seconds=i // 2000, microseconds=i % 2000),
            )
            for i in range(21000)
        ],
    )
    settings_dict = connection.settings_dict
    # A report or pg_dump on another connection: its snapshot holds every row version made after it.
    held = psycopg.connect(
        host=settings_dict["HOST"], port=settings_dict["PORT"], user=settings_dict["USER"], dbname=settings_dict["NAME"]
    )
    try:
        held.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        held.execute("SELECT count(*) FROM webhooks_delivery").fetchone()
        cursor_at: dict = {}
        token = "drain-under-test"
        kwargs = {"webhook_id": webhook.pk, "priorities": claim.BULK, "token": token, "message_id": message.pk}
        measured = {}
        open_looks = {}
        sent = 0
        while sent < 20000:
            claimed = claim.deliveries_claim(limit=100, after=cursor_at, **kwargs)
            assert len(claimed) == 100
            cursor_at = {**cursor_at, **claim.cursor_after(claimed, exact=True)}
            record.wave_record(claimed=claimed, results=[_answered(d.id) for d in claimed], token=token)
            sent += len(claimed)
            if sent in (2000, 20000):
                measured[sent] = _claim_buffers(limit=100, after=cursor_at, **kwargs)
                # The drains' look, each second, for a send that has nothing left open.
                open_looks[sent] = _statement_buffers(lambda: group_sends.group_send_open(message_id=message.pk))
    finally:
        held.close()
    (early, early_claimed), (late, late_claimed) = measured[2000], measured[20000]
    print(f"claim buffers per statement after 2,000: {early}; after 20,000: {late}")
    assert early_claimed == late_claimed == 100
    assert len(early) == len(late)
    # The claim's UPDATE reads the index range from its cursor and writes the rows' index entries: as
    # many buffers at 20,000 as at 2,000, give or take where the index pages split (counting the
    # `sending` rows instead read one row version per delivery sent: +18,000 here). The in-flight
    # number's row leaves two versions a wave, ~200 to a page: at most a page more per statement.
    claim_statement = max(range(len(late)), key=lambda i: late[i])
    assert late[claim_statement] <= early[claim_statement] * 1.2
    others = [i for i in range(len(late)) if i != claim_statement]
    assert all(late[i] <= early[i] + 2 for i in others)
    # Is the send still open? It is (1,000 rows wait), found at the end of its claim index, as cheaply
    # at 20,000 as at 2,000: `exists()` on (message, status) walked every claimed row's old entry.
    (early_open, early_found), (late_open, late_found) = open_looks[2000], open_looks[20000]
    print(f"send-open look buffers per statement after 2,000: {early_open}; after 20,000: {late_open}")
    assert early_found is late_found is True
    assert sum(late_open) <= sum(early_open) + 2


def _answered(delivery_id):
    return AttemptResult(
        delivery_id=delivery_id,
        started_at=datetime.now(UTC),
        duration_ms=5,
        url="https://example.test/h",
        request_headers={},
        succeeded=True,
        response_status=200,
    )
