"""Issue 22 (4, 8, 9): bad input is a clear error in the user's language, never a 500 nor a lost alert.

Deeply nested JSON (custom attributes, the body template's preview and live check, the Open API's
template), a body template over 64 KB (admin and Open API alike), and names holding a line break.
"""

import json

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from alerts import services as alert_services
from alerts.models import Alert, Channel
from api.models import ApiKey, Scope
from api.services import api_key_create
from customers.models import Customer, Group
from webhookhub.text import json_text_depth_exceeded
from webhooks.content.templating import MAX_TEMPLATE_BYTES
from webhooks.models import Webhook

from ..factories import make_customers, make_key_owner, make_webhook
from ..integration.test_alerts import FAILING_FACTS
from .test_webhook_secret_storage import form_data

pytestmark = pytest.mark.django_db

DEEP = 5000  # Python's json gives up at about 1,000 levels: a RecursionError, which was a 500


def deep_array(levels: int = DEEP) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture
def api(client):
    _key, raw = api_key_create(name="writer", scopes=Scope.values, user=make_key_owner())

    def call(method, path, body):
        return getattr(client, method)(
            f"/api/v1{path}", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
        )

    return call


def test_the_depth_check_counts_brackets_outside_strings_only():
    assert json_text_depth_exceeded(deep_array(33))
    assert not json_text_depth_exceeded(deep_array(32))
    assert not json_text_depth_exceeded('{"a": "' + "[" * 100 + '\\"["}')
    assert json_text_depth_exceeded('{"a": "\\\\"' + "[" * 40)


# --- 4. Deeply nested JSON ------------------------------------------------------------------------------


def test_deep_custom_attributes_are_a_form_error_in_the_users_language(marketer_client):
    (customer,) = make_customers(1)
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data = {
        "name": customer.name,
        "mobile": customer.mobile,
        "activity_score": "0",
        "points": "0",
        "attributes": '{"x": ' + deep_array() + "}",
    }
    response = marketer_client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "nested too deeply" in " ".join(response.context["adminform"].form.errors["attributes"])
    response = marketer_client.post(url, data, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert "嵌套层级过深" in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).attributes == customer.attributes


def test_deep_templates_in_the_preview_and_live_check_answer_a_message(marketer_client):
    (customer,) = make_customers(1)
    source = '{"x": ' + deep_array() + "}"
    check = marketer_client.post(
        reverse("admin:webhooks_webhook_template_check"), {"body_template": source}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert check.status_code == 200
    assert "嵌套层级过深" in check.json()["error"]
    preview = marketer_client.post(
        reverse("admin:webhooks_webhook_preview"),
        {"customer": customer.pk, "body_template": source},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert preview.status_code == 200
    assert "nested too deeply" in preview.json()["error"]


def test_a_deep_template_through_the_open_api_is_a_400(api):
    body = {"name": "deep", "url": "https://crm.example.com/hook", "auth_type": "none"}
    answer = api("post", "/webhooks", {**body, "body_template": '{"x": ' + deep_array() + "}"})
    assert answer.status_code == 400
    assert "nested too deeply" in answer.content.decode()
    assert not Webhook.objects.exists()


# --- 8. Body template size --------------------------------------------------------------------------------


def _big_template(size: int) -> str:
    filler = "x" * (size - len('{"a":""}'))
    return '{"a":"' + filler + '"}'


def test_a_body_template_over_64_kb_is_refused_by_the_api_and_the_admin_alike(api, admin_client):
    body = {"name": "big", "url": "https://crm.example.com/hook", "auth_type": "none"}
    refused = api("post", "/webhooks", {**body, "body_template": _big_template(MAX_TEMPLATE_BYTES + 1)})
    assert refused.status_code == 400
    assert "64 KB" in refused.content.decode()
    assert api("post", "/webhooks", {**body, "body_template": _big_template(MAX_TEMPLATE_BYTES)}).status_code == 201
    # Multi-byte text counts in UTF-8 bytes: 30,000 Chinese characters are about 88 KB.
    chinese = '{"a":"' + "中" * 30_000 + '"}'
    assert api("post", "/webhooks", {**body, "body_template": chinese}).status_code == 400

    response = admin_client.post(
        reverse("admin:webhooks_webhook_add"),
        form_data(body_template=_big_template(MAX_TEMPLATE_BYTES + 1)),
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 200
    assert "消息体过大" in response.content.decode()
    assert Webhook.objects.count() == 1


# --- 9. Names are one line ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["crlf\r\nBcc: evil@evil.example", "tab\there", "ls\u2028x", "del\x7f"])
def test_a_webhook_name_with_a_control_character_is_refused(api, name):
    webhook = make_webhook("https://crm.example.com/hook", name="CRM")
    answer = api("patch", f"/webhooks/{webhook.pk}", {"name": name})
    assert answer.status_code == 400
    assert "line break" in answer.content.decode()
    assert Webhook.objects.get(pk=webhook.pk).name == "CRM"


def test_group_and_channel_names_with_a_line_break_are_form_errors(admin_client):
    response = admin_client.post(
        reverse("admin:customers_group_add"), {"name": "春季\n报名", "description": ""}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 200
    assert "换行" in response.content.decode()
    assert not Group.objects.exists()
    channel = Channel(name="ops\r\nBcc: x@example.com", kind=Channel.Kind.EMAIL, recipients="ops@example.com")
    with translation.override("en"), pytest.raises(ValidationError, match="line break"):
        channel.full_clean()


def test_an_email_alert_for_a_name_stored_with_a_line_break_still_goes_out(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Channel.objects.create(name="ops", kind=Channel.Kind.EMAIL, recipients="ops@example.com")
    webhook = make_webhook("https://crm.example.com/hook")
    # Stored before names were checked (update() skips validation).
    Webhook.objects.filter(pk=webhook.pk).update(name="crlf\r\nBcc: evil@evil.example")
    webhook.refresh_from_db()
    (alert,) = alert_services.alerts_record(webhook=webhook, kind="failing", incident_id=1, facts=FAILING_FACTS)
    alert_services.alerts_send(alert_ids=[alert.pk])
    alert.refresh_from_db()
    assert alert.status == Alert.Status.SENT, alert.last_error
    (email,) = mail.outbox
    assert "\n" not in email.subject
    assert "crlf  Bcc: evil@evil.example" in email.subject
    assert email.to == ["ops@example.com"]
    assert email.bcc == []


@pytest.mark.parametrize("name", ["王\r\nBcc: evil@evil.example", "tab\there"])
def test_customer_and_api_key_names_are_one_line(admin_client, name):
    customer = Customer(name=name, mobile="13800138000")
    with pytest.raises(ValidationError) as refused:
        customer.full_clean()
    assert "name" in refused.value.message_dict
    answer = admin_client.post("/admin/api/apikey/add/", {"name": name, "scopes": ["webhooks:read"]})
    assert answer.status_code == 200  # the form again, with the error
    assert not ApiKey.objects.exists()
