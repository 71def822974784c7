"""Standard Webhooks and secret rotation in the admin: the whsec_ secret shown once, rotation with an
overlap, its early end, the DM Hub key's rotation helper, and the webhook's history."""

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.urls import reverse

from webhookhub.roles import MARKETER
from webhooks.content.signing import standard_secret_key
from webhooks.models import Webhook, WebhookHistory

from .test_webhook_secret_storage import form_data, raw_columns

pytestmark = pytest.mark.django_db


def _secret_on(page) -> str:
    return page.context["secret"]


def test_turning_standard_webhooks_on_shows_a_whsec_secret_once_and_never_again(admin_client):
    page = admin_client.post(reverse("admin:webhooks_webhook_add"), form_data(standard_webhooks="on"))
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    secret = _secret_on(page)
    assert secret in page.content.decode()
    assert len(standard_secret_key(secret)) == 32
    webhook = Webhook.objects.get()
    assert webhook.standard_secret.reveal() == secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT standard_secret FROM webhooks_webhook WHERE id = %s", [webhook.pk])
        assert cursor.fetchone()[0].startswith("enc:")
    change_url = reverse("admin:webhooks_webhook_change", args=[webhook.pk])
    change = admin_client.get(change_url).content.decode()
    assert secret not in change
    assert 'id="rotate-standard"' in change
    assert 'data-action="standard_enabled"' in change
    # Saving again keeps the secret (it is not regenerated, not shown).
    again = admin_client.post(change_url, form_data(name="CRM 2", secret_key="", standard_webhooks="on"))
    assert again.status_code == 302
    webhook.refresh_from_db()
    assert webhook.standard_secret.reveal() == secret
    assert secret not in str(raw_columns(webhook.pk))


def test_rotation_page_shows_the_new_secret_once_and_the_overlap_can_end_early(admin_client):
    admin_client.post(reverse("admin:webhooks_webhook_add"), form_data(standard_webhooks="on"))
    webhook = Webhook.objects.get()
    old = webhook.standard_secret.reveal()
    url = reverse("admin:webhooks_webhook_secret_rotate", args=[webhook.pk])
    assert admin_client.post(url, {"overlap_hours": "9999"}).context["form"].errors
    page = admin_client.post(url, {"overlap_hours": "12"})
    new = _secret_on(page)
    assert new != old
    assert new in page.content.decode()
    assert old not in page.content.decode()
    webhook.refresh_from_db()
    assert webhook.standard_secret.reveal() == new
    assert webhook.standard_secret_previous.reveal() == old
    hours = (webhook.standard_secret_previous_until - webhook.history.get(action="rotation_started").at).total_seconds()
    assert abs(hours / 3600 - 12) < 0.01
    change = admin_client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])).content.decode()
    assert 'id="standard-overlap"' in change
    assert 'id="rotation-end"' in change
    # The history is worded in the reader's language, whoever wrote it in whichever.
    assert "The old secret also signs until" in change
    chinese = admin_client.get(
        reverse("admin:webhooks_webhook_change", args=[webhook.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert "旧密钥签名至" in chinese.content.decode()
    admin_client.post(reverse("admin:webhooks_webhook_rotation_end", args=[webhook.pk]))
    webhook.refresh_from_db()
    assert not webhook.standard_secret_previous
    assert webhook.standard_secret_previous_until is None
    ended = webhook.history.get(action="rotation_ended")
    assert ended.actor == "admin"
    assert "Ended early" in ended.details


def test_dm_hub_key_replaced_with_the_helper_keeps_the_old_key_for_the_chosen_hours(admin_client):
    admin_client.post(reverse("admin:webhooks_webhook_add"), form_data())
    webhook = Webhook.objects.get()
    change_url = reverse("admin:webhooks_webhook_change", args=[webhook.pk])
    response = admin_client.post(
        change_url,
        form_data(
            secret_key="new-secret",
            secret_key__replace="on",
            keep_previous_signature="on",
            previous_signature_hours="6",
        ),
    )
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert webhook.secret_key.reveal() == "new-secret"
    assert webhook.secret_key_previous.reveal() == "very-secret-密钥-123"
    entry = webhook.history.get(action="secret_replaced")
    assert "X-Clab-Hmac-Signature-Previous" in entry.details
    assert "new-secret" not in entry.details
    page = admin_client.get(change_url).content.decode()
    assert 'id="key-overlap"' in page
    assert "very-secret" not in page
    assert "new-secret" not in page


def test_a_marketer_sees_the_history_and_rotates_the_secret_write_only(client):
    webhook = Webhook.objects.create(name="a", url="https://x.example.com", standard_webhooks=True)
    WebhookHistory.objects.create(webhook=webhook, action="created", actor="admin")
    user = User.objects.create_user("m", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=MARKETER))
    client.force_login(user)
    page = client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])).content.decode()
    assert 'data-action="created"' in page
    # She edits her webhooks, secrets included: a rotated secret is shown once, on the page that made it.
    assert 'id="rotate-standard"' in page
    assert client.get(reverse("admin:webhooks_webhook_secret_rotate", args=[webhook.pk])).status_code == 200
