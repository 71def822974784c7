"""Alert channels in a real browser: an administrator adds a DingTalk robot with 加签 through the form, sends
a test alert with the button and reads the robot's answer on the page; the health signal then sends real
alerts through a real rq worker to fake WeCom, DingTalk and Feishu robots on 127.0.0.1, and what each robot
received is shown as its group chat would show it (the screenshots in docs/screenshots/alert-*.png)."""

import time

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from alerts.models import Alert, Channel
from tests.factories import make_webhook
from tests.support.browser import PASSWORD, SHOTS, admin_page
from tests.support.robots import FakeDingTalk, FakeFeishu, FakeWeCom, chat_page, message_text
from webhooks.models import Webhook
from webhooks.selectors import engine_warnings
from webhooks.signals import webhook_health_changed

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DING_SECRET = "SEC3f1c0e9b8a7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0"


@pytest.fixture
def page(live_server, browser):
    with admin_page(browser, width=1400, height=900) as page:
        yield page


def _wait(condition, what, worker=None, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}" + (f":\n{worker.log[-2000:]}" if worker else ""))


def announce(webhook, kind, incident_id, facts):
    with transaction.atomic():
        transaction.on_commit(
            lambda: webhook_health_changed.send(
                sender=Webhook, webhook=webhook, kind=kind, incident_id=incident_id, facts=facts
            )
        )


def test_channels_test_alert_and_what_the_robots_received(page, live_server, redis_conn, start_worker, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    settings.HUB_BASE_URL = live_server.url
    base = live_server.url
    # A worker as production runs one (with the scheduler): the admin's engine banner stays quiet.
    worker = start_worker(burst=False, scheduler=True, LANGUAGE_CODE="zh-hans", HUB_BASE_URL=base)
    _wait(lambda: not engine_warnings(), "the worker and its scheduler", worker)
    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")

    with (
        FakeWeCom(token="wecom-key-4e2b") as wecom,
        FakeDingTalk(token="ding-token-8a1f", secret=DING_SECRET) as dingtalk,
        FakeFeishu(token="feishu-hook-6c3d", secret="feishu-secret-1a2b") as feishu,
    ):
        # The DingTalk robot with 加签, through the form.
        page.goto(f"{base}/admin/alerts/channel/add/")
        page.fill("#id_name", "钉钉 · 运营告警群")
        # The form shows what the kind needs.
        page.select_option("#id_kind", "email")
        assert page.locator("#id_recipients").is_visible()
        assert not page.locator("#id_url").is_visible()
        page.select_option("#id_kind", "wecom")
        assert page.locator("#id_url").is_visible()
        assert not page.locator("#id_secret").is_visible()
        assert not page.locator("#id_recipients").is_visible()
        page.select_option("#id_kind", "dingtalk")
        assert page.locator("#id_secret").is_visible()
        page.fill("#id_url", dingtalk.url)
        page.fill("#id_secret", DING_SECRET)
        page.click("input[name=_continue]")
        page.wait_for_selector("#test-alert-button")
        channel = Channel.objects.get(kind="dingtalk")
        assert channel.secret.reveal() == DING_SECRET
        html = page.content()
        assert "ding-token-8a1f" not in html
        assert DING_SECRET not in html

        # A stored secret opens for replacing only when asked.
        assert not page.locator("#id_secret").is_visible()
        page.check('[data-secret-replace="secret"]')
        assert page.locator("#id_secret").is_visible()
        page.uncheck('[data-secret-replace="secret"]')

        page.click("#test-alert-button")
        page.wait_for_selector(".messagelist .success")
        shown = page.inner_text(".messagelist .success")
        assert "200" in shown
        assert '"errcode": 0' in shown or '"errcode":0' in shown
        assert dingtalk.signature_checked == 1
        assert "[TEST]" in message_text("dingtalk", dingtalk.messages[0])
        page.screenshot(path=str(SHOTS / "alert-channel.png"), full_page=True)

        Channel.objects.create(name="企业微信 · 会员运营群", kind="wecom", url=wecom.url)
        Channel.objects.create(name="飞书 · 技术值班群", kind="feishu", url=feishu.url, secret="feishu-secret-1a2b")
        webhook = make_webhook("https://crm.example.com/api/members?token=crm-token-1", name="CRM 会员同步")
        failing = {
            "consecutive_failures": 12,
            "failing_since": "2026-12-07T01:05:00+00:00",
            "last_error": "HTTP 503 Service Unavailable",
            "last_status_code": 503,
            "reason": "",
            "by": "",
        }
        announce(webhook, "failing", 1, failing)
        announce(webhook, "paused", 1, {**failing, "consecutive_failures": 20, "reason": "policy"})
        _wait(lambda: Alert.objects.exclude(kind="test").filter(status="sent").count() == 6, "six alerts sent", worker)

        shots = {
            "wecom": (wecom, wecom.messages[0]),
            "dingtalk": (dingtalk, dingtalk.messages[2]),  # after the test alert and the failing one: paused
            "feishu": (feishu, feishu.messages[0]),
        }
        assert "已暂停" in message_text("dingtalk", shots["dingtalk"][1])
        for kind, (_robot, body) in shots.items():
            page.set_content(chat_page(kind, body))
            page.set_viewport_size({"width": 760, "height": 420})
            page.locator(f'[data-robot="{kind}"]').wait_for()
            page.screenshot(path=str(SHOTS / f"alert-{kind}.png"), full_page=True)

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{base}/admin/alerts/alert/")
    page.wait_for_selector("#result_list")
    assert page.locator('[data-alert-status="sent"]').count() == 7
    page.screenshot(path=str(SHOTS / "alert-records.png"), full_page=True)
