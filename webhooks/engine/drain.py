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
- Upkeep on the way: every registered due work (webhooks/engine/due.py: scheduled group sends, fan-outs,
  claims of dead drains taken back, finished sends, bulk recovers, other apps' work) runs when due.
  So a worker busy with long waves still does the recovery.
- Alive: a heartbeat thread with its own database connection renews the drain's lease row every
  second, so a record waiting on a locked table never makes a live drain look dead.

The database calls run on threads of their own (Django's ORM is synchronous; each thread has its
connection): claims and upkeep on one, the waves' records on another, long work (fan-out, prune) on a
third. Each is written at its call site as `await self._db(lambda: module.function(...))`; the HTTP
requests share one aiohttp session on the event loop, so connections are reused across waves.
"""

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.utils import timezone

from webhookhub import tracing
from webhooks.content.failures import Code
from webhooks.engine import claim, doorbell, due, record
from webhooks.engine.http import AttemptResult, Endpoint, Outgoing, attempt, new_session
from webhooks.engine.oauth import TokenCache, TokenSource
from webhooks.models import Webhook
from webhooks.secrets import SecretUndecryptable
from webhooks.services.recoveries import recoveries_active

logger = logging.getLogger(__name__)

# How often the drain looks for realtime work while bulk waves are in flight.
REALTIME_POLL = 0.05
UPKEEP_INTERVAL = 1.0
HEARTBEAT_INTERVAL = 1.0
CURSOR_RESET = 10.0
T = TypeVar("T")


class Heartbeat:
    """The drain's heartbeat: its lease row renewed every second from a thread of its own.

    Django gives each thread its own database connection, so a record waiting on a locked delivery
    table, or a slow claim, holds up neither this thread nor its connection; a failed renewal is tried
    again on a fresh connection at the next beat.
    """

    def __init__(self, token: str):
        self.token = token
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="drain-heartbeat", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(HEARTBEAT_INTERVAL):
                try:
                    claim.drain_lease_renew(token=self.token)
                except DatabaseError as exc:
                    logger.warning("the drain's heartbeat failed (%s); trying again on a fresh connection", exc)
                    connection.close()
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)


class Drain:
    def __init__(self, *, budget: float):
        self.token = uuid.uuid4().hex
        self.budget = budget
        self.started = time.monotonic()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="drain-db")
        # A fan-out step writes thousands of rows, a prune slice deletes them for seconds: on a thread (and
        # connection) of their own, so the claims and records of the waves never wait behind them.
        self.long_work_executor = ThreadPoolExecutor(1, thread_name_prefix="drain-long-work")
        # The waves' records on a thread (and connection) of their own: the next claim does not queue behind
        # the record of the wave that just ended (a wave's slots wait for both), and they overlap on the
        # server as those of two workers do.
        self.record_executor = ThreadPoolExecutor(1, thread_name_prefix="drain-record")
        self.waves: set[asyncio.Task] = set()
        self.in_flight = 0
        # Waves whose record failed: their claims stay this drain's, so its lease row stays (and
        # expires) for a take-back to find them.
        self.unrecorded = 0
        self.endpoints: dict[int, tuple] = {}
        # The bulk lanes, in turn: (message id, None, webhook id) of a group send being sent,
        # (None, recovery id, webhook id) of a bulk recover running for that webhook.
        self.lanes: list[tuple[int | None, int | None, int]] = []
        self.turn = 0
        # The registered long work (a fan-out step, a prune slice) running on the second thread, if any.
        self.background: asyncio.Task | None = None
        self.last_run: dict[str, float] = {}
        # Per lane (webhook, message, recovery) and priority: where its next claim starts (claim.cursor_after).
        self.cursors: dict[tuple, dict[int, datetime]] = {}
        self.cursors_since = time.monotonic()
        self.heartbeat = Heartbeat(self.token)
        self.counts = {"waves": 0, "attempts": 0, "claimed": 0}
        self.realtime_at = 0.0
        # What this drain holds in flight per webhook, and how many drains are alive: its bulk share.
        self.held: dict[int, int] = {}
        self.drains = 1
        self.wake = asyncio.Event()

    async def _db(self, call: Callable[[], T], *, executor: ThreadPoolExecutor | None = None, retry: bool = True) -> T:
        """Run `call` (a database call written out at the call site) on the drain's database thread,
        retried on a fresh connection after a dropped one (record.db_retry) unless it retries its parts."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor or self.executor, lambda: record.db_retry(call) if retry else call())

    @property
    def over_budget(self) -> bool:
        return time.monotonic() - self.started > self.budget

    # --- waves ------------------------------------------------------------------------------------

    def _endpoint(self, webhook_id: int, /) -> Endpoint | None:
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

    async def _claim(
        self, *, webhook_id: int, priorities, limit: int, message_id=None, recovery_id=None, bulk: bool = False
    ) -> bool:
        lane = (webhook_id, message_id, recovery_id)
        share = (self.drains, self.held.get(webhook_id, 0)) if bulk else None
        claimed = await self._db(
            lambda: claim.deliveries_claim(
                webhook_id=webhook_id,
                priorities=priorities,
                limit=limit,
                token=self.token,
                message_id=message_id,
                recovery_id=recovery_id,
                after=self.cursors.get(lane),
                share=share,
            )
        )
        if not claimed:
            return False
        self.held[webhook_id] = self.held.get(webhook_id, 0) + len(claimed)
        self.cursors[lane] = {**self.cursors.get(lane, {}), **claim.cursor_after(claimed, exact=message_id is not None)}
        self.counts["claimed"] += len(claimed)
        try:
            endpoint = await self._db(lambda: self._endpoint(webhook_id))
        except SecretUndecryptable as exc:
            # Nothing can be signed or authenticated: each delivery fails with the reason, no request
            # is made, and the other webhooks go on.
            results = [
                _unsent(d, error_class="SecretUndecryptable", reason=str(exc), code=Code.SECRET_UNDECRYPTABLE)
                for d in claimed
            ]
            await self._db(
                lambda: record.wave_record(claimed=claimed, results=results, token=self.token),
                executor=self.record_executor,
            )
            self.held[webhook_id] -= len(claimed)
            return True
        if endpoint is None:
            self.held[webhook_id] -= len(claimed)
            return True  # the webhook was deleted a moment ago, and its deliveries with it
        self.in_flight += len(claimed)
        traces = (
            await self._db(lambda: tracing.message_contexts(message_ids=[d.message_id for d in claimed]))
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
            await self._db(
                lambda: record.wave_record(claimed=claimed, results=results, token=self.token),
                executor=self.record_executor,
            )
            self.counts["waves"] += 1
            self.counts["attempts"] += len(results)
        except Exception:
            # Unrecorded, the deliveries stay claimed by this drain: the lease takes them back.
            self.unrecorded += 1
            logger.exception("a wave of %s deliveries could not be recorded", len(claimed))
        finally:
            self.in_flight -= len(claimed)
            self.held[claimed[0].webhook_id] -= len(claimed)

    async def _realtime(self) -> bool:
        """Other apps' due work (flow steps), fresh realtime work of every webhook, then realtime retries."""
        claimed = bool(await self._db(_each_turn_work_run, retry=False))
        # (priority, webhook) pairs in claim order: fresh work of every webhook before any retry.
        self._cursors_expire()
        after = self._realtime_cursor()
        for priority, webhook_id in await self._db(lambda: claim.realtime_due(after=after)):
            claimed |= await self._claim(
                webhook_id=webhook_id, priorities=(priority,), limit=settings.WEBHOOK_WAVE_SIZE
            )
        return claimed

    def _cursors_expire(self) -> None:
        # Now and then the realtime and recovery lanes are looked at from their start again: a row whose
        # due time lies before such a cursor (a late commit) waits at most this long. A group send's
        # cursor is exact (no row can appear behind it, see claim.cursor_after) and lives as long as the
        # drain: starting its range again walks an entry per row claimed since the oldest open
        # snapshot (0.1 to 0.5 s a claim late in a 1,000,000 send with one held, under the webhook's lock).
        if time.monotonic() - self.cursors_since >= CURSOR_RESET:
            self.cursors = {lane: at for lane, at in self.cursors.items() if lane[1] is not None}
            self.cursors_since = time.monotonic()

    def _realtime_cursor(self) -> dict[int, datetime]:
        """Where the look for due realtime work starts: the oldest cursor of the realtime lanes."""
        starts: dict[int, datetime] = {}
        for (_webhook, message_id, recovery_id), cursors in self.cursors.items():
            if message_id is None and recovery_id is None:
                for priority, at in cursors.items():
                    starts[priority] = min(at, starts.get(priority, at))
        return starts

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
                bulk=True,
            )
        return claimed

    # --- upkeep -----------------------------------------------------------------------------------

    def _upkeep(self) -> list[tuple[int | None, int | None, int]]:
        """The registered due work (webhooks/engine/due.py) in its order, then the bulk lanes it left."""
        doorbell.beacon()
        now = time.monotonic()
        for work in due.due_work():
            if work.each_turn or work.own_thread:
                continue
            if work.every and now - self.last_run.get(work.name, -work.every) < work.every:
                continue
            self.last_run[work.name] = now
            try:
                record.db_retry(work.run)
            except Exception:
                # One failing piece of upkeep stops neither the waves nor the other pieces.
                logger.exception("due work %r failed; the next upkeep runs it again", work.name)
        self.drains = claim.drains_alive()
        lanes: list[tuple[int | None, int | None, int]] = [
            (message_id, None, webhook_id) for _send_id, message_id, webhook_id in claim.sends_active()
        ]
        lanes += [(None, recovery_id, webhook_id) for recovery_id, webhook_id in recoveries_active()]
        return lanes

    async def _own_thread_work(self) -> None:
        if await self._db(_own_thread_work_run, executor=self.long_work_executor, retry=False):
            self.wake.set()

    def _own_thread_start(self) -> None:
        """Start the registered long work (fan-outs, the prune) on the drain's second thread, one at a time."""
        if self.over_budget or (self.background is not None and not self.background.done()):
            return
        self.background = asyncio.create_task(self._own_thread_work())

    # --- the loop ---------------------------------------------------------------------------------

    async def run(self) -> dict:
        try:
            self.tokens = TokenSource(TokenCache(doorbell.redis()))
        except Exception:  # noqa: BLE001 - without Redis, tokens are cached per drain
            self.tokens = TokenSource(None)
        # Alive before the first claim: a claim is never held by a drain without a lease row.
        await self._db(lambda: claim.drain_lease_renew(token=self.token))
        self.heartbeat.start()
        try:
            await self._loop()
        finally:
            self.heartbeat.stop()
        if not self.unrecorded:
            await self._db(lambda: claim.drain_lease_end(token=self.token))
        return self.counts

    async def _loop(self) -> None:
        async with new_session(limit=settings.WEBHOOK_WORKER_CONCURRENCY * 2) as self.session:
            last_upkeep = 0.0
            idle_turns = 0
            while True:
                if time.monotonic() - last_upkeep >= UPKEEP_INTERVAL:
                    self.lanes = await self._db(self._upkeep, retry=False)
                    last_upkeep = time.monotonic()
                    self._own_thread_start()
                busy = False
                # While waves are in flight the loop turns at each wave's end; the realtime look (a few
                # queries) runs at most every REALTIME_POLL of them, which bounds its wait the same.
                if not self.waves or time.monotonic() - self.realtime_at >= REALTIME_POLL:
                    self.realtime_at = time.monotonic()
                    busy = await self._realtime()
                if not self.over_budget:
                    busy |= await self._bulk()
                background = self.background is not None and not self.background.done()
                if not busy and not self.waves and not background:
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
            if self.background is not None:
                await self.background


def _own_thread_work_run() -> int:
    """The long work in its order, up to the first that did something: a prune slice gives way to a fan-out step."""
    for work in due.due_work():
        if not work.own_thread:
            continue
        try:
            done = record.db_retry(work.run)
        except Exception:
            logger.exception("due work %r failed; the next upkeep, of this drain or another, runs it again", work.name)
            continue
        if done:
            return done
    return 0


def _each_turn_work_run() -> int:
    # A flow step publishes its message in its own transaction: the realtime claim after it sends it.
    return sum(record.db_retry(work.run) for work in due.due_work() if work.each_turn)


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


def drain_after(*, claimed: int) -> None:
    """What is still due rings again; what falls due later gets a bell from the scheduler.

    A drain that claimed nothing does not ring for itself: it would only find the same nothing (work
    of a paused webhook, or of one whose every slot another drain holds; that drain rings when it ends).
    """
    if claimed and claim.work_due():
        doorbell.ring(doorbell.BULK_QUEUE)
    upcoming = claim.next_due_at()
    if upcoming is not None and upcoming > timezone.now():
        doorbell.ring_at(upcoming)


def drain_run(*, budget: float | None = None) -> dict:
    """Run a drain to its end; what is still due after it rings the doorbell again."""
    drain = Drain(budget=settings.WEBHOOK_DRAIN_BUDGET if budget is None else budget)
    try:
        counts = asyncio.run(drain.run())
    finally:
        due.due_work_settle()
        for executor in (drain.executor, drain.record_executor, drain.long_work_executor):
            executor.submit(connections.close_all).result()
            executor.shutdown()
    drain_after(claimed=counts["claimed"])
    return counts
