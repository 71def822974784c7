"""The seed's steps from login to a delivered group send, on a 1366×768 screen, in zh-hans and in English,
against a live server, a real rq worker (with its scheduler) and the real receiver on 127.0.0.1.

Log in, open the webhook list, 发送消息 → 群发 → a group → now, watch the sends list reach 已完成 with its
progress in words, open the send's deliveries, search them by a customer's name. On every list: nothing is
wider than the screen (the page and each table's box) and the action column (取消/停止) is in view without
scrolling. The language follows the browser's Accept-Language. zh-hans retakes the README's screenshots.
"""

import csv
import io
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone, translation

from customers.models import Customer
from tests.factories import make_group
from webhooks import services
from webhooks.models import Delivery, GroupSend, Webhook

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "browser-pass-1"
WIDTH, HEIGHT = 1366, 768
LANGUAGES = {"zh-hans": "zh-CN", "en": "en-US"}

# The page and each list's table fit the screen; the table fits its own box (no sideways scroll inside).
FITS = """() => {
  const width = window.innerWidth;
  const problems = [];
  if (document.documentElement.scrollWidth > width) problems.push('page ' + document.documentElement.scrollWidth);
  for (const table of document.querySelectorAll('table')) {
    const box = table.getBoundingClientRect();
    if (box.width && box.right > width + 0.5) problems.push('table right ' + box.right);
    const holder = table.parentElement;
    if (holder && holder.scrollWidth > holder.clientWidth + 1)
      problems.push('box ' + (holder.id || holder.className) + ' ' + holder.scrollWidth + ' > ' + holder.clientWidth);
  }
  return problems;
}"""

# Where an element is, as the screen shows it now (no scrolling done).
IN_VIEW = """(selector) => {
  const box = document.querySelector(selector).getBoundingClientRect();
  return {left: box.left, right: box.right, top: box.top, bottom: box.bottom,
          width: window.innerWidth, height: window.innerHeight, scrollX: window.scrollX};
}"""


def _wait(condition, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _fits(page, where):
    problems = page.evaluate(FITS)
    assert problems == [], f"{where}: wider than the {WIDTH}px screen: {problems}"


def _in_view(page, selector):
    box = page.evaluate(IN_VIEW, selector)
    assert box["scrollX"] == 0
    assert box["left"] >= 0, f"{selector} is off screen sideways: {box}"
    assert box["right"] <= box["width"], f"{selector} is off screen sideways: {box}"
    assert box["top"] >= 0, f"{selector} is above the screen: {box}"
    assert box["bottom"] <= box["height"], f"{selector} is below the fold: {box}"


@pytest.fixture(params=list(LANGUAGES), ids=list(LANGUAGES))
def language(request):
    return request.param


@pytest.fixture
def page(live_server, browser, language):
    context = browser.new_context(
        locale=LANGUAGES[language],
        timezone_id="Asia/Shanghai",
        extra_http_headers={"Accept-Language": language},
        viewport={"width": WIDTH, "height": HEIGHT},
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def test_group_send_from_login_to_its_deliveries_on_a_1366_screen(page, live_server, worker, receiver, language):
    base = live_server.url
    with translation.override(language):
        words = {
            key: translation.gettext(key) for key in ("Succeeded", "Failed", "Cancel", "Deliveries", "Send message")
        }
        words["completed"] = str(GroupSend.Status.COMPLETED.label)
    customers = Customer.objects.bulk_create(
        [Customer(name=f"会员{i}", wechat_nickname=f"小{i}", mobile=f"1390000000{i}") for i in range(5)]
        + [Customer(name="欧阳娜娜娜娜娜娜娜娜娜娜娜娜娜娜", wechat_nickname="很长的微信昵称", mobile="13912345678")]
    )
    group = make_group(customers, name="华东区域高价值 VIP 客户 (2026 年双十二活动)")
    webhook = Webhook.objects.create(
        name="CRM 线索推送 (华东区域大客户专用接收端)",
        url=receiver.url(),
        auth_type=Webhook.AuthType.SECRET,
        secret_key="s3cr3t",
        body_template='{"name":"${customer.name}","id":${customerId}}',
    )
    staff = User.objects.create_superuser("staff", "staff@example.com", PASSWORD)

    # Log in; the webhook list.
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    page.goto(f"{base}/admin/webhooks/webhook/")
    assert page.inner_text(f'a[data-webhook="{webhook.pk}"]') == words["Send message"]

    # 发送消息 → 群发 → the group → now.
    page.click(f'a[data-webhook="{webhook.pk}"]')
    page.wait_for_selector("#send-dialog")
    page.click("#send-mode-group")
    page.select_option("#id_group", str(group.pk))
    page.check("#group-send-form input[name=when][value=now]")
    page.click("#group-send-submit")
    page.wait_for_selector("#group-send-result #open-sends")
    send = GroupSend.objects.get()

    # A later send, scheduled: its row has the 取消 button to find on screen.
    later = services.group_send_create(
        webhook=webhook, group=group, scheduled_at=timezone.now() + timedelta(hours=2), user=staff
    )

    # The sends list follows the send to 已完成, its progress in words.
    page.click("#open-sends")
    page.wait_for_selector(f'[data-send-status="{send.pk}"] [data-status="completed"]', timeout=60_000)
    progress = page.locator(f'[data-send-progress="{send.pk}"]')
    _wait(lambda: progress.get_attribute("data-succeeded") == "6", timeout=10, what="progress to show 6")
    assert progress.get_attribute("data-sent-pct") == "100"
    assert page.inner_text(f'[data-send-status="{send.pk}"]') == words["completed"]
    legend = progress.locator(".hub-legend").inner_text()
    assert words["Succeeded"] in legend, legend
    assert words["Failed"] in legend, legend
    assert progress.locator(".hub-pct").inner_text() == "100%"
    _fits(page, "sends list")
    cancel = f'[data-send-cancel="{later.pk}"]'
    assert page.inner_text(cancel) == words["Cancel"]
    _in_view(page, cancel)
    if language == "zh-hans":
        page.screenshot(path=str(SHOTS / "sends-list.png"))
        page.locator(f"#result_list tr:has([data-send-progress='{send.pk}'])").screenshot(
            path=str(SHOTS / "sends-progress.png")
        )

    # The send's results as CSV, for Excel: UTF-8 with a byte order mark, one row per customer.
    export = page.get_attribute(f'[data-send-export="{send.pk}"]', "href")
    answer = page.request.get(base + export)
    assert answer.ok
    assert answer.body().startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.body().decode("utf-8-sig"))))
    assert len(rows) == 1 + 6
    assert {row[3] for row in rows[1:]} == {c.mobile for c in customers}

    # Its deliveries, through the row's link.
    page.click(f'[data-send-deliveries="{send.pk}"]')
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 6
    assert Delivery.objects.filter(message__group_send=send, status=Delivery.Status.SUCCEEDED).count() == 6
    _fits(page, "deliveries list")
    # A long name is cut with an ellipsis, the whole of it in its title; no cell wraps a character a line.
    long_name = page.locator('.field-customer_cell .hub-clip[title^="欧阳"]')
    assert long_name.get_attribute("title") == "欧阳娜娜娜娜娜娜娜娜娜娜娜娜娜娜"
    heights = page.evaluate(
        "() => Array.from(document.querySelectorAll('#result_list .field-event_cell .hub-clip'))"
        ".map(e => e.getBoundingClientRect().height)"
    )
    assert heights, "no event cells"
    assert max(heights) < 24, heights
    if language == "zh-hans":
        page.screenshot(path=str(SHOTS / "deliveries-list.png"))

    # Search by the start of a customer's name, then by the ID prefix the list shows.
    page.fill("#searchbar", "欧阳")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    _fits(page, "deliveries search")
    if language == "zh-hans":
        page.screenshot(path=str(SHOTS / "deliveries-search.png"))
    shown = page.inner_text("#result_list tbody .field-short_id code")
    assert len(shown) == 8
    page.fill("#searchbar", shown)
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    assert page.get_attribute("#result_list tbody .field-short_id code", "title").startswith(shown)


