#!/usr/bin/env python
"""Benchmark of two engine faults through real processes; prints its figures.

    .venv/bin/python bench/faults.py                      # 10,000 on a paused webhook; kill -9 during 20,000
    .venv/bin/python bench/faults.py --paused-n 2000 --kill-n 5000

Its own PostgreSQL database and redis-server (as bench/run.py), a receiver answering after --delay-ms,
and --workers `manage.py hubworker` processes with the default engine settings.

1. Paused: a group send of --paused-n to a paused webhook. Once its fan-out is written and the workers
   are idle, for --watch seconds: the drain jobs run and the CPU the workers use (parents, work horses
   and rq's scheduler fork, from /proc). Then the webhook is resumed: how long until every waiting
   delivery succeeded, and that each got one attempt.
2. kill -9: a group send of --kill-n to another webhook. When it is under way, the drain holding the
   most requests in flight loses its worker (SIGKILL to the worker, its work horse and its scheduler
   fork). How long until those claims are taken back ("worker lost"), until
   they are sent again, and whether each got exactly one "worker lost" attempt.
See bench/README.md.
"""

import argparse
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.realtime import receiver, wait_for  # noqa: E402 - the path is set first
from bench.run import PYTHON, Bench, _children, create_data, stop, wait_workers  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paused-n", type=int, default=10_000, help="deliveries waiting on the paused webhook")
    parser.add_argument("--watch", type=float, default=30, help="seconds the idle workers are watched (default 30)")
    parser.add_argument("--kill-n", type=int, default=20_000, help="recipients of the send a worker dies in")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--delay-ms", type=int, default=50, help="receiver's answer delay (default 50)")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs (debugging)")
    args = parser.parse_args()
    args.db, args.redis_url = "postgres", ""
    return args


