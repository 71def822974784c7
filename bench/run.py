#!/usr/bin/env python
"""Benchmark of a group send through the real path; prints its figures.

    .venv/bin/python bench/run.py --n 100000            # PostgreSQL on 127.0.0.1:5432, own redis-server
    .venv/bin/python bench/run.py --n 2000 --db sqlite

Everything it uses is its own and thrown away at the end: a PostgreSQL database (or SQLite file),
a redis-server on a free port, a receiver process that answers after --delay-ms, and --workers
`manage.py hubworker` processes. N customers in a group, a webhook with a secret and a template,
then `services.group_send_create` and the workers do the rest (fan-out, claimed waves, HTTP, records).
In the same run, a bare loop renders, signs and POSTs the same bodies with the same client
(webhooks.engine.http.attempt, aiohttp) at the workers' total concurrency, for the ratio.
See bench/README.md.
"""

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet
from rq import Worker

# Django, django_rq and the hub's own modules are imported inside the functions that use them: they read
# the settings when imported, and the settings are pointed at the bench's own database and Redis only
# by Bench.setup_django().

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"  # its SQLite file and logs (gitignored; the settings create no directory)
# Run as a script from any directory: the project's packages (and the tests' port helper) come from ROOT.
sys.path.insert(0, str(ROOT))

from tests.support.ports import free_port  # noqa: E402

PYTHON = sys.executable
SECRET = "bench-secret"
TEMPLATE = (
    '{"event":"manual/group-send","sendId":${sendId},"customerId":${customerId},'
    '"name":"${customer.name}","mobile":"${customer.mobile}","email":"${customer.email}",'
    '"score":${customer.activityScore},"level":"${member.level!"无"}","tags":["webhook","bench"]}'
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="customers in the group (default 100000)")
    parser.add_argument("--delay-ms", type=int, default=50, help="receiver's answer delay (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="rq worker processes (default 2)")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument(
        "--pg",
        default="postgres://postgres@127.0.0.1:5432",
        help="PostgreSQL server (a database bench_<id> is created and dropped there)",
    )
    parser.add_argument(
        "--redis-url", default="", help="use this Redis database (flushed!) instead of starting a redis-server"
    )
    parser.add_argument("--bare-n", type=int, default=None, help="requests of the bare loop (default: --n)")
    parser.add_argument("--timeout", type=float, default=900, help="give up on the send after this many seconds")
    parser.add_argument(
        "--profile", action="store_true", help="afterwards, cProfile one fan-out and one drain in this process"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and logs (debugging)")
    parser.add_argument(
        "--hold-snapshot",
        action="store_true",
        help="hold a REPEATABLE READ transaction on the hub's database from before the send until it completes "
        "(what pg_dump, a long export or a session idle in a transaction do)",
    )
    parser.add_argument(
        "--segment", type=int, default=100_000, help="deliveries per segment of the rate printed (default 100000)"
    )
    return parser.parse_args()


def wait_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.args[:3]} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop(process: subprocess.Popen | None, name: str) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        print(f"  ({name} did not stop on SIGTERM; killing)", file=sys.stderr)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


# --- Memory of the workers (parent + work horse), sampled from /proc ------------------------------


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(child) for child in handle.read().split())
    except OSError:
        pass
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB; PSS shares copy-on-write pages between the worker and its fork fairly."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _scheduler_pids(redis_url: str) -> set[int]:
    """The pids of rq's scheduler processes (rq forks one per worker that holds the scheduler lock)."""
    import redis
    from rq.scheduler import SCHEDULER_KEY_TEMPLATE

    client = redis.Redis.from_url(redis_url)
    found = set()
    for key in client.scan_iter(match=SCHEDULER_KEY_TEMPLATE % "*"):
        pid = client.hget(key, "pid")
        if pid:
            found.add(int(pid))
    return found


