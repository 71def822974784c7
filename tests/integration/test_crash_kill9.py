"""Crash proofs: kill -9 a worker, parent and work horse, in the middle of a group send."""

import time
from collections import Counter

import pytest

from webhooks import services
from webhooks.models import Attempt, Delivery, DrainLease, GroupSend

from ..factories import make_customers, make_group, make_webhook
from ..support.crash import crash_during_group_send
from ..support.receivers import ScriptedServer
from ..support.waiting import wait_until
from ..support.workers import WorkerHandle, descendants, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_kill_9_mid_send_loses_nothing(redis_conn):
    def kill(worker, server):
        family = [worker.process.pid, *descendants(worker.process.pid)]
        worker.kill9()
        return {"killed_processes": len(family)}

    figures = crash_during_group_send(recipients=2500, crash=kill)
    print(f"kill -9 proof: {figures}")
    assert figures["killed_processes"] >= 2  # the parent and at least its work horse
    assert figures["sending_at_crash"] > 0 or figures["waiting_at_crash"] > 0
    assert figures["unrecorded"] == 0
    # Sent again: at most what was in flight to the webhook when the worker died (its concurrency, 20).
    assert figures["duplicates"] <= 20


def test_kill_9_of_one_of_three_workers_takes_its_claims_back_once_within_seconds(redis_conn):
    """Default lease and drain timeout: the claims of the killed drain (requests in flight) come back within
    seconds, each with exactly one "worker lost" attempt, and every history matches its rows."""
    with ScriptedServer(delay=1.5) as server:
        group = make_group(make_customers(400))
        webhook = make_webhook(server.url(), max_concurrency=60)
        env = {"WEBHOOK_WAVE_SIZE": "20", "WEBHOOK_RETRY_DELAYS": "1,1,1", "LANGUAGE_CODE": "en"}
        workers = [WorkerHandle(start_worker(burst=False, scheduler=(n == 0), **env)) for n in range(3)]
        try:
            send = services.group_send_create(webhook=webhook, group=group)

            def holder():
                # The drain holding the most requests in flight, and its work horse's pid.
                leases = dict(DrainLease.objects.values_list("token", "pid"))
                held = Counter(
                    Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_by__in=leases).values_list(
                        "claimed_by", flat=True
                    )
                )
                if not held:
                    return None
                token = held.most_common(1)[0][0]
                return token, leases[token]

            found = wait_until(holder, timeout=60, interval=0.05, message="a drain with requests in flight")
            token, pid = found
            victim = next(w for w in workers if pid in (w.process.pid, *descendants(w.process.pid)))
            victim.kill9()
            killed_at = time.monotonic()
            held = set(
                Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_by=token).values_list("id", flat=True)
            )
            # Bounded by the drain timeout (8 s) and the other drains' upkeep (1 s), not the 60 s lease.
            wait_until(
                lambda: Attempt.objects.filter(delivery_id__in=held, error_class="WorkerLost").count() >= len(held),
                timeout=30,
                message="the killed drain's claims taken back",
            )
            taken_back = time.monotonic() - killed_at
            wait_until(
                lambda: GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.COMPLETED,
                timeout=120,
                message="the send completed",
            )
        finally:
            logs = [w.stop() for w in workers]
        hits = server.posts()
    print(f"kill -9 of 1 of 3: {len(held)} claims held, taken back {taken_back:.1f} s after the kill")
    assert held, "the killed drain held requests in flight"
    lost = Counter(Attempt.objects.filter(error_class="WorkerLost").values_list("delivery_id", flat=True))
    assert set(lost) == held, logs[0][-2000:]
    assert set(lost.values()) == {1}  # exactly one "worker lost" attempt each
    rows = Counter(Attempt.objects.values_list("delivery_id", flat=True))
    counts = dict(Delivery.objects.values_list("id", "attempt_count"))
    assert all(rows[delivery_id] == count for delivery_id, count in counts.items())
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert {hit.delivery_id for hit in hits} == set(counts)  # nothing lost
