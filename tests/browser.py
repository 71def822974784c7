"""Playwright driving Debian's chromium headless (never a browser downloaded by Playwright)."""

import os
import shutil

import pytest

# Playwright's sync API keeps an event loop on the test's thread; the ORM calls the test makes between
# page actions are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
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


def launch(playwright):
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (bin/test installs it with apt-get)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
