# ruff: noqa: RUF001 - the Chinese sentences use full-width punctuation on purpose
"""Help writing the message body, and errors a marketer can read.

- A JSON mistake is reported at its line and column in the template as typed (not in the rendered
  text), with the reason in the user's language.
- The names a template can use come from webhooks/content/body_fields.py: the attribute picker, the
  starters and the warnings about names nothing can fill; payloads.py fills exactly those names.
- A failure's code and parameters become one sentence in the reader's language (webhooks/content/failures.py).
"""

import json

import pytest
from django.urls import reverse
from django.utils import translation

from automation.models import FormField, MicroPage
from customers.models import Customer, MembershipLevel
from webhooks.content import body_fields
from webhooks.content.failures import Code, failure_text
from webhooks.content.payloads import message_context
from webhooks.content.templating import TemplateError, compile_template, line_column, template_check
from webhooks.models import DEFAULT_BODY_TEMPLATE, Attempt, Delivery, Message, Webhook

from ..factories import make_customers, make_key_owner, make_webhook


def where(source: str, fragment: str, occurrence: int = 1) -> tuple[int, int]:
    """Line and column (1-based) of the n-th occurrence of `fragment` in `source`."""
    position = -1
    for _ in range(occurrence):
        position = source.index(fragment, position + 1)
    return line_column(source, position)


def refused(source: str, language: str = "en") -> str:
    with translation.override(language), pytest.raises(TemplateError) as info:
        template_check(source)
    return str(info.value)


# --- Where the JSON breaks: line and column in the template as typed ------------------------------------


def test_line_column_counts_characters_of_the_source():
    assert line_column("ab\ncd", 0) == (1, 1)
    assert line_column("ab\ncd", 4) == (2, 2)
    assert line_column("中文\n名字", 4) == (2, 2)


def test_missing_comma_after_placeholders_points_at_the_typed_column():
    # The case of the issue: placeholders before the mistake made the old message point 35 columns early.
    source = (
        '{\n  "name": "${customer.name}", "mobile": "${customer.mobile}", "level": "${member.level}" "points": 1\n}'
    )
    line, column = where(source, '"points"')
    assert (line, column) == (2, 90)
    assert refused(source) == (
        f"The message body is not valid JSON: a comma is missing, near line {line}, column {column}."
    )
    assert refused(source, "zh-hans") == f"消息体不是有效的 JSON：第 {line} 行第 {column} 列附近：缺少逗号。"


def test_unclosed_string_points_at_its_opening_quote():
    # A string that lacks its closing quote swallows what follows: json then stumbles on the next word,
    # at the typed column.
    source = '{"name": "${customer.name}",\n "city": "上海, "score": ${customer.activityScore}}'
    line, column = where(source, "score")
    assert refused(source).endswith(f"a comma is missing, near line {line}, column {column}.")
    # A string never closed at all is reported where it opens.
    source = '{"a": "${customer.name}",\n "b": "never closed}'
    line, column = where(source, '"never')
    assert refused(source) == (
        f'The message body is not valid JSON: this string is not closed (a " is missing), '
        f"near line {line}, column {column}."
    )
    assert f"第 {line} 行第 {column} 列附近：字符串没有结束" in refused(source, "zh-hans")


def test_trailing_comma_points_at_the_comma():
    source = '{\n  "id": ${customerId},\n  "name": "${customer.name}",\n}'
    line, column = where(source, ",", 2)
    assert (line, column) == (3, 29)
    assert refused(source) == (
        f"The message body is not valid JSON: a comma too many before }}, near line {line}, column {column}."
    )
    assert refused(source, "zh-hans") == f"消息体不是有效的 JSON：第 {line} 行第 {column} 列附近：}} 前多了一个逗号。"
    array = '[${customerId}, "${customer.name}",]'
    assert refused(array).endswith(f"near line 1, column {array.rindex(',') + 1}.")


