"""The rq worker the hub runs: rq's worker, plus a tick and the stubbornness a delivery engine needs.

- The tick (every WEBHOOK_TICK_INTERVAL seconds while idle) rings the doorbell when the database holds
  due work: after Redis lost its bells, or with no --with-scheduler worker anywhere, work still goes out.
- A Redis outage while a drain runs does not end the worker (rq's own loop would quit): the drain
  records to the database by itself; the worker waits for it, then for Redis, and carries on.
- Each worker leaves a beacon in Redis (and rq's scheduler its lock), which the admin's health banner reads,
  and a heartbeat row in the database at each of rq's heartbeats, which /healthz and /metrics count: a
  Redis restarted empty forgets rq's set of workers, while the workers go on.
"""

import contextlib
import logging
import os
import socket
import time

from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone
from redis.exceptions import RedisError
from rq.worker import Worker

from webhookhub import telemetry
from webhooks.engine import claim, doorbell
from webhooks.health import services as health

logger = logging.getLogger(__name__)
# Longest wait between two tries to reach Redis again.
REDIS_BACKOFF_MAX = 5.0
# rq beats every few seconds while idle; the database hears from a worker at most this often.
HEARTBEAT_ROW_EVERY = 5.0


class HubWorker(Worker):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", settings.WEBHOOK_TICK_INTERVAL)
        super().__init__(*args, **kwargs)
        self.log_job_description = False
        self._last_reconcile = 0.0
        self._last_heartbeat_row = 0.0
        self._main_pid = os.getpid()
        # Imported once here, so each forked work horse starts with the engine (and aiohttp) loaded
        # instead of importing it per job: that import alone would cost a test send ~0.3 s.
        import webhooks.engine.jobs  # noqa: F401

    @property
    def dequeue_timeout(self) -> int:
        # rq waits this long for a job before its loop comes round to the tick again.
        return max(1, min(self.worker_ttl - 15, settings.WEBHOOK_TICK_INTERVAL))

    def register_birth(self):
        super().register_birth()
        self._heartbeat_row(force=True)

    def register_death(self):
        with contextlib.suppress(DatabaseError):
            health.worker_heartbeat_forget(name=self.name)
        telemetry.process_exited(self._main_pid)
        super().register_death()

    def set_state(self, state, pipeline=None):
        # rq's loop marks itself idle outside its own handling of a Redis outage, and would quit on it:
        # the state is only what rq's dashboard shows, and the loop that follows waits for Redis.
        try:
            super().set_state(state, pipeline)
        except RedisError as exc:
            if pipeline is not None:
                raise
            logger.warning("the worker's state could not be written to Redis (%s)", type(exc).__name__)

    def heartbeat(self, timeout=None, pipeline=None):
        # The row first: with Redis down rq's own heartbeat raises, and the worker is alive all the same.
        self._heartbeat_row()
        super().heartbeat(timeout, pipeline)

    def _heartbeat_row(self, *, force: bool = False) -> None:
        # The work horse inherits this object; only the worker itself speaks for the worker.
        if os.getpid() != self._main_pid:
            return
        if not force and time.monotonic() - self._last_heartbeat_row < HEARTBEAT_ROW_EVERY:
            return
        self._last_heartbeat_row = time.monotonic()
        telemetry.process_sample(role="worker")
        state = getattr(self.get_state(), "value", self.get_state())
        try:
            health.worker_heartbeat_record(
                name=self.name,
                host=socket.gethostname(),
                pid=self._main_pid,
                state="busy" if state == "busy" else "idle",
                started_at=self.birth_date or timezone.now(),
            )
        except DatabaseError as exc:
            logger.warning("the worker's heartbeat row could not be written (%s)", type(exc).__name__)

    def run_maintenance_tasks(self):
        try:
            self._maintain()
        except (RedisError, DatabaseError) as exc:
            # rq's loop quits on an exception here; an outage is waited out instead.
            logger.warning("the worker's tick failed (%s); it runs again at the next tick", exc)
        finally:
            # The work horse is forked from this process: it must not share our database socket.
            connections.close_all()

    def _maintain(self) -> None:
        doorbell.beacon()
        # rq restarts a dead scheduler only in its own maintenance (every WEBHOOK_RECONCILE_INTERVAL):
        # after a Redis outage killed it, retries and scheduled sends would wait that long.
        if self.scheduler and (not self.scheduler._process or not self.scheduler._process.is_alive()):
            self.scheduler.acquire_locks(auto_start=True)
        if time.monotonic() - self._last_reconcile >= settings.WEBHOOK_RECONCILE_INTERVAL:
            self._last_reconcile = time.monotonic()
            super().run_maintenance_tasks()  # rq's own: its registries cleaned
        tick()

    def fork_work_horse(self, job, queue):
        # Whatever opened a database connection in this process (the tick, a signal handler, a
        # library), the horse must not inherit its socket: two processes on one connection corrupt it.
        connections.close_all()
        super().fork_work_horse(job, queue)

    def main_work_horse(self, job, queue):
        telemetry.horse_started(worker_pid=self._main_pid)
        super().main_work_horse(job, queue)

    def execute_job(self, job, queue):
        try:
            super().execute_job(job, queue)
        except RedisError as exc:
            logger.warning("Redis went away while a drain ran (%s); waiting for it, then for Redis", exc)
            self._horse_wait()
            self._redis_wait()

    def _horse_wait(self) -> None:
        if not self._horse_pid:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._horse_pid, 0)
        self._horse_pid = 0

    def _redis_wait(self) -> None:
        pause = 0.5
        while not self._stop_requested:
            try:
                self.connection.ping()
                logger.info("Redis answers again; the worker carries on")
                return
            except RedisError:
                time.sleep(pause)
                pause = min(pause * 2, REDIS_BACKOFF_MAX)


def tick() -> bool:
    """The worker's tick: work found due (Redis may have lost its bell) is rung for."""
    if claim.work_due():
        return doorbell.ring(doorbell.BULK_QUEUE)
    return False
