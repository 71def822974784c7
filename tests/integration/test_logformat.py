"""LOG_FORMAT=json: one JSON object a line, with the fields passed as `extra`, for log collectors."""

import json
import logging
import subprocess
import sys

from webhookhub.logformat import JsonFormatter

from ..support.workers import ROOT, worker_env


def test_json_formatter_writes_one_object_a_line_with_extra_fields():
    record = logging.LogRecord("webhookhub.attempts", logging.INFO, __file__, 1, "attempt %s: %s", ("#2", "失败"), None)
    record.delivery_id = "ab" * 16
    record.duration_ms = 42
    record.headers_seen = {"x": object()}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["logger"] == "webhookhub.attempts"
    assert entry["level"] == "INFO"
    assert entry["message"] == "attempt #2: 失败"
    assert entry["time"].endswith("Z")
    assert "T" in entry["time"]
    assert entry["delivery_id"] == "ab" * 16
    assert entry["duration_ms"] == 42
    assert entry["headers_seen"]["x"].startswith("<object object")
    assert "args" not in entry
    assert "msg" not in entry

    try:
        raise ValueError("bad\nthing")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(failed))
    assert "ValueError: bad" in entry["exc_info"]


def test_log_format_json_setting_makes_the_processes_log_json():
    # A real process with the real settings: the attempts logger is configured and writes JSON.
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('webhookhub.attempts').info('attempt', extra={'delivery_id': 'd1', 'status_code': 200})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=worker_env(DJANGO_SETTINGS_MODULE="webhookhub.settings", LOG_FORMAT="json"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert entry["logger"] == "webhookhub.attempts"
    assert (entry["delivery_id"], entry["status_code"]) == ("d1", 200)
