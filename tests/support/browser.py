"""What the browser tests share: an admin page in a language and a size, logging in, where screenshots go."""

from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "browser-pass-1"
# The browser's own locale for each admin language (dates, number formats in the page's scripts).
LOCALES = {"zh-hans": "zh-CN", "en": "en-US"}


@contextmanager
def admin_page(browser, *, language: str = "zh-hans", width: int = 1400, height: int = 900, accept_dialogs=False):
    """A page in a fresh browser context that asks for `language`, in the installation's time zone."""
    context = browser.new_context(
        locale=LOCALES[language],
        timezone_id=settings.TIME_ZONE,
        extra_http_headers={"Accept-Language": language},
        viewport={"width": width, "height": height},
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    if accept_dialogs:  # the pages' "are you sure?" confirmations
        page.on("dialog", lambda dialog: dialog.accept())
    try:
        yield page
    finally:
        context.close()


def log_in(page, base: str, *, username: str = "staff", password: str = PASSWORD, create: bool = True):
    """Log in through the admin's own form (a superuser, made here unless `create` is False)."""
    if create:
        get_user_model().objects.create_superuser(username, f"{username}@example.com", password)
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
