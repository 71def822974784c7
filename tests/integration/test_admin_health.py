"""The engine's health banner: administrators are told when no worker or scheduler runs or work is overdue."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rq.scheduler import RQScheduler

from webhooks import services
from webhooks.engine import doorbell
from webhooks.models import Delivery

from ..factories import make_customers, make_webhook

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def banner(client) -> str:
    html = client.get("/admin/").content.decode()
    return html.split('id="engine-health"', 1)[1].split("</ul>", 1)[0] if 'id="engine-health"' in html else ""


def test_no_worker_and_no_scheduler_are_announced_to_administrators(admin_client, redis_conn):
    text = banner(admin_client)
    assert "No worker has been seen" in text
    assert "--with-scheduler" in text


def test_a_healthy_engine_shows_no_banner(admin_client, redis_conn):
    doorbell.beacon()
    redis_conn.set(RQScheduler.get_locking_key("bulk"), "1")
    assert banner(admin_client) == ""


def test_overdue_work_is_announced_but_not_that_of_a_paused_webhook(admin_client, redis_conn, settings):
    doorbell.beacon()
    redis_conn.set(RQScheduler.get_locking_key("bulk"), "1")
    (customer,) = make_customers(1)
    webhook = make_webhook("https://example.test/h")
    services.message_publish(event="form/submit", webhooks=[webhook], customer=customer)
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=settings.WEBHOOK_OVERDUE_WARNING + 5))
    assert "1 deliveries are overdue" in banner(admin_client)
    cache.clear()
    services.webhook_pause(webhook=webhook)
    assert banner(admin_client) == ""


def test_marketers_see_no_banner(client, django_user_model, redis_conn):
    from django.contrib.auth.models import Group

    from webhookhub.roles import MARKETER

    user = django_user_model.objects.create_user("m", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=MARKETER))
    client.force_login(user)
    assert 'id="engine-health"' not in client.get("/admin/").content.decode()


def test_the_banners_speak_the_readers_language_each(admin_client, redis_conn, settings):
    (customer,) = make_customers(1)
    webhook = make_webhook("https://example.test/h")
    services.message_publish(event="form/submit", webhooks=[webhook], customer=customer)
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=settings.WEBHOOK_OVERDUE_WARNING + 5))
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    chinese = banner(admin_client)
    assert "已有一分钟没有看到任何 worker" in chinese
    assert "Redis" not in chinese
    assert f"1 条推送已超过预定时间 {settings.WEBHOOK_OVERDUE_WARNING} 秒仍未发出" in chinese
    assert "overdue" not in chinese
    # Cached for seconds, but not across languages.
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert "1 deliveries are overdue" in banner(admin_client)
