"""Proxies, private CAs, client certificates and traceparent through the Open API and the admin, with the
roles: Marketers choose among what an Administrator set up; certificates and keys are an Administrator's."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as AuthGroup

from api.models import Scope
from api.selectors import scopes_lacking
from api.services import api_key_create
from webhookhub.roles import ADMINISTRATOR, MARKETER
from webhooks.models import OutboundProxy, PrivateCA, Webhook

from ..factories import make_webhook
from ..support.tls import LocalCA
from .test_api_management import Api, webhook_body

pytestmark = pytest.mark.django_db


def user_in(role: str, name: str):
    user = get_user_model().objects.create_user(name, password="pw", is_staff=True)
    user.groups.add(AuthGroup.objects.get(name=role))
    return user


def api_of(client, user) -> Api:
    # Every scope the user's role grants: a key is never stronger than its owner.
    scopes = [scope for scope in Scope.values if not scopes_lacking(user, [scope])]
    _key, raw = api_key_create(name=f"key of {user.username}", scopes=scopes, user=user)
    return Api(client, raw)


@pytest.fixture
def configured():
    proxy = OutboundProxy(name="固定出口", url="http://proxy.internal:3128", username="hub")
    proxy.password = "pr0xy-secret"
    proxy.save()
    ca = LocalCA()
    return proxy, PrivateCA.objects.create(name="公司 CA", bundle=ca.pem), ca


def test_a_marketers_key_chooses_a_proxy_and_a_ca_but_may_not_set_a_client_certificate(client, configured):
    proxy, private_ca, ca = configured
    api = api_of(client, user_in(MARKETER, "marketer"))
    listed = api("GET", "/proxies").json()
    assert listed == [{"id": proxy.pk, "name": "固定出口", "url": "http://proxy.internal:3128"}]
    assert "pr0xy-secret" not in str(listed)
    assert api("GET", "/private-cas").json() == [{"id": private_ca.pk, "name": "公司 CA"}]

    created = api(
        "POST",
        "/webhooks",
        webhook_body(egress="proxy", proxy_id=proxy.pk, private_ca_id=private_ca.pk, send_traceparent=True),
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["egress"], body["proxy_id"], body["private_ca_id"]) == ("proxy", proxy.pk, private_ca.pk)
    assert body["send_traceparent"] is True
    assert body["client_key_set"] is False

    pair = ca.issue("client", server=False)
    refused = api(
        "PATCH",
        f"/webhooks/{body['id']}",
        {"client_certificate": pair.certificate, "client_key": pair.key},
        accept_language="zh-hans",
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "administrator_only"
    assert "管理员" in refused.json()["error"]["message"]
    assert Webhook.objects.get(pk=body["id"]).client_certificate == ""

    unknown = api("PATCH", f"/webhooks/{body['id']}", {"egress": "proxy", "proxy_id": None})
    assert unknown.status_code == 400
    assert "proxy" in unknown.json()["error"]["fields"]


def test_an_administrators_key_sets_the_client_certificate_write_only(client, configured):
    _proxy, _private_ca, ca = configured
    api = api_of(client, user_in(ADMINISTRATOR, "admin"))
    pair = ca.issue("client", server=False, days=60)
    created = api(
        "POST", "/webhooks", webhook_body(client_certificate=pair.certificate, client_key=pair.key, egress="direct")
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["client_key_set"] is True
    assert body["client_certificate_expires_at"]
    assert "client_key" not in body
    assert "PRIVATE KEY" not in created.content.decode()
    mismatched = api("PATCH", f"/webhooks/{body['id']}", {"client_key": ca.issue("x", server=False).key})
    assert mismatched.status_code == 400
    assert "client_certificate" in mismatched.json()["error"]["fields"]


def test_the_admin_hides_the_client_certificate_from_a_marketer_and_shows_its_expiry(client, configured):
    _proxy, _private_ca, ca = configured
    pair = ca.issue("client", server=False, days=10)
    webhook = make_webhook("https://crm.example.com/hook", client_certificate=pair.certificate, client_key=pair.key)
    webhook.full_clean()
    webhook.save()
    administrator = user_in(ADMINISTRATOR, "admin")
    client.force_login(administrator)
    page = client.get(f"/admin/webhooks/webhook/{webhook.pk}/change/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="client_certificate"' in page
    assert 'name="client_key"' in page
    assert "Ends in" in page
    assert "PRIVATE KEY" not in page
    marketer = user_in(MARKETER, "marketer")
    marketer.user_permissions.add(*administrator.groups.get().permissions.filter(codename="change_webhook"))
    client.force_login(marketer)
    page = client.get(f"/admin/webhooks/webhook/{webhook.pk}/change/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="proxy"' in page
    assert 'name="private_ca"' in page
    assert 'name="client_certificate"' not in page
    assert 'name="client_key"' not in page
