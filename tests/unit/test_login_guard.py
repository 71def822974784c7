"""Issue 22 (1): the admin login resists guessing (django-axes, counted in the database).

Failures are counted per account and per client (IPv4 address, IPv6 /64, behind TRUSTED_PROXIES); past
the limit the right password is refused until the cool-off ends or an Administrator clears the lock;
every attempt is logged without the password.
"""

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from webhookhub.roles import ADMINISTRATOR, MARKETER

pytestmark = pytest.mark.django_db

PASSWORD = "right-pass-1"
WRONG = "wrong-pass-1"
LIMIT = 3


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("mkt", password=PASSWORD, is_staff=True)


def log_in(client, username, password, address="203.0.113.5", **extra):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
        **extra,
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_after_too_many_failures_the_right_password_is_refused_from_anywhere(client, user, caplog):
    caplog.set_level(logging.INFO)
    for _ in range(LIMIT - 1):
        assert log_in(client, "mkt", WRONG).status_code == 200  # the form again
    refused = log_in(client, "mkt", WRONG)
    assert refused.status_code == 429
    refused = log_in(client, "mkt", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed logins" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # Per account: another address does not help.
    assert log_in(client, "mkt", PASSWORD, address="198.51.100.7").status_code == 429
    # Logged, with the account and the address, never the password.
    assert "mkt" in caplog.text
    assert "203.0.113.5" in caplog.text
    assert WRONG not in caplog.text
    assert PASSWORD not in caplog.text
    for attempt in AccessAttempt.objects.all():
        assert WRONG not in attempt.post_data
        assert PASSWORD not in attempt.post_data


def test_the_lock_ends_with_the_cool_off(client, user, settings):
    for _ in range(LIMIT):
        log_in(client, "mkt", WRONG)
    assert log_in(client, "mkt", PASSWORD).status_code == 429
    past = timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    AccessAttempt.objects.update(attempt_time=past)
    assert logged_in(log_in(client, "mkt", PASSWORD))


def test_failures_from_one_ipv6_64_count_together_whatever_the_account(client, django_user_model):
    django_user_model.objects.create_user("other", password=PASSWORD, is_staff=True)
    for i in range(LIMIT):
        log_in(client, f"guess{i}", WRONG, address=f"2001:db8:1:2::{i + 1}")
    # Another address of the same /64, another account: refused.
    assert log_in(client, "other", PASSWORD, address="2001:db8:1:2:ffff::9").status_code == 429
    # Another /64 is another client.
    assert logged_in(log_in(client, "other", PASSWORD, address="2001:db8:1:3::1"))


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(client, django_user_model, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    django_user_model.objects.create_user("other", password=PASSWORD, is_staff=True)
    for i in range(LIMIT):
        log_in(client, f"guess{i}", WRONG, address="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    locked = log_in(client, "other", PASSWORD, address="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert locked.status_code == 429
    # Another client behind the same proxy is not locked out with it.
    assert logged_in(log_in(client, "other", PASSWORD, address="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.3"))
    assert AccessAttempt.objects.filter(ip_address="203.0.113.9").exists()


def test_an_administrator_sees_and_clears_a_lock_and_a_marketer_cannot(client, user, django_user_model):
    for _ in range(LIMIT):
        log_in(client, "mkt", WRONG)
    assert log_in(client, "mkt", PASSWORD).status_code == 429

    marketer = django_user_model.objects.create_user("mkt2", password=PASSWORD, is_staff=True)
    marketer.groups.add(Group.objects.get(name=MARKETER))
    client.force_login(marketer)
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert client.get(changelist).status_code == 403

    admin = django_user_model.objects.create_user("adm", password=PASSWORD, is_staff=True)
    admin.groups.add(Group.objects.get(name=ADMINISTRATOR))
    client.force_login(admin)
    page = client.get(changelist)
    assert page.status_code == 200
    assert "mkt" in page.content.decode()
    attempt = AccessAttempt.objects.get(username="mkt")
    confirm = client.post(changelist, {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"})
    assert confirm.status_code == 302
    assert not AccessAttempt.objects.filter(username="mkt").exists()

    client.logout()
    assert logged_in(log_in(client, "mkt", PASSWORD))
    assert AccessLog.objects.filter(username="mkt").exists()
