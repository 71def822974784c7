"""Test connection: one signed ping through webhooks.engine.http to real receivers on 127.0.0.1 (success, Basic
auth refused, OAuth2 token refused, TLS self-signed with verification on and off, a refused port, the SSRF
guard), through the service, the admin's button and the Open API; nothing is recorded as a delivery."""

import json

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from api.models import Scope
from api.services import api_key_create
from demo.receiver import ReceiverConfig, ThreadedReceiver
from webhooks.content.events import PING_EVENT
from webhooks.content.signing import verify
from webhooks.models import Attempt, Delivery, Message, Webhook, WebhookHistory
from webhooks.services.connection_check import webhook_connection_test

from ..factories import make_key_owner, make_webhook
from ..support.ports import free_port
from ..support.receivers import ScriptedServer, self_signed_context

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _nothing_recorded(webhook):
    assert not Delivery.objects.exists()
    assert not Message.objects.exists()
    assert not Attempt.objects.exists()
    assert not WebhookHistory.objects.filter(webhook=webhook).exclude(action="created").exists()


def _states(check) -> dict:
    return {step.step: step.state for step in check.steps}


def test_a_signed_ping_succeeds(receiver, redis_conn):
    webhook = make_webhook(receiver.url("/hook"))
    check = webhook_connection_test(webhook=webhook)
    assert check.ok, check
    assert check.outcome == "ok"
    assert check.title == "Connected"
    assert _states(check) == {"resolve": "ok", "allowed": "ok", "connect": "ok", "auth": "ok", "answer": "ok"}
    assert len(receiver.received) == 1
    hit = receiver.received[0]
    assert hit.signature_ok is True
    assert hit.headers["X-Clab-Event"] == PING_EVENT == "webhookhub/ping"
    assert len(hit.headers["X-Clab-Delivery-Id"]) == 32
    body = json.loads(hit.body)
    assert body["event"] == PING_EVENT
    assert body["webhookId"] == webhook.pk
    assert check.request["body"] == hit.body
    assert check.response["status"] == 200
    assert "s3cr3t" not in json.dumps(check.as_dict(), default=str)
    _nothing_recorded(webhook)


def test_basic_auth_with_a_wrong_password_is_an_auth_failure(receiver):
    webhook = make_webhook(
        receiver.url("/hook"), auth_type=Webhook.AuthType.BASIC, basic_username="hub", basic_password="wrong"
    )
    check = webhook_connection_test(webhook=webhook)
    assert not check.ok
    assert check.outcome == "auth_failed"
    assert check.title == "Authentication failed (HTTP 401)"
    assert _states(check)["connect"] == "ok"
    assert _states(check)["auth"] == "failed"
    assert receiver.received[0].basic_ok is False
    assert "wrong" not in json.dumps(check.as_dict(), default=str)


def test_oauth2_token_refused_then_obtained(redis_conn):
    config = ReceiverConfig(oauth_app_id="app-1", oauth_app_secret="right-secret")
    with ThreadedReceiver(config) as server:
        webhook = make_webhook(
            server.url("/hook"),
            auth_type=Webhook.AuthType.OAUTH2,
            oauth_token_url=server.url("/oauth/token"),
            oauth_app_id="app-1",
            oauth_app_secret="wrong-secret",
        )
        check = webhook_connection_test(webhook=webhook)
        assert check.outcome == "oauth_failed"
        assert check.title == "OAuth2: no access token obtained"
        # The token endpoint's answer, not the app secret.
        assert "HTTP 401" in check.detail
        assert "invalid_client" in check.detail
        assert "wrong-secret" not in json.dumps(check.as_dict(), default=str)
        assert not [r for r in server.received if r.path == "/hook"]

        webhook.oauth_app_secret = "right-secret"
        webhook.save()
        webhook.refresh_from_db()
        check = webhook_connection_test(webhook=webhook)
        assert check.ok, check
        assert [r.token_ok for r in server.received if r.path == "/hook"] == [True]
        assert "access_token=" in check.request["url"]
        assert not any(token in check.request["url"] for token in config.tokens)