def test_mistake_after_a_multi_line_placeholder():
    # A placeholder may span lines (spaces inside the braces, a fallback with a line break): it renders
    # as one short value, and the lines after it must still count from the source.
    source = '{\n  "name": "${ customer.name\n    !"朋友\n好" }",\n  "id": ${customerId}\n  "x": 1\n}'
    compile_template(source)  # the placeholder itself is valid
    line, column = where(source, '"x"')
    assert (line, column) == (6, 3)
    assert refused(source).endswith(f"a comma is missing, near line {line}, column {column}.")


def test_mistake_inside_a_placeholders_value_points_at_the_placeholder():
    source = '{"a": ${customerId}${flowId}}'
    assert refused(source).endswith(f"near line 1, column {source.index('${flowId}') + 1}.")


def test_single_quotes_and_early_end_are_named():
    assert "use double quotes" in refused("{'a': 1}")
    assert "请用双引号" in refused("{'a': 1}", "zh-hans")
    assert "ends too early" in refused('{"a": "${customer.name}"')


def test_unknown_name_says_where_and_suggests():
    source = '{\n "name": "${custmer.name}"}'
    message = refused(source)
    assert message == ("Unknown attribute “custmer.name” in ${…} at line 2, column 11. Did you mean ${customer.name}?")
    assert "是否想写 ${customer.name}" in refused(source, "zh-hans")


# --- The one list of names --------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_listed_name_is_filled_by_the_context_builder():
    level = MembershipLevel.objects.create(name="金卡", rank=2)
    customer = Customer.objects.create(
        name="王", mobile="13900000001", membership_id="M1", level=level, points=5, attributes={"city": "上海"}
    )
    context = message_context(
        customer=customer,
        send_id=1,
        flow_id=2,
        flow_step=3,
        form={"email": "a@b.c"},
        submission={"id": 4, "matched": True, "verified": False},
    )
    assert set(context) >= body_fields.FIXED_NAMES
    assert all(body_fields.name_is_valid(name) for name in context)
    for name in body_fields.FIXED_NAMES:
        compile_template('{"v":"${' + name + '}"}')  # every listed name passes the template's check


def test_starters_render_and_the_flow_starter_is_dm_hubs_default():
    starters = {s["key"]: s["body"] for s in body_fields.starters()}
    assert starters[body_fields.Use.FLOW] == DEFAULT_BODY_TEMPLATE
    for body in (*starters.values(), body_fields.form_starter(["form.city", "form.email"])):
        json.loads(template_check(body))


@pytest.mark.django_db
def test_picker_catalogue_lists_custom_keys_and_micro_page_fields():
    Customer.objects.create(name="a", attributes={"city": "上海", "vip": True, "name": "x"})
    page = MicroPage.objects.create(title="报名", slug="signup")
    FormField.objects.create(page=page, label="城市", key="city", order=1)
    FormField.objects.create(page=page, label="邮箱", key="email", order=2)
    with translation.override("zh-hans"):
        catalogue = body_fields.picker_catalogue()
    groups = {g["key"]: g for g in catalogue["groups"]}
    assert groups["customer"]["label"] == "客户属性"
    assert {"name": "customer.name", "label": "姓名"} in groups["customer"]["names"]
    assert [n["name"] for n in groups["custom"]["names"]] == ["customer.city", "customer.vip"]
    assert groups["member"]["label"] == "会员属性"
    assert {n["name"] for n in groups["flow"]["names"]} == {"flowId", "flowStep"}
    # Each field listed once: the customer's ID (DM Hub's ${customerId}) under the customer only.
    listed = [n["name"] for g in catalogue["groups"] for n in g["names"]]
    assert listed.count("customerId") == 1
    assert "customer.id" not in listed
    labels = [n["label"] for g in catalogue["groups"] for n in g["names"]]
    assert labels.count("客户 ID") == 1
    assert [n["name"] for n in groups["send"]["names"]] == ["sendId"]
    (listed,) = catalogue["pages"]
    assert listed["fields"] == [{"name": "form.city", "label": "城市"}, {"name": "form.email", "label": "邮箱"}]
    assert '"city": "${form.city}"' in listed["starter"]


