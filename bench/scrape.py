#!/usr/bin/env python
"""How long a /metrics scrape takes while a large group send runs; prints its figures.

    .venv/bin/python bench/scrape.py --n 100000          # PostgreSQL on 127.0.0.1:5432, own redis-server

The set-up is bench/run.py's (a database, a redis-server, a receiver and --workers `manage.py hubworker`
processes of its own, thrown away at the end), with PROMETHEUS_MULTIPROC_DIR shared by the workers and
this process. While the send runs, /metrics is asked every --every seconds through Django's request
handler in this process (the view, its middlewares, the database and Redis reads, the multiprocess
files); at the end the counters are checked against the database: attempts and final deliveries.
"""

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run
from prometheus_client.parser import text_string_to_metric_families


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="customers in the group (default 100000)")
    parser.add_argument("--workers", type=int, default=2, help="hub workers (default 2)")
    parser.add_argument("--delay-ms", type=int, default=50, help="receiver's answer delay (default 50)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between two scrapes (default 1)")
    parser.add_argument("--timeout", type=float, default=900, help="give up on the send after this many seconds")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    args.db, args.keep = "postgres", False
    return args


def scrape(client) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer bench-token")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.content[:300]
    samples: dict = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            key = sample.name
            samples[key] = samples.get(key, 0) + sample.value
    return elapsed, samples


def main():
    args = parse_args()
    multiproc = tempfile.mkdtemp(prefix="bench-prometheus-")
    os.environ.update(
        PROMETHEUS_MULTIPROC_DIR=multiproc, METRICS_TOKEN="bench-token", ALLOWED_HOSTS="testserver,127.0.0.1"
    )
    bench = run.Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        env = bench.start()
        from django.test import Client

        from webhooks import services
        from webhooks.models import Attempt, Delivery, GroupSend

        port = run.free_port()
        receiver_argv = [run.PYTHON, "manage.py", "demo_receiver", "--port", str(port)]
        receiver = bench.spawn(
            "receiver", [*receiver_argv, "--delay-ms", str(args.delay_ms), "--quiet", "--secret", run.SECRET], env
        )
        run.wait_port(port, 30, receiver)
        group, webhook = run.create_data(args.n, f"http://127.0.0.1:{port}/hook")
        workers = [
            bench.spawn(f"worker{i}", [run.PYTHON, "manage.py", "hubworker", "--name", f"{bench.tag}-w{i}"], env)
            for i in range(args.workers)
        ]
        run.wait_workers(args.workers, 60, workers)
        client = Client()
        idle_s, before = scrape(client)

        started = time.monotonic()
        send = services.group_send_create(webhook=webhook, group=group)
        durations, reads = [], []
        while time.monotonic() - started < args.timeout:
            elapsed, samples = scrape(client)
            durations.append(elapsed)
            reads.append(samples.get("webhookhub_scrape_seconds", 0))
            send.refresh_from_db()
            if send.status == GroupSend.Status.COMPLETED:
                break
            if any(w.poll() is not None for w in workers):
                raise RuntimeError("a worker died during the send")
            time.sleep(args.every)
        wall = time.monotonic() - started
        time.sleep(1)  # the last wave's counters are written after its record commits
        _, after = scrape(client)

        attempts = Attempt.objects.count()
        final = Delivery.objects.filter(status__in=Delivery.FINAL_STATUSES).count()
        rose_attempts = after.get("webhookhub_attempts_total", 0) - before.get("webhookhub_attempts_total", 0)
        rose_final = after.get("webhookhub_deliveries_total", 0) - before.get("webhookhub_deliveries_total", 0)
        ordered = sorted(durations)
        ms = 1000
        print()
        print(f"/metrics during a group send: N={args.n:,}  workers {args.workers}  send {wall:.1f} s  "
              f"status {send.status}")  # fmt: skip
        print(f"  first scrape (a cold process, idle)  {idle_s * ms:8.0f} ms")
        print(
            f"  scrapes during the send: {len(durations):4d}        p50 {statistics.median(ordered) * ms:.0f} ms  "
            f"p95 {ordered[int(0.95 * (len(ordered) - 1))] * ms:.0f} ms  max {ordered[-1] * ms:.0f} ms  "
            f"[target: <= 200 ms]"
        )
        print(f"    of which the gauges' reads           max {max(reads) * ms:.0f} ms (webhookhub_scrape_seconds)")
        print(f"  counters rose by                     attempts {rose_attempts:,.0f} (rows {attempts:,}), "
              f"final deliveries {rose_final:,.0f} (rows {final:,})")  # fmt: skip
        print(f"  multiprocess files                   {len(os.listdir(multiproc))}")
        for worker in workers:
            run.stop(worker, "worker")
    finally:
        bench.teardown()
        shutil.rmtree(multiproc, ignore_errors=True)


if __name__ == "__main__":
    main()
