"""In a real browser, against a live server, a real worker and the real receiver: the customer picker never
picks from a stale answer (the older query made slow on the server) and says when there are more matches;
the sample event dialog of a fixed-event webhook shows the receiver's answer; test connection on the
webhook's page. Takes docs/screenshots/sample-event.png and test-connection.png."""

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from customers.models import Coupon, CouponCode, Customer, MembershipLevel
from tests.factories import make_customers, make_webhook
from tests.support.browser import SHOTS, admin_page, log_in
from webhooks.admin import views
from webhooks.content.events import FixedEvent
from webhooks.models import Delivery, Webhook

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SLOW_QUERY = "李雷"


@pytest.fixture
def page(live_server, browser):
    with admin_page(browser, width=1400, height=900) as page:
        yield page


def _picker_value(page, form: str) -> str:
    return page.eval_on_selector(f"{form} .hub-picker-value", "e => e.value")


def test_the_picker_never_picks_from_a_stale_answer(page, live_server, worker, receiver, monkeypatch):
    base = live_server.url
    make_customers(25, prefix="会员")
    wrong = Customer.objects.create(name="李明", mobile="13800000001")
    right = Customer.objects.create(name="李雷", wechat_nickname="小雷", mobile="13800000002")
    webhook = make_webhook(receiver.url("/crm"), name="CRM", body_template='{"name":"${customer.name}"}')

    # The live server runs in this process: the answer to the newer query is made slow on the server.
    real = views.customers_find_page

    def slow_for_the_newer_query(*, query):
        if query == SLOW_QUERY:
            time.sleep(6)
        return real(query=query)

    monkeypatch.setattr(views, "customers_find_page", slow_for_the_newer_query)
    log_in(page, base)
    page.goto(f"{base}/admin/webhooks/webhook/")
    page.click(f'a[data-webhook="{webhook.pk}"]')
    page.wait_for_selector("#test-send-form")

    # More than 20 matches: the first 20 and a hint to type more.
    page.fill("#test-customer", "会员")
    more = page.wait_for_selector("#test-send-form .hub-picker-more")
    assert more.get_attribute("data-total") == "25"
    assert "显示前 20 个，共 25 个，请输入更多字符" in more.inner_text()  # noqa: RUF001 - the Chinese text
    assert page.locator("#test-send-form .hub-picker-option").count() == 20

    # "李" answers at once: 李明 first. Then "李雷", whose answer takes 6 s.
    page.fill("#test-customer", "李")
    page.wait_for_selector(
        f'#test-send-form .hub-picker-results:not(.hub-picker-stale) .hub-picker-option[data-customer-id="{wrong.pk}"]'
    )
    page.fill("#test-customer", SLOW_QUERY)
    stale = page.locator("#test-send-form .hub-picker-option").first
    assert stale.get_attribute("data-customer-id") == str(wrong.pk)  # still on screen, from "李"
    assert page.locator("#test-send-form .hub-picker-results.hub-picker-stale").count() == 1
    box = stale.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a quick click on it
    assert _picker_value(page, "#test-send-form") == ""
    page.focus("#test-customer")
    page.keyboard.press("Enter")  # Enter while the answer is on its way chooses nothing either
    assert _picker_value(page, "#test-send-form") == ""

    # The answer to "李雷" arrives: its first result is the one clicked.
    page.wait_for_selector("#test-send-form .hub-picker-results:not(.hub-picker-stale) .hub-picker-option")
    page.locator("#test-send-form .hub-picker-option").first.click()
    assert _picker_value(page, "#test-send-form") == str(right.pk)
    page.click("#test-send-submit")
    page.wait_for_selector("#test-send-result[data-status=succeeded]", timeout=30_000)
    assert [json.loads(r.body)["name"] for r in receiver.received] == ["李雷"]
    assert Delivery.objects.get().customer_id == right.pk


