"""Issue 10.1 and 10.6: only valid Unicode, finite numbers and ASCII mobiles are stored; a recipient whose
data still cannot render fails only its own delivery; `data_repair` cleans rows stored before."""

import io
import json

import pytest
from django.core.management import call_command
from django.db import DataError, connection, transaction
from django.urls import reverse

from automation.models import FormField, MicroPage
from customers.groups import group_import_csv
from customers.models import Customer, Group
from customers.validators import normalize_mobile, validate_mobile
from webhookhub.text import repaired_json, validate_json, validate_text
from webhooks import services
from webhooks.content.templating import TemplateError, compile_template
from webhooks.models import Delivery, GroupSend, Webhook

from ..factories import make_customers, make_group, make_key_owner, make_webhook

SURROGATE_MESSAGE = "not valid Unicode text"
NUL_MESSAGE = "NUL character"
NOT_FINITE_MESSAGE = "not finite"


# --- The validators ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a\ud800b", SURROGATE_MESSAGE),
        ("\udfff", SURROGATE_MESSAGE),
        ("a\x00b", NUL_MESSAGE),
    ],
)
def test_bad_text_is_refused_with_its_reason(value, message):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match=message):
        validate_text(value)
    with pytest.raises(ValidationError, match=message):
        validate_json({"a": [1, {"b": value}]})
    with pytest.raises(ValidationError, match=message):
        validate_json({value: 1})


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_numbers_that_are_not_finite_are_refused(number):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match=NOT_FINITE_MESSAGE):
        validate_json({"a": number})


def test_good_text_and_numbers_pass():
    validate_text("中文 😀 \t\n")
    validate_json({"a": "中文 😀", "b": 1.5, "c": 10**30, "d": None, "e": True, "f": [1, "x"]})


def test_repair_keeps_what_it_can():
    assert repaired_json({"a": "x\ud800y\x00z", "b": float("nan"), "c": [float("inf"), 2.5]}) == {
        "a": "x\ufffdyz",
        "b": None,
        "c": [None, 2.5],
    }


