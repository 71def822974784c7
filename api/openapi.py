"""The OpenAPI 3 document of the Open API, built from the same member lists the validation uses."""

from webhooks.content.events import FixedEvent

from .validation import EVENT_MEMBERS, MAX_EVENTS, OPTIONAL_MEMBERS, member_schema

# Text members are Unicode text: besides the pattern (not only spaces, no NUL), a lone surrogate escape
# (\\ud800 without its pair) is refused, which a JSON Schema pattern cannot say.
TEXT = " Text: not only spaces, no NUL, no lone surrogate escape."

DESCRIPTIONS = {
    "membershipId": "The member's ID." + TEXT,
    "date": "When the event happened: RFC 3339 (ISO 8601) with seconds and a time zone; sent on as UTC to the "
    "second (2026-11-27T17:30:00+08:00 becomes 2026-11-27T09:30:00Z). Left out or null: the time the hub "
    "accepted it.",
    "oldLevelId": "The old level's ID.",
    "newLevelId": "The new level's ID (must differ from oldLevelId).",
    "oldLevel": "The old level's name." + TEXT,
    "newLevel": "The new level's name." + TEXT,
    "couponId": "The coupon's ID." + TEXT,
    "couponName": "The coupon's name." + TEXT,
    "batchId": "The dispatch batch number." + TEXT,
    "couponCode": "The member's unique code of the coupon." + TEXT,
    "startDate": "First valid day: an ISO 8601 date (2026-11-27) or date and time with seconds and a time zone "
    "(2026-11-27T00:00:00Z); sent on exactly as given.",
    "endDate": "Last valid day, in the same forms as startDate and not before it; sent on exactly as given.",
}

EVENT_SCHEMA_NAMES: dict[str, str] = {
    FixedEvent.MEMBERSHIP_LEVEL_UP: "MembershipLevelUp",
    FixedEvent.MEMBERSHIP_LEVEL_DOWN: "MembershipLevelDown",
    FixedEvent.DISPATCH_COUPON: "LoyaltyDispatchCoupon",
    FixedEvent.DRAW_COUPON: "MembershipDrawCoupon",
    FixedEvent.REDEEM_COUPON: "MembershipRedeemCoupon",
}

EXAMPLES: dict[str, dict] = {
    FixedEvent.MEMBERSHIP_LEVEL_UP: {
        "event": FixedEvent.MEMBERSHIP_LEVEL_UP.value,
        "membershipId": "M0001",
        "date": "2026-11-27T09:30:00Z",
        "oldLevelId": 1,
        "newLevelId": 2,
        "oldLevel": "银卡",
        "newLevel": "金卡",
    },
    FixedEvent.MEMBERSHIP_LEVEL_DOWN: {
        "event": FixedEvent.MEMBERSHIP_LEVEL_DOWN.value,
        "membershipId": "M0001",
        "date": "2026-11-27T09:30:00Z",
        "oldLevelId": 2,
        "newLevelId": 1,
        "oldLevel": "金卡",
        "newLevel": "银卡",
    },
    FixedEvent.DISPATCH_COUPON: {
        "event": FixedEvent.DISPATCH_COUPON.value,
        "membershipId": "M0001",
        "date": "2026-11-27T09:30:00Z",
        "couponId": "17",
        "couponName": "满100减20",
        "batchId": "B20261127",
        "couponCode": "K7Q2M9XW3RTA",
        "startDate": "2026-11-27",
        "endDate": "2026-12-31",
    },
    FixedEvent.DRAW_COUPON: {
        "event": FixedEvent.DRAW_COUPON.value,
        "membershipId": "M0001",
        "date": "2026-11-27T09:30:00Z",
        "couponId": "17",
        "couponName": "满100减20",
        "couponCode": "K7Q2M9XW3RTA",
        "startDate": "2026-11-27",
        "endDate": "2026-12-31",
    },
    FixedEvent.REDEEM_COUPON: {
        "event": FixedEvent.REDEEM_COUPON.value,
        "membershipId": "M0001",
        "date": "2026-11-27T09:30:00Z",
        "couponId": "17",
        "couponName": "满100减20",
        "couponCode": "K7Q2M9XW3RTA",
    },
}


