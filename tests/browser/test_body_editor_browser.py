# ruff: noqa: RUF001 - the Chinese sentences use full-width punctuation on purpose
"""The message body editor in a real browser (zh-hans): the attribute picker inserts placeholders at
the cursor (with a fallback), a micro-page's form fields appear when the page is chosen, a starter
template replaces the body, and a misspelt name or a JSON mistake is said as one types and again on save.
Saves docs/screenshots/body-editor.png."""

import time

import pytest

from automation.models import FormField, MicroPage
from customers.models import Customer
from tests.support.browser import SHOTS, admin_page, log_in
from webhooks.content.body_fields import GROUP_SEND_STARTER
from webhooks.models import Webhook

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(live_server, browser):
    with admin_page(browser, width=1400, height=1000, accept_dialogs=True) as page:
        yield page


def _cursor_after(page, text: str) -> None:
    """Put the editor's cursor just after the first `text` in it."""
    page.evaluate(
        """(text) => { const e = document.getElementById("id_body_template");
                       const at = e.value.indexOf(text) + text.length; e.focus(); e.setSelectionRange(at, at); }""",
        text,
    )


def _value(page) -> str:
    return page.input_value("#id_body_template")


def _wait(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_attribute_picker_starters_and_warnings(page, live_server):
    base = live_server.url
    Customer.objects.create(name="王", mobile="13900000001", attributes={"city": "上海"})
    signup = MicroPage.objects.create(title="试驾报名", slug="test-drive")
    FormField.objects.create(page=signup, label="姓名", key="name", order=1)
    FormField.objects.create(page=signup, label="意向车型", key="model", order=2)
    MicroPage.objects.create(title="空白页", slug="blank")
    log_in(page, base)
    page.goto(f"{base}/admin/webhooks/webhook/add/")
    page.fill("#id_name", "CRM 线索")
    page.fill("#id_url", "https://crm.example.com/hook")

    # Labelled in the user's language, grouped; closed until asked for.
    assert page.inner_text("#insert-attribute").startswith("插入属性")
    assert page.is_hidden("#attribute-panel")
    page.click("#insert-attribute")
    assert page.is_visible("#attribute-panel")
    assert page.inner_text('[data-group="customer"] h3') == "客户属性"
    assert page.inner_text('[data-group="member"] h3') == "会员属性"
    assert page.is_visible('[data-group="custom"] .hub-attr[data-name="customer.city"]')

    # Inserted at the cursor, not at the end.
    page.fill("#id_body_template", '{"name": "", "id": ${customerId}}')
    _cursor_after(page, '"name": "')
    page.click('.hub-attr[data-name="customer.name"]')
    assert _value(page) == '{"name": "${customer.name}", "id": ${customerId}}'
    # Typing goes on where the insert ended.
    page.keyboard.type("!")
    assert _value(page) == '{"name": "${customer.name}!", "id": ${customerId}}'

    # With a fallback: ${name!"fallback"}, quotes escaped.
    page.fill("#id_body_template", '{"level": ""}')
    _cursor_after(page, '"level": "')
    page.fill("#attr-fallback", '普通"会员')
    page.click('.hub-attr[data-name="member.level"]')
    assert _value(page) == '{"level": "${member.level!"普通\\"会员"}"}'
    page.fill("#attr-fallback", "")

    # A micro-page's form fields appear when it is chosen.
    assert page.locator('.hub-attr[data-name="form.model"]').is_hidden()
    page.select_option("#attr-page", str(signup.pk))
    assert page.is_visible('.hub-attr[data-name="form.model"]')
    assert page.inner_text('.hub-attr[data-name="form.model"]') == "意向车型"
    page.fill("#id_body_template", '{"model": ""}')
    _cursor_after(page, '"model": "')
    page.click('.hub-attr[data-name="form.model"]')
    assert _value(page) == '{"model": "${form.model}"}'

    # A starter replaces the body (after a confirmation); the form starter uses the chosen page's fields.
    page.click('.hub-starter[data-starter="group_send"]')
    assert _value(page) == GROUP_SEND_STARTER
    page.click('.hub-starter[data-starter="form"]')
    assert '"model": "${form.model}"' in _value(page)

    # A misspelt name: a warning as one types, with the name meant.
    page.fill("#id_body_template", '{\n  "name": "${customer.nmae}",\n  "id": ${customerId}\n}')
    warning = page.wait_for_selector("#body-warnings:not([hidden]) li")
    assert "${customer.nmae} 将始终为空" in warning.inner_text()
    assert "是否想写 ${customer.name}" in warning.inner_text()
    assert page.is_hidden("#body-error")
    page.locator("#body-help").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "body-editor.png"), full_page=True)

    # A name outside the list is refused (as the save would), with where it is and the name meant.
    page.fill("#id_body_template", '{"name": "${custmer.name}"}')
    page.wait_for_selector("#body-error:not([hidden]) li >> text=custmer.name")
    assert page.inner_text("#body-error li") == (
        "第 1 行第 11 列：${…} 中的属性“custmer.name”不存在。是否想写 ${customer.name}？"
    )

    # A JSON mistake: said at once, at the line and column typed, in Chinese.
    page.fill("#id_body_template", '{\n  "name": "${customer.nmae}"\n  "id": ${customerId}\n}')
    error = page.wait_for_selector("#body-error:not([hidden]) li >> text=消息体不是有效的 JSON")
    assert error.inner_text() == "消息体不是有效的 JSON：第 3 行第 3 列附近：缺少逗号。"
    # The misspelt name is still said beside the JSON error.
    _wait(lambda: "customer.nmae" in page.inner_text("#body-warnings"))

    # Saved with the mistake fixed: the save goes through, and the warning is said again.
    page.fill("#id_body_template", '{\n  "name": "${customer.nmae}",\n  "id": ${customerId}\n}')
    page.click("input[name=_continue]")
    notice = page.wait_for_selector(".messagelist .warning >> text=customer.nmae")
    assert "将始终为空" in notice.inner_text()
    webhook = Webhook.objects.get(name="CRM 线索")
    assert "customer.nmae" in webhook.body_template
    # On the saved webhook's page the editor checks what is there at once.
    _wait(lambda: page.locator("#body-warnings li").count() == 1)


