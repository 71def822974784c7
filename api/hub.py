"""The management Open API's frame: django-ninja with the hub's keys, scopes, body parser and errors.

Why django-ninja: the request and response schemas (pydantic) are the ones the OpenAPI document is
generated from, so the document cannot drift from what the endpoints accept and answer across ~30
operations; it is Django's own request, URL and transaction handling underneath (no second framework
as with DRF). The business rules are not in the schemas: they stay in the admin's forms and the
services (api/endpoints/*.py feed both), so the API and the admin validate from one source.

Every answer that is not a success has the one shape of api/errors.py.
"""

import json
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.parser import Parser
from ninja.security.http import HttpBearer

from webhookhub.text import MAX_DEPTH, validate_json

from . import services
from .errors import ApiError, MissingScope, handlers_register
from .models import ApiKey
from .selectors import api_key_by_raw, api_key_scopes_lacking


class ScopedKey(HttpBearer):
    """A Bearer API key that holds `scope`, and whose owner still may use it; each refusal names what is wrong."""

    def __init__(self, scope: str):
        super().__init__()
        self.scope = scope

    def __call__(self, request) -> ApiKey:
        header = request.headers.get("Authorization", "")
        scheme, _sep, raw_key = header.partition(" ")
        if not header:
            raise ApiError(401, "missing_api_key", _("Send your API key in the header Authorization: Bearer <key>."))
        if scheme.lower() != "bearer" or not raw_key.strip():
            raise ApiError(401, "invalid_authorization", _("The Authorization header must be: Bearer <key>."))
        return self.authenticate(request, raw_key.strip())

    def authenticate(self, request, token: str) -> ApiKey:
        api_key = api_key_by_raw(token)
        if api_key is None:
            raise ApiError(401, "unknown_api_key", _("This API key is not known."))
        if api_key.is_revoked:
            raise ApiError(403, "revoked_api_key", _("This API key has been revoked."))
        if not api_key.has_scope(self.scope):
            raise MissingScope(self.scope)
        # Checked on every request (the owner is read with the key): deactivating the owner, or taking away
        # the role that grants the scope, stops the key at once.
        if self.scope in api_key_scopes_lacking(api_key):
            raise ApiError(
                403,
                "inactive_api_key",
                _(
                    "This API key no longer works for %(scope)s: the user who created it is inactive or no longer "
                    "holds a role that grants it. Ask an administrator for a new key."
                )
                % {"scope": self.scope},
                scope=str(self.scope),
            )
        services.api_key_mark_used(api_key=api_key)
        return api_key


# Operations whose schemas check each text member themselves, naming the member (POST /events).
TEXT_CHECKED_BY_SCHEMA = {"events"}


def _reject_constant(name):
    raise ValueError(_("%(name)s is not a JSON number.") % {"name": name})


def json_number(text: str):
    # JSON has one kind of number: 2.0 is the integer 2 (as JSON Schema counts it), read exactly.
    # Only within int64's magnitude: 9e999999 must not become a million-digit integer.
    value = Decimal(text)
    whole = value.is_finite() and value.adjusted() < 19 and value == value.to_integral_value()
    return int(value) if whole else float(text)


def _pairs_without_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(_("The member “%(member)s” appears twice in one object.") % {"member": key})
        result[key] = value
    return result


def _too_deep(value) -> bool:
    """Deeper than webhookhub.text.MAX_DEPTH, walked without recursion (a hostile body could be 100,000 deep)."""
    pending = [(value, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            if depth >= MAX_DEPTH:
                return True
            pending.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def _is_json(request) -> bool:
    content_type = request.content_type or ""
    charset = (request.content_params or {}).get("charset", "utf-8").lower()
    return content_type.lower() == "application/json" and charset in ("utf-8", "utf8")


class HubParser(Parser):
    """JSON bodies the hub can store: UTF-8 JSON, each member once, finite numbers, at most MAX_DEPTH levels,
    no NUL and no lone surrogate (webhookhub.text); anything else is a 4xx in the one error shape."""

    def parse_body(self, request):
        if not _is_json(request):
            raise ApiError(415, "unsupported_media_type", _("Send the body as JSON: Content-Type: application/json."))
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "malformed_json", _("The body is not UTF-8 text.")) from None
        try:
            data = json.loads(
                text,
                object_pairs_hook=_pairs_without_duplicates,
                parse_constant=_reject_constant,
                parse_float=json_number,
            )
        except json.JSONDecodeError as exc:
            raise ApiError(
                400,
                "malformed_json",
                _("The body is not valid JSON: %(reason)s (line %(line)s, column %(column)s).")
                % {"reason": exc.msg, "line": exc.lineno, "column": exc.colno},
            ) from None
        except ValueError as exc:  # duplicate members, NaN, integers of thousands of digits
            raise ApiError(
                400, "malformed_json", _("The body is not valid JSON: %(reason)s") % {"reason": exc}
            ) from None
        except RecursionError:
            raise ApiError(400, "malformed_json", _too_deep_message()) from None
        if _too_deep(data):
            raise ApiError(400, "malformed_json", _too_deep_message())
        match = request.resolver_match
        if match is None or match.url_name not in TEXT_CHECKED_BY_SCHEMA:
            try:
                validate_json(data)
            except DjangoValidationError as exc:
                raise ApiError(400, "invalid_text", " ".join(exc.messages)) from None
        return data


def _too_deep_message() -> str:
    return _("The body is nested too deeply: at most %(max)s levels of objects and lists.") % {"max": MAX_DEPTH}


hub_api = NinjaAPI(
    title="WebhookHub Open API",
    version="1.0.0",
    urls_namespace="hub_api",
    openapi_url=None,
    docs_url=None,
    parser=HubParser(),
)
handlers_register(hub_api)
