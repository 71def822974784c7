"""Issue 22 (2): credentials inside a webhook's URL (user:password@, ?token=, key=, access_token=, secret=,
sign=) are secrets: stored encrypted, shown masked on every page and API answer and in every record, while
the receiver still gets the full URL."""

import csv
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from api.models import Scope
from api.services import api_key_create
from webhooks import services
from webhooks.engine.redact import masked_url, scrub, unmasked_url
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.secrets import MASK
from webhooks.services.group_sends import group_send_create

from ..factories import make_customers, make_group, make_key_owner, make_webhook
from ..support.receivers import ScriptedServer

PASSWORD = "URLPASS-42"
TOKEN = "URLTOKEN-42"
KEY = "WECOMKEY-42"


def credential_url(port: int) -> str:
    return f"http://hub:{PASSWORD}@127.0.0.1:{port}/notify?a=1&token={TOKEN}&key={KEY}&b=x%20y"


def clean(text: str) -> bool:
    return not any(secret in text for secret in (PASSWORD, TOKEN, KEY))


# --- Masking and putting back (no database) --------------------------------------------------------------


def test_masked_url_hides_the_password_and_credential_values_and_keeps_the_rest_as_typed():
    url = "https://u:p%40ss@crm.example.com:8443/hook?a=1&Token=t0k&sign=s&b=x%20y&secret="
    shown = masked_url(url)
    assert shown == f"https://u:{MASK}@crm.example.com:8443/hook?a=1&Token={MASK}&sign={MASK}&b=x%20y&secret="
    assert unmasked_url(shown, url) == url
    # A changed path keeps the credentials; a new token replaces the old one.
    assert unmasked_url(shown.replace("/hook", "/v2"), url) == url.replace("/hook", "/v2")
    assert "t0k" not in unmasked_url(shown.replace(f"Token={MASK}", "Token=new"), url)
    with pytest.raises(ValueError, match="no credential"):
        unmasked_url(f"https://crm.example.com/hook?key={MASK}", url)  # no key= to keep
    assert masked_url("https://crm.example.com/hook?id=5") == "https://crm.example.com/hook?id=5"


# --- Stored encrypted, shown masked ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_url_is_stored_masked_and_the_full_url_only_encrypted():
    webhook = make_webhook(credential_url(8080))
    with connection.cursor() as cursor:
        cursor.execute("SELECT url, url_secret FROM webhooks_webhook WHERE id = %s", [webhook.pk])
        url, url_secret = cursor.fetchone()
    assert clean(url)
    assert clean(url_secret)
    assert url_secret.startswith("enc:")
    stored = Webhook.objects.get(pk=webhook.pk)
    assert stored.url == masked_url(credential_url(8080))
    assert stored.full_url == credential_url(8080)
    # Saved again unchanged (the form and the API send back the masked URL): the credentials stay.
    stored.name = "renamed"
    stored.save()
    assert Webhook.objects.get(pk=webhook.pk).full_url == credential_url(8080)


@pytest.mark.django_db
def test_a_url_without_credentials_keeps_no_secret():
    webhook = make_webhook("https://crm.example.com/hook?id=1")
    assert webhook.url == "https://crm.example.com/hook?id=1"
    assert not Webhook.objects.get(pk=webhook.pk).url_secret


