"""Issue 10.4 and 10.7 (history): a secret that no key decrypts opens its page, is reported by
`manage.py check` and by secrets_rotate, and raises SecretUndecryptable; history records only secrets entered."""

import base64
import io
import os

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from webhooks.models import Webhook
from webhooks.secrets import Secret, SecretUndecryptable

from ..unit.test_webhook_secret_storage import SECRET, form_data

pytestmark = pytest.mark.django_db


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
def orphaned(settings):
    """A webhook whose secret was encrypted with a key that is no longer configured."""
    old_keys = settings.SECRETS_ENCRYPTION_KEYS
    settings.SECRETS_ENCRYPTION_KEYS = [new_key()]
    webhook = Webhook.objects.create(
        name="旧钥匙", url="https://crm.example.com/hook", auth_type="secret", secret_key=SECRET
    )
    settings.SECRETS_ENCRYPTION_KEYS = old_keys
    return Webhook.objects.get(pk=webhook.pk)


def test_an_undecryptable_secret_raises_a_clear_translated_exception(orphaned):
    with pytest.raises(SecretUndecryptable) as caught:
        orphaned.secret_key.reveal()
    assert "cannot be decrypted with SECRETS_ENCRYPTION_KEYS" in str(caught.value)
    assert orphaned.secret_key._ciphertext not in str(caught.value)
    with translation.override("zh-hans"):
        assert "SECRETS_ENCRYPTION_KEYS" in str(caught.value)
        assert "无法" in str(caught.value)
    assert orphaned.secret_key.is_undecryptable
    assert bool(orphaned.secret_key)
    assert not Secret(SECRET).is_undecryptable


def test_the_webhooks_page_opens_and_offers_to_replace_it(admin_client, orphaned):
    url = reverse("admin:webhooks_webhook_change", args=[orphaned.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-secret-undecryptable="secret_key"' in html
    assert "cannot be decrypted with SECRETS_ENCRYPTION_KEYS" in html
    assert 'name="secret_key__replace"' in html

    # Saved without replacing: the page still works and the stored value is left as it was.
    response = admin_client.post(url, form_data(name="改名", secret_key=""))
    assert response.status_code == 302, response.context["adminform"].form.errors
    orphaned.refresh_from_db()
    assert orphaned.name == "改名"
    assert orphaned.secret_key.is_undecryptable

    response = admin_client.post(url, form_data(secret_key="new-secret", secret_key__replace="on"))
    assert response.status_code == 302
    orphaned.refresh_from_db()
    assert orphaned.secret_key.reveal() == "new-secret"
    assert "data-secret-undecryptable" not in admin_client.get(url).content.decode()


def test_manage_py_check_reports_undecryptable_secrets(orphaned):
    healthy = Webhook.objects.create(name="好", url="https://ok.example.com", auth_type="secret", secret_key=SECRET)
    out = io.StringIO()
    call_command("check", stdout=out, stderr=out)
    report = out.getvalue()
    assert "webhooks.W001" in report
    assert f"#{orphaned.pk}" in report
    assert "secret_key" in report
    assert f"#{healthy.pk} " not in report
    assert SECRET not in report


def test_secrets_rotate_goes_on_past_an_undecryptable_secret_and_names_it(orphaned, settings):
    healthy = Webhook.objects.create(name="好", url="https://ok.example.com", auth_type="secret", secret_key=SECRET)
    settings.SECRETS_ENCRYPTION_KEYS = [new_key(), *settings.SECRETS_ENCRYPTION_KEYS]
    out, err = io.StringIO(), io.StringIO()
    call_command("secrets_rotate", stdout=out, stderr=err)
    assert f"#{orphaned.pk} secret_key" in err.getvalue()
    settings.SECRETS_ENCRYPTION_KEYS = settings.SECRETS_ENCRYPTION_KEYS[:1]
    assert Webhook.objects.get(pk=healthy.pk).secret_key.reveal() == SECRET


# --- History: a secret is recorded as changed only when one was entered ------------------------------


def _last_change_message(webhook) -> str:
    entry = LogEntry.objects.filter(object_id=str(webhook.pk)).order_by("-id").first()
    return entry.get_change_message()


def test_history_records_a_secret_only_when_one_was_entered(admin_client):
    admin_client.post(
        reverse("admin:webhooks_webhook_add"),
        form_data(
            auth_type="oauth2",
            oauth_token_url="https://auth.example.com/token",
            oauth_app_id="app",
            oauth_app_secret="app-secret",
            basic_username="u",
            basic_password="pw",
        ),
    )
    webhook = Webhook.objects.get()
    url = reverse("admin:webhooks_webhook_change", args=[webhook.pk])
    base = form_data(
        auth_type="oauth2",
        oauth_token_url="https://auth.example.com/token",
        oauth_app_id="app",
        basic_username="u",
        secret_key="",
        basic_password="",
        oauth_app_secret="",
    )

    assert admin_client.post(url, {**base, "name": "CRM 2"}).status_code == 302
    message = _last_change_message(webhook)
    assert "Name" in message
    for label in ("Secret key", "Password", "App secret"):
        assert label not in message, message

    admin_client.post(url, {**base, "oauth_app_secret": "rotated", "oauth_app_secret__replace": "on"})
    message = _last_change_message(webhook)
    assert "App secret" in message
    assert "Secret key" not in message
    assert "Password" not in message


@pytest.mark.django_db(transaction=True)
def test_an_undecryptable_secret_fails_its_own_deliveries_with_the_reason_and_no_other(settings, redis_conn):
    from webhooks import services
    from webhooks.engine.drain import drain_run
    from webhooks.models import Attempt, Delivery

    from ..factories import make_customers, make_webhook
    from ..support.receivers import ScriptedServer

    with ScriptedServer() as server:
        old_keys = settings.SECRETS_ENCRYPTION_KEYS
        settings.SECRETS_ENCRYPTION_KEYS = [new_key()]
        broken = make_webhook(server.url("/broken"))
        settings.SECRETS_ENCRYPTION_KEYS = old_keys
        healthy = make_webhook(server.url("/healthy"))
        (customer,) = make_customers(1)
        services.message_publish(event="form/submit", webhooks=[broken, healthy], customer=customer)
        drain_run(budget=5)
        paths = [hit.path for hit in server.posts()]
    assert paths == ["/healthy"]  # nothing went out unsigned
    failed = Delivery.objects.get(webhook=broken)
    assert failed.status == Delivery.Status.FAILED
    assert "cannot be decrypted with SECRETS_ENCRYPTION_KEYS" in failed.last_error
    assert Attempt.objects.get(delivery=failed).error_class == "SecretUndecryptable"
    assert Delivery.objects.get(webhook=healthy).status == Delivery.Status.SUCCEEDED