def _member_schema(name: str) -> dict:
    # The rules come from api/validation.py, which applies the very same ones.
    return {**member_schema(name), "description": DESCRIPTIONS[name]}


def _event_schema(event: str) -> dict:
    members = EVENT_MEMBERS[event]
    return {
        "type": "object",
        "title": event,
        "description": str(FixedEvent(event).label),
        "required": ["event", *[m for m in members if m not in OPTIONAL_MEMBERS]],
        "additionalProperties": False,
        "properties": {"event": {"type": "string", "enum": [event]}, **{m: _member_schema(m) for m in members}},
        "example": EXAMPLES[event],
    }


def _error_response(description: str, example_code: str) -> dict:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "example": {"error": {"code": example_code, "message": "…"}},
            }
        },
    }


def events_document(request=None) -> dict:
    event_refs = [{"$ref": f"#/components/schemas/{EVENT_SCHEMA_NAMES[e]}"} for e in FixedEvent.values]
    schemas = {EVENT_SCHEMA_NAMES[e]: _event_schema(e) for e in FixedEvent.values}
    schemas.update(
        {
            "Event": {
                "oneOf": event_refs,
                "discriminator": {
                    "propertyName": "event",
                    "mapping": {e: f"#/components/schemas/{EVENT_SCHEMA_NAMES[e]}" for e in FixedEvent.values},
                },
            },
            "Accepted": {
                "type": "object",
                "required": ["messageIds"],
                "properties": {
                    "messageIds": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "One message per event, in the order of the request.",
                    }
                },
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {
                                "type": "string",
                                "description": "Stable, for programs: e.g. invalid_events, "
                                "malformed_json, unknown_api_key, missing_scope, invalid_fields, not_found, "
                                "refused, idempotency_key_reused.",
                            },
                            "message": {"type": "string", "description": "For people, in the Accept-Language."},
                            "fields": {
                                "type": "object",
                                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                                "description": "With invalid_fields: messages per field.",
                            },
                            "scope": {"type": "string", "description": "With missing_scope: the scope the key lacks."},
                            "events": {
                                "type": "array",
                                "description": "With invalid_events: one entry per refused event.",
                                "items": {
                                    "type": "object",
                                    "required": ["index"],
                                    "properties": {
                                        "index": {
                                            "type": "integer",
                                            "description": "Position in the list (0 for one object).",
                                        },
                                        "errors": {
                                            "type": "array",
                                            "items": {"type": "string"},
                                            "description": "About the event as a whole.",
                                        },
                                        "members": {
                                            "type": "object",
                                            "additionalProperties": {"type": "array", "items": {"type": "string"}},
                                            "description": "Messages per member name.",
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        }
    )
    server = request.build_absolute_uri("/api/v1") if request is not None else "/api/v1"
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "WebhookHub Open API",
            "version": "1.0.0",
            "description": (
                "Report DM Hub's five fixed loyalty events. Each accepted event is pushed to every active "
                "webhook subscribed to it, with the seed's payload: the members below, in the seed's order, "
                "and tenantId, which the hub fills in. A list is accepted whole or refused whole. "
                "Error messages follow Accept-Language (en or zh-hans; English when absent)."
            ),
        },
        "servers": [{"url": server}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/events": {
                "post": {
                    "operationId": "postEvents",
                    "summary": f"Publish one loyalty event or a list of up to {MAX_EVENTS}",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 255},
                            "description": "Repeating a request with the same key (and the same API key and body) "
                            "returns the first answer and publishes nothing new. The same key with another body "
                            "is refused with 422. Refused (400) requests are not remembered.",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Event"},
                                        {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": MAX_EVENTS,
                                            "items": {"$ref": "#/components/schemas/Event"},
                                        },
                                    ]
                                },
                                "example": EXAMPLES[FixedEvent.MEMBERSHIP_LEVEL_UP],
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Accepted: every event is queued for its webhooks.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Accepted"},
                                    "example": {"messageIds": [101]},
                                }
                            },
                        },
                        "400": _error_response(
                            "Not accepted: malformed JSON, wrong shape, or invalid events (nothing was published).",
                            "invalid_events",
                        ),
                        "401": _error_response("No API key, or an unknown one.", "unknown_api_key"),
                        "403": _error_response("The API key was revoked.", "revoked_api_key"),
                        "405": _error_response("Only POST.", "method_not_allowed"),
                        "413": _error_response("The body is too large.", "body_too_large"),
                        "415": _error_response("The body is not application/json (UTF-8).", "unsupported_media_type"),
                        "422": _error_response(
                            "Idempotency-Key reused with a different body.", "idempotency_key_reused"
                        ),
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key created in the admin (Open API › API keys).",
                },
            },
            "schemas": schemas,
        },
    }


