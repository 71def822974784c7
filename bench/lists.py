#!/usr/bin/env python
"""Benchmark of the deliveries list (推送记录) and its filters at a million rows; prints its figures.

    .venv/bin/python bench/lists.py                      # 1,000,000 deliveries, PostgreSQL
    .venv/bin/python bench/lists.py --deliveries 200000 --explain

Everything it uses is its own and thrown away at the end: a PostgreSQL database lists_<pid>_<random> on
the server given by --pg (migrated). It fills the deliveries with one INSERT … SELECT over
generate_series (spread over 30 days, 5 webhooks; last answers: 85 % HTTP 200, 7 % 503, 3 % 404, 1 % 302,
2 % no answer, 2 % not yet sent), ANALYZEs, then opens the admin's list as a logged-in administrator
(Django's test client: the view, its queries and the rendering, no network) with each HTTP status
filter, each alone and with a webhook, and prints the first and the median of --repeat loads: with the list's
paginator (CappedPaginator: counts at most 10,000 matches) and, for comparison, with Django's full count.
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FILTERS = ("", "http=2xx", "http=3xx", "http=4xx", "http=5xx", "http=none", "status=succeeded")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=1_000_000, help="rows to fill (default 1000000)")
    parser.add_argument("--repeat", type=int, default=3, help="loads of each page (default 3)")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server")
    parser.add_argument("--explain", action="store_true", help="print the plans of the 2xx filter's queries")
    parser.add_argument("--keep", action="store_true", help="keep the database (debugging)")
    return parser.parse_args()


FILL = """
INSERT INTO webhooks_delivery (
    id, message_id, webhook_id, customer_id, event, body, status, attempt_count, retry_count,
    next_attempt_at, last_error, last_error_code, last_error_params, last_status_code, priority,
    claimed_by, claimed_at, redeliver_requested_by_id, recovery_id, created_at, updated_at
)
SELECT
    md5(i::text),
    %(first_message)s + (i %% %(messages)s),
    %(first_webhook)s + (i %% 5),
    NULL,
    'manual/group-send',
    '{"customerId":' || i || ',"name":"张三"}',
    CASE WHEN i %% 100 < 98 THEN (CASE WHEN i %% 100 < 85 OR i %% 100 = 97 THEN 'succeeded' ELSE 'failed' END)
         ELSE 'pending' END,
    CASE WHEN i %% 100 < 98 THEN 1 ELSE 0 END,
    0,
    NULL, '', '', '{}'::jsonb,
    CASE WHEN i %% 100 < 85 THEN 200
         WHEN i %% 100 < 92 THEN 503
         WHEN i %% 100 < 95 THEN 404
         WHEN i %% 100 = 95 THEN 302
         WHEN i %% 100 = 97 THEN 200
         ELSE NULL END,
    0, '', NULL, NULL, NULL,
    now() - (i * interval '30 days' / %(n)s),
    now() - (i * interval '30 days' / %(n)s)
FROM generate_series(1, %(n)s) AS i
"""


def timed_get(client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    return elapsed


def main():
    args = parse_args()
    import psycopg

    database = f"lists_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "webhookhub.settings",
                "DATABASE_URL": f"{args.pg}/{database}",
                "SECRET_KEY": "bench-only-secret-key",
                "SECRETS_ENCRYPTION_KEYS": "YmVuY2gtb25seS1rZXktYmVuY2gtb25seS1rZXktMDA=",
                "DEBUG": "false",
                "LOG_LEVEL": "WARNING",
                "ENV_FILE": "/nonexistent",
                "ALLOWED_HOSTS": "testserver",
            }
        )
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from webhooks.content.events import Event
        from webhooks.models import Message, Webhook

        settings.STORAGES = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        call_command("migrate", verbosity=0)
        webhooks = [Webhook.objects.create(name=f"bench {n}", url=f"https://crm{n}.example.com/hook") for n in range(5)]
        messages = 1000
        first_message = Message.objects.bulk_create([Message(event=Event.GROUP_SEND) for _ in range(messages)])[0].pk
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                FILL,
                {
                    "n": args.deliveries,
                    "messages": messages,
                    "first_message": first_message,
                    "first_webhook": webhooks[0].pk,
                },
            )
            cursor.execute("VACUUM ANALYZE webhooks_delivery")
        print(f"filled {args.deliveries:,} deliveries in {time.perf_counter() - started:.1f} s (INSERT … SELECT)")

        user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-1")
        client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
        client.force_login(user)
        base = "/admin/webhooks/delivery/"
        print()
        print(f"Deliveries list, PostgreSQL, {args.deliveries:,} deliveries, {os.cpu_count()} cores (view + render)")
        from webhooks.admin.delivery import CappedPaginator

        cap = CappedPaginator.CAP
        print(f"{'filter':<40} {'first':>8} {'median':>8} {'full count: first':>18} {'median':>8}")
        worst = {"capped": 0.0, "full": 0.0}
        for extra in ("", f"webhook__id__exact={webhooks[2].pk}"):
            for query in FILTERS:
                params = "&".join(part for part in (query, extra) if part)
                url = base + (f"?{params}" if params else "")
                row = []
                for name, limit in (("capped", cap), ("full", 10**12)):
                    CappedPaginator.CAP = limit
                    times = [timed_get(client, url) for _ in range(args.repeat)]
                    row += [times[0], statistics.median(times)]
                    if query.startswith("http="):
                        worst[name] = max(worst[name], max(times))
                CappedPaginator.CAP = cap
                print(f"{params or '(none)':<40} {row[0]:>7.2f}s {row[1]:>7.2f}s {row[2]:>17.2f}s {row[3]:>7.2f}s")
        print()
        print(
            f"slowest HTTP status filter load: {worst['capped']:.2f} s with the list's count "
            f"(at most {cap:,}), {worst['full']:.2f} s with Django's full count (target ≤ 1 s)"
        )

        if args.explain:
            with CaptureQueriesContext(connection) as queries:
                timed_get(client, base + "?http=2xx")
            with connection.cursor() as cursor:
                for captured in queries.captured_queries:
                    sql = captured["sql"]
                    if "webhooks_delivery" not in sql:
                        continue
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                    print()
                    print(sql[:300])
                    print("\n".join(row[0] for row in cursor.fetchall()))
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
