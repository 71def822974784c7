"""The rq worker the hub runs: reconciles at start and every WEBHOOK_RECONCILE_INTERVAL seconds."""

import logging

from django.conf import settings
from django.db import connections
from django.utils.module_loading import import_string
from rq.worker import Worker

logger = logging.getLogger(__name__)
LOCK_KEY = "webhookhub:reconcile-lock"


def reconcile_once(connection) -> None:
    # One worker of many reconciles per interval; after FLUSHALL the lock is gone too.
    if not connection.set(LOCK_KEY, "1", nx=True, ex=max(1, settings.WEBHOOK_RECONCILE_INTERVAL - 1)):
        return
    try:
        reconcile_all()
    finally:
        # The work horse is forked from this process: it must not share our database socket.
        connections.close_all()


def reconcile_all() -> dict:
    """Run every step of settings.RECONCILE_STEPS; one failing step does not stop the others."""
    results = {}
    for path in settings.RECONCILE_STEPS:
        try:
            results[path] = import_string(path)()
        except Exception:
            logger.exception("reconcile step %s failed; it runs again at the next interval", path)
    return results


class HubWorker(Worker):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", settings.WEBHOOK_RECONCILE_INTERVAL)
        super().__init__(*args, **kwargs)
        # A job's arguments are hundreds of delivery ids: the log names the job, not its arguments.
        self.log_job_description = False
        # Imported once here, so each forked work horse starts with the engine (and aiohttp) loaded
        # instead of importing it per job: that import alone would cost a test send ~0.3 s.
        import webhooks.jobs  # noqa: F401

    @property
    def dequeue_timeout(self) -> int:
        # rq waits this long for a job before its loop comes round to maintenance (reconcile) again.
        return max(1, min(self.worker_ttl - 15, settings.WEBHOOK_RECONCILE_INTERVAL))

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        reconcile_once(self.connection)

    def fork_work_horse(self, job, queue):
        # Whatever opened a database connection in this process (reconcile, a signal handler, a
        # library), the horse must not inherit its socket: two processes on one connection corrupt it.
        connections.close_all()
        super().fork_work_horse(job, queue)
