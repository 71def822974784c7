"""Records `webhook_health_changed` as sent in a worker process: one JSON line per signal, appended to
the file WEBHOOKHUB_TEST_SIGNAL_LOG names (tests/settings.py installs this app when it is set).

The engine sends the signal in the worker that recorded the wave; a receiver connected in the test's
own process would never hear it. Each line is one small write in append mode, so the lines of
several workers do not mix.
"""

import json
import os
from pathlib import Path

from django.apps import AppConfig

ENV = "WEBHOOKHUB_TEST_SIGNAL_LOG"


def record(sender, *, webhook, kind, incident_id, facts, **kwargs):
    line = json.dumps(
        {"webhook": webhook.pk, "kind": kind, "incident_id": incident_id, "facts": facts, "pid": os.getpid()}
    )
    fd = os.open(os.environ[ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read(path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class SignalLogConfig(AppConfig):
    name = "tests.support.signal_log"
    label = "test_signal_log"

    def ready(self):
        from webhooks.signals import webhook_health_changed

        webhook_health_changed.connect(record, dispatch_uid="test-signal-log")