def test_the_editor_keeps_the_body_valid_json_and_starts_from_the_webhooks_use(page, live_server):
    import json

    from webhooks.models import DEFAULT_BODY_TEMPLATE

    base = live_server.url
    log_in(page, base)
    # A new webhook starts from the group-send body (the seed's first use); ?use=flow from DM Hub's flow body.
    page.goto(f"{base}/admin/webhooks/webhook/add/")
    assert _value(page) == GROUP_SEND_STARTER
    page.goto(f"{base}/admin/webhooks/webhook/add/?use=flow")
    assert _value(page) == DEFAULT_BODY_TEMPLATE
    # Each field once: 客户 ID is listed in one group only.
    page.click("#insert-attribute")
    labels = page.locator("#attribute-panel .hub-attr:visible").all_inner_texts()
    assert labels.count("客户 ID") == 1

    # The cursor never placed: the attribute becomes a new key before the final "}", the body stays JSON.
    page.click('.hub-attr[data-name="customer.wechatNickname"]')
    body = _value(page)
    masked = json.loads(
        body.replace("${flowId}", "0")
        .replace("${flowStep}", "0")
        .replace("${customerId}", "0")
        .replace("${customer.wechatNickname}", "0")
    )
    assert masked["wechatNickname"] == "0"
    assert body.endswith('"wechatNickname": "${customer.wechatNickname}"}')
    page.wait_for_timeout(800)
    assert page.is_hidden("#body-error")

    # The cursor placed, then the marketer clicked elsewhere: inserted where she last was.
    page.fill("#id_body_template", '{"nick": "", "id": ${customerId}}')
    _cursor_after(page, '"nick": "')
    page.click("#id_name")
    page.click('.hub-attr[data-name="customer.name"]')
    assert _value(page) == '{"nick": "${customer.name}", "id": ${customerId}}'