@pytest.mark.django_db
def test_custom_attribute_keys_read_a_bounded_sample(django_assert_max_num_queries):
    Customer.objects.bulk_create(
        [Customer(name=f"c{i}", mobile=f"1390000{i:04d}", attributes={f"k{i}": i}) for i in range(150)]
    )
    with django_assert_max_num_queries(1):
        keys = body_fields.custom_attribute_keys()
    assert len(keys) == body_fields.ATTRIBUTE_KEYS_LIMIT


@pytest.mark.django_db
def test_warnings_for_names_nothing_can_fill():
    Customer.objects.create(name="a", attributes={"city": "上海"})
    page = MicroPage.objects.create(title="报名", slug="signup")
    FormField.objects.create(page=page, label="邮箱", key="email")
    names = ["customer.name", "customer.city", "customer.nmae", "form.email", "form.emial", "flowId"]
    with translation.override("en"):
        warnings = body_fields.template_warnings(names)
    assert warnings == [
        "No customer has the attribute “nmae”: ${customer.nmae} will always be empty. Did you mean ${customer.name}?",
        "No micro-page form has the field “emial”: ${form.emial} will always be empty. Did you mean ${form.email}?",
    ]
    with translation.override("zh-hans"):
        assert body_fields.template_warnings(["customer.nmae"])[0].startswith("没有任何客户有属性“nmae”")


@pytest.mark.django_db
def test_warnings_cost_a_bounded_number_of_queries(django_assert_max_num_queries):
    names = [f"customer.typo{i}" for i in range(50)] + [f"form.typo{i}" for i in range(50)]
    limit = body_fields.WARNING_CHECKS_LIMIT
    with django_assert_max_num_queries(limit + 3):  # the sample, the known names, one check per name
        warnings = body_fields.template_warnings(names)
    assert len(warnings) == limit


# --- Failure codes → sentences ----------------------------------------------------------------------

CASES = [
    (Code.HTTP_STATUS, {"status": 401}, "check the authentication", "请检查鉴权设置"),
    (Code.HTTP_STATUS, {"status": 500}, "The receiver had an error (HTTP 500).", "接收方出错（HTTP 500）。"),
    (Code.HTTP_STATUS, {"status": 418}, "HTTP 418, not a success", "HTTP 418，不是成功"),
    (Code.CONNECT_REFUSED, {"host": "127.0.0.1", "port": 9}, "127.0.0.1 port 9", "127.0.0.1 的 9 端口拒绝连接"),
    (Code.TIMEOUT, {"phase": "response", "seconds": 1.5}, "No answer within 1.5 s", "1.5 秒内没有响应"),
    (Code.TIMEOUT, {"phase": "connect", "seconds": 2}, "No connection within 2 s", "2 秒内未能建立连接"),
    (Code.TIMEOUT, {"phase": "body", "seconds": 3, "status": 200}, "HTTP 200, but its body", "HTTP 200，但响应内容"),
    (Code.REDIRECT, {"status": 302, "location": "https://new.example/h"}, "to https://new.example/h", "重定向"),
    (Code.GONE, {"status": 410}, "410 Gone", "webhook 已暂停"),
    (
        Code.TLS_VERIFY,
        {"host": "crm.example", "reason": "x"},
        "certificate of crm.example",
        "crm.example 的 HTTPS 证书",
    ),
    (Code.DNS, {"host": "nope.example"}, "nope.example cannot be found", "找不到地址 nope.example"),
    # Without the address the name resolved to (issue 22, 10): Marketers read this sentence.
    (
        Code.SSRF_BLOCKED,
        {"host": "db.local", "address": "10.0.0.5"},
        "db.local is a private",
        "db.local 是内网或本机地址，",
    ),
    (
        Code.WORKER_LOST,
        {"claimed_at": "2026-12-07T00:00:00+00:00"},
        "claimed at 2026-12-07 08:00:00",
        "领取于 2026-12-07 08:00:00",
    ),
    (Code.TEMPLATE_ERROR, {"detail": "NaN"}, "could not be made for this customer: NaN", "无法为该客户生成消息：NaN"),
    (Code.SECRET_UNDECRYPTABLE, {}, "cannot be decrypted", "无法用本系统的密钥"),
    (Code.OAUTH_TOKEN, {"status": 403}, "token URL answered HTTP 403", "令牌地址返回 HTTP 403"),
    (Code.CANCELLED, {"user": "小王"}, "Cancelled by 小王.", "小王"),
    (Code.CUSTOMER_DELETED, {}, "The customer was deleted.", "客户"),
]


