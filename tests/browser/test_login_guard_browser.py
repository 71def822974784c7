"""Issue 22 (1) in a real browser: wrong passwords past the limit, then the right one is refused with a
page in the user's language; an Administrator clears the lock under "Access attempts"; the user logs in."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group

from tests.support.browser import admin_page, log_in
from webhookhub.roles import ADMINISTRATOR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "guard-pass-1"
LIMIT = 3


def _submit(page, base, password):
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "wang")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def test_wrong_passwords_then_the_right_one_is_refused_until_an_administrator_clears_it(
    browser, live_server, django_user_model, settings
):
    settings.AXES_FAILURE_LIMIT = LIMIT
    base = live_server.url
    django_user_model.objects.create_user("wang", password=PASSWORD, is_staff=True)
    administrator = django_user_model.objects.create_user("adm", password=PASSWORD, is_staff=True)
    administrator.groups.add(Group.objects.get(name=ADMINISTRATOR))

    with admin_page(browser) as admin, admin_page(browser) as guessed:
        # The Administrator is logged in before the guessing starts (same address: the test's loopback).
        log_in(admin, base, username="adm", password=PASSWORD, create=False)

        for attempt in range(LIMIT):
            _submit(guessed, base, f"wrong-{attempt}")
        _submit(guessed, base, PASSWORD)
        assert "登录失败次数过多" in guessed.inner_text("#login-locked")
        guessed.goto(f"{base}/admin/")
        assert "/admin/login/" in guessed.url  # not logged in

        admin.goto(f"{base}/admin/axes/accessattempt/")
        row = admin.locator("#result_list tbody tr", has_text="wang")
        assert row.count() == 1
        row.locator("input.action-select").check()
        admin.select_option("select[name=action]", "delete_selected")
        admin.click("button[name=index]")
        admin.click("#content form input[type=submit]")  # "Yes, I'm sure"
        admin.wait_for_selector(".messagelist .success")
        assert not AccessAttempt.objects.filter(username="wang").exists()

        _submit(guessed, base, PASSWORD)
        guessed.wait_for_selector("#user-tools")
        assert guessed.url.rstrip("/").endswith("/admin")