def test_sample_event_and_test_connection(page, live_server, worker, receiver):
    base = live_server.url
    silver = MembershipLevel.objects.create(name="银卡", rank=1)
    gold = MembershipLevel.objects.create(name="金卡", rank=2)
    member = Customer.objects.create(
        name="王芳", wechat_nickname="芳芳", mobile="13900000001", membership_id="M0001", level=gold, points=300
    )
    today = timezone.localdate()
    coupon = Coupon.objects.create(name="满100减20", start_date=today, end_date=today + timedelta(days=30))
    code = CouponCode.objects.create(
        coupon=coupon,
        code="K7Q2M9XW3RTA",
        batch_id="B20261127",
        customer=member,
        status=CouponCode.Status.DISPATCHED,
        start_date=today,
        end_date=today + timedelta(days=30),
    )
    level_hook = make_webhook(
        receiver.url("/level"), name="会员升级通知", trigger_type="fixed", event=FixedEvent.MEMBERSHIP_LEVEL_UP
    )
    log_in(page, base)

    # The fixed-event webhook's dialog: a sample of its event for one member, and the receiver's answer.
    page.goto(f"{base}/admin/webhooks/webhook/")
    page.click(f'a[data-webhook="{level_hook.pk}"]')
    page.wait_for_selector("#sample-event-form")
    page.fill("#sample-customer", "王")
    page.click("#sample-event-form .hub-picker-option >> text=王芳")
    page.click("#sample-event-submit")
    result = page.wait_for_selector("#sample-event-result[data-status=succeeded]", timeout=30_000)
    assert result.query_selector("[data-response-status='200']")
    assert "X-Clab-Hmac-Signature" in result.inner_text()
    assert page.is_hidden("#sample-event-note")  # every value is the member's own
    hit = receiver.received[0]
    assert hit.signature_ok is True
    body = json.loads(hit.body)
    assert (body["oldLevel"], body["newLevel"], body["membershipId"]) == ("银卡", "金卡", "M0001")
    assert body["oldLevelId"] == silver.pk

    # A member without coupons: the dialog names the sample values.
    coupon_hook = make_webhook(
        receiver.url("/draw"), name="领券通知", trigger_type="fixed", event=FixedEvent.DRAW_COUPON
    )
    Customer.objects.create(name="赵雷", mobile="13900000002", membership_id="M0002")
    page.goto(f"{base}/admin/webhooks/webhook/")
    page.click(f'a[data-webhook="{coupon_hook.pk}"]')
    page.fill("#sample-customer", "赵")
    page.click("#sample-event-form .hub-picker-option >> text=赵雷")
    page.click("#sample-event-submit")
    page.wait_for_selector("#sample-event-result[data-status=succeeded]", timeout=30_000)
    note = page.inner_text("#sample-event-note")
    assert "示例值" in note
    assert "couponName" in note
    assert json.loads(receiver.received[-1].body)["couponName"] == "示例优惠券（sample）"  # noqa: RUF001
    page.screenshot(path=str(SHOTS / "sample-event.png"))
    code.refresh_from_db()
    assert code.status == CouponCode.Status.DISPATCHED
    member.refresh_from_db()
    assert member.level_id == gold.pk

    # Test connection on the webhook's page: a refused password, then success.
    basic = make_webhook(
        receiver.url("/crm"),
        name="CRM 线索",
        auth_type=Webhook.AuthType.BASIC,
        basic_username="hub",
        basic_password="wrong",
    )
    page.goto(f"{base}/admin/webhooks/webhook/{basic.pk}/change/")
    page.click("#connection-test-button")
    page.wait_for_selector("#connection-test-result[data-outcome=auth_failed]", timeout=30_000)
    assert "鉴权失败（HTTP 401）" in page.inner_text("#connection-test-result")  # noqa: RUF001
    page.goto(f"{base}/admin/webhooks/webhook/{level_hook.pk}/change/")
    page.click("#connection-test-button")
    page.wait_for_selector("#connection-test-result[data-outcome=ok]", timeout=30_000)
    text = page.inner_text("#connection-test-result")
    assert "连接成功" in text
    assert "webhookhub/ping" in text
    assert receiver.received[-1].headers["X-Clab-Event"] == "webhookhub/ping"
    page.screenshot(path=str(SHOTS / "test-connection.png"))
    assert Delivery.objects.count() == 2  # the two sample events; pings are not deliveries
