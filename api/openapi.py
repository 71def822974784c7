"""The published OpenAPI document: django-ninja's, generated from the operations' own schemas, with what the
frame adds around them (the Bearer key and each operation's scope, the Idempotency-Key on every POST)."""

from .idempotency import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY
from .routes import hub_api, operation_scopes

DESCRIPTION = (
    "Report DM Hub's five fixed loyalty events (POST /events) and manage what an administrator manages in the "
    "admin: webhooks (secrets write-only; Standard Webhooks and secret rotation), deliveries and their attempts, "
    "redelivery, group sends, customers and groups. Each API key holds scopes, chosen when it is created; an "
    "operation needs the scope named in its security, and a key without it gets 403 missing_scope. A key is "
    "never stronger than the user who created it: it works only while that user is active and holds a role "
    "granting the scope (403 inactive_api_key otherwise). Lists are paged by cursor (next_cursor, opaque; limit "
    "up to 200). Every POST takes an Idempotency-Key. What a key does is recorded as done by the user who "
    'created it. Every error has one shape, {"error": {"code", "message", ...}}, its message in the '
    "Accept-Language (en or zh-hans; English when absent)."
)

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY, "pattern": IDEMPOTENCY_KEY_PATTERN},
    "description": "Printable ASCII. Repeating the request with the same key (same API key, path and body) "
    "returns the first answer and does nothing again; another request with the key is refused with 422. Only "
    "successful answers are remembered.",
}


def openapi_document(request=None) -> dict:
    """The document as served at /api/v1/openapi.json."""
    document = hub_api.get_openapi_schema(path_prefix="")
    document["info"]["description"] = DESCRIPTION
    document["servers"] = [{"url": request.build_absolute_uri("/api/v1") if request is not None else "/api/v1"}]
    scopes = operation_scopes()
    for operations in document["paths"].values():
        for method, operation in operations.items():
            scope = scopes[operation["operationId"]]
            operation["security"] = [{"bearerAuth": [scope]}]
            operation["description"] = (operation.get("description", "") + f"\n\nScope: `{scope}`.").strip()
            if method == "post":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    document["security"] = [{"bearerAuth": []}]
    document["components"]["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key created in the admin (Open API › API keys).",
        }
    }
    return document
