"""A visitor fills a micro-page form on a phone-sized browser; the message reaches the receiver.

Real parts end to end: Debian's chromium through Playwright, the live server, a running rq worker
process (not burst: it picks the job up as a production worker would) and a receiver on 127.0.0.1.
"""

import json
import time

import pytest

from automation.models import FormField, MicroPage, Submission
from customers.models import Customer
from tests.factories import make_webhook

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TEMPLATE = '{"name":"${form.name}","mobile":"${form.mobile}","city":"${form.city}","customerId":${customerId}}'


def test_visitor_submits_the_form_and_the_message_arrives(live_server, receiver, worker, browser):
    webhook = make_webhook(receiver.url("/crm/form"), body_template=TEMPLATE)
    page_obj = MicroPage.objects.create(title="新品试用申请", slug="trial", description="留下联系方式,我们会尽快联系您")
    FormField.objects.create(page=page_obj, label="姓名", key="name", required=True, order=1)
    FormField.objects.create(
        page=page_obj, label="手机号", key="mobile", field_type=FormField.Type.MOBILE, required=True, order=2
    )
    FormField.objects.create(
        page=page_obj,
        label="城市",
        key="city",
        field_type=FormField.Type.SELECT,
        options="上海\n北京",
        required=True,
        order=3,
    )
    page_obj.webhooks.set([webhook])

    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    refused = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security" in message.text else None)
    response = page.goto(f"{live_server.url}/p/trial/")
    assert page.title() == "新品试用申请"
    # Under its Content-Security-Policy the page keeps its own style (the green button) and refuses nothing.
    assert "default-src 'none'" in response.headers["content-security-policy"]
    button_colour = "getComputedStyle(document.querySelector('button[type=submit]')).backgroundColor"
    assert page.evaluate(button_colour) == "rgb(31, 136, 61)"
    # The honeypot is in the form but not where a person can see it.
    box = page.locator("input[name=website]").bounding_box()
    assert box is None or box["x"] + box["width"] <= 0
    # Fits a phone: the submit button is no wider than the screen.
    assert page.locator("button[type=submit]").bounding_box()["width"] <= 375

    page.fill("input[name=f_name]", "林小雨")
    page.fill("input[name=f_mobile]", "1234")
    page.select_option("select[name=f_city]", "北京")
    page.click("button[type=submit]")
    error = page.locator("[data-key=mobile] .errorlist").inner_text()
    assert "11" in error  # the mobile's own message, beside the mobile field
    assert not Submission.objects.exists()

    page.fill("input[name=f_mobile]", "13912345678")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/p/trial/thanks/")
    assert "新品试用申请" in page.content()
    assert refused == []

    deadline = time.monotonic() + 30
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(receiver.received) == 1, "the worker did not deliver the form/submit message in 30 s"
    got = receiver.received[0]
    customer = Customer.objects.get(mobile="13912345678")
    assert got.headers["X-Clab-Event"] == "form/submit"
    assert got.signature_ok is True
    assert json.loads(got.body) == {
        "name": "林小雨",
        "mobile": "13912345678",
        "city": "北京",
        "customerId": customer.pk,
    }
