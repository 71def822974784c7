"""LOG_FORMAT=json: one JSON object a line, with the fields passed as `extra`, for log collectors."""

import json
import logging
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from webhookhub.logformat import JsonFormatter
from webhooks import services

from ..factories import make_customers, make_group, make_webhook
from ..support.ports import free_port
from ..support.waiting import wait_until
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


def _json_lines(text: str) -> list[dict]:
    entries = []
    for line in text.splitlines():
        if line.strip():
            try:
                entries.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a JSON line: {line!r}") from None
    return entries


def test_a_traceback_a_child_process_prints_is_one_json_object():
    # What rq's scheduler process does when Redis goes away: multiprocessing prints the traceback.
    code = (
        "import django, multiprocessing; django.setup()\n"
        "def die():\n    raise ConnectionError('Redis went away')\n"
        "p = multiprocessing.Process(target=die); p.start(); p.join()\n"
        "import warnings; warnings.warn('a stray warning')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=worker_env(DJANGO_SETTINGS_MODULE="tests.settings", LOG_FORMAT="json"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    entries = _json_lines(result.stderr)
    crashes = [e for e in entries if "Traceback" in e.get("text", "")]
    assert len(crashes) == 1, entries
    assert crashes[0]["level"] == "ERROR"
    assert crashes[0]["message"] == "ConnectionError: Redis went away"
    assert any("a stray warning" in e.get("text", "") for e in entries), entries


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_under_log_format_json_every_line_of_a_worker_and_gunicorn_is_json_and_attempts_carry_their_fields(
    receiver, redis_conn, run_worker
):
    webhook = make_webhook(receiver.url(), name="json logs")
    send = services.group_send_create(webhook=webhook, group=make_group(make_customers(5)))
    gone = make_webhook(f"http://127.0.0.1:{free_port()}/nobody", name="refused", auto_retry=False)
    services.group_send_create(webhook=gone, group=make_group(make_customers(2, start=50), name="g2"))

    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:webhookhub.gunicorn_conf", "webhookhub.wsgi"],
        env=worker_env(
            DJANGO_SETTINGS_MODULE="tests.settings", LOG_FORMAT="json", PORT=port, ALLOWED_HOSTS="127.0.0.1"
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/admin/login/") == 200, timeout=60, message="gunicorn")
        worker_log = run_worker(LOG_FORMAT="json")
        assert _get(f"http://127.0.0.1:{port}/healthz") == 403
        assert _get(f"http://127.0.0.1:{port}/no-such-page") == 404
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web_log, _ = web.communicate(timeout=30)

    worker_entries = _json_lines(worker_log)
    web_entries = _json_lines(web_log)
    assert any(e["logger"].startswith("rq.") for e in worker_entries), worker_entries[:5]
    assert any(e["logger"] == "gunicorn.access" for e in web_entries), web_entries[:5]
    attempts = [e for e in worker_entries if e["logger"] == "webhookhub.attempts"]
    assert len(attempts) == 7
    fields = {
        "delivery_id", "webhook_id", "group_send_id", "event", "lane", "attempt", "trigger",
        "status_code", "duration_ms", "succeeded", "outcome", "error_code", "error_class",
    }  # fmt: skip
    assert all(fields <= set(entry) for entry in attempts), attempts[0]
    ok = next(e for e in attempts if e["webhook_id"] == webhook.pk)
    assert (ok["group_send_id"], ok["lane"], ok["attempt"], ok["status_code"], ok["outcome"]) == (
        send.pk,
        "bulk",
        1,
        200,
        "succeeded",
    )
    refused = next(e for e in attempts if e["webhook_id"] == gone.pk)
    assert (refused["status_code"], refused["outcome"], refused["succeeded"]) == (None, "failed", False)
    assert refused["error_code"]
    assert "s3cr3t" not in worker_log + web_log


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0
