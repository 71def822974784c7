#!/usr/bin/env python
"""Alert latency benchmark: an incident's alert while a large group send keeps every worker busy.

Through the real path (rq workers with their drains, the database, a receiver on 127.0.0.1, a WeCom-style
robot on 127.0.0.1 in this process): a group send of --n recipients starts; once it is under way, every
--every seconds a new webhook whose receiver answers 503 gets one form submission, with "alert after 1
failure", so each makes one incident and one "failing" alert. Latency = the submission accepted → the
robot has the alert. Printed with the target (5 s) and how far the send had got.

    python bench/alerts.py                    # PostgreSQL, 2 workers, N = 100,000, 10 incidents
    python bench/alerts.py --n 20000 --incidents 5
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.realtime import receiver, wait_for  # noqa: E402 - the path is set first
from bench.run import PYTHON, Bench, create_data, percentile, stop, wait_workers  # noqa: E402

TARGET_S = 5.0


class Robot:
    """A WeCom group robot stand-in: it answers errcode 0 and notes when each message arrived."""

    def __init__(self):
        self.arrivals: list[tuple[float, str]] = []
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                robot.arrivals.append((time.time(), body.decode("utf-8", "replace")))
                answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/cgi-bin/webhook/send?key=bench"

    def arrived(self, name: str) -> float | None:
        return next((at for at, body in list(self.arrivals) if name in body), None)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="customers in the group send (default 100000)")
    parser.add_argument("--delay-ms", type=int, default=50, help="the send's receiver answer delay (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="rq worker processes (default 2)")
    parser.add_argument("--incidents", type=int, default=10, help="incidents during the send (default 10)")
    parser.add_argument("--every", type=float, default=3.0, help="seconds between incidents (default 3)")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server")
    parser.add_argument("--redis-url", default=None, help="a Redis database to use (it is flushed)")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs (debugging)")
    return parser.parse_args()


def main():
    args = parse_args()
    bench = Bench(args)
    try:
        env = bench.start()
        from django.conf import settings

        from alerts.models import Channel
        from webhooks import services
        from webhooks.models import Attempt, Delivery, GroupSend, Webhook

        fast = receiver(bench, env, args.delay_ms)
        group, webhook = create_data(args.n, f"{fast}/hook")
        customer = group.entries.first().customer
        robot = Robot()
        Channel.objects.create(name="bench 值班群", kind=Channel.Kind.WECOM, url=robot.url)
        workers = [
            bench.spawn(
                f"worker{i}", [PYTHON, "manage.py", "rqworker", *settings.WORKER_QUEUES, "--with-scheduler"], env
            )
            for i in range(args.workers)
        ]
        wait_workers(args.workers, 60, workers)

        send = services.group_send_create(webhook=webhook, group=group)
        wait_for(lambda: Attempt.objects.filter(delivery__message__group_send=send).count() > 2000, 300)
        latencies, progress = [], []
        for index in range(args.incidents):
            name = f"failing {index:02d}"
            failing = Webhook.objects.create(
                name=name, url=f"{fast}/status/503", alert_after_failures=1, autopause=False, auto_retry=False
            )
            accepted = time.time()
            services.message_publish(event="form/submit", webhooks=[failing], customer=customer)
            arrived = wait_for(lambda n=name: robot.arrived(n), 120, interval=0.01)
            done = Delivery.objects.filter(message__group_send=send, status=Delivery.Status.SUCCEEDED).count()
            latencies.append((arrived - accepted) if arrived else float("inf"))
            progress.append(done)
            print(f"  incident {index + 1}: alert after {latencies[-1]:.2f} s, send at {done:,}", file=sys.stderr)
            time.sleep(args.every)
        still_sending = GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.SENDING
        if still_sending:
            services.group_send_cancel(send=send)
        for worker in workers:
            stop(worker, "worker")

        print()
        print(f"WebhookHub alert benchmark: N={args.n:,}  workers {args.workers}  receiver {args.delay_ms} ms")
        print(
            f"  failing alerts during the send ({len(latencies)})   p50 {percentile(latencies, 0.5):.2f} s  "
            f"max {max(latencies):.2f} s   [target: <= {TARGET_S:.0f} s]"
        )
        print(
            f"  the send had delivered {min(progress):,} to {max(progress):,} of {args.n:,} meanwhile "
            f"(still sending at the end: {still_sending})"
        )
    finally:
        bench.teardown()


if __name__ == "__main__":
    main()
