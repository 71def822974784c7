"""The marketer's screens in a real browser (navigation): the language switcher, the admin's sections in
both languages, the filter_horizontal widget in Chinese, the customer list without bulk delete, the
micro-page form within 1440 px, the flow form's trigger fields and step order."""

import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from automation.models import Flow, FlowStep, MicroPage
from customers.models import Customer
from tests.factories import make_customers, make_webhook
from webhooks.selectors import engine_warnings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "nav-pass-1"


@pytest.fixture
def context(browser):
    context = browser.new_context(
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        extra_http_headers={"Accept-Language": "zh-hans"},
        viewport={"width": 1440, "height": 900},
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context, live_server):
    User.objects.create_superuser("marketer", "", PASSWORD)
    page = context.new_page()
    _log_in(page, live_server.url)
    return page


def _log_in(page, base):
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "marketer")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def _lang(page) -> str:
    return page.get_attribute("html", "lang")


def _sections(page) -> list[str]:
    # The text, not as shown: English captions are in Django's capitals.
    return [text.strip() for text in page.locator("#content-main .module caption").all_text_contents()]


def _fits(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def test_language_switcher_on_every_page_and_it_persists(context, live_server):
    base = live_server.url
    User.objects.create_superuser("marketer", "", PASSWORD)
    page = context.new_page()
    page.goto(f"{base}/admin/login/")
    assert _lang(page) == "zh-hans"
    # On the login page already: the browser asks for Chinese, the person chooses English.
    page.click("#language-switcher button[value=en]")
    page.wait_for_load_state()
    assert _lang(page) == "en"
    assert page.locator("input[type=submit]").get_attribute("value") == "Log in"
    cookie = next(c for c in context.cookies() if c["name"] == "django_language")
    assert cookie["value"] == "en"
    assert cookie["expires"] > time.time() + 300 * 24 * 3600  # kept, not a session cookie
    _log_in(page, base)
    assert _lang(page) == "en"
    assert _sections(page)[0] == "Webhook settings"
    for path in ("/admin/webhooks/webhook/", "/admin/customers/customer/", "/admin/automation/flow/add/"):
        page.goto(base + path)
        assert _lang(page) == "en", path
        assert page.locator("#language-switcher button[value=en][aria-current=true]").count() == 1
    page.click("#language-switcher button[value=zh-hans]")
    page.wait_for_load_state()
    assert page.url == f"{base}/admin/automation/flow/add/"  # back where the person was
    assert _lang(page) == "zh-hans"
    page.goto(f"{base}/admin/")
    assert _lang(page) == "zh-hans"
    assert _sections(page)[0] == "Webhook 设置"
    page.locator("#header").screenshot(path=str(SHOTS / "language-switcher.png"))


def test_admin_index_in_a_marketers_order_in_both_languages(worker, live_server, context):
    # A running worker first: the screenshot shows the index, not the engine's "no worker" warnings.
    deadline = time.monotonic() + 60
    while engine_warnings() and time.monotonic() < deadline:
        time.sleep(0.5)
    cache.clear()
    User.objects.create_superuser("marketer", "", PASSWORD)
    page = context.new_page()
    _log_in(page, live_server.url)
    make_webhook("https://crm.example.com/hook", name="CRM")
    page.goto(f"{live_server.url}/admin/")
    # As shown: in Chinese no Latin word is put in capitals.
    shown = [text.strip() for text in page.locator("#content-main .module caption").all_inner_texts()]
    assert shown == ["Webhook 设置", "发送记录", "客户与会员", "微页面与自动流程", "开放 API", "告警", "系统"]
    rows = [text.strip() for text in page.locator("#content-main .module th[scope=row]").all_inner_texts()]
    # The webhooks, then the ways out an Administrator sets up for them, then the sending records.
    assert rows[:5] == ["Webhook", "网络出口代理", "私有 CA", "群发记录", "推送记录"]
    assert rows.count("群组") == 1
    assert "角色" in rows
    assert "发送 ID" not in page.content()
    # The sidebar follows the same order.
    page.goto(f"{live_server.url}/admin/webhooks/webhook/")
    sidebar = [text.strip() for text in page.locator("#nav-sidebar .module caption").all_inner_texts()]  # as shown
    assert sidebar == ["Webhook 设置", "发送记录", "客户与会员", "微页面与自动流程", "开放 API", "告警", "系统"]
    # Django's capitals stay English-only: "增加 Webhook", not "增加 WEBHOOK".
    assert page.inner_text(".object-tools a.addlink").strip() == "增加 Webhook"
    page.goto(f"{live_server.url}/admin/")
    page.screenshot(path=str(SHOTS / "admin-index.png"), full_page=True)

    page.click("#language-switcher button[value=en]")
    page.wait_for_load_state()
    assert _sections(page) == [
        "Webhook settings",
        "Sending records",
        "Customers and loyalty",
        "Micro-pages and automation",
        "Open API",
        "Alerts",
        "System",
    ]
    rows = [text.strip() for text in page.locator("#content-main .module th[scope=row]").all_inner_texts()]
    assert rows[:5] == ["Webhooks", "Outbound proxies", "Private CAs", "Group sends", "Deliveries"]
    assert "Roles" in rows
    assert rows.count("Groups") == 1


def test_micro_page_form_in_chinese_and_within_1440_px(page, live_server):
    make_webhook("https://crm.example.com/hook", name="CRM 线索(一个相当长的 Webhook 名字,用来看表单会不会被撑宽)")
    page.goto(f"{live_server.url}/admin/automation/micropage/add/")
    page.wait_for_selector(".selector")
    selector = page.inner_text(".selector")
    titles = " ".join(
        page.eval_on_selector_all(
            ".selector [title], .selector [aria-label]", "els => els.map(e => e.title || e.getAttribute('aria-label'))"
        )
    )
    for english in ("Choose", "Remove", "by selecting them", "Filter", "Available", "Chosen"):
        assert english not in selector + titles, (english, selector, titles)
    assert "全选要调用的 Webhook" in page.inner_text(".selector") + titles
    # "<address>" is shown, not swallowed as a tag.
    assert "/p/<地址>/" in page.inner_text(".field-slug .help")
    width, inner = _fits(page)
    assert width <= inner, (width, inner)
    page.click("#language-switcher button[value=en]")
    page.wait_for_load_state()
    assert "/p/<address>/" in page.inner_text(".field-slug .help")
    width, inner = _fits(page)
    assert width <= inner, (width, inner)


def test_customer_lists_offer_no_bulk_delete_and_action_pages_name_the_selected(page, live_server):
    customers = make_customers(12, prefix="张")
    for customer in customers:
        Customer.objects.filter(pk=customer.pk).update(membership_id=f"M{customer.pk}")
    for path, first in (("customers/customer", "add_to_group"), ("customers/member", "change_level")):
        page.goto(f"{live_server.url}/admin/{path}/")
        values = page.eval_on_selector_all("select[name=action] option", "os => os.map(o => o.value)")
        assert "delete_selected" not in values, values
        assert values[1] == first, values
    page.goto(f"{live_server.url}/admin/customers/customer/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "add_to_group")
    page.click("button[name=index]")
    page.wait_for_selector("#selected-objects")
    assert page.locator("#selected-objects li").count() == 10
    assert "以及另外 2 位" in page.inner_text(".selected-more")


def test_flow_form_shows_the_chosen_triggers_field_and_moves_a_step_up(page, live_server):
    first = make_webhook("https://crm.example.com/a", name="第一个")
    second = make_webhook("https://crm.example.com/b", name="第二个")
    flow = Flow.objects.create(name="积分到 500", trigger=Flow.Trigger.SCORE_REACHED, score_threshold=500)
    FlowStep.objects.create(flow=flow, order=1, kind=FlowStep.Kind.WEBHOOK, webhook=first)
    FlowStep.objects.create(flow=flow, order=2, kind=FlowStep.Kind.WEBHOOK, webhook=second)
    page.goto(f"{live_server.url}/admin/automation/flow/{flow.pk}/change/")
    visible = {
        name: page.is_visible(f".form-row.field-{name}") for name in ("score_threshold", "group", "page", "event")
    }
    assert visible == {"score_threshold": True, "group": False, "page": False, "event": False}
    page.select_option("#id_trigger", "loyalty_event")
    visible = {
        name: page.is_visible(f".form-row.field-{name}") for name in ("score_threshold", "group", "page", "event")
    }
    assert visible == {"score_threshold": False, "group": False, "page": False, "event": True}
    page.select_option("#id_event", index=1)  # chosen, then the trigger changed back: not kept
    page.select_option("#id_trigger", "score_reached")

    page.click("#steps-1 .step-move-up")
    assert page.input_value("#steps-1 input[name$='-order']") == "10"
    assert page.input_value("#steps-0 input[name$='-order']") == "20"
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    steps = list(flow.steps.order_by("order").values_list("webhook__name", flat=True))
    assert steps == ["第二个", "第一个"]
    flow.refresh_from_db()
    assert (flow.trigger, flow.score_threshold, flow.event) == (Flow.Trigger.SCORE_REACHED, 500, "")
    assert MicroPage.objects.count() == 0