def test_tls_self_signed_fails_verification_and_passes_without_it(tmp_path):
    with ScriptedServer(ssl_context=self_signed_context(tmp_path)) as server:
        webhook = make_webhook(server.url("/hook"))
        check = webhook_connection_test(webhook=webhook)
        assert check.outcome == "tls_failed"
        assert check.title == "TLS certificate verification failed"
        assert "certificate" in check.detail.lower()
        assert _states(check)["tls"] == "failed"
        assert server.posts() == []

        webhook.verify_ssl = False
        webhook.save()
        check = webhook_connection_test(webhook=webhook)
        assert check.ok, check
        assert _states(check)["tls"] == "ok"
        tls = next(step for step in check.steps if step.step == "tls")
        assert "not verified" in tls.detail
        hit = server.posts()[0]
        assert verify(hit.body, hit.headers["X-Clab-Hmac-Signature"], "s3cr3t")


def test_a_refused_port_cannot_connect():
    webhook = make_webhook(f"http://127.0.0.1:{free_port()}/hook")
    check = webhook_connection_test(webhook=webhook)
    assert check.outcome == "connect_failed"
    assert check.title == "Cannot connect"
    assert _states(check) == {"resolve": "ok", "allowed": "ok", "connect": "failed"}


def test_the_ssrf_guard_blocks_private_addresses_and_names(settings, receiver):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    for url in (receiver.url("/hook"), f"http://localhost:{receiver.port}/hook"):
        check = webhook_connection_test(webhook=make_webhook(url))
        assert check.outcome == "blocked", url
        assert check.title == "Blocked by the SSRF guard"
        assert "WEBHOOK_ALLOWED_HOSTS" in check.detail
        assert _states(check)["allowed"] == "failed"
    assert receiver.received == []


def test_a_name_that_does_not_resolve():
    check = webhook_connection_test(webhook=make_webhook("http://no-such-host.invalid/hook"))
    assert check.outcome == "dns_failed"
    assert check.title == "DNS lookup failed"
    assert _states(check) == {"resolve": "failed"}


