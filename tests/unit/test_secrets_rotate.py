"""`manage.py secrets_rotate`: after it, the old key can go and every secret still decrypts."""

import base64
import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from webhooks.models import Webhook

from ..factories import make_webhook

pytestmark = pytest.mark.django_db

CLEAR = {"secret_key": "hmac-key-Clear-1", "basic_password": "basic-Clear-2", "oauth_app_secret": "oauth-Clear-3"}


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def raw_columns(pk) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_key, basic_password, oauth_app_secret FROM webhooks_webhook WHERE id = %s", [pk])
        return dict(zip(CLEAR, cursor.fetchone(), strict=True))


def test_rotation_lets_the_old_key_go_and_never_stores_clear_text(settings, capsys):
    old, new = new_key(), new_key()
    settings.SECRETS_ENCRYPTION_KEYS = [old]
    webhook = make_webhook("https://example.test/hook", basic_username="u", oauth_app_id="a", **CLEAR)
    empty = make_webhook("https://example.test/other", auth_type=Webhook.AuthType.NONE, secret_key="")
    before = raw_columns(webhook.pk)
    for name, value in before.items():
        assert value.startswith("enc:")
        assert CLEAR[name] not in value

    # The new key alone cannot read what the old key wrote: this is what rotation fixes.
    settings.SECRETS_ENCRYPTION_KEYS = [new]
    with pytest.raises(ImproperlyConfigured):
        Webhook.objects.get(pk=webhook.pk).secret_key.reveal()

    settings.SECRETS_ENCRYPTION_KEYS = [new, old]
    call_command("secrets_rotate")
    output = capsys.readouterr().out
    assert "webhooks.Webhook: 1 rows re-encrypted" in output
    after = raw_columns(webhook.pk)
    for name, value in after.items():
        assert value.startswith("enc:")
        assert CLEAR[name] not in value
        assert value != before[name]
        assert CLEAR[name] not in output

    settings.SECRETS_ENCRYPTION_KEYS = [new]  # the old key is removed
    webhook = Webhook.objects.get(pk=webhook.pk)
    assert {name: getattr(webhook, name).reveal() for name in CLEAR} == CLEAR
    assert raw_columns(empty.pk)["secret_key"] == ""


def test_rotation_encrypts_a_value_left_in_clear(settings):
    settings.SECRETS_ENCRYPTION_KEYS = [new_key()]
    webhook = make_webhook("https://example.test/hook", **{"secret_key": "legacy-clear"})
    with connection.cursor() as cursor:
        cursor.execute("UPDATE webhooks_webhook SET secret_key = %s WHERE id = %s", ["legacy-clear", webhook.pk])
    call_command("secrets_rotate")
    assert raw_columns(webhook.pk)["secret_key"].startswith("enc:")
    assert Webhook.objects.get(pk=webhook.pk).secret_key.reveal() == "legacy-clear"
