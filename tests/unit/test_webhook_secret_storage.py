"""Secrets are encrypted at rest, write-only in the admin, and never shown again in clear."""

import pytest
from django.db import connection
from django.urls import reverse

from webhooks.models import Webhook

pytestmark = pytest.mark.django_db

SECRET = "very-secret-密钥-123"


def form_data(**overrides):
    data = {
        "name": "CRM",
        "url": "https://crm.example.com/hook",
        "is_active": "on",
        "auth_type": "secret",
        "secret_key": SECRET,
        "basic_username": "",
        "basic_password": "",
        "oauth_token_url": "",
        "oauth_app_id": "",
        "oauth_app_secret": "",
        "trigger_type": "non_fixed",
        "message_type": "json",
        "body_template": '{"customerId":"${customerId}"}',
        "empty_text": "",
        "event": "",
        "verify_ssl": "on",
        "connect_timeout": "",
        "read_timeout": "",
    }
    data.update(overrides)
    return data


def raw_columns(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_key, basic_password, oauth_app_secret FROM webhooks_webhook WHERE id = %s", [pk])
        return cursor.fetchone()


def test_secret_is_encrypted_in_the_database_column():
    webhook = Webhook.objects.create(
        name="a",
        url="https://x.example.com",
        auth_type="secret",
        secret_key=SECRET,
        basic_password=SECRET,
        oauth_app_secret=SECRET,
    )
    for column in raw_columns(webhook.pk):
        assert SECRET not in column
        assert column.startswith("enc:")
    assert Webhook.objects.get(pk=webhook.pk).secret_key.reveal() == SECRET
    # Two encryptions of one secret differ (Fernet's random IV): equal secrets cannot be spotted.
    other = Webhook.objects.create(name="b", url="https://x.example.com", auth_type="secret", secret_key=SECRET)
    assert raw_columns(other.pk)[0] != raw_columns(webhook.pk)[0]


def test_secret_never_prints_in_clear():
    webhook = Webhook.objects.create(name="a", url="https://x.example.com", auth_type="secret", secret_key=SECRET)
    loaded = Webhook.objects.get(pk=webhook.pk)
    assert SECRET not in str(loaded.secret_key)
    assert SECRET not in repr(loaded.secret_key)
    assert SECRET not in repr(loaded.__dict__)


def test_admin_saves_a_secret_and_never_shows_it_again(admin_client):
    response = admin_client.post(reverse("admin:webhooks_webhook_add"), form_data())
    assert response.status_code == 302, response.context["adminform"].form.errors
    webhook = Webhook.objects.get()
    assert webhook.secret_key.reveal() == SECRET
    assert SECRET not in raw_columns(webhook.pk)[0]

    change_url = reverse("admin:webhooks_webhook_change", args=[webhook.pk])
    for url in (change_url, reverse("admin:webhooks_webhook_changelist")):
        assert SECRET not in admin_client.get(url).content.decode()


def test_saving_without_replace_keeps_the_secret_and_replace_changes_it(admin_client):
    admin_client.post(reverse("admin:webhooks_webhook_add"), form_data())
    webhook = Webhook.objects.get()
    change_url = reverse("admin:webhooks_webhook_change", args=[webhook.pk])

    admin_client.post(change_url, form_data(name="CRM 2", secret_key=""))
    webhook.refresh_from_db()
    assert webhook.name == "CRM 2"
    assert webhook.secret_key.reveal() == SECRET

    admin_client.post(change_url, form_data(secret_key="new-secret", secret_key__replace="on"))
    webhook.refresh_from_db()
    assert webhook.secret_key.reveal() == "new-secret"


def test_secret_auth_without_a_secret_is_refused_with_a_reason(admin_client):
    response = admin_client.post(reverse("admin:webhooks_webhook_add"), form_data(secret_key=""))
    assert response.status_code == 200
    assert "secret_key" in response.context["adminform"].form.errors
    assert not Webhook.objects.exists()


def test_a_template_that_cannot_render_json_is_refused_with_the_reason(admin_client):
    response = admin_client.post(reverse("admin:webhooks_webhook_add"), form_data(body_template='{"a": ${customerId'))
    errors = response.context["adminform"].form.errors
    assert "body_template" in errors
    assert "JSON" in str(errors["body_template"])
    assert not Webhook.objects.exists()
