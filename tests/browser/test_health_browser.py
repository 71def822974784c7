"""Webhook health in a real browser, against a live server, a real worker and receivers on 127.0.0.1: the
list's health column (one webhook failing, one paused, one healthy), pausing by hand with a reason,
the paused warning in the send dialog, the retry schedule following the form live, and resuming.

Saves docs/screenshots/webhook-health-list.png and docs/screenshots/webhook-paused.png (zh-hans).
"""

import pytest
from django.contrib.auth.models import User

from tests.factories import make_customers, make_webhook
from tests.support.browser import SHOTS, log_in
from tests.support.receivers import ScriptedServer
from webhooks import services
from webhooks.models import Delivery, Webhook, WebhookHistory
from webhooks.models.health import WebhookHealth

from .test_admin_browser import _wait, page  # noqa: F401 - the page fixture

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_health_pause_and_resume_in_the_admin(page, live_server, worker):  # noqa: F811 - the fixture
    base = live_server.url
    customers = make_customers(6, prefix="会员")

    def answer(hit):
        if hit.path == "/crm":
            return 500, {}, "CRM 维护中".encode()
        return 200, {}, b'{"ok":true}'

    with ScriptedServer(answer) as server:
        failing = make_webhook(server.url("/crm"), name="CRM 线索", alert_after_failures=3)
        healthy = make_webhook(server.url("/shop"), name="商城订单")
        to_pause = make_webhook(server.url("/desk"), name="客服工单")
        for customer in customers[:4]:
            services.message_publish(event="form/submit", webhooks=[failing], customer=customer)
        services.message_publish(event="form/submit", webhooks=[healthy, to_pause], customer=customers[4])
        _wait(
            lambda: (
                WebhookHealth.objects.filter(webhook=failing, consecutive_failures__gte=4).exists()
                and WebhookHealth.objects.filter(webhook=to_pause, last_success_at__isnull=False).exists()
                and WebhookHealth.objects.filter(webhook=healthy, last_success_at__isnull=False).exists()
            ),
            what="the worker's attempts counted",
        )
        log_in(page, base)

        # Pause by hand: a reason is asked for and shown.
        page.goto(f"{base}/admin/webhooks/webhook/{to_pause.pk}/change/")
        assert page.get_attribute("#webhook-health", "data-health") == "healthy"
        page.fill("#pause-reason", "客服系统迁移，周一恢复")  # noqa: RUF001
        page.click("#pause-webhook")
        page.wait_for_selector("#resume-webhook")
        assert page.get_attribute("#webhook-health", "data-health") == "paused"
        assert "客服系统迁移，周一恢复" in page.inner_text("#health-pause-reason")  # noqa: RUF001
        entry = WebhookHistory.objects.get(webhook=to_pause, action=WebhookHistory.Action.PAUSED)
        assert (entry.actor, entry.data["reason"]) == ("staff", "客服系统迁移，周一恢复")  # noqa: RUF001
        page.screenshot(path=str(SHOTS / "webhook-paused.png"))

        # While paused, a new message is accepted and waits.
        services.message_publish(event="form/submit", webhooks=[to_pause], customer=customers[5])
        waiting = Delivery.objects.get(webhook=to_pause, customer=customers[5])

        # The list: failing since …, paused, healthy, each in its colour.
        page.goto(f"{base}/admin/webhooks/webhook/")
        row = {
            webhook.pk: page.locator(f'tr:has(a[href$="/{webhook.pk}/change/"])')
            for webhook in (failing, healthy, to_pause)
        }
        assert row[failing.pk].locator("[data-health]").get_attribute("data-health") == "failing"
        assert row[to_pause.pk].locator("[data-health]").get_attribute("data-health") == "paused"
        assert row[healthy.pk].locator("[data-health]").get_attribute("data-health") == "healthy"
        colours = {
            pk: locator.locator("[data-health]").evaluate("el => getComputedStyle(el).backgroundColor")
            for pk, locator in row.items()
        }
        assert len(set(colours.values())) == 3, colours
        page.screenshot(path=str(SHOTS / "webhook-health-list.png"))

        # The send dialog warns before a send to the paused webhook.
        page.click(f'a[data-webhook="{to_pause.pk}"]')
        page.wait_for_selector("#send-dialog")
        assert page.is_visible("#send-paused-warning")
        page.click("#send-mode-group")
        assert page.is_visible("#send-paused-warning")
        page.keyboard.press("Escape")

        # The retry schedule follows the form as it is edited (computed by the server's rules).
        page.goto(f"{base}/admin/webhooks/webhook/{failing.pk}/change/")
        page.check("#id_auto_retry")
        page.select_option("#id_retry_policy", "extended")
        page.wait_for_function("document.querySelectorAll('#retry-schedule li').length === 11")
        assert "约 5 分钟" in page.inner_text("#retry-schedule")
        page.select_option("#id_retry_policy", "custom")
        page.fill("#id_retry_delays", "1m, 2h")
        page.wait_for_function("document.querySelectorAll('#retry-schedule li').length === 3")
        assert "第 2 次重试：失败后 2 小时" in page.inner_text("#retry-schedule")  # noqa: RUF001

        # Resume: what waited is sent.
        page.goto(f"{base}/admin/webhooks/webhook/{to_pause.pk}/change/")
        page.click("#resume-webhook")
        page.wait_for_selector("#pause-webhook")
        assert not Webhook.objects.get(pk=to_pause.pk).is_paused
        _wait(
            lambda: Delivery.objects.get(pk=waiting.pk).status == Delivery.Status.SUCCEEDED,
            what="the waiting delivery sent after the resume",
        )
        assert [hit.delivery_id for hit in server.posts()].count(waiting.pk) == 1
    assert User.objects.filter(username="staff").exists()
