"""bin/run as a newcomer runs it: the login box is the last thing on screen, the services log to files."""

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_login_box_is_the_last_thing_on_screen_and_the_logs_go_to_files(tmp_path, redis_conn):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "SECRETS_ENCRYPTION_KEYS", "WEBHOOK_ALLOWED_HOSTS")
    }
    port = _free_port()
    env.update(
        PORT=str(port),
        DEMO_RECEIVER_PORT=str(_free_port()),
        ENV_FILE=str(tmp_path / "run.env"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}",
        # The test's own log files: CI runs the suite on SQLite and on PostgreSQL at once.
        LOG_DIR=str(tmp_path / "log"),
    )
    process = subprocess.Popen(
        [str(ROOT / "bin" / "run")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        box_ended = None
        while time.monotonic() < deadline and process.poll() is None:
            if box_ended is None and any("logs:" in line for line in lines):
                box_ended = time.monotonic()
            # Give the servers what used to be their start-up chatter's time to print after the box.
            if box_ended is not None and time.monotonic() - box_ended > 4:
                break
            time.sleep(0.2)
        assert box_ended is not None, "\n".join(lines[-40:])
    finally:
        shown = [line for line in lines if line.strip()]
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        reader.join(timeout=5)
    assert shown[-1].strip().startswith("+--"), shown[-12:]
    assert f"open:    http://127.0.0.1:{port}/admin/" in "\n".join(shown[-6:])
    assert "log in:" in "\n".join(shown[-6:])
    logs = tmp_path / "log"
    assert f"logs:    {logs}/web.log, {logs}/worker.log, {logs}/receiver.log" in "\n".join(shown[-6:])
    web_log = (logs / "web.log").read_text()
    assert "GET /admin/login/" in web_log or "Starting development server" in web_log
    assert (logs / "worker.log").exists()
    assert (tmp_path / "run.env").exists()
    # After Ctrl-C: only bin/run's own "stopping…", no service's shutdown chatter.
    final = [line for line in lines if line.strip()]
    assert all(line.strip().startswith("stopping") for line in final[len(shown) :]), final[len(shown) :]
