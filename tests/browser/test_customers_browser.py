"""The customer admin in a real browser: create a customer with custom attributes, find it, put it in a group."""

import pytest
from django.utils import translation

from customers.models import Customer, Group

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(live_server, django_user_model, browser):
    django_user_model.objects.create_superuser("boss", "", "pw-123456!")
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-hans"})
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-123456!")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    yield page
    context.close()


def test_create_customer_with_attributes_search_and_group(page, live_server):
    page.goto(f"{live_server.url}/admin/customers/customer/add/")
    with translation.override("zh-hans"):
        heading = translation.gettext("Add %s") % Customer._meta.verbose_name
    assert page.title().startswith(f"{heading} |"), page.title()  # the add page, in zh-hans
    assert page.inner_text("#content h1") == heading
    page.fill("#id_name", "王小明")
    page.fill("#id_wechat_nickname", "快乐的猫")
    page.fill("#id_mobile", "13811112222")
    page.click(".key-value-add")
    page.locator(".kv-key").last.fill("city")
    page.locator(".kv-value").last.fill("上海")
    page.click(".key-value-add")
    page.locator(".kv-key").last.fill("visits")
    page.locator(".kv-value").last.fill("3")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    customer = Customer.objects.get(mobile="13811112222")
    assert customer.attributes == {"city": "上海", "visits": 3}

    # A bad mobile gets a clear error in Chinese and saves nothing.
    page.goto(f"{live_server.url}/admin/customers/customer/add/")
    page.fill("#id_name", "李四")
    page.fill("#id_mobile", "12345")
    page.click("input[name=_save]")
    assert "请输入有效的手机号" in page.locator(".errorlist").first.inner_text()
    assert not Customer.objects.filter(name="李四").exists()

    group = Group.objects.create(name="上海客户")
    page.goto(f"{live_server.url}/admin/customers/customer/?q=快乐的猫")
    assert page.locator("#result_list tbody tr").count() == 1
    page.check("#result_list tbody input.action-select")
    page.select_option("select[name=action]", "add_to_group")
    page.click("button[name=index]")
    page.select_option("#id_group", str(group.pk))
    page.click("input[name=apply]")
    page.wait_for_selector(".messagelist .success")
    assert list(group.customers.values_list("name", flat=True)) == ["王小明"]