@pytest.mark.parametrize(("code", "params", "english", "chinese"), CASES)
def test_failure_sentence_in_both_languages(code, params, english, chinese):
    with translation.override("en"):
        assert english in failure_text(code, params)
    with translation.override("zh-hans"):
        assert chinese in failure_text(code, params)


def test_unknown_code_or_bad_params_fall_back():
    assert failure_text("no_such_code", {}) == ""
    with translation.override("en"):
        assert "127.0.0.1" not in failure_text(Code.CONNECT_REFUSED, None)  # never raises on a damaged row


@pytest.mark.django_db
def test_old_rows_without_a_code_show_their_stored_text():
    webhook = make_webhook("http://127.0.0.1:9/hook")
    message = Message.objects.create(event="manual/test-send")
    delivery = Delivery.objects.create(message=message, webhook=webhook, event="manual/test-send", body="{}")
    delivery.last_error = "HTTPError HTTP 401"
    attempt = Attempt(delivery=delivery, number=1, started_at=delivery.created_at, error_message="HTTP 401")
    assert delivery.last_error_text == "HTTPError HTTP 401"
    assert attempt.error_text == "HTTP 401"
    attempt.error_code, attempt.error_params = Code.HTTP_STATUS, {"status": 401}
    with translation.override("zh-hans"):
        assert attempt.error_text.startswith("接收方拒绝了请求（HTTP 401）")


# --- The admin: live check, preview warnings, warning on save -------------------------------------------


