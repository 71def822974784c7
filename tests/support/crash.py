"""The crash proofs' common part: a group send interrupted half-way, then checked for loss."""

import time
from collections import Counter

from .receivers import Hit, ScriptedServer
from .waiting import wait_until
from .workers import WorkerHandle, start_worker

CRASH_ENV = {
    # Short lease and tick so that orphaned work comes back within seconds.
    "WEBHOOK_CLAIM_LEASE": "6",
    "WEBHOOK_TICK_INTERVAL": "1",
    "WEBHOOK_WAVE_SIZE": "20",
    "WEBHOOK_MAX_CONCURRENCY": "20",
    "WEBHOOK_FANOUT_CHUNK": "500",
}


def crash_during_group_send(
    *, recipients: int, crash, worker_env: dict | None = None, deadline: float = 75, restart: bool = True
):
    """Run a group send, call crash(worker, server) half-way, then (restart) start a fresh worker or
    (not restart) leave the same worker to recover through its tick, and check that
    nothing was lost. Returns figures for the report."""
    from tests.factories import make_customers, make_group, make_webhook
    from webhooks import services
    from webhooks.models import Attempt, Delivery, GroupSend

    env = {**CRASH_ENV, **(worker_env or {})}
    started = time.monotonic()
    with ScriptedServer(delay=0.05) as server:
        customers = make_customers(recipients)
        group = make_group(customers)
        webhook = make_webhook(server.url())
        worker = WorkerHandle(start_worker(burst=False, scheduler=True, **env))
        try:
            send = services.group_send_create(webhook=webhook, group=group)
            wait_until(
                lambda: len(server.posts()) >= recipients // 4,
                timeout=30,
                interval=0.01,
                message="a quarter of the send delivered",
            )
            # Strike while a batch is in flight: some deliveries claimed, many still waiting.
            wait_until(
                lambda: Delivery.objects.filter(status=Delivery.Status.SENDING).exists(),
                timeout=10,
                interval=0.005,
                message="a batch in flight",
            )
            crashed_at = time.monotonic()
            figures = {"hits_before_crash": len(server.posts()), **(crash(worker, server) or {})}
            figures["sending_at_crash"] = Delivery.objects.filter(status=Delivery.Status.SENDING).count()
            figures["waiting_at_crash"] = Delivery.objects.filter(status__in=Delivery.WAITING_STATUSES).count()
        except BaseException:
            worker.stop()
            raise
        if restart:
            worker.stop()
            fresh = WorkerHandle(start_worker(burst=False, scheduler=True, **env))
        else:
            fresh = worker
        try:
            remaining = deadline - (time.monotonic() - started)
            wait_until(
                lambda: GroupSend.objects.get(pk=send.pk).status == GroupSend.Status.COMPLETED,
                timeout=remaining,
                interval=0.2,
                message="the send completed after the crash",
            )
        except AssertionError:
            print(fresh.stop()[-4000:])
            raise
        finally:
            fresh.stop()
        figures["recovery_seconds"] = round(time.monotonic() - crashed_at, 1)
        hits = server.posts()

    deliveries = dict(Delivery.objects.filter(message__group_send=send).values_list("id", "status"))
    assert len(deliveries) == recipients, "one delivery per recipient, no more, no less"
    assert set(deliveries.values()) == {Delivery.Status.SUCCEEDED}, "every delivery reached its final state"
    seen: dict[str, list[Hit]] = {}
    for hit in hits:
        seen.setdefault(hit.delivery_id, []).append(hit)
    assert set(seen) == set(deliveries), "the receiver saw every delivery id, and no other"
    duplicates = {delivery_id: copies for delivery_id, copies in seen.items() if len(copies) > 1}
    for copies in duplicates.values():
        # A duplicate is the same message again: same idempotency key, same body, same signature.
        assert len({(c.delivery_id, c.body, c.headers.get("X-Clab-Hmac-Signature")) for c in copies}) == 1
    # Every request the receiver saw has an attempt row (a lost one is recorded as "worker lost").
    attempts = Counter(Attempt.objects.filter(delivery__message__group_send=send).values_list("delivery_id", flat=True))
    figures["unrecorded"] = sum(max(0, len(copies) - attempts[delivery_id]) for delivery_id, copies in seen.items())
    figures.update(
        recipients=recipients,
        hits=len(hits),
        duplicates=sum(len(c) - 1 for c in duplicates.values()),
        total_seconds=round(time.monotonic() - started, 1),
    )
    return figures
