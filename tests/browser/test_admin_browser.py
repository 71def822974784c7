"""The admin's sending screens in a real browser, against a live server, a real rq worker (with its
scheduler, not in burst mode) and the real receiver: log in, create a webhook with a secret, test-send,
schedule a group send and watch it complete, cancel a scheduled send, redeliver a failed delivery.

The browser asks for zh-hans. Assertions read status values from data attributes (stable whatever
the language); the screenshots show the visible labels.
"""

import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import translation

from customers.models import Customer
from tests.factories import make_customers, make_group
from tests.support.browser import SHOTS, admin_page, log_in
from webhooks import services
from webhooks.models import Delivery, GroupSend, Webhook

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ZONE = "Asia/Shanghai"


@pytest.fixture
def page(live_server, browser):
    with admin_page(browser, width=1600, height=900, accept_dialogs=True) as page:
        yield page


def _wait(condition, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_send_from_the_admin(page, live_server, worker, receiver):
    base = live_server.url
    make_customers(4, prefix="会员")
    Customer.objects.create(name="李雷", wechat_nickname="小明同学", mobile="13800138000")
    group = make_group(Customer.objects.filter(name__startswith="会员"), name="VIP 客户")
    log_in(page, base)

    # Create a webhook with a secret through the form.
    page.goto(f"{base}/admin/webhooks/webhook/add/")
    page.fill("#id_name", "CRM 线索")
    page.fill("#id_url", receiver.url())
    page.select_option("#id_auth_type", "secret")
    page.fill("#id_secret_key", "s3cr3t")
    page.fill("#id_body_template", '{"name":"${customer.name}","nick":"${customer.wechatNickname}","id":${customerId}}')
    page.click("input[name=_save]")
    page.wait_for_selector("#result_list")
    webhook = Webhook.objects.get(name="CRM 线索")
    assert webhook.secret_key.reveal() == "s3cr3t"
    Webhook.objects.create(
        name="会员升级通知",
        url=receiver.url("/level"),
        trigger_type=Webhook.TriggerType.FIXED,
        event="loyalty/membership_level_up",
    )
    page.reload()
    assert page.locator("[data-fixed-event]").count() == 1
    page.screenshot(path=str(SHOTS / "webhook-list.png"))

    # Test send to a customer found by WeChat nickname; the receiver's answer shows in the dialog.
    page.click(f'a[data-webhook="{webhook.pk}"]')
    page.wait_for_selector("#send-dialog")
    page.fill("#test-customer", "小明")
    page.click(".hub-picker-option >> text=李雷")
    page.click("#test-send-submit")
    result = page.wait_for_selector("#test-send-result[data-status=succeeded]", timeout=30_000)
    assert result.query_selector("[data-response-status='200']")
    assert '{"received": true}' in result.inner_text() or '{"received":true}' in result.inner_text()
    assert "X-Clab-Hmac-Signature" in result.inner_text()
    assert "s3cr3t" not in page.content()
    assert len(receiver.received) == 1
    assert receiver.received[0].signature_ok
    assert '"nick":"小明同学"' in receiver.received[0].body
    page.screenshot(path=str(SHOTS / "send-dialog.png"))

    # A time in the past is refused with a clear message.
    page.click("#send-mode-group")
    page.select_option("#id_group", str(group.pk))
    page.check("#group-send-form input[name=when][value=scheduled]")
    past = (datetime.now(ZoneInfo(ZONE)) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    page.fill("#id_scheduled_at", past)
    page.click("#group-send-submit")
    error = page.wait_for_selector('#group-send-form .hub-errors li[data-field="scheduled_at"]')
    with translation.override("zh-hans"):
        assert error.inner_text() == translation.gettext("The scheduled time is in the past; choose a later time.")
    assert not GroupSend.objects.exists()

    # Schedule a group send a few seconds ahead.
    soon = (datetime.now(ZoneInfo(ZONE)) + timedelta(seconds=8)).strftime("%Y-%m-%dT%H:%M:%S")
    page.fill("#id_scheduled_at", soon)
    page.click("#group-send-submit")
    page.wait_for_selector("#group-send-result #open-sends")
    page.screenshot(path=str(SHOTS / "send-dialog-group.png"))
    send = GroupSend.objects.get()
    assert send.status == GroupSend.Status.SCHEDULED
    assert send.total == 4
    assert send.scheduled_at.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M:%S") == soon

    # Another send, scheduled later, to cancel from the list.
    later = services.group_send_create(
        webhook=webhook,
        group=group,
        scheduled_at=datetime.now(ZoneInfo(ZONE)) + timedelta(hours=2),
        user=User.objects.get(username="staff"),
    )

    # The sends list follows the first send to completed without a reload.
    page.click("#open-sends")
    page.wait_for_selector(
        f'[data-send-status="{send.pk}"] [data-status="scheduled"], '
        f'[data-send-status="{send.pk}"] [data-status="sending"]'
    )
    page.wait_for_selector(f'[data-send-status="{send.pk}"] [data-status="completed"]', timeout=60_000)
    progress = page.locator(f'[data-send-progress="{send.pk}"]')
    _wait(lambda: progress.get_attribute("data-succeeded") == "4", timeout=10, what="progress to show 4")
    assert progress.get_attribute("data-total") == "4"
    assert progress.get_attribute("data-failed") == "0"
    assert progress.get_attribute("data-pending") == "0"
    assert page.locator(f'[data-send-cancel="{send.pk}"]').count() == 0
    assert len([r for r in receiver.received if r.headers.get("X-Clab-Event") == "manual/group-send"]) == 4
    # sends-list.png is taken at 1366×768 by test_lists_browser.py.

    # The webhook's page: its statistics, recent deliveries and the template preview for a customer.
    page.goto(f"{base}/admin/webhooks/webhook/{webhook.pk}/change/")
    day = page.locator(".hub-chart-day").last
    assert day.get_attribute("data-succeeded") == "5"
    assert day.get_attribute("data-failed") == "0"
    assert page.inner_text("#success-rate") == "100.0%"
    page.fill("#preview-customer", "李")
    page.click("#template-preview .hub-picker-option >> text=李雷")
    preview = page.wait_for_selector("#preview-body:not([hidden])")
    customer_id = Customer.objects.get(name="李雷").pk
    assert preview.inner_text() == f'{{"name":"李雷","nick":"小明同学","id":{customer_id}}}'
    page.screenshot(path=str(SHOTS / "webhook-page.png"), full_page=True)

    # Cancel the other scheduled send.
    page.goto(f"{base}/admin/webhooks/groupsend/")
    page.click(f'[data-send-cancel="{later.pk}"]')
    page.wait_for_selector(f'[data-send-status="{later.pk}"] [data-status="cancelled"]')
    later.refresh_from_db()
    assert later.status == GroupSend.Status.CANCELLED
    assert later.cancelled_by.username == "staff"

    # Redeliver a failed delivery: it gets a second attempt, recorded as the user's.
    failing = Webhook.objects.create(name="坏的接收端", url=receiver.url("/status/500"))
    delivery = services.message_test_send(webhook=failing, customer=Customer.objects.get(name="李雷"), user=None)
    _wait(
        lambda: Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.FAILED).exists(),
        timeout=30,
        what="the failing delivery to fail",
    )
    page.goto(f"{base}/admin/webhooks/delivery/{delivery.pk}/change/")
    assert page.get_attribute("#delivery-summary", "data-status") == "failed"
    page.click("#redeliver-button")
    page.wait_for_selector(".messagelist .success")
    _wait(
        lambda: delivery.attempts.count() == 2 and Delivery.objects.get(pk=delivery.pk).is_final,
        timeout=30,
        what="the second attempt",
    )
    page.reload()
    assert page.locator("[data-attempt]").count() == 2
    second = delivery.attempts.get(number=2)
    assert second.trigger == "redeliver"
    assert second.requested_by.username == "staff"
    page.screenshot(path=str(SHOTS / "delivery-detail.png"), full_page=True)

    # The deliveries list shows test sends and group sends alike.
    page.goto(f"{base}/admin/webhooks/delivery/")
    assert page.locator("#result_list tbody tr").count() == 6