@pytest.mark.django_db
def test_template_check_endpoint_in_the_users_language(admin_client):
    url = reverse("admin:webhooks_webhook_template_check")
    source = '{"a": 1,\n "b": "${customer.nmae}" "c": 2}'
    answer = admin_client.post(url, {"body_template": source}, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    line, column = where(source, '"c"')
    assert answer["error"] == f"消息体不是有效的 JSON：第 {line} 行第 {column} 列附近：缺少逗号。"
    # The name nothing can fill is said beside the JSON error, not hidden by it.
    assert answer["warnings"] == ["没有任何客户有属性“nmae”：${customer.nmae} 将始终为空。是否想写 ${customer.name}？"]
    answer = admin_client.post(
        url, {"body_template": '{"b": "${customer.nmae}"}'}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).json()
    assert answer["error"] is None
    assert answer["warnings"] == ["没有任何客户有属性“nmae”：${customer.nmae} 将始终为空。是否想写 ${customer.name}？"]


@pytest.mark.django_db
def test_preview_shows_the_warnings(admin_client):
    (customer,) = make_customers(1)
    answer = admin_client.post(
        reverse("admin:webhooks_webhook_preview"),
        {"customer": customer.pk, "body_template": '{"n": "${customer.name}", "x": "${customer.nmae}"}'},
    ).json()
    assert json.loads(answer["body"]) == {"n": customer.name, "x": ""}
    assert "${customer.nmae} will always be empty" in answer["warnings"][0]


@pytest.mark.django_db
def test_saving_warns_without_refusing(admin_client):
    data = {
        "name": "CRM",
        "url": "https://crm.example.com/hook",
        "auth_type": "none",
        "trigger_type": "non_fixed",
        "message_type": "json",
        "body_template": '{"id": ${customerId}, "name": "${customer.nmae}"}',
        "is_active": "on",
        "verify_ssl": "on",
        "_continue": "1",
    }
    response = admin_client.post(
        reverse("admin:webhooks_webhook_add"), data, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert Webhook.objects.filter(name="CRM").exists()
    texts = [str(m) for m in response.context["messages"]]
    assert any("${customer.nmae} 将始终为空" in text for text in texts), texts
    page = response.content.decode()
    assert 'id="insert-attribute"' in page
    assert "插入属性" in page
    assert 'data-name="customer.name"' in page


@pytest.mark.django_db
def test_the_api_refuses_with_the_typed_position_and_shows_error_codes(client):
    from api.models import Scope
    from api.services import api_key_create

    _key, raw = api_key_create(name="all", scopes=Scope.values, user=make_key_owner())
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}", "HTTP_ACCEPT_LANGUAGE": "zh-hans"}
    source = '{\n  "id": ${customerId},\n  "name": "${customer.name}",\n}'
    body = {"name": "CRM", "url": "https://crm.example.com/hook", "auth_type": "none", "body_template": source}
    answer = client.post("/api/v1/webhooks", json.dumps(body), content_type="application/json", **auth)
    assert answer.status_code == 400
    (message,) = answer.json()["error"]["fields"]["body_template"]
    assert message == "消息体不是有效的 JSON：第 3 行第 29 列附近：} 前多了一个逗号。"

    # Saved with a name nothing can fill: created, and told why.
    body["body_template"] = '{"id": ${customerId}, "name": "${customer.nmae}"}'
    created = client.post("/api/v1/webhooks", json.dumps(body), content_type="application/json", **auth)
    assert created.status_code == 201
    assert created.json()["warnings"] == [
        "没有任何客户有属性“nmae”：${customer.nmae} 将始终为空。是否想写 ${customer.name}？"
    ]
    patched = client.patch(
        f"/api/v1/webhooks/{created.json()['id']}",
        json.dumps({"body_template": '{"name": "${customer.name}"}'}),
        content_type="application/json",
        **auth,
    )
    assert patched.json()["warnings"] == []

    webhook = make_webhook("http://127.0.0.1:9/hook")
    message_row = Message.objects.create(event="manual/test-send")
    delivery = Delivery.objects.create(
        message=message_row,
        webhook=webhook,
        event="manual/test-send",
        body="{}",
        status=Delivery.Status.FAILED,
        last_error="HTTP 401",
        last_error_code=Code.HTTP_STATUS,
        last_error_params={"status": 401},
    )
    Attempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=delivery.created_at,
        response_status=401,
        error_class="HTTPError",
        error_message="HTTP 401",
        error_code=Code.HTTP_STATUS,
        error_params={"status": 401},
    )
    detail = client.get(f"/api/v1/deliveries/{delivery.pk}", **auth).json()
    assert detail["last_error"] == "HTTP 401"
    assert detail["last_error_code"] == "http_status"
    assert detail["last_error_text"].startswith("接收方拒绝了请求（HTTP 401）")
    (attempt,) = detail["attempts"]
    assert (attempt["error_class"], attempt["error_message"]) == ("HTTPError", "HTTP 401")
    assert (attempt["error_code"], attempt["error_params"]) == ("http_status", {"status": 401})
    english = client.get(f"/api/v1/deliveries/{delivery.pk}", **{**auth, "HTTP_ACCEPT_LANGUAGE": "en"}).json()
    assert english["attempts"][0]["error_text"].startswith("The receiver refused the request (HTTP 401)")
