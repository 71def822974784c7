"""The management Open API's frame: django-ninja with the hub's keys, scopes, errors and language.

Why django-ninja: the request and response schemas (pydantic) are the ones the OpenAPI document is
generated from, so the document cannot drift from what the endpoints accept and answer across ~30
operations; it is Django's own request, URL and transaction handling underneath (no second framework
as with DRF). The business rules are not in the schemas: they stay in the admin's forms and the
services (api/endpoints/*.py feed both), so the API and the admin validate from one source.

Every answer that is not a success has one shape, the events endpoint's:
`{"error": {"code", "message", "fields"?, "scope"?}}`, the message in the request's Accept-Language.
"""

import json

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security.http import HttpBearer

from webhookhub.errors import HubError
from webhookhub.text import validate_json

from . import services
from .models import ApiKey
from .selectors import api_key_by_raw
from .views import error_response, missing_scope_response


class ApiError(Exception):
    """A refusal with its HTTP status, stable code and message (already translated)."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def not_found(what: str = "") -> ApiError:
    return ApiError(404, "not_found", what or _("There is no such object."))


class ScopedKey(HttpBearer):
    """A Bearer API key that holds `scope`; the refusals name what is wrong (missing, unknown, revoked, scope)."""

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
        services.api_key_mark_used(api_key=api_key)
        return api_key


class MissingScope(Exception):
    def __init__(self, scope: str):
        super().__init__(scope)
        self.scope = scope


class HubParser(Parser):
    """JSON bodies the hub can store (webhookhub.text): no NUL, no lone surrogate, no NaN, not too deep."""

    def parse_body(self, request):
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError):
            raise ApiError(400, "malformed_json", _("The body is not valid JSON.")) from None
        try:
            validate_json(data)
        except DjangoValidationError as exc:
            raise ApiError(400, "invalid_text", " ".join(exc.messages)) from None
        return data


hub_api = NinjaAPI(
    title="WebhookHub Open API",
    version="1.0.0",
    urls_namespace="hub_api",
    openapi_url=None,
    docs_url=None,
    parser=HubParser(),
)


def _respond(error: ApiError):
    response = error_response(error.status, error.code, error.message, **error.extra)
    return response


@hub_api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return _respond(exc)


@hub_api.exception_handler(MissingScope)
def _missing_scope(request, exc: MissingScope):
    return missing_scope_response(exc.scope)


@hub_api.exception_handler(HubError)
def _hub_error(request, exc: HubError):
    # A service's refusal: the request was understood, the state does not allow it.
    return _respond(ApiError(409, "refused", " ".join(exc.messages)))


@hub_api.exception_handler(DjangoValidationError)
def _django_validation(request, exc: DjangoValidationError):
    fields = exc.message_dict if hasattr(exc, "error_dict") else {}
    message = " ".join(exc.messages) if not fields else _("Some fields are invalid; nothing was changed.")
    return _respond(
        ApiError(400, "invalid_fields", message, fields=fields) if fields else ApiError(400, "invalid", message)
    )


@hub_api.exception_handler(Http404)
def _not_found(request, exc):
    return _respond(not_found())


@hub_api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _respond(ApiError(401, "missing_api_key", _("Send your API key in the header Authorization: Bearer <key>.")))


@hub_api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, ApiError):  # HubParser's refusal, wrapped by ninja
        return _respond(exc.__cause__)
    if exc.status_code == 400:  # ninja's only one: a body that does not parse
        return _respond(ApiError(400, "malformed_json", _("The body is not valid JSON.")))
    return _respond(ApiError(exc.status_code, "http_error", str(exc)))


# pydantic's own words for its checks, in the caller's language.
_PYDANTIC_MESSAGES = {
    "missing": lambda e: _("This field is required."),
    "extra_forbidden": lambda e: _("Unknown field."),
    "string_type": lambda e: _("Must be a string."),
    "int_type": lambda e: _("Must be an integer."),
    "int_parsing": lambda e: _("Must be an integer."),
    "int_from_float": lambda e: _("Must be an integer."),
    "bool_type": lambda e: _("Must be true or false."),
    "bool_parsing": lambda e: _("Must be true or false."),
    "float_type": lambda e: _("Must be a number."),
    "float_parsing": lambda e: _("Must be a number."),
    "list_type": lambda e: _("Must be a list."),
    "dict_type": lambda e: _("Must be an object."),
    "model_attributes_type": lambda e: _("Must be an object."),
    "enum": lambda e: _("Must be one of: %(choices)s.") % {"choices": (e.get("ctx") or {}).get("expected", "")},
    "literal_error": lambda e: (
        _("Must be one of: %(choices)s.") % {"choices": (e.get("ctx") or {}).get("expected", "")}
    ),
    "string_too_long": lambda e: _("At most %(max)s characters.") % {"max": (e.get("ctx") or {}).get("max_length")},
    "string_too_short": lambda e: _("At least %(min)s characters.") % {"min": (e.get("ctx") or {}).get("min_length")},
    "too_long": lambda e: _("At most %(max)s items.") % {"max": (e.get("ctx") or {}).get("max_length")},
    "too_short": lambda e: _("At least %(min)s items.") % {"min": (e.get("ctx") or {}).get("min_length")},
    "greater_than_equal": lambda e: _("Must be at least %(min)s.") % {"min": (e.get("ctx") or {}).get("ge")},
    "less_than_equal": lambda e: _("Must be at most %(max)s.") % {"max": (e.get("ctx") or {}).get("le")},
    "greater_than": lambda e: _("Must be more than %(min)s.") % {"min": (e.get("ctx") or {}).get("gt")},
    "less_than": lambda e: _("Must be less than %(max)s.") % {"max": (e.get("ctx") or {}).get("lt")},
    "datetime_type": lambda e: _("Must be a date and time in ISO 8601 with a time zone."),
    "datetime_parsing": lambda e: _("Must be a date and time in ISO 8601 with a time zone."),
    "datetime_from_date_parsing": lambda e: _("Must be a date and time in ISO 8601 with a time zone."),
    "timezone_aware": lambda e: _("Must be a date and time in ISO 8601 with a time zone."),
    "json_invalid": lambda e: _("The body is not valid JSON."),
    "string_pattern_mismatch": lambda e: _("Not in the expected form."),
    # Our own validators raise ValueError with a message already in the caller's language.
    "value_error": lambda e: str((e.get("ctx") or {}).get("error", e.get("msg", ""))),
}


def _field_name(location) -> str:
    # ("body", "payload", "name") → "name"; ("query", "limit") → "limit".
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    if len(parts) > 1 and parts[0] in ("payload", "data", "filters"):
        parts = parts[1:]
    return ".".join(parts) or "body"


@hub_api.exception_handler(NinjaValidationError)
def _validation(request, exc: NinjaValidationError):
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        describe = _PYDANTIC_MESSAGES.get(error.get("type", ""))
        text = describe(error) if describe else str(error.get("msg", ""))
        fields.setdefault(_field_name(error.get("loc", ())), []).append(text)
    if list(fields) == ["body"]:
        return _respond(ApiError(400, "malformed_body", " ".join(fields["body"]), fields=fields))
    return _respond(ApiError(400, "invalid_fields", _("Some fields are invalid; nothing was changed."), fields=fields))
