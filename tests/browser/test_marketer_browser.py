# ruff: noqa: RUF001 - the Chinese sentences use full-width punctuation on purpose
"""The seed's steps 2 to 5 as a Marketer (营销人员) in a real browser (zh-hans), against a live server, a
real worker and the real receiver: from the first screen she creates her webhook with a secret key
(新建 Webhook), test-sends it to a customer found by name (测试发送), sends it to a group (群发) and
reads the results (群发记录, 推送记录). What is the administrator's is hidden, or explained with whom to ask.
Saves docs/screenshots/first-screen.png and forbidden.png."""

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import User

from customers.models import Customer
from tests.factories import make_customers, make_group
from tests.support.browser import PASSWORD, SHOTS, admin_page, log_in
from webhookhub.roles import ADMINISTRATOR, MARKETER
from webhooks.models import Delivery, GroupSend, Webhook

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(live_server, browser):
    with admin_page(browser, width=1366, height=768, accept_dialogs=True) as page:
        yield page


def test_a_marketer_walks_the_seeds_steps_2_to_5(page, live_server, worker, receiver):
    base = live_server.url
    boss = User.objects.create_user("laowang", password=PASSWORD, is_staff=True)
    boss.groups.add(AuthGroup.objects.get(name=ADMINISTRATOR))
    xiaomei = User.objects.create_user("xiaomei", password=PASSWORD, is_staff=True)
    xiaomei.groups.add(AuthGroup.objects.get(name=MARKETER))
    make_customers(3, prefix="会员")
    Customer.objects.create(name="王丽丽", wechat_nickname="丽丽", mobile="13700054321")
    group = make_group(Customer.objects.filter(name__startswith="会员"), name="双十二")
    log_in(page, base, username="xiaomei", create=False)

    # The first screen: the three first steps, and what her role may do.
    steps = page.locator("#hub-first-steps li")
    assert [text.split("\n")[0].strip() for text in steps.all_inner_texts()] == ["新建 Webhook", "发送消息", "群发记录"]
    assert "您的角色：营销人员。" in page.inner_text("#hub-roles")
    page.screenshot(path=str(SHOTS / "first-screen.png"), full_page=True)

    # Step 2, 新建 Webhook: from the first screen, with a secret key (write-only); the body starts as a group send's.
    page.click("#hub-first-steps a >> text=新建 Webhook")
    page.wait_for_selector("#id_name")
    assert '"sendId": ${sendId}' in page.input_value("#id_body_template")
    page.fill("#id_name", "她的 CRM")
    page.fill("#id_url", receiver.url())
    page.select_option("#id_auth_type", "secret")
    page.fill("#id_secret_key", "s3cr3t")
    page.click("input[name=_save]")
    page.wait_for_selector("#result_list")
    webhook = Webhook.objects.get(name="她的 CRM")
    assert webhook.secret_key.reveal() == "s3cr3t"
    assert "s3cr3t" not in page.content()

    # Step 4, 测试发送 (before the group send, as the seed advises): a customer found by name.
    page.click(f'a[data-webhook="{webhook.pk}"]')
    page.wait_for_selector("#send-dialog")
    page.fill("#test-customer", "王丽")
    page.click(".hub-picker-option >> text=王丽丽")
    page.click("#test-send-submit")
    result = page.wait_for_selector("#test-send-result[data-status=succeeded]", timeout=30_000)
    assert result.query_selector("[data-response-status='200']")
    assert receiver.received[0].signature_ok

    # Step 3, 群发: to the group, now.
    page.click("#send-mode-group")
    page.select_option("#id_group", str(group.pk))
    page.click("#group-send-submit")
    page.wait_for_selector("#group-send-result #open-sends")
    send = GroupSend.objects.get()

    # Step 5, 查看发送结果: the sends list follows the send to completed; every delivery succeeded.
    page.click("#open-sends")
    page.wait_for_selector(f'[data-send-status="{send.pk}"] [data-status="completed"]', timeout=60_000)
    page.goto(f"{base}/admin/webhooks/delivery/?send={send.pk}")
    assert page.locator("#result_list tbody tr").count() == 3
    assert set(Delivery.objects.filter(message__group_send=send).values_list("status", flat=True)) == {"succeeded"}

    # Pausing is the administrator's: no button on her webhook's page, a sentence naming whom to ask.
    page.goto(f"{base}/admin/webhooks/webhook/{webhook.pk}/change/")
    assert page.locator("#pause-webhook").count() == 0
    assert "暂停和恢复 Webhook由管理员操作：请联系 laowang。" in page.inner_text("#pause-ask-admin")
    # A link to an administrator's page followed anyway: a page in her words, never a bare 403.
    response = page.goto(f"{base}/admin/alerts/channel/add/")
    assert response.status == 403
    assert "您的角色不包含此页面或操作，因此没有做任何更改。" in page.inner_text("#content")
    assert "请联系 laowang" in page.inner_text("#forbidden-ask")
    assert "Forbidden" not in page.content()
    page.screenshot(path=str(SHOTS / "forbidden.png"))