# --- The customer form --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("attributes", "message", "message_zh"),
    [
        ('{"x": "\\ud800"}', SURROGATE_MESSAGE, "不是有效 Unicode 文本"),
        ('{"x": "a\\u0000b"}', NUL_MESSAGE, "NUL 字符"),
        ('{"x": NaN}', NOT_FINITE_MESSAGE, "非有限的数字"),
        ('{"x": 1e400}', NOT_FINITE_MESSAGE, "非有限的数字"),
        ('{"x": -Infinity}', NOT_FINITE_MESSAGE, "非有限的数字"),
    ],
)
def test_customer_form_refuses_bad_attributes_with_a_message(admin_client, attributes, message, message_zh):
    data = {
        "name": "赵六",
        "mobile": "13700001111",
        "activity_score": "0",
        "points": "0",
        "attributes": attributes,
    }
    url = reverse("admin:customers_customer_add")
    response = admin_client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors["attributes"])
    response = admin_client.post(url, data, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert message_zh in response.content.decode()
    assert not Customer.objects.exists()


# --- Rows stored before: the pages open, the sends go on ------------------------------------------------


def _store_attributes(customer: Customer, raw_json: str) -> None:
    """Write attributes around every validator, as a row stored before the hub refused them."""
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE customers_customer SET attributes = %s{cast} WHERE id = %s", [raw_json, customer.pk])  # noqa: S608


BAD_ATTRIBUTES = {"infinite": '{"x": 1e400}', "surrogate": '{"x": "\\ud800"}', "nul": '{"x": "a\\u0000b"}'}


def _bad_customers() -> list[Customer]:
    """Customers with data that cannot render, as far as the database in use can hold such data.

    SQLite holds all three (Python reads 1e400 back as infinity). PostgreSQL refuses a lone surrogate
    escape and NUL in jsonb, and keeps 1e400 as an exact numeric (read back as a finite integer), so
    there no such row can exist: that is asserted, and the list is empty.
    """
    customers = []
    for index, (kind, raw) in enumerate(BAD_ATTRIBUTES.items()):
        customer = Customer.objects.create(name=f"坏数据-{kind}", mobile=f"1350000000{index}")
        if connection.vendor == "postgresql":
            if kind == "infinite":
                _store_attributes(customer, raw)
                customer.refresh_from_db()
                assert customer.attributes["x"] == 10**400  # finite: renders like any number
            else:
                with pytest.raises(DataError), transaction.atomic():
                    _store_attributes(customer, raw)
            customer.delete()
            continue
        _store_attributes(customer, raw)
        customers.append(customer)
    return customers


@pytest.mark.django_db
def test_a_bad_customers_page_opens_and_shows_what_to_fix(admin_client):
    for customer in _bad_customers():
        response = admin_client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
        assert response.status_code == 200, customer.name
        html = response.content.decode()
        if customer.name.endswith("surrogate"):
            assert "\\ud800" in html


@pytest.mark.django_db
def test_a_test_send_to_a_bad_customer_fails_that_delivery_with_the_reason(admin_client, redis_conn):
    webhook = make_webhook("http://127.0.0.1:9/hook", body_template='{"x":"${customer.x}","n":${customer.x}}')
    for customer in _bad_customers():
        response = admin_client.post(
            reverse("admin:webhooks_webhook_test_send", args=[webhook.pk]), {"customer": customer.pk}
        )
        assert response.status_code == 201, customer.name
        delivery = Delivery.objects.get(pk=response.json()["delivery_id"])
        if customer.name.endswith("nul"):
            # JSON escapes a NUL (\u0000): the body is valid and goes out.
            assert delivery.status == Delivery.Status.PENDING
            assert "\\u0000" in delivery.body
            continue
        assert delivery.status == Delivery.Status.FAILED
        assert delivery.body == ""
        assert "not valid Unicode" in delivery.last_error or "number" in delivery.last_error


@pytest.mark.parametrize("message_type", ["json", "text"])
@pytest.mark.parametrize("value", ["\ud800", float("nan"), float("inf"), "a\x00b"])
def test_render_raises_template_error_for_any_value_that_cannot_make_a_body(message_type, value):
    sources = {
        "json": ['{"a":"${customer.x}"}', '{"a":${customer.x}}', '{"a":"<${customer.x}>"}'],
        "text": ["${customer.x}"],
    }
    for source in sources[message_type]:
        template = compile_template(source, message_type=message_type)
        if message_type == "json" and value == "a\x00b":
            assert "\\u0000" in template.render({"customer.x": value})  # escaped: a valid JSON body
            continue
        with pytest.raises(TemplateError):
            template.render({"customer.x": value})


@pytest.mark.django_db
def test_a_template_with_an_escaped_lone_surrogate_is_refused_on_save():
    webhook = Webhook(name="w", url="https://example.com/", body_template='{"a":"\\ud800"}')
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        webhook.full_clean()
    assert "body_template" in caught.value.message_dict


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_group_send_delivers_to_everyone_else_and_fails_only_the_bad_recipients(receiver, redis_conn, run_worker):
    good = make_customers(3)
    bad = _bad_customers()
    group = make_group(good + bad)
    template = '{"id":${customerId},"x":"${customer.x!"-"}","n":${customer.x}}'
    webhook = make_webhook(receiver.url("/crm"), body_template=template, auto_retry=False)
    text_webhook = make_webhook(receiver.url("/text"), message_type="text", body_template="x=${customer.x}")
    sends = [services.group_send_create(webhook=hook, group=group) for hook in (webhook, text_webhook)]
    run_worker()

    for send in sends:
        send.refresh_from_db()
        assert send.status == GroupSend.Status.COMPLETED, send
        deliveries = Delivery.objects.filter(message__group_send=send)
        assert deliveries.count() == len(good) + len(bad)
        # A NUL is escaped in a JSON body (\u0000, valid JSON) but cannot go into a TEXT body.
        unrenderable = [c for c in bad if send.webhook == text_webhook or not c.name.endswith("nul")]
        failed = deliveries.filter(status=Delivery.Status.FAILED)
        assert {d.customer_id for d in failed} == {c.pk for c in unrenderable}
        assert all(d.last_error and d.attempt_count == 0 for d in failed)
        assert deliveries.filter(status=Delivery.Status.SUCCEEDED).count() == len(good) + len(bad) - len(unrenderable)
    received = {json.loads(r.body)["id"] for r in receiver.received if r.path == "/crm"}
    assert {c.pk for c in good} <= received
    assert len([r for r in receiver.received if r.path == "/text"]) == len(good)


# --- The other ways in: CSV import, Open API, micro-pages -------------------------------------------


@pytest.mark.django_db
def test_csv_import_names_the_column_with_the_bad_cell(settings):
    group = Group.objects.create(name="导入")
    result = group_import_csv(group=group, data="name,city\n张三,上\x00海\n".encode())
    assert not result.ok
    assert not Customer.objects.exists()
    ((row, message),) = result.errors
    assert row == 2
    assert message.startswith("city:")
    assert NUL_MESSAGE in message


@pytest.mark.django_db
def test_open_api_refuses_bad_text_with_the_shared_message(client, redis_conn):
    from api.services import api_key_create

    _key, raw = api_key_create(name="t", user=make_key_owner())
    for member, message in (("\\ud800", SURROGATE_MESSAGE), ("a\\u0000b", NUL_MESSAGE)):
        body = '{"event": "loyalty/membership_redeem_coupon", "membershipId": "M1", "couponId": "1", '
        body += f'"couponName": "{member}", "couponCode": "C1"}}'
        response = client.post(
            "/api/v1/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
        )
        assert response.status_code == 400
        assert message in response.json()["error"]["events"][0]["members"]["couponName"][0]


@pytest.mark.django_db
def test_micro_page_refuses_nul_with_the_shared_message_and_stores_nothing(client, redis_conn, settings):
    page = MicroPage.objects.create(title="报名", slug="signup")
    FormField.objects.create(page=page, label="姓名", key="name", field_type=FormField.Type.TEXT, required=True)
    url = reverse("automation:page", args=[page.slug])
    response = client.post(url, {"f_name": "a\x00b", "website": ""})
    assert response.status_code == 400
    assert response.context["form"].errors["f_name"] == [
        "It holds the NUL character (\\u0000), which cannot be stored; remove it."
    ]
    settings.LANGUAGE_CODE = "zh-hans"  # the page speaks the installation's language
    assert "NUL 字符" in client.post(url, {"f_name": "a\x00b", "website": ""}).content.decode()
    assert not Customer.objects.exists()


# --- Mobiles: ASCII digits only, full-width typed input normalised -----------------------------------


def test_mobile_accepts_only_ascii_digits():
    from django.core.exceptions import ValidationError

    for typed in ("138１２３４５６７８", "１３８１２３４５６７８", "＋86 138－1234－5678"):
        assert normalize_mobile(typed) == "13812345678"
        validate_mobile(normalize_mobile(typed))
    for stored in ("138１２３４５６７８", "138١٢٣٤٥٦٧٨", "१३८१२३४५६७८"):
        with pytest.raises(ValidationError):
            validate_mobile(normalize_mobile(stored) if "١" in stored or "१" in stored else stored)


@pytest.mark.django_db
def test_full_width_mobile_is_stored_as_ascii_everywhere(admin_client, client, redis_conn):
    admin_client.post(
        reverse("admin:customers_customer_add"),
        {"name": "甲", "mobile": "138１２３４５６７８", "activity_score": "0", "points": "0", "attributes": "{}"},
    )
    assert Customer.objects.get(name="甲").mobile == "13812345678"

    group = Group.objects.create(name="导入")
    assert group_import_csv(group=group, data="name,mobile\n乙,139１２３４５６７８\n".encode()).ok
    assert Customer.objects.get(name="乙").mobile == "13912345678"

    page = MicroPage.objects.create(title="报名", slug="signup")
    FormField.objects.create(page=page, label="手机", key="mobile", field_type=FormField.Type.MOBILE, required=True)
    response = client.post(
        reverse("automation:page", args=[page.slug]), {"f_mobile": "137１２３４５６７８", "website": ""}
    )
    assert response.status_code == 302
    assert Customer.objects.filter(mobile="13712345678").exists()

    response = client.post(reverse("automation:page", args=[page.slug]), {"f_mobile": "137١٢٣٤٥٦٧٨", "website": ""})
    assert response.status_code == 400


# --- data_repair ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_data_repair_reports_then_cleans_bad_rows():
    bad = _bad_customers()
    full_width = Customer.objects.create(name="全角", mobile="138１２３４５６７８")
    out = io.StringIO()
    call_command("data_repair", stdout=out)
    report = out.getvalue()
    assert ("customers.Customer.attributes" in report) == bool(bad)
    assert "customers.Customer.mobile" in report
    assert all(str(c.pk) in report for c in bad)
    assert "--fix" in report
    # Only a report: nothing changed yet.
    assert Customer.objects.get(pk=full_width.pk).mobile == "138１２３４５６７８"

    out = io.StringIO()
    call_command("data_repair", "--fix", stdout=out)
    assert "repaired" in out.getvalue()
    assert Customer.objects.get(pk=full_width.pk).mobile == "13812345678"
    for customer in Customer.objects.filter(pk__in=[c.pk for c in bad]):
        validate_json(customer.attributes)
    out = io.StringIO()
    call_command("data_repair", stdout=out)
    assert out.getvalue().strip() == "No bad values found."


@pytest.mark.django_db
def test_data_repair_leaves_a_row_that_would_collide_and_says_so():
    Customer.objects.create(name="已有", mobile="13812345678")
    twin = Customer.objects.create(name="全角", mobile="138１２３４５６７８")
    out = io.StringIO()
    call_command("data_repair", "--fix", stdout=out)
    assert "would collide" in out.getvalue()
    assert str(twin.pk) in out.getvalue()
    assert Customer.objects.get(pk=twin.pk).mobile == "138１２３４５６７８"