def test_redeliver_asks_first_and_the_page_shows_the_new_attempt_by_itself(live_server, browser, worker, receiver):
    context = browser.new_context(
        locale="zh-CN", extra_http_headers={"Accept-Language": "zh-hans"}, viewport={"width": WIDTH, "height": HEIGHT}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    questions = []
    answers = iter([False, True])  # the first time the person says no, then yes

    def answer(dialog):
        questions.append(dialog.message)
        if next(answers):
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", answer)
    failing = Webhook.objects.create(name="坏的接收端", url=receiver.url("/status/500"))
    customer = Customer.objects.create(name="李雷", mobile="13800138000")
    delivery = services.message_test_send(webhook=failing, customer=customer, user=None)
    _wait(
        lambda: Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.FAILED).exists(),
        timeout=30,
        what="the delivery to fail",
    )
    User.objects.create_superuser("staff", "staff@example.com", PASSWORD)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/webhooks/delivery/{delivery.pk}/change/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#delivery-summary")
    assert page.locator("[data-attempt]").count() == 1
    _fits(page, "delivery page")
    assert "UTC+8" in page.inner_text("#time-zone")

    # No: nothing is sent again.
    page.click("#redeliver-button")
    with translation.override("zh-hans"):
        question = translation.gettext(
            "Send this delivery again? The receiver gets the same message, with the same delivery ID."
        )
    assert questions == [question]
    time.sleep(1)
    assert Delivery.objects.get(pk=delivery.pk).attempt_count == 1

    # Yes: the page reloads by itself once the second attempt is recorded (no reload by the test).
    page.click("#redeliver-button")
    page.wait_for_selector(".messagelist .success")
    page.wait_for_selector('[data-attempt="2"]', timeout=30_000)
    assert len(questions) == 2
    assert page.get_attribute("#delivery-summary", "data-attempts") == "2"
    assert page.get_attribute("#delivery-summary", "data-watch") is None
    assert delivery.attempts.get(number=2).requested_by.username == "staff"
    context.close()