def test_the_admin_button_answers_in_the_users_language(client, receiver):
    client.force_login(User.objects.create_superuser("staff", "staff@example.com", "pw-staff-1"))
    webhook = make_webhook(receiver.url("/hook"))
    page = client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk]))
    assert 'id="connection-test-button"' in page.content.decode()
    url = reverse("admin:webhooks_webhook_connection_test", args=[webhook.pk])
    assert client.get(url).status_code == 405
    answer = client.post(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert answer["ok"] is True
    assert answer["title"] == "连接成功"
    assert 'data-outcome="ok"' in answer["html"]
    refused = make_webhook(f"http://127.0.0.1:{free_port()}/hook")
    answer = client.post(
        reverse("admin:webhooks_webhook_connection_test", args=[refused.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).json()
    assert answer["outcome"] == "connect_failed"
    assert answer["title"] == "无法连接"


def test_a_marketer_tests_the_connection_of_her_webhook(client, receiver):
    from django.contrib.auth.models import Group as AuthGroup

    from webhookhub.roles import MARKETER

    user = User.objects.create_user("mkt", password="pw-marketer-1", is_staff=True)
    user.groups.add(AuthGroup.objects.get(name=MARKETER))
    client.force_login(user)
    webhook = make_webhook(receiver.url("/hook"))
    # As in DM Hub, she creates, edits and tests her webhooks (webhookhub/roles.py).
    answer = client.post(reverse("admin:webhooks_webhook_connection_test", args=[webhook.pk]))
    assert answer.status_code == 200
    assert len(receiver.received) == 1


def test_the_open_api_operation(client, receiver):
    _key, raw = api_key_create(name="writer", scopes=[Scope.WEBHOOKS_WRITE], user=make_key_owner())
    _key, reader = api_key_create(name="reader", scopes=[Scope.WEBHOOKS_READ], user=make_key_owner())
    webhook = make_webhook(
        receiver.url("/hook"), auth_type=Webhook.AuthType.BASIC, basic_username="hub", basic_password="bad"
    )
    path = f"/api/v1/webhooks/{webhook.pk}/test-connection"
    refused = client.post(path, HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
    answer = client.post(path, HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["ok"] is False
    assert data["outcome"] == "auth_failed"
    assert data["title"] == "鉴权失败（HTTP 401）"  # noqa: RUF001
    assert data["response"]["status"] == 401
    assert data["request"]["headers"]["Authorization"] != "Basic aHViOmJhZA=="
    assert client.post("/api/v1/webhooks/999999/test-connection", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 404
    document = client.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/webhooks/{webhook_id}/test-connection"]["post"]
    assert operation["operationId"] == "testWebhookConnection"
    assert "200" in operation["responses"]


def test_every_outcome_through_the_admin_button_and_the_open_api(client, settings, tmp_path, redis_conn):
    """The same words for the same receiver, whichever door is used."""
    client.force_login(User.objects.create_superuser("staff", "staff@example.com", "pw-staff-1"))
    _key, raw = api_key_create(name="writer", scopes=[Scope.WEBHOOKS_WRITE], user=make_key_owner())
    config = ReceiverConfig(
        secret="s3cr3t", basic_username="hub", basic_password="pa:ss", oauth_app_id="app-1", oauth_app_secret="right"
    )
    with ThreadedReceiver(config) as server, ScriptedServer(ssl_context=self_signed_context(tmp_path)) as tls:
        cases = {
            "ok": make_webhook(server.url("/hook")),
            "auth_failed": make_webhook(
                server.url("/hook"), auth_type=Webhook.AuthType.BASIC, basic_username="hub", basic_password="no"
            ),
            "oauth_failed": make_webhook(
                server.url("/hook"),
                auth_type=Webhook.AuthType.OAUTH2,
                oauth_token_url=server.url("/oauth/token"),
                oauth_app_id="app-1",
                oauth_app_secret="wrong",
            ),
            "tls_failed": make_webhook(tls.url("/hook")),
            "connect_failed": make_webhook(f"http://127.0.0.1:{free_port()}/hook"),
            "blocked": make_webhook(f"http://[::1]:{server.port}/hook"),
            "dns_failed": make_webhook("http://no-such-host.invalid/hook"),
        }
        tls_off = make_webhook(tls.url("/hook"), verify_ssl=False)
        for expected, webhook in [*cases.items(), ("ok", tls_off)]:
            admin = client.post(reverse("admin:webhooks_webhook_connection_test", args=[webhook.pk])).json()
            api = client.post(
                f"/api/v1/webhooks/{webhook.pk}/test-connection", HTTP_AUTHORIZATION=f"Bearer {raw}"
            ).json()
            assert admin["outcome"] == api["outcome"] == expected, (webhook.url, admin, api)
            assert admin["title"] == api["title"]
            assert api["ok"] is (expected == "ok")
    assert not Delivery.objects.exists()


# --- Issue 22 (10): ports on the allow-list; blocked without the resolved addresses ---------------------


def test_an_allow_listed_address_without_a_port_is_blocked_on_other_ports(settings, receiver):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    check = webhook_connection_test(webhook=make_webhook(receiver.url("/hook")))
    assert check.outcome == "blocked"
    assert f"port {receiver.port}" in check.detail
    assert receiver.received == []
    settings.WEBHOOK_ALLOWED_HOSTS = [f"127.0.0.1:{receiver.port}"]
    assert webhook_connection_test(webhook=make_webhook(receiver.url("/hook"))).ok


def test_a_blocked_name_does_not_tell_what_it_resolves_to_except_to_administrators(settings, receiver, admin_client):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    webhook = make_webhook(f"http://localhost:{receiver.port}/hook")
    check = webhook_connection_test(webhook=webhook)  # as the Open API runs it
    assert check.outcome == "blocked"
    assert "127.0.0.1" not in json.dumps(check.as_dict(), default=str)
    # An Administrator's button shows the addresses the name resolved to.
    answer = admin_client.post(reverse("admin:webhooks_webhook_connection_test", args=[webhook.pk])).json()
    assert answer["outcome"] == "blocked"
    assert "127.0.0.1" in answer["html"]
    assert receiver.received == []