class MemorySampler(threading.Thread):
    """Peak memory of each worker: its own process plus its work horse (the fork running a drain).

    rq's scheduler is a long-lived fork of the worker that holds the scheduler lock: it runs no engine
    code, so it is measured apart (`scheduler_peak_rss`) rather than added to that one worker's figure.
    """

    def __init__(self, pids: list[int], *, redis_url: str, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pids, self.interval, self.redis_url = pids, interval, redis_url
        self.peak_rss = dict.fromkeys(pids, 0)
        self.peak_pss = dict.fromkeys(pids, 0)
        self.peak_total_rss = 0
        self.scheduler_peak_rss = 0
        self._halt = threading.Event()

    def run(self):
        schedulers: set[int] = set()
        looked = 0.0
        while not self._halt.is_set():
            if time.monotonic() - looked > 1.0:
                with contextlib.suppress(Exception):
                    schedulers = _scheduler_pids(self.redis_url)
                looked = time.monotonic()
            total = 0
            for pid in self.pids:
                rss = pss = 0
                for member in [pid, *_children(pid)]:
                    member_rss, member_pss = _memory_kb(member)
                    if member in schedulers:
                        self.scheduler_peak_rss = max(self.scheduler_peak_rss, member_rss)
                        continue
                    rss, pss = rss + member_rss, pss + member_pss
                self.peak_rss[pid] = max(self.peak_rss[pid], rss)
                self.peak_pss[pid] = max(self.peak_pss[pid], pss)
                total += rss
            self.peak_total_rss = max(self.peak_total_rss, total)
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(5)


# --- The environment: database, Redis, Django -----------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.tag = f"bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.logs: list[Path] = []
        self.database_url = ""
        self.pg_database = ""
        self.sqlite_path: Path | None = None
        self.redis_url = args.redis_url

    # Set-up and tear-down ---------------------------------------------------------------------------

    def create_database(self):
        # A fresh clone has no var/ until bin/setup ran; the bench makes what it needs.
        VAR.mkdir(exist_ok=True)
        if self.args.db == "sqlite":
            self.sqlite_path = VAR / f"{self.tag}.sqlite3"
            self.database_url = f"sqlite:///{self.sqlite_path}"
            return
        self.pg_database = self.tag
        with psycopg.connect(f"{self.args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.pg_database}"')
        self.database_url = f"{self.args.pg}/{self.pg_database}"

    def drop_database(self):
        if self.args.keep:
            print(f"kept database: {self.database_url}")
            return
        if self.sqlite_path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)
        if self.pg_database:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: BLE001, S110 - Django may not be set up yet
                pass
            with psycopg.connect(f"{self.args.pg}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')

    def start_redis(self):
        if self.redis_url:
            return
        if not shutil.which("redis-server"):
            raise SystemExit("redis-server not found: install it, or pass --redis-url redis://127.0.0.1:6379/<db>")
        port = free_port()
        process = self.spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            env=os.environ,
        )
        wait_port(port, 10, process)
        self.redis_url = f"redis://127.0.0.1:{port}/0"

    def env(self) -> dict:
        key = os.environ.get("BENCH_FERNET_KEY") or Fernet.generate_key().decode()
        os.environ["BENCH_FERNET_KEY"] = key
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "webhookhub.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": "bench-only-secret-key",
            "SECRETS_ENCRYPTION_KEYS": key,
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1:*",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            # Each claim's time, for the claim's p50/p99 (read from the workers' logs).
            "LOG_CLAIMS_LEVEL": "DEBUG",
            "LOG_ATTEMPTS_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }

    def spawn(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        log = VAR / f"{self.tag}-{name}.log"
        self.logs.append(log)
        with open(log, "w") as handle:
            process = subprocess.Popen(
                argv, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append((name, process))
        return process

    def start(self) -> dict:
        """Its own database and Redis, Django pointed at them and migrated: the workers' environment."""
        self.create_database()
        self.start_redis()
        self.setup_django()
        return self.env()

    def teardown(self):
        for name, process in reversed(self.processes):
            stop(process, name)
        self.drop_database()
        if not self.args.keep:
            for log in self.logs:
                log.unlink(missing_ok=True)

    def setup_django(self):
        os.environ.update(self.env())
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        import django_rq

        django_rq.get_connection("realtime").flushdb()


# --- The run --------------------------------------------------------------------------------------


def seconds(delta) -> float:
    return delta.total_seconds()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def create_data(n: int, receiver_url: str):
    from django.db import transaction

    from customers.models import Customer, Group, GroupEntry
    from webhooks.models import Webhook

    with transaction.atomic():
        group = Group.objects.create(name=f"bench {n}")
        for start in range(0, n, 5000):
            customers = Customer.objects.bulk_create(
                [
                    Customer(
                        name=f"客户 {i} <&>",
                        wechat_nickname=f"微信{i}",
                        mobile=f"139{i:08d}",
                        email=f"c{i}@example.com",
                        activity_score=i % 1000,
                    )
                    for i in range(start, min(n, start + 5000))
                ]
            )
            GroupEntry.objects.bulk_create([GroupEntry(group=group, customer=c) for c in customers])
        webhook = Webhook(
            name="bench",
            url=receiver_url,
            auth_type=Webhook.AuthType.SECRET,
            secret_key=SECRET,
            body_template=TEMPLATE,
            empty_text="",
            # The bare loop runs 2 × 128 requests at once; the webhook may have as many in flight.
            max_concurrency=256,
        )
        webhook.full_clean()
        webhook.save()
    return group, webhook


def wait_workers(count: int, timeout: float, processes) -> None:
    import django_rq

    connection = django_rq.get_connection("realtime")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a worker exited at start; see its log (run with --keep)")
        if len(Worker.all(connection=connection)) >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{count} workers did not register within {timeout}s")


def run_send(group, webhook, timeout: float, processes, logs, stall: float = 90):
    from webhooks import services
    from webhooks.models import Delivery, GroupSend

    started = time.monotonic()
    send = services.group_send_create(webhook=webhook, group=group)
    timed_out = False
    last_report = last_change = last_count = started
    last_progress = None
    while True:
        send.refresh_from_db()
        if send.status == GroupSend.Status.COMPLETED:
            break
        now = time.monotonic()
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a worker died during the send; see its log (run with --keep)")
        if now - last_count < 10 and last_progress is not None:
            # The count reads every final row of the send (0.3 s at 500,000 with a snapshot held): once
            # per report, or it takes a good part of a core from the engine it measures.
            time.sleep(0.2)
            continue
        last_count = now
        progress = (
            send.fanout_cursor,
            Delivery.objects.filter(message_id=send.message.pk, status__in=Delivery.FINAL_STATUSES).count(),
        )
        if progress != last_progress:
            last_progress, last_change = progress, now
        if now - started > timeout or now - last_change > stall:
            timed_out = True
            print(
                f"  no completion: {'stalled' if now - last_change > stall else 'timed out'} at "
                f"{now - started:.0f} s, fan-out cursor {progress[0]}, {progress[1]} deliveries final",
                file=sys.stderr,
            )
            for log in logs:
                if "worker" in log.name and log.exists():
                    print(f"  --- tail of {log.name}", file=sys.stderr)
                    print("\n".join(log.read_text(errors="replace").splitlines()[-15:]), file=sys.stderr)
            break
        if now - last_report > 10:
            print(f"  … {now - started:5.0f} s: {progress[1]} deliveries final", file=sys.stderr, flush=True)
            last_report = now
        time.sleep(0.2)
    wall = time.monotonic() - started
    return send, wall, timed_out


def measure(send):
    from django.db.models import Count, Max, Min

    from webhooks.models import Attempt, Delivery

    deliveries = Delivery.objects.filter(message__group_send=send)
    by_status = dict(deliveries.values_list("status").annotate(count=Count("id")).values_list("status", "count"))
    window = deliveries.aggregate(first=Min("created_at"), last=Max("created_at"))
    attempts = Attempt.objects.filter(delivery__message__group_send=send)
    latencies = []
    origin = send.created_at
    for started_at, duration_ms in attempts.values_list("started_at", "duration_ms").iterator(chunk_size=10000):
        latencies.append(seconds(started_at - origin) + duration_ms / 1000)
    last_attempt = max(latencies) if latencies else float("nan")
    ends = sorted(latencies)
    return {
        "ends": ends,
        "by_status": by_status,
        "attempts": len(latencies),
        "fanout": seconds(window["last"] - origin) if window["last"] else float("nan"),
        "first_written": seconds(window["first"] - origin) if window["first"] else float("nan"),
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "mean": statistics.fmean(latencies) if latencies else float("nan"),
        "last_attempt": last_attempt,
        "db_end_to_end": seconds(send.finished_at - origin) if send.finished_at else float("nan"),
    }


def segment_rates(ends: list[float], segment: int) -> list[tuple[int, int, float]]:
    """(first, last, rate) of each `segment` deliveries in the order they ended: does the send slow down?"""
    rates = []
    for start in range(0, len(ends), segment):
        part = ends[start : start + segment]
        # From the end of the previous segment (the send's start for the first) to this one's last end.
        since = ends[start - 1] if start else 0.0
        span = part[-1] - since
        rates.append((start + 1, start + len(part), len(part) / span if span > 0 else float("nan")))
    return rates


def claim_times(logs) -> tuple[list[float], list[float]]:
    """The claims' statement and transaction times (ms) from the workers' logs (webhookhub.claims)."""
    pattern = re.compile(r"claim webhook=\d+ claimed=(\d+) statement_ms=([\d.]+) transaction_ms=([\d.]+)")
    statements, transactions = [], []
    for log in logs:
        if "worker" not in log.name or not log.exists():
            continue
        with open(log, errors="replace") as handle:
            for line in handle:
                found = pattern.search(line)
                if found and int(found.group(1)):
                    statements.append(float(found.group(2)))
                    transactions.append(float(found.group(3)))
    return statements, transactions


@contextlib.contextmanager
def snapshot_held(database_url: str | None, enabled: bool):
    """A REPEATABLE READ transaction on the hub's database, open (its snapshot taken) for the block."""
    if not enabled or not database_url:
        yield
        return
    with psycopg.connect(database_url) as held:
        held.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        held.execute("SELECT count(*) FROM webhooks_delivery").fetchone()
        try:
            yield
        finally:
            held.rollback()


def bare_loop(webhook, send, n: int, concurrency: int, chunk: int = 20_000):
    """Render, sign and POST with the engine's client and no database, queue or records."""
    from customers.models import Customer
    from webhooks.content.payloads import message_context
    from webhooks.content.templating import compile_template
    from webhooks.engine.http import Endpoint, Outgoing, attempt, new_session

    async def attempt_all(pairs, concurrency_per_endpoint: int):
        gate = asyncio.Semaphore(concurrency_per_endpoint)
        async with new_session(limit=concurrency_per_endpoint) as session:

            async def one(endpoint, outgoing):
                async with gate:
                    return await attempt(session, endpoint, outgoing)

            return await asyncio.gather(*(one(e, o) for e, o in pairs))

    endpoint = Endpoint.from_webhook(webhook)
    template = compile_template(webhook.body_template, message_type=webhook.message_type, empty_text=webhook.empty_text)
    customers = list(Customer.objects.select_related("level").order_by("id")[:n])
    succeeded = 0
    started = time.perf_counter()
    for start in range(0, len(customers), chunk):
        pairs = [
            (
                endpoint,
                Outgoing(
                    uuid.uuid4().hex,
                    "manual/group-send",
                    template.render(message_context(customer=customer, send_id=send.pk)),
                ),
            )
            for customer in customers[start : start + chunk]
        ]
        results = asyncio.run(attempt_all(pairs, concurrency_per_endpoint=concurrency))
        succeeded += sum(1 for r in results if r.succeeded)
    elapsed = time.perf_counter() - started
    return len(customers), succeeded, elapsed


def profile(webhook, group_size: int = 1000, top: int = 22):
    """cProfile, in this process, one fan-out of a small group and one drain that sends it."""
    from customers.models import Customer, Group, GroupEntry
    from webhooks import services
    from webhooks.engine.drain import drain_run
    from webhooks.services import group_sends

    group = Group.objects.create(name="profile")
    GroupEntry.objects.bulk_create(
        [
            GroupEntry(group=group, customer_id=pk)
            for pk in Customer.objects.order_by("id").values_list("pk", flat=True)[:group_size]
        ]
    )
    send = services.group_send_create(webhook=webhook, group=group)
    group_sends.group_sends_start_due()

    def report(title, profiler):
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream).strip_dirs().sort_stats("tottime")
        stats.print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        print(f"\n--- profile: {title} (sorted by own time) ---")
        print("\n".join(line for line in stream.getvalue().splitlines() if line.strip())[:16000])

    def fanout():
        while group_sends.group_send_fanout_step(send_id=send.pk):
            pass

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(fanout)
    print(f"\nfan-out of {group_size} recipients in-process: {time.perf_counter() - started:.2f} s")
    report(f"fan-out of {group_size} (render, bulk insert)", profiler)

    profiler = cProfile.Profile()
    started = time.perf_counter()
    result = profiler.runcall(drain_run, budget=60)
    elapsed = time.perf_counter() - started
    print(f"\none drain of {group_size} in-process: {elapsed:.2f} s, {group_size / elapsed:.0f}/s, {result}")
    report(f"one drain of {group_size} deliveries", profiler)


def main():
    args = parse_args()
    bench = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        env = bench.start()
        from django.conf import settings

        port = free_port()
        receiver = bench.spawn(
            "receiver",
            [
                PYTHON,
                "manage.py",
                "demo_receiver",
                "--port",
                str(port),
                "--delay-ms",
                str(args.delay_ms),
                "--quiet",
                "--secret",
                SECRET,
            ],
            env,
        )
        wait_port(port, 30, receiver)
        receiver_url = f"http://127.0.0.1:{port}/hook"

        clock = time.perf_counter()
        group, webhook = create_data(args.n, receiver_url)
        setup_s = time.perf_counter() - clock

        workers = [
            bench.spawn(
                f"worker{i}",
                [PYTHON, "manage.py", "hubworker", "--name", f"{bench.tag}-w{i}"],
                env,
            )
            for i in range(args.workers)
        ]
        wait_workers(args.workers, 60, workers)
        sampler = MemorySampler([w.pid for w in workers], redis_url=bench.redis_url)
        sampler.start()
        postgres_url = bench.database_url if args.db == "postgres" else None
        with snapshot_held(postgres_url, args.hold_snapshot):
            send, wall, timed_out = run_send(group, webhook, args.timeout, workers, bench.logs)
        sampler.stop()
        for worker in workers:
            stop(worker, "worker")
        figures = measure(send)

        concurrency = args.workers * settings.WEBHOOK_MAX_CONCURRENCY
        bare_n = args.n if args.bare_n is None else args.bare_n
        bare_count, bare_ok, bare_s = bare_loop(webhook, send, bare_n, concurrency)

        n = args.n
        delivered = figures["by_status"].get("succeeded", 0)
        engine_rate = delivered / wall if wall else 0.0
        bare_rate = bare_ok / bare_s if bare_s else 0.0
        mb = 1024
        peak_rss = max(sampler.peak_rss.values())
        peak_pss = max(sampler.peak_pss.values())
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        print()
        print(
            f"WebhookHub benchmark: N={n:,}  receiver delay {args.delay_ms} ms  workers {args.workers}  db {db}  "
            f"wave {settings.WEBHOOK_WAVE_SIZE}  fan-out chunk {settings.WEBHOOK_FANOUT_CHUNK}  "
            f"in flight/worker {settings.WEBHOOK_WORKER_CONCURRENCY}  webhook cap {webhook.max_concurrency}"
        )
        print(f"  set-up (customers, group, webhook)   {setup_s:8.1f} s (not timed)")
        status = "TIMED OUT, " if timed_out else ""
        print(
            f"  end to end (send → completed)        {wall:8.1f} s  {status}"
            f"{engine_rate:,.0f} deliveries/s   [target: 100,000 in <= 35 s]"
        )
        print(f"    by the database's clock             {figures['db_end_to_end']:8.1f} s")
        print(
            f"  fan-out (send → last delivery row)   {figures['fanout']:8.1f} s  "
            f"(first rows after {figures['first_written']:.1f} s)"
        )
        print(
            f"  latency send → delivered             p50 {figures['p50']:.1f} s  p95 {figures['p95']:.1f} s  "
            f"(mean {figures['mean']:.1f} s, last {figures['last_attempt']:.1f} s)"
        )
        print(f"  deliveries by status                 {figures['by_status']}  attempts {figures['attempts']:,}")
        held = "a REPEATABLE READ snapshot held through the send" if args.hold_snapshot else "no snapshot held"
        print(f"  rate per {args.segment:,} deliveries (in the order they ended; {held})")
        for first, last, rate in segment_rates(figures["ends"], args.segment):
            print(f"    {first:>9,} to {last:>9,}                  {rate:8,.0f} deliveries/s")
        statements, transactions = claim_times(bench.logs)
        if statements:
            print(
                f"  claim statement (UPDATE … RETURNING)  p50 {percentile(statements, 0.5):.2f} ms  "
                f"p99 {percentile(statements, 0.99):.2f} ms  ({len(statements):,} claims)   [target: p99 <= 5 ms]"
            )
            print(
                f"  claim transaction (locks, count, UPDATE) p50 {percentile(transactions, 0.5):.2f} ms  "
                f"p99 {percentile(transactions, 0.99):.2f} ms"
            )
        with contextlib.suppress(OSError):
            print(f"  load average (1, 5, 15 min)          {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        per_worker = ", ".join(f"{sampler.peak_rss[w.pid] / mb:.0f}" for w in workers)
        per_worker_pss = ", ".join(f"{sampler.peak_pss[w.pid] / mb:.0f}" for w in workers)
        print(
            f"  workers' peak RSS (parent + horse)   {peak_rss / mb:8.0f} MB max per worker ({per_worker} MB); "
            f"all workers {sampler.peak_total_rss / mb:.0f} MB   [target: <= 250 MB]"
        )
        print(f"    PSS (shared pages counted once)     {peak_pss / mb:8.0f} MB max per worker ({per_worker_pss} MB)")
        print(f"    rq's scheduler process (apart)      {sampler.scheduler_peak_rss / mb:8.0f} MB")
        print(f"  bare loop (render+sign+POST, aiohttp, concurrency {concurrency}, no DB/queue)")
        print(
            f"                                       {bare_s:8.1f} s  {bare_rate:,.0f} requests/s  "
            f"({bare_ok:,}/{bare_count:,} ok)"
        )
        ratio = engine_rate / bare_rate if bare_rate else float("nan")
        print(f"  ratio engine / bare                  {ratio:8.2f}   [target: >= 0.75]")
        ok = delivered == n and not timed_out
        print(
            f"  result                               {'all delivered' if ok else 'NOT all delivered'} "
            f"({delivered:,}/{n:,})"
        )
        if args.profile:
            profile(webhook)
        return 0 if ok else 1
    finally:
        bench.teardown()


if __name__ == "__main__":
    sys.exit(main())