@pytest.mark.django_db
def test_a_mask_the_webhook_cannot_fill_is_refused_with_a_field_error():
    webhook = make_webhook("https://crm.example.com/hook")
    webhook.url = f"https://crm.example.com/hook?token={MASK}"
    with pytest.raises(ValidationError) as refused:
        webhook.full_clean()
    assert "url" in refused.value.message_dict
    # Masks are longer than a short token: the masked URL must still fit the column.
    webhook.url = "https://crm.example.com/" + "p" * 1985 + "?t=1&key=k"
    with pytest.raises(ValidationError) as refused:
        webhook.full_clean()
    assert "url" in refused.value.message_dict


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_marketer_pages_and_read_keys_never_see_url_credentials_and_the_receiver_gets_them(
    client, marketer, redis_conn, run_worker
):
    echo = ScriptedServer(answer=lambda hit: (500, {}, json.dumps({"got": hit.query}).encode()))
    with echo:
        webhook = make_webhook(credential_url(echo.port), auto_retry=False)
        customers = make_customers(2)
        delivery = services.message_test_send(webhook=webhook, customer=customers[0])
        send = group_send_create(webhook=webhook, group=make_group(customers[1:]))
        log = run_worker(timeout=90)
        posts = echo.posts()
    # The receiver got the full URL: the query as typed, the userinfo as Basic authentication.
    assert len(posts) == 2
    assert posts[0].query["token"] == TOKEN
    assert posts[0].query["key"] == KEY
    assert posts[0].path == "/notify"
    assert "Basic" in posts[0].headers.get("Authorization", "")
    # Recorded masked: the attempt's URL, the echoed answer, the worker's log.
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.url == masked_url(credential_url(echo.port))
    assert clean(json.dumps([attempt.url, attempt.response_body, attempt.error_message, attempt.request_headers]))
    assert clean(log)

    client.force_login(marketer)
    pages = [
        reverse("admin:webhooks_webhook_changelist"),
        reverse("admin:webhooks_webhook_change", args=[webhook.pk]),
        reverse("admin:webhooks_delivery_change", args=[delivery.pk]),
        reverse("admin:webhooks_delivery_changelist"),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert clean(response.content.decode()), page
    assert MASK in client.get(pages[1]).content.decode()
    export = client.get(reverse("admin:webhooks_groupsend_export", args=[send.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert len(rows) == 2
    assert clean(json.dumps(rows))

    _key, raw = api_key_create(
        name="reader", scopes=[Scope.WEBHOOKS_READ, Scope.DELIVERIES_READ], user=make_key_owner()
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    answers = [
        client.get(f"/api/v1/webhooks/{webhook.pk}", **auth),
        client.get("/api/v1/webhooks", **auth),
        client.get(f"/api/v1/deliveries/{delivery.pk}", **auth),
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert clean(answer.content.decode())
    assert answers[0].json()["url"] == masked_url(credential_url(echo.port))
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.FAILED


@pytest.mark.django_db
def test_the_api_keeps_the_credentials_when_the_masked_url_comes_back(client):
    _key, raw = api_key_create(name="writer", scopes=Scope.values, user=make_key_owner())
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    body = {"name": "CRM", "url": credential_url(8080), "auth_type": "none"}
    created = client.post("/api/v1/webhooks", json.dumps(body), content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    assert clean(created.content.decode())
    pk = created.json()["id"]
    shown = created.json()["url"]
    # Round trip: what GET shows, with a new path, is PATCHed back; the credentials stay, the path changes.
    patched = client.patch(
        f"/api/v1/webhooks/{pk}",
        json.dumps({"url": shown.replace("/notify", "/v2")}),
        content_type="application/json",
        **auth,
    )
    assert patched.status_code == 200, patched.content
    assert Webhook.objects.get(pk=pk).full_url == credential_url(8080).replace("/notify", "/v2")
    refused = client.patch(
        f"/api/v1/webhooks/{pk}",
        json.dumps({"url": f"http://127.0.0.1:8080/x?sign={MASK}"}),
        content_type="application/json",
        **auth,
    )
    assert refused.status_code == 400
    assert Webhook.objects.get(pk=pk).full_url == credential_url(8080).replace("/notify", "/v2")


@pytest.mark.django_db
def test_the_admin_form_saved_unchanged_keeps_the_credentials(admin_client):
    from ..unit.test_webhook_secret_storage import form_data

    webhook = make_webhook(credential_url(8080))
    url = reverse("admin:webhooks_webhook_change", args=[webhook.pk])
    page = admin_client.get(url).content.decode()
    assert clean(page)
    response = admin_client.post(url, form_data(url=masked_url(credential_url(8080)), secret_key=""))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Webhook.objects.get(pk=webhook.pk).full_url == credential_url(8080)


def test_the_scrubber_masks_whole_secrets_not_letters_inside_words():
    # Issue 22 (10): a robot key "K" no longer turns WEBHOOK_ALLOWED_HOSTS into WEBHOO••••••_ALLOWED_HOSTS.
    assert scrub("set WEBHOOK_ALLOWED_HOSTS, key K", ["K"]) == f"set WEBHOOK_ALLOWED_HOSTS, key {MASK}"
    assert scrub("token=K&x=1", ["K"]) == f"token={MASK}&x=1"
    # A long secret is masked wherever it appears, glued to other text too.
    assert scrub("echo:abcDEF123456xyz", ["DEF123456"]) == f"echo:abc{MASK}xyz"
    assert scrub("a+b%2Fc", ["a b/c"]) == MASK


@pytest.mark.django_db
def test_the_migration_moves_credentials_stored_before_into_the_secret_and_masks_old_attempts():
    import importlib

    from django.apps import apps
    from django.utils import timezone

    migration = importlib.import_module("webhooks.migrations.0012_sec_url_secret")
    webhook = make_webhook("https://crm.example.com/hook")
    (customer,) = make_customers(1)
    delivery = services.message_test_send(webhook=webhook, customer=customer)
    # Rows as they were stored before: the URL in clear, on the webhook and on its attempts.
    Webhook.objects.filter(pk=webhook.pk).update(url=credential_url(443), url_secret="")
    sent = Attempt.objects.create(delivery=delivery, number=1, started_at=timezone.now(), url=credential_url(443))
    plain = Attempt.objects.create(delivery=delivery, number=2, started_at=timezone.now(), url="https://x.example/h")
    migration.forwards(apps, None)
    stored = Webhook.objects.get(pk=webhook.pk)
    assert stored.url == masked_url(credential_url(443))
    assert stored.full_url == credential_url(443)
    assert Attempt.objects.get(pk=sent.pk).url == masked_url(credential_url(443))
    assert Attempt.objects.get(pk=plain.pk).url == "https://x.example/h"
