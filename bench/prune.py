#!/usr/bin/env python
"""Benchmark of the retention prune (webhooks/services/retention.py); prints its figures.

    .venv/bin/python bench/prune.py                        # 1,000,000 old attempts, PostgreSQL
    .venv/bin/python bench/prune.py --attempts 100000 --blank 50000

Everything it uses is its own and thrown away at the end: a PostgreSQL database prune_<pid>_<random>
on the server given by --pg (migrated), and a redis-server on a free port. It bulk-inserts (COPY,
webhooks.engine.bulk.rows_insert) deliveries 200 days old with --per-delivery attempts each, so --attempts
attempts in all, and --blank deliveries 60 days old (bodies to blank); then times `retention.prune()`
as the daily run does, batch by batch, while a writer thread inserts a delivery and its attempt
every 20 ms and records how long each insert waits (the engine's writes during a prune).
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=1_000_000, help="old attempts to delete (default 1000000)")
    parser.add_argument("--per-delivery", type=int, default=2, help="attempts per old delivery (default 2)")
    parser.add_argument("--blank", type=int, default=0, help="deliveries 60 days old whose bodies are blanked")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server")
    parser.add_argument("--keep", action="store_true", help="keep the database (debugging)")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("redis-server did not start")


def insert_old(webhook, *, deliveries: int, per_delivery: int, days_old: int, chunk: int = 20_000) -> float:
    from django.db import transaction
    from django.utils import timezone

    from webhooks.content.events import Event
    from webhooks.engine.bulk import rows_insert
    from webhooks.models import Attempt, Delivery, Message, new_delivery_id

    started = time.perf_counter()
    created = timezone.now() - timedelta(days=days_old)
    body = '{"event":"manual/group-send","customerId":12345,"name":"张三","mobile":"13800138000","score":500}'
    for offset in range(0, deliveries, chunk):
        count = min(chunk, deliveries - offset)
        with transaction.atomic():
            message = Message.objects.create(event=Event.GROUP_SEND)
            rows = [
                Delivery(
                    id=new_delivery_id(),
                    message_id=message.pk,
                    webhook_id=webhook.pk,
                    event=Event.GROUP_SEND,
                    body=body,
                    status=Delivery.Status.SUCCEEDED,
                    attempt_count=per_delivery,
                )
                for _ in range(count)
            ]
            rows_insert(Delivery, rows)
            Delivery.objects.filter(message=message).update(created_at=created, updated_at=created)
            rows_insert(
                Attempt,
                [
                    Attempt(
                        delivery_id=row.id,
                        number=number,
                        started_at=created,
                        duration_ms=120,
                        url=webhook.url,
                        request_headers={"Content-Type": "application/json", "X-Clab-Event": Event.GROUP_SEND},
                        response_status=200,
                        response_headers={"Content-Type": "application/json"},
                        response_body='{"received":true}',
                        response_size=17,
                        succeeded=number == per_delivery,
                    )
                    for row in rows
                    for number in range(1, per_delivery + 1)
                ],
            )
    return time.perf_counter() - started


class Writer(threading.Thread):
    """The engine's kind of write during the prune: a delivery and its attempt, every 20 ms."""

    def __init__(self, webhook):
        super().__init__(daemon=True)
        self.webhook = webhook
        self.latencies: list[float] = []
        self._halt = threading.Event()

    def run(self):
        from django.db import connection, transaction
        from django.utils import timezone

        from webhooks.content.events import Event
        from webhooks.models import Attempt, Delivery, Message

        message = Message.objects.create(event=Event.TEST_SEND)
        try:
            while not self._halt.is_set():
                started = time.perf_counter()
                with transaction.atomic():
                    delivery = Delivery.objects.create(
                        message=message, webhook=self.webhook, event=Event.TEST_SEND, body="{}", status="succeeded"
                    )
                    Attempt.objects.create(delivery=delivery, number=1, started_at=timezone.now(), url="http://x/")
                self.latencies.append(time.perf_counter() - started)
                self._halt.wait(0.02)
        finally:
            connection.close()

    def stop(self):
        self._halt.set()
        self.join(10)


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def main():
    args = parse_args()
    import psycopg

    database = f"prune_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    redis_process, redis_url = start_redis()
    try:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "webhookhub.settings",
                "DATABASE_URL": f"{args.pg}/{database}",
                "REDIS_URL": redis_url,
                "SECRET_KEY": "bench-only-secret-key",
                "SECRETS_ENCRYPTION_KEYS": "YmVuY2gtb25seS1rZXktYmVuY2gtb25seS1rZXktMDA=",
                "DEBUG": "false",
                "LOG_LEVEL": "WARNING",
                "ENV_FILE": "/nonexistent",
            }
        )
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.utils import timezone

        from webhooks.models import Attempt, Webhook
        from webhooks.services import retention

        call_command("migrate", verbosity=0)
        webhook = Webhook.objects.create(name="bench", url="http://127.0.0.1:9/hook")
        per = max(1, args.per_delivery)
        old_deliveries = args.attempts // per
        insert_s = insert_old(webhook, deliveries=old_deliveries, per_delivery=per, days_old=200)
        if args.blank:
            insert_s += insert_old(webhook, deliveries=args.blank, per_delivery=1, days_old=60)
        with connection.cursor() as cursor:
            # What autovacuum would have done to rows this old long ago: the planner's statistics.
            cursor.execute("ANALYZE")
        print(
            f"inserted {old_deliveries:,} deliveries 200 days old with {old_deliveries * per:,} attempts"
            + (f", and {args.blank:,} deliveries 60 days old" if args.blank else "")
            + f" in {insert_s:.1f} s (COPY)"
        )

        batches: list[float] = []
        last = [time.perf_counter()]

        def on_batch(report):
            now = time.perf_counter()
            batches.append(now - last[0])
            last[0] = now

        writer = Writer(webhook)
        writer.start()
        time.sleep(0.5)
        started = time.perf_counter()
        report = retention.prune(on_batch=on_batch)
        prune_s = time.perf_counter() - started
        time.sleep(0.5)
        writer.stop()

        old_left = Attempt.objects.filter(started_at__lt=timezone.now() - timedelta(days=180)).count()
        print()
        print(
            f"Prune benchmark: PostgreSQL, batch {settings.RETENTION_BATCH_SIZE} deliveries per transaction, "
            f"{os.cpu_count()} cores"
        )
        deleted = f"{report.deliveries_deleted:,} deliveries, {report.attempts_deleted:,} attempts"
        print(f"  deleted                  {deleted}")
        if args.blank:
            print(f"  blanked                  {report.bodies_blanked:,} bodies, {report.attempts_blanked:,} attempts")
        print(
            f"  prune took               {prune_s:.1f} s  "
            f"({report.attempts_deleted / prune_s:,.0f} attempts/s, {report.batches} batches)"
        )
        print(
            f"  one batch (transaction)  median {statistics.median(batches) * 1000:.0f} ms, "
            f"p95 {percentile(batches, 0.95) * 1000:.0f} ms, max {max(batches) * 1000:.0f} ms"
        )
        print(
            f"  writes meanwhile         {len(writer.latencies):,} inserts, "
            f"p50 {percentile(writer.latencies, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(writer.latencies, 0.99) * 1000:.1f} ms, "
            f"max {max(writer.latencies, default=0) * 1000:.1f} ms"
        )
        ok = report.finished and old_left == 0 and report.attempts_deleted == old_deliveries * per
        print(f"  result                   {'all old rows gone' if ok else 'NOT all old rows gone'}")
        connection.close()
        return 0 if ok else 1
    finally:
        redis_process.send_signal(signal.SIGTERM)
        redis_process.wait(10)
        if args.keep:
            print(f"kept database {database}")
        else:
            with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
