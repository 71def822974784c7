"""Playwright driving Debian's chromium headless (never a browser downloaded by Playwright).

WEBHOOKHUB_CHROMIUM names the browser to drive (default: `chromium` in PATH). Without it or without
Playwright, the tests fail in CI and are skipped elsewhere (tests/support/prerequisites.py).
"""

import os

import pytest

from tests.support.prerequisites import APT, DEV_PACKAGES, require_executable, require_module

# Playwright's sync API keeps an event loop on the test's thread; the ORM calls the test makes between
# page actions are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def browser():
    """Debian's chromium, headless, for one test."""
    sync_api = require_module("playwright.sync_api", install=DEV_PACKAGES)
    executable = require_executable(os.environ.get("WEBHOOKHUB_CHROMIUM", "chromium"), install=f"{APT} chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def worker(redis_conn, live_server, start_worker):
    """A running worker with rq's scheduler (not in burst mode: it picks jobs up as production's does)."""
    return start_worker(burst=False, scheduler=True, WEBHOOK_RECONCILE_INTERVAL=5)
