import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers.groups import group_import_csv
from customers.models import Customer, Group, GroupEntry, MembershipLevel

from ..factories import make_customers, make_group

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["customer", "group", "membershiplevel"])
def test_customer_pages_render(admin_client, model):
    customers = make_customers(3)
    group = make_group(customers)
    level = MembershipLevel.objects.create(name="金卡", rank=1)
    obj = {"customer": customers[0], "group": group, "membershiplevel": level}[model]
    for url in (
        reverse(f"admin:customers_{model}_changelist"),
        reverse(f"admin:customers_{model}_add"),
        reverse(f"admin:customers_{model}_change", args=[obj.pk]),
        reverse(f"admin:customers_{model}_delete", args=[obj.pk]),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url


def test_admin_speaks_chinese_by_default(admin_client, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    response = admin_client.get(reverse("admin:customers_customer_changelist"))
    assert "客户" in response.content.decode()


def test_customer_search_by_name_nickname_and_mobile(admin_client):
    Customer.objects.create(name="王小明", wechat_nickname="快乐的猫", mobile="13811112222")
    Customer.objects.create(name="李四", wechat_nickname="星空", mobile="13933334444")
    url = reverse("admin:customers_customer_changelist")
    for term in ("王小明", "快乐的猫", "13811112222"):
        page = admin_client.get(url, {"q": term}).content.decode()
        assert "王小明" in page, term
        assert "李四" not in page, term


def test_customer_create_edit_delete_through_the_admin(admin_client):
    add = reverse("admin:customers_customer_add")
    data = {
        "name": "赵六",
        "wechat_nickname": "追风",
        "mobile": "13700001111",
        "email": "z@example.com",
        "activity_score": "10",
        "membership_id": "",
        "level": "",
        "points": "0",
        "attributes": '{"city": "上海"}',
    }
    response = admin_client.post(add, data)
    assert response.status_code == 302
    customer = Customer.objects.get(mobile="13700001111")
    assert customer.attributes == {"city": "上海"}

    bad = admin_client.post(reverse("admin:customers_customer_change", args=[customer.pk]), {**data, "mobile": "123"})
    assert bad.status_code == 200
    assert "mobile" in bad.context["adminform"].form.errors

    admin_client.post(reverse("admin:customers_customer_delete", args=[customer.pk]), {"post": "yes"})
    assert not Customer.objects.filter(pk=customer.pk).exists()


def test_customer_list_queries_do_not_grow_with_rows(admin_client, django_assert_max_num_queries):
    level = MembershipLevel.objects.create(name="金卡", rank=1)
    make_customers(60)
    Customer.objects.update(level=level, membership_id=None or "")
    with django_assert_max_num_queries(12):
        admin_client.get(reverse("admin:customers_customer_changelist"))


def test_add_and_remove_customers_from_a_group_with_list_actions(admin_client):
    customers = make_customers(3)
    group = Group.objects.create(name="活动群")
    url = reverse("admin:customers_customer_changelist")
    ids = [str(c.pk) for c in customers[:2]]
    response = admin_client.post(url, {"action": "add_to_group", "_selected_action": ids})
    assert response.status_code == 200  # the page that asks which group
    admin_client.post(url, {"action": "add_to_group", "_selected_action": ids, "group": group.pk, "apply": "1"})
    assert set(group.customers.values_list("pk", flat=True)) == {customers[0].pk, customers[1].pk}

    admin_client.post(
        url, {"action": "remove_from_group", "_selected_action": ids[:1], "group": group.pk, "apply": "1"}
    )
    assert set(group.customers.values_list("pk", flat=True)) == {customers[1].pk}


def test_group_list_shows_customer_counts(admin_client):
    make_group(make_customers(4), name="四人组")
    page = admin_client.get(reverse("admin:customers_group_changelist")).content.decode()
    assert "四人组" in page
    assert '<td class="field-customer_count">4</td>' in page


GOOD_CSV = (
    "姓名,手机,微信昵称,邮箱,city\n张三,13800000001,小张,zhang@example.com,上海\n李四,+86 138-0000-0002,,,北京\n"
).encode("utf-8-sig")


def test_csv_import_of_a_good_file_creates_customers_and_joins_them():
    existing = Customer.objects.create(name="旧名字", mobile="13800000002", attributes={"vip": True})
    group = Group.objects.create(name="导入")
    result = group_import_csv(group=group, data=GOOD_CSV)
    assert result.ok, result.errors
    assert (result.created, result.updated, result.joined) == (1, 1, 2)
    existing.refresh_from_db()
    assert existing.name == "李四"
    assert existing.attributes == {"vip": True, "city": "北京"}
    zhang = Customer.objects.get(mobile="13800000001")
    assert zhang.wechat_nickname == "小张"
    assert zhang.attributes == {"city": "上海"}
    assert group.customers.count() == 2


def test_csv_import_of_a_bad_file_reports_each_row_and_imports_nothing():
    group = Group.objects.create(name="导入")
    data = (
        "name,mobile,email\n"
        "好人,13800000001,ok@example.com\n"
        ",13800000002,\n"
        "坏手机,12345,\n"
        "坏邮箱,13800000003,not-an-email\n"
        "重复,13800000001,\n"
    ).encode()
    result = group_import_csv(group=group, data=data)
    rows = dict(result.errors)
    assert set(rows) == {3, 4, 5, 6}
    assert "name is empty" in rows[3]
    assert "mobile" in rows[4].lower()
    assert "not-an-email" in rows[5]
    assert "row 2" in rows[6]
    assert Customer.objects.count() == 0
    assert GroupEntry.objects.count() == 0


def test_csv_import_reads_gb18030_files_from_chinese_excel():
    group = Group.objects.create(name="导入")
    result = group_import_csv(group=group, data="姓名,手机\n王五,13800000009\n".encode("gb18030"))
    assert result.ok
    assert Customer.objects.get().name == "王五"


def test_csv_import_refuses_unknown_columns():
    group = Group.objects.create(name="导入")
    result = group_import_csv(group=group, data="姓名,城 市\n王五,上海\n".encode())
    assert not result.ok
    assert "城 市" in result.errors[0][1]


def test_csv_import_page_shows_the_error_report(admin_client):
    group = Group.objects.create(name="导入")
    url = reverse("admin:customers_group_import", args=[group.pk])
    assert admin_client.get(url).status_code == 200
    upload = SimpleUploadedFile("bad.csv", b"name,mobile\nA,123\n", content_type="text/csv")
    page = admin_client.post(url, {"file": upload}).content.decode()
    assert 'id="import-error-table"' in page
    assert "<td>2</td>" in page
    assert Customer.objects.count() == 0

    good = SimpleUploadedFile("good.csv", GOOD_CSV, content_type="text/csv")
    response = admin_client.post(url, {"file": good})
    assert response.status_code == 302
    assert group.customers.count() == 2
