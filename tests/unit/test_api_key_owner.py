"""Issue 22 item 3: an API key is never stronger than its owner.

A key works only while the user who created it is active and holds a role granting each scope it uses
(checked on every request); no key is created with a scope its creator's role lacks (service and admin);
the key list shows owner, scopes, last use and why a key stopped; saving a user who lost what their keys
need lists those keys.
"""

import pytest
from django.contrib.auth.models import Group as Role
from django.contrib.auth.models import Permission, User

from api.models import ApiKey, Scope
from api.services import api_key_create
from webhookhub.errors import HubError
from webhookhub.roles import ADMINISTRATOR, MARKETER

from ..factories import make_key_owner, make_webhook

pytestmark = pytest.mark.django_db


def _post(client, raw: str, path: str):
    return client.post(f"/api/v1{path}", HTTP_AUTHORIZATION=f"Bearer {raw}", content_type="application/json")


@pytest.fixture
def webhook():
    return make_webhook("https://crm.example.com/hook")


def test_a_deactivated_owner_stops_the_key_at_the_next_request(client, webhook):
    owner = make_key_owner("adm2")
    _key, raw = api_key_create(name="sec-adm2", scopes=Scope.values, user=owner)
    assert _post(client, raw, f"/webhooks/{webhook.pk}/pause").status_code == 200

    User.objects.filter(pk=owner.pk).update(is_active=False)
    refused = _post(client, raw, f"/webhooks/{webhook.pk}/resume")

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "inactive_api_key"
    assert refused.json()["error"]["scope"] == "webhooks:write"
    webhook.refresh_from_db()
    assert webhook.is_paused  # the resume was not done


def test_losing_the_role_stops_the_key_and_a_marketer_role_backs_only_its_own_scopes(client, webhook):
    owner = make_key_owner("adm3")
    _key, raw = api_key_create(name="ops", scopes=[Scope.WEBHOOKS_WRITE, Scope.WEBHOOKS_READ], user=owner)
    owner.groups.set([Role.objects.get(name=MARKETER)])

    # A Marketer may read and edit webhooks in the admin, but not pause them: the key may do the same, no more.
    read = client.get("/api/v1/webhooks", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert read.status_code == 200
    refused = _post(client, raw, f"/webhooks/{webhook.pk}/pause")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "administrator_only"

    owner.groups.set([Role.objects.get(name=ADMINISTRATOR)])
    assert _post(client, raw, f"/webhooks/{webhook.pk}/pause").status_code == 200


def test_a_key_whose_owner_was_deleted_works_no_more(client, webhook):
    owner = make_key_owner("gone")
    api_key, raw = api_key_create(name="orphan", scopes=[Scope.WEBHOOKS_READ], user=owner)
    owner.delete()
    api_key.refresh_from_db()
    assert api_key.created_by is None
    assert client.get("/api/v1/webhooks", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 403


def test_the_service_refuses_scopes_beyond_the_creators_role():
    marketer = make_key_owner("mkt", role=MARKETER)
    with pytest.raises(HubError) as refused:
        api_key_create(name="mktfull", scopes=Scope.values, user=marketer)
    assert "events:write" in " ".join(refused.value.messages)
    assert not ApiKey.objects.exists()
    # What the role grants (redeliver, read deliveries) is allowed.
    api_key_create(name="redo", scopes=[Scope.DELIVERIES_READ, Scope.DELIVERIES_WRITE], user=marketer)


def test_the_admin_refuses_a_scope_beyond_the_creators_role(client):
    marketer = make_key_owner("mkt", role=MARKETER)
    # A Marketer allowed to make keys (a permission given by hand) still cannot give them more than the role.
    marketer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="api", codename__endswith="apikey")
    )
    client.force_login(marketer)
    response = client.post(
        "/admin/api/apikey/add/",
        {"name": "too strong", "scopes": [Scope.EVENTS_WRITE]},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "Your role does not grant these scopes" in response.content.decode()
    assert not ApiKey.objects.exists()

    allowed = client.post("/admin/api/apikey/add/", {"name": "reader", "scopes": [Scope.WEBHOOKS_READ]})
    assert allowed.status_code == 200
    assert ApiKey.objects.get().created_by == marketer


def test_the_key_list_shows_owner_scopes_last_use_and_why_a_key_stopped(admin_client, webhook):
    owner = make_key_owner("adm4")
    _key, raw = api_key_create(name="crm-sync", scopes=[Scope.WEBHOOKS_WRITE], user=owner)
    _post(admin_client, raw, f"/webhooks/{webhook.pk}/pause")
    owner.groups.clear()

    page = admin_client.get("/admin/api/apikey/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "adm4" in page
    assert "webhooks:write" in page
    assert "inactive: owner lacks webhooks:write" in page
    assert ApiKey.objects.get(name="crm-sync").last_used_at is not None


def test_saving_a_deactivated_user_lists_the_keys_that_stopped(admin_client):
    owner = make_key_owner("adm5")
    api_key_create(name="nightly-export", scopes=[Scope.DELIVERIES_READ], user=owner)
    api_key_create(name="already-fine", scopes=[Scope.DELIVERIES_READ], user=make_key_owner("other"))
    change = f"/admin/auth/user/{owner.pk}/change/"
    form = {
        "username": "adm5",
        "is_active": "",  # deactivated
        "is_staff": "on",
        "groups": [Role.objects.get(name=ADMINISTRATOR).pk],
        "date_joined_0": "2026-12-01",
        "date_joined_1": "10:00:00",
        "last_login_0": "",
        "last_login_1": "",
    }

    response = admin_client.post(change, form, follow=True, HTTP_ACCEPT_LANGUAGE="en")

    messages = [str(m) for m in response.context["messages"]]
    stopped = [m for m in messages if "no longer work" in m]
    assert len(stopped) == 1
    assert "nightly-export" in stopped[0]
    assert "already-fine" not in stopped[0]
    assert "deliveries:read" in stopped[0]