MANAGEMENT_DESCRIPTION = (
    " Manage what an administrator manages in the admin: webhooks (secrets write-only; Standard Webhooks and "
    "secret rotation), deliveries and their attempts, redelivery, group sends, customers and groups. Each API "
    "key holds scopes, chosen when it is created; an operation needs the scope named in its security, and a "
    "key without it gets 403 missing_scope. Lists are paged by cursor (next_cursor; limit up to 200). Every "
    "POST takes an Idempotency-Key. What a key does is recorded as done by the user who created it."
)


def openapi_document(request=None) -> dict:
    """The events document, and the management operations django-ninja generates from their schemas."""
    from .hub import hub_api
    from .routes import operation_scopes

    document = events_document(request)
    generated = as_openapi_30(hub_api.get_openapi_schema(path_prefix=""))
    document["info"]["description"] += MANAGEMENT_DESCRIPTION
    scopes = operation_scopes()
    idempotency = document["paths"]["/events"]["post"]["parameters"][0]
    for path, operations in generated["paths"].items():
        for method, operation in operations.items():
            operation["security"] = [{"bearerAuth": [scopes[operation["operationId"]]]}]
            operation["description"] = (
                operation.get("description", "") + f"\n\nScope: `{scopes[operation['operationId']]}`."
            ).strip()
            if method == "post":
                operation.setdefault("parameters", []).append(
                    {
                        **idempotency,
                        "description": "Repeating the request with the same key (same API key, path and body) "
                        "returns the first answer and does nothing again; another request with the key is "
                        "refused with 422. Only successful answers are remembered.",
                    }
                )
        document["paths"][path] = operations
    components = generated.get("components", {}).get("schemas", {})
    # The one error shape: the events endpoint's Error, which the management answers use too.
    components.pop("Error", None)
    components.pop("ErrorBody", None)
    document["components"]["schemas"].update(components)
    document["tags"] = [{"name": "Events"}, *({"name": name} for name in _tags(generated))]
    document["paths"]["/events"]["post"].setdefault("tags", ["Events"])
    return document


def as_openapi_30(node):
    """django-ninja writes OpenAPI 3.1 (JSON Schema's `{"type": "null"}`); the document is 3.0.3, as the events
    part has always been, so a value that may be null says `nullable: true` instead."""
    if isinstance(node, list):
        return [as_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: as_openapi_30(value) for key, value in node.items() if key != "openapi"}
    for keyword in ("anyOf", "oneOf"):
        options = node.get(keyword)
        if not isinstance(options, list) or {"type": "null"} not in options:
            continue
        rest = [option for option in options if option != {"type": "null"}]
        del node[keyword]
        if len(rest) > 1:
            node[keyword] = rest
        elif "$ref" in rest[0]:
            node["allOf"] = rest  # 3.0 ignores siblings of a $ref
        else:
            node = {**rest[0], **node}
        node["nullable"] = True
    return node


def _tags(generated: dict) -> list[str]:
    seen = []
    for operations in generated["paths"].values():
        for operation in operations.values():
            for tag in operation.get("tags", []):
                if tag not in seen:
                    seen.append(tag)
    return seen