def _family(pid: int) -> list[int]:
    """The process and every descendant (work horses, rq's scheduler fork)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children(current))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """CPU used so far by these processes, their live descendants and the children they reaped."""
    total = 0
    for pid in pids:
        for member in _family(pid):
            try:
                with open(f"/proc/{member}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime, stime; cutime, cstime (reaped children: the work horses that ended)
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / TICKS


def drain_jobs() -> set[str]:
    """Drain jobs queued, running or finished (rq keeps finished ones for a while), by id."""
    import django_rq
    from rq.registry import FinishedJobRegistry, StartedJobRegistry

    from webhooks.engine import doorbell

    jobs: set[str] = set()
    for name in (doorbell.REALTIME_QUEUE, doorbell.BULK_QUEUE):
        queue = django_rq.get_queue(name)
        jobs |= set(queue.job_ids)
        for registry in (FinishedJobRegistry(queue=queue), StartedJobRegistry(queue=queue)):
            jobs |= set(registry.get_job_ids())
    return jobs


def paused(args, group, webhook, workers) -> bool:
    from webhooks import services
    from webhooks.health.services import webhook_pause, webhook_resume
    from webhooks.models import Attempt, Delivery, GroupSend

    webhook_pause(webhook=webhook, reason="bench")
    send = services.group_send_create(webhook=webhook, group=group)
    if not wait_for(lambda: GroupSend.objects.get(pk=send.pk).fanout_done, timeout=300, interval=0.5):
        print("  the fan-out was not written within 300 s", file=sys.stderr)
        return False
    time.sleep(5)  # the drains that wrote the fan-out end
    waiting = Delivery.objects.filter(message_id=send.message.pk, status=Delivery.Status.PENDING).count()
    jobs_before, cpu_before, clock = drain_jobs(), cpu_seconds([w.pid for w in workers]), time.monotonic()
    time.sleep(args.watch)
    elapsed = time.monotonic() - clock
    cpu = cpu_seconds([w.pid for w in workers]) - cpu_before
    jobs = drain_jobs() - jobs_before
    resumed_at = time.monotonic()
    webhook_resume(webhook=webhook)
    done = wait_for(
        lambda: GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.COMPLETED, timeout=600, interval=0.5
    )
    resumed_s = time.monotonic() - resumed_at
    attempts = Counter(
        Attempt.objects.filter(delivery__message_id=send.message.pk).values_list("delivery_id", flat=True)
    )
    succeeded = Delivery.objects.filter(message_id=send.message.pk, status=Delivery.Status.SUCCEEDED).count()
    per_worker = 100 * cpu / elapsed / len(workers)
    print(f"  paused webhook, {waiting:,} deliveries waiting, {len(workers)} idle workers watched {elapsed:.0f} s")
    print(f"    drain jobs run                       {len(jobs):8d}   [target: 0]")
    print(f"    workers' CPU                         {per_worker:8.1f} % of a core per worker   [target: < 5 %]")
    print(
        f"    after resume: all succeeded in       {resumed_s:8.1f} s  ({succeeded:,}/{waiting:,} succeeded, "
        f"{sum(attempts.values()):,} attempts, at most {max(attempts.values(), default=0)} per delivery)"
    )
    return bool(done) and not jobs and succeeded == waiting and set(attempts.values()) == {1}


def killed(args, group, webhook, workers) -> bool:
    from webhooks import services
    from webhooks.models import Attempt, Delivery, DrainLease, GroupSend

    send = services.group_send_create(webhook=webhook, group=group)
    final = Delivery.objects.filter(message_id=send.message.pk, status__in=Delivery.FINAL_STATUSES)

    def holder():
        # Once the send is under way: the drain with the most requests in flight, and its worker.
        if final.count() < min(2000, args.kill_n // 4):
            return None
        leases = dict(DrainLease.objects.values_list("token", "pid"))
        held = Counter(
            Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_by__in=leases).values_list(
                "claimed_by", flat=True
            )
        )
        if not held:
            return None
        token = held.most_common(1)[0][0]
        return next(((token, w) for w in workers if leases[token] in _family(w.pid)), None)

    found = wait_for(holder, timeout=300, interval=0.05)
    if not found:
        print("  no drain with requests in flight was found", file=sys.stderr)
        return False
    token, victim = found
    # Each process of the worker's family: rq's work horse runs in a process group of its own.
    for pid in _family(victim.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    victim.wait(10)
    held = set(Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_by=token).values_list("id", flat=True))
    lost = Attempt.objects.filter(delivery_id__in=held, error_class="WorkerLost")
    taken = wait_for(lambda: lost.count() >= len(held), timeout=120, interval=0.05)
    taken_s = time.monotonic() - killed_at
    resent = wait_for(
        lambda: Delivery.objects.filter(id__in=held, status__in=Delivery.FINAL_STATUSES).count() == len(held),
        timeout=180,
        interval=0.05,
    )
    resent_s = time.monotonic() - killed_at
    done = wait_for(
        lambda: GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.COMPLETED, timeout=600, interval=0.5
    )
    per_delivery = Counter(lost.values_list("delivery_id", flat=True))
    rows = Counter(Attempt.objects.filter(delivery__message_id=send.message.pk).values_list("delivery_id", flat=True))
    counts = dict(Delivery.objects.filter(message_id=send.message.pk).values_list("id", "attempt_count"))
    histories_match = all(rows[pk] == count for pk, count in counts.items())
    succeeded = Delivery.objects.filter(message_id=send.message.pk, status=Delivery.Status.SUCCEEDED).count()
    print(
        f"  kill -9 of 1 of {len(workers)} workers during a send of {args.kill_n:,} (default lease and drain timeout)"
    )
    print(f"    requests in flight in its drain      {len(held):8d}")
    print(
        f'    taken back ("worker lost") after     {taken_s:8.1f} s   [target: <= 15 s]'
        if taken
        else "    NOT taken back"
    )
    print(f"    all sent again after                 {resent_s:8.1f} s" if resent else "    NOT all sent again")
    print(
        f'    "worker lost" attempts per delivery  {sorted(set(per_delivery.values()))}   [target: [1]]; '
        f"attempt_count = attempt rows for every delivery: {histories_match}"
    )
    print(f"    send completed: {bool(done)}, {succeeded:,}/{len(counts):,} succeeded")
    return bool(taken and resent and done) and set(per_delivery.values()) == {1} and histories_match


def subgroup(group, webhook, n: int):
    """A group of the first n customers of `group`, and a second webhook like `webhook` (create_data makes
    customers with fixed mobiles, which are unique: it runs once)."""
    from customers.models import Group, GroupEntry

    part = Group.objects.create(name=f"bench {n} of {group.name}")
    ids = GroupEntry.objects.filter(group=group).order_by("customer_id").values_list("customer_id", flat=True)[:n]
    GroupEntry.objects.bulk_create([GroupEntry(group=part, customer_id=pk) for pk in ids], batch_size=5000)
    webhook.pk, webhook.name = None, f"{webhook.name} (paused)"
    webhook.save()
    return part, webhook


def main():
    args = parse_args()
    bench = Bench(args)
    try:
        env = bench.start()
        url = f"{receiver(bench, env, args.delay_ms)}/hook"
        kill_group, kill_webhook = create_data(max(args.kill_n, args.paused_n), url)
        paused_group, paused_webhook = subgroup(kill_group, kill_webhook, args.paused_n)
        workers = [
            bench.spawn(f"worker{i}", [PYTHON, "manage.py", "hubworker", "--name", f"{bench.tag}-w{i}"], env)
            for i in range(args.workers)
        ]
        wait_workers(args.workers, 60, workers)
        print(f"WebhookHub fault benchmark: {args.workers} workers, receiver delay {args.delay_ms} ms, PostgreSQL")
        ok = paused(args, paused_group, paused_webhook, workers)
        ok = killed(args, kill_group, kill_webhook, workers) and ok
        for worker in workers:
            stop(worker, "worker")
        print(f"  result                               {'all targets met' if ok else 'NOT all targets met'}")
        return 0 if ok else 1
    finally:
        bench.teardown()


if __name__ == "__main__":
    sys.exit(main())
