#!/usr/bin/env python
"""Realtime latency and fairness benchmark: the engine's lanes under bulk load.

Three measurements, each through the real path (the Open API view, the database, rq workers, a
receiver on 127.0.0.1), printed with their targets:

1. events:  loyalty events posted to POST /api/v1/events (Django's test client, in this process)
   every 0.5 s while a group send of --n recipients runs; latency = event accepted → its attempt
   answered, p50 and max.
2. storm:   a test send while --storm deliveries go to a receiver answering in --storm-delay-ms;
   latency = test send created → its attempt recorded.
3. fairness: two group sends of --fair-n recipients to two webhooks started together; each one's
   delivered count after half the combined time, as a ratio.

    python bench/realtime.py                 # PostgreSQL, 2 workers, N=100,000
    python bench/realtime.py --n 20000 --fair-n 5000
"""

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402 - the path is set first
    PYTHON,
    SECRET,
    Bench,
    create_data,
    free_port,
    parse_args,
    percentile,
    stop,
    wait_port,
    wait_workers,
)

# Django and the hub's modules are imported inside the functions that use them: they read the settings
# when imported, which Bench.setup_django() points at the bench's own database and Redis first.


def receiver(bench, env, delay_ms: int):
    port = free_port()
    argv = [PYTHON, "manage.py", "demo_receiver", "--port", str(port), "--delay-ms", str(delay_ms), "--quiet"]
    process = bench.spawn(f"receiver{port}", [*argv, "--secret", SECRET], env)
    wait_port(port, 30, process)
    return f"http://127.0.0.1:{port}"


