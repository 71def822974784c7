"""API keys in the admin (shown once, stored hashed, revocable) and the OpenAPI document."""

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model

from api.endpoints.events import EVENT_MEMBERS, EXAMPLES, OPTIONAL_MEMBERS, events_validated
from api.models import ApiKey, key_hash
from webhooks.content.events import FixedEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(get_user_model().objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def redeem_event():
    return json.dumps(EXAMPLES[FixedEvent.REDEEM_COUPON])


def test_key_is_shown_once_and_only_its_hash_is_stored(staff):
    response = staff.post("/admin/api/apikey/add/", {"name": "CRM 同步"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    api_key = ApiKey.objects.get()
    raw = response.context["raw_key"]
    assert raw in response.text
    assert raw.startswith(api_key.prefix)
    assert api_key.hashed_key == key_hash(raw)
    assert api_key.created_by.username == "admin"
    assert LogEntry.objects.get().object_id == str(api_key.pk)  # the admin went on with the saved key
    renamed = staff.post(f"/admin/api/apikey/{api_key.pk}/change/", {"name": "CRM 同步 (新)"})
    assert renamed.status_code == 302
    assert ApiKey.objects.get().name == "CRM 同步 (新)"
    assert ApiKey.objects.get().hashed_key == key_hash(raw)
    # Never again: not on the list, not on the key's page.
    for url in ("/admin/api/apikey/", f"/admin/api/apikey/{api_key.pk}/change/"):
        page = staff.get(url)
        assert page.status_code == 200
        assert raw not in page.text
        assert api_key.prefix in page.text

    api = staff.post(
        "/api/v1/events", redeem_event(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert api.status_code == 202

    staff.post("/admin/api/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]})
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    api = staff.post(
        "/api/v1/events", redeem_event(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert api.status_code == 403


def test_openapi_document_parses_and_describes_the_endpoint(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    post = document["paths"]["/events"]["post"]
    assert {"202", "400", "401", "403", "413", "415", "422"} <= set(post["responses"])
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        **document["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    assert document["security"] == [{"bearerAuth": []}]
    schemas = document["components"]["schemas"]
    one_event, array = post["requestBody"]["content"]["application/json"]["schema"]["anyOf"]
    assert array["items"] == one_event
    mapping = one_event["discriminator"]["mapping"]
    assert set(mapping) == set(FixedEvent.values)
    for event, ref in mapping.items():
        schema = schemas[ref.rsplit("/", 1)[1]]
        members = EVENT_MEMBERS[event]
        # The document says exactly what the validation accepts.
        assert list(schema["properties"]) == ["event", *members]
        assert set(schema["required"]) == {"event", *members} - OPTIONAL_MEMBERS
        assert schema["additionalProperties"] is False
        assert events_validated(schema["example"])[0].event == event
        for member in members:
            member_schema = schema["properties"][member]
            member_schema = member_schema["anyOf"][0] if member in OPTIONAL_MEMBERS else member_schema
            assert member_schema["type"] == ("integer" if member.endswith("LevelId") else "string")
    assert array["maxItems"] == 1000
