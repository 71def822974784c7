"""The drain: one rq job that sends what is due, wave after wave, until nothing is due or its time is up.

trigger → rows (services) → claim (claim.py) → HTTP (http.py) → attempts (record.py), here in a loop:

- Realtime first. Every turn of the loop looks for due realtime deliveries (events, forms, flows,
  test sends, redeliveries) and sends them at once, whatever bulk work is in flight: the worker's
  bulk waves never take its last slot from realtime work.
- Bulk round-robin: group sends and bulk recovers (per webhook) take turns, one wave each, so a second
  send is not held behind the first; each wave is bounded by its webhook's free slots (its concurrency
  across all workers).
- Bounded: every request runs under its webhook's deadline, each wave is recorded as soon as it ends,
  and after its budget the drain claims nothing new, so the job ends within its rq timeout.
- Upkeep on the way: due scheduled group sends start, fan-outs are written chunk by chunk, the
  claims of this drain are renewed, expired claims of dead drains are taken back, finished sends
  complete, bulk recovers move their next batch back to due and complete. So a worker busy with long
  waves still does the recovery.

The database calls run on one thread of their own (Django's ORM is synchronous); the HTTP requests
share one aiohttp session on the event loop, so connections are reused across waves.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections

from webhookhub import tracing
from webhooks.content.failures import Code
from webhooks.engine import claim, doorbell, due, record
from webhooks.engine.http import AttemptResult, Endpoint, Outgoing, attempt, new_session
from webhooks.engine.oauth import TokenSource
from webhooks.models import Webhook
from webhooks.secrets import SecretUndecryptable
from webhooks.services import group_sends, recoveries

logger = logging.getLogger(__name__)

# How often the drain looks for realtime work while bulk waves are in flight.
REALTIME_POLL = 0.05
UPKEEP_INTERVAL = 1.0
DB_TRIES = 3


class Drain:
    def __init__(self, *, budget: float):
        self.token = uuid.uuid4().hex
        self.budget = budget
        self.started = time.monotonic()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="drain-db")
        # The fan-out writes thousands of rows a step: on a thread (and connection) of its own, so the
        # claims and records of the waves never wait behind it.
        self.fanout_executor = ThreadPoolExecutor(1, thread_name_prefix="drain-fanout")
        self.waves: set[asyncio.Task] = set()
        self.in_flight = 0
        # The ids of the deliveries this drain holds in flight: the heartbeat renews exactly these.
        self.held: set[str] = set()
        self.endpoints: dict[int, tuple] = {}
        # The bulk lanes, in turn: (message id, None, webhook id) of a group send being sent,
        # (None, recovery id, webhook id) of a bulk recover running for that webhook.
        self.lanes: list[tuple[int | None, int | None, int]] = []
        self.turn = 0
        self.fanout: asyncio.Task | None = None
        self.counts = {"waves": 0, "attempts": 0}
        self.wake = asyncio.Event()

    async def db(self, func, *, executor: ThreadPoolExecutor | None = None, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor or self.executor, partial(_db_call, func, kwargs))

    @property
    def over_budget(self) -> bool:
        return time.monotonic() - self.started > self.budget

    # --- waves ------------------------------------------------------------------------------------

    def _endpoint(self, webhook_id: int) -> Endpoint | None:
        # Secrets are decrypted once per drain and webhook; an edited webhook (updated_at) is read again.
        webhook = Webhook.objects.filter(pk=webhook_id).first()
        if webhook is None:
            return None
        cached = self.endpoints.get(webhook_id)
        if cached and cached[0] == webhook.updated_at:
            return cached[1]
        endpoint = Endpoint.from_webhook(webhook)
        self.endpoints[webhook_id] = (webhook.updated_at, endpoint)
        return endpoint

    async def _claim(self, *, webhook_id: int, priorities, limit: int, message_id=None, recovery_id=None) -> bool:
        claimed = await self.db(
            claim.deliveries_claim,
            webhook_id=webhook_id,
            priorities=priorities,
            limit=limit,
            token=self.token,
            message_id=message_id,
            recovery_id=recovery_id,
        )
        if not claimed:
            return False
        try:
            endpoint = await self.db(self._endpoint, webhook_id=webhook_id)
        except SecretUndecryptable as exc:
            # Nothing can be signed or authenticated: each delivery fails with the reason, no request
            # is made, and the other webhooks go on.
            results = [
                _unsent(d, error_class="SecretUndecryptable", reason=str(exc), code=Code.SECRET_UNDECRYPTABLE)
                for d in claimed
            ]
            await self.db(record.wave_record, claimed=claimed, results=results, token=self.token)
            return True
        if endpoint is None:
            return True  # the webhook was deleted a moment ago, and its deliveries with it
        self.in_flight += len(claimed)
        self.held.update(d.id for d in claimed)
        traces = (
            await self.db(tracing.message_contexts, message_ids=[d.message_id for d in claimed])
            if tracing.enabled()
            else {}
        )
        task = asyncio.create_task(self._wave(endpoint, claimed, traces))
        self.waves.add(task)
        task.add_done_callback(self._wave_done)
        return True

    def _wave_done(self, task: asyncio.Task) -> None:
        self.waves.discard(task)
        self.wake.set()

    async def _wave(self, endpoint: Endpoint, claimed, traces: dict) -> None:
        try:
            results = await asyncio.gather(
                *(
                    attempt(
                        self.session,
                        endpoint,
                        Outgoing(d.id, d.event, d.body, traces.get(d.message_id, ""), d.claimed_at),
                        tokens=self.tokens,
                    )
                    for d in claimed
                )
            )
            await self.db(record.wave_record, claimed=claimed, results=results, token=self.token)
            self.counts["waves"] += 1
            self.counts["attempts"] += len(results)
        except Exception:
            # Unrecorded, the deliveries stay claimed by this drain: the lease takes them back.
            logger.exception("a wave of %s deliveries could not be recorded", len(claimed))
        finally:
            self.in_flight -= len(claimed)
            self.held.difference_update(d.id for d in claimed)

    async def _realtime(self) -> bool:
        """Other apps' due work (flow steps), fresh realtime work of every webhook, then realtime retries."""
        claimed = bool(await self.db(_due_work_run))
        # (priority, webhook) pairs in claim order: fresh work of every webhook before any retry.
        for priority, webhook_id in await self.db(claim.realtime_due):
            claimed |= await self._claim(
                webhook_id=webhook_id, priorities=(priority,), limit=settings.WEBHOOK_WAVE_SIZE
            )
        return claimed

    async def _bulk(self) -> bool:
        """Waves of the active group sends and bulk recovers, in turn, while this worker has room for them."""
        claimed = False
        for _ in range(len(self.lanes)):
            room = settings.WEBHOOK_WORKER_CONCURRENCY - self.in_flight
            if room <= 0 or self.over_budget:
                break
            message_id, recovery_id, webhook_id = self.lanes[self.turn % len(self.lanes)]
            self.turn += 1
            claimed |= await self._claim(
                webhook_id=webhook_id,
                message_id=message_id,
                recovery_id=recovery_id,
                priorities=claim.BULK,
                limit=min(room, settings.WEBHOOK_WAVE_SIZE),
            )
        return claimed

    # --- upkeep -----------------------------------------------------------------------------------

    def _upkeep(self) -> dict:
        doorbell.beacon()
        group_sends.group_sends_start_due()
        claim.claims_renew(token=self.token, ids=list(self.held))
        taken_back = record.leases_expired_record()
        group_sends.group_sends_complete()
        recoveries.recoveries_advance()
        recoveries.recoveries_settle()
        recoveries.recoveries_complete()
        lanes: list[tuple[int | None, int | None, int]] = [
            (message_id, None, webhook_id) for _send_id, message_id, webhook_id in claim.sends_active()
        ]
        lanes += [(None, recovery_id, webhook_id) for recovery_id, webhook_id in recoveries.recoveries_active()]
        return {"lanes": lanes, "taken_back": taken_back}

    async def _fanout(self, send_id: int) -> None:
        try:
            while await self.db(group_sends.group_send_fanout_step, executor=self.fanout_executor, send_id=send_id):
                self.wake.set()
        except Exception:
            logger.exception("fan-out of group send %s failed; another drain takes it over after the lease", send_id)

    async def _maybe_fanout(self) -> None:
        if self.fanout is not None and not self.fanout.done():
            return
        if self.over_budget:
            return
        send_id = await self.db(group_sends.group_send_fanout_take)
        if send_id is not None:
            self.fanout = asyncio.create_task(self._fanout(send_id))

    # --- the loop ---------------------------------------------------------------------------------

    async def run(self) -> dict:
        try:
            self.tokens = TokenSource(doorbell.token_cache())
        except Exception:  # noqa: BLE001 - without Redis, tokens are cached per drain
            self.tokens = TokenSource(None)
        async with new_session(limit=settings.WEBHOOK_WORKER_CONCURRENCY * 2) as self.session:
            last_upkeep = 0.0
            idle_turns = 0
            while True:
                if time.monotonic() - last_upkeep >= UPKEEP_INTERVAL:
                    state = await self.db(self._upkeep)
                    self.lanes = state["lanes"]
                    last_upkeep = time.monotonic()
                    await self._maybe_fanout()
                busy = await self._realtime()
                if not self.over_budget:
                    busy |= await self._bulk()
                fanning = self.fanout is not None and not self.fanout.done()
                if not busy and not self.waves and not fanning:
                    # Nothing claimed, nothing in flight: one more look after the upkeep, then done.
                    idle_turns += 1
                    if idle_turns > 1 or self.over_budget:
                        break
                    last_upkeep = 0.0
                    continue
                idle_turns = 0
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), REALTIME_POLL)
            if self.fanout is not None:
                await self.fanout
        return self.counts