def wait_for(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def events_during_send(group, webhook, base_url: str, count: int) -> tuple[list[float], float]:
    """Post `count` level-up events while the group send runs; their latencies in seconds."""
    from django.contrib.auth.models import Group as Role
    from django.contrib.auth.models import User
    from django.test import Client

    from api.services import api_key_create
    from webhookhub.roles import ADMINISTRATOR
    from webhooks import services
    from webhooks.models import Attempt, GroupSend, Webhook

    Webhook.objects.create(
        name="level up",
        url=f"{base_url}/level",
        trigger_type=Webhook.TriggerType.FIXED,
        event="loyalty/membership_level_up",
    )
    owner, _created = User.objects.get_or_create(username="bench")
    owner.groups.add(Role.objects.get(name=ADMINISTRATOR))  # a key works only while its owner's role grants it
    _key, raw = api_key_create(name="bench", user=owner)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", SERVER_NAME="127.0.0.1")
    send = services.group_send_create(webhook=webhook, group=group)
    wait_for(lambda: Attempt.objects.filter(delivery__message__group_send=send).count() > 2000, 120)
    accepted = {}
    for index in range(count):
        payload = {
            "event": "loyalty/membership_level_up",
            "membershipId": f"M{index:05d}",
            "oldLevelId": 1,
            "newLevelId": 2,
            "oldLevel": "银卡",
            "newLevel": "金卡",
        }
        response = client.post("/api/v1/events", data=json.dumps(payload), content_type="application/json")
        assert response.status_code == 202, response.content
        (message_id,) = response.json()["messageIds"]
        accepted[message_id] = time.time()
        time.sleep(0.5)
    latencies = []
    for message_id, at in accepted.items():
        attempt = wait_for(lambda m=message_id: Attempt.objects.filter(delivery__message_id=m).first(), 60)
        answered = attempt.started_at.timestamp() + attempt.duration_ms / 1000
        latencies.append(answered - at)
    still_sending = GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.SENDING
    if still_sending:
        services.group_send_cancel(send=send)
    return latencies, still_sending


def test_send_during_storm(storm_url: str, fast_url: str, storm: int) -> float:
    from customers.models import Customer, Group, GroupEntry
    from webhooks import services
    from webhooks.models import Attempt, GroupSend, Webhook

    slow = Webhook.objects.create(name="storm", url=f"{storm_url}/hook", auth_type="secret", secret_key=SECRET)
    fast = Webhook.objects.create(name="fast", url=f"{fast_url}/hook", auth_type="secret", secret_key=SECRET)
    group = Group.objects.create(name="storm")
    ids = Customer.objects.order_by("id").values_list("pk", flat=True)[:storm]
    GroupEntry.objects.bulk_create([GroupEntry(group=group, customer_id=pk) for pk in ids])
    send = services.group_send_create(webhook=slow, group=group)
    wait_for(lambda: Attempt.objects.filter(delivery__webhook=slow).exists() or None, 30)
    time.sleep(2)  # every worker busy with storm waves
    started = time.monotonic()
    delivery = services.message_test_send(webhook=fast, customer=Customer.objects.first())
    wait_for(lambda: Attempt.objects.filter(delivery=delivery).exists(), 60, interval=0.01)
    elapsed = time.monotonic() - started
    if GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.SENDING:
        services.group_send_cancel(send=send)
    return elapsed


def fairness(base_url: str, n: int) -> tuple[int, int]:
    from customers.models import Customer, Group, GroupEntry
    from webhooks import services
    from webhooks.models import Delivery, GroupSend, Webhook

    sends = []
    ids = list(Customer.objects.order_by("id").values_list("pk", flat=True)[:n])
    for name in ("fair-a", "fair-b"):
        group = Group.objects.create(name=name)
        GroupEntry.objects.bulk_create([GroupEntry(group=group, customer_id=pk) for pk in ids])
        webhook = Webhook.objects.create(
            name=name, url=f"{base_url}/{name}", auth_type="secret", secret_key=SECRET, max_concurrency=128
        )
        sends.append((webhook, group))
    created = [services.group_send_create(webhook=w, group=g) for w, g in sends]
    started = time.monotonic()

    def done(send):
        return Delivery.objects.filter(message__group_send=send, status=Delivery.Status.SUCCEEDED).count()

    # Sample at the half-way point of the pair: both started together, so both should be half done.
    wait_for(lambda: sum(done(s) for s in created) >= n, 600)
    counts = (done(created[0]), done(created[1]))
    wait_for(lambda: all(GroupSend.objects.get(pk=s.pk).status == GroupSend.Status.COMPLETED for s in created), 600)
    print(f"  fairness sampled after {time.monotonic() - started:.1f} s", file=sys.stderr)
    return counts


def main():
    args = parse_args()
    bench = Bench(args)
    try:
        env = bench.start()
        from django.conf import settings

        fast = receiver(bench, env, args.delay_ms)
        group, webhook = create_data(args.n, f"{fast}/hook")
        workers = [
            bench.spawn(
                f"worker{i}", [PYTHON, "manage.py", "rqworker", *settings.WORKER_QUEUES, "--with-scheduler"], env
            )
            for i in range(args.workers)
        ]
        wait_workers(args.workers, 60, workers)

        latencies, still_sending = events_during_send(group, webhook, fast, count=20)
        storm_url = receiver(bench, env, 10_000)
        storm_s = test_send_during_storm(storm_url, fast, 2500)
        fair = fairness(fast, min(args.n, 20_000))
        for worker in workers:
            stop(worker, "worker")

        print()
        print(f"WebhookHub realtime benchmark: N={args.n:,}  workers {args.workers}  receiver {args.delay_ms} ms")
        print(
            f"  events during a group send (20)      p50 {percentile(latencies, 0.5) * 1000:6.0f} ms  "
            f"max {max(latencies) * 1000:6.0f} ms  mean {statistics.fmean(latencies) * 1000:.0f} ms   "
            f"[target: p50 <= 200 ms, max <= 1 s]  (send still running: {still_sending})"
        )
        print(f"  test send during a 10 s storm        {storm_s * 1000:6.0f} ms   [target: <= 1 s]")
        ratio = min(fair) / max(fair) if max(fair) else float("nan")
        print(
            f"  two sends started together          {fair[0]:,} vs {fair[1]:,} delivered at half-way, "
            f"ratio {ratio:.2f}   [target: >= 0.80]"
        )
    finally:
        bench.teardown()


if __name__ == "__main__":
    main()
