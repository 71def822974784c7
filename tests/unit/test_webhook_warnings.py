"""Issue 10.8: plain http:// and SSL verification off stay possible, but the webhook's form and page say why
they are risky."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from webhooks.models import Webhook

from .test_webhook_secret_storage import form_data

pytestmark = pytest.mark.django_db

HTTP_WARNING = "plain http://"
SSL_WARNING = "SSL certificate verification is off"


def _warnings(html: str) -> str:
    return " ".join(part for part in html.split("data-security-warning>")[1:])


@pytest.mark.parametrize(
    ("changes", "expected", "absent"),
    [
        ({"url": "http://crm.example.com/hook"}, [HTTP_WARNING], [SSL_WARNING]),
        ({"verify_ssl": ""}, [SSL_WARNING], [HTTP_WARNING]),
        ({}, [], [HTTP_WARNING, SSL_WARNING]),
    ],
)
def test_saving_is_allowed_and_the_form_and_page_warn(admin_client, changes, expected, absent):
    data = {key: value for key, value in form_data(**changes).items() if value != "" or key != "verify_ssl"}
    response = admin_client.post(reverse("admin:webhooks_webhook_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    webhook = Webhook.objects.get()
    saved_messages = " ".join(str(m) for m in get_messages(response.wsgi_request))
    page = admin_client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk]))
    warnings = _warnings(page.content.decode())
    for text in expected:
        assert text in saved_messages
        assert text in warnings
    for text in absent:
        assert text not in saved_messages
        assert text not in warnings


def test_an_http_token_url_is_named(admin_client):
    data = form_data(
        auth_type="oauth2",
        secret_key="",
        oauth_token_url="http://auth.example.com/token",
        oauth_app_id="app",
        oauth_app_secret="app-secret",
    )
    assert admin_client.post(reverse("admin:webhooks_webhook_add"), data).status_code == 302
    page = admin_client.get(reverse("admin:webhooks_webhook_change", args=[Webhook.objects.get().pk]))
    assert "token URL is plain http://" in _warnings(page.content.decode())


def test_warnings_speak_chinese(admin_client):
    admin_client.post(reverse("admin:webhooks_webhook_add"), form_data(url="http://crm.example.com/hook"))
    page = admin_client.get(
        reverse("admin:webhooks_webhook_change", args=[Webhook.objects.get().pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert "未加密" in _warnings(page.content.decode())