def _due_work_run() -> int:
    # A flow step publishes its message in its own transaction: the realtime claim below sends it.
    return sum(work.run() for work in due.due_work())


def _unsent(delivery, *, error_class: str, reason: str, code: str) -> AttemptResult:
    return AttemptResult(
        delivery_id=delivery.id,
        started_at=datetime.now(UTC),
        duration_ms=0,
        url="",
        request_headers={},
        error_class=error_class,
        error_message=reason,
        error_code=code,
    )


def _db_call(func, kwargs):
    """An ORM call on the drain's database thread; a dropped connection is opened again and the call retried.

    Claims and upkeep are single transactions: one that failed rolled back and is safe to repeat.
    """
    for attempt_no in range(1, DB_TRIES + 1):
        try:
            return func(**kwargs)
        except (OperationalError, InterfaceError) as exc:
            if attempt_no == DB_TRIES:
                raise
            logger.warning("database call %s failed (%s); retrying on a fresh connection", func.__name__, exc)
            connection.close()
            time.sleep(0.2 * attempt_no)
    raise AssertionError("unreachable")


def drain_run(*, budget: float | None = None) -> dict:
    """Run a drain to its end; what is still due after it rings the doorbell again."""
    drain = Drain(budget=settings.WEBHOOK_DRAIN_BUDGET if budget is None else budget)
    try:
        counts = asyncio.run(drain.run())
    finally:
        due.due_work_settle()
        for executor in (drain.executor, drain.fanout_executor):
            executor.submit(connections.close_all).result()
            executor.shutdown()
    doorbell.after_drain()
    return counts
