"""The Open API's one error shape, and every refusal turned into it.

Every answer under /api/v1/ that is not a success is `{"error": {"code", "message", ...}}`, the message in
the request's Accept-Language: the operations' own refusals (ApiError), ninja's and pydantic's, the
services' (HubError, ValidationError), and what Django answers before or around a view (a body over the
size limit, an unknown path, a 500), which `ApiErrorMiddleware` rewrites from HTML into this shape.
"""

import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation.trans_real import parse_accept_lang_header
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import Field

from webhookhub.errors import HubError

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"


class EventError(Schema):
    index: int = Field(description="Position in the list (0 for one object).")
    errors: list[str] | None = Field(None, description="About the event as a whole.")
    members: dict[str, list[str]] | None = Field(None, description="Messages per member name.")


class ErrorBody(Schema):
    code: str = Field(
        description="Stable, for programs: e.g. invalid_events, malformed_json, unknown_api_key, missing_scope, "
        "invalid_fields, not_found, invalid_cursor, refused, already_exists, idempotency_key_reused, body_too_large, "
        "unsupported_media_type, inactive_api_key, server_error."
    )
    message: str = Field(description="For people, in the request's Accept-Language (en or zh-hans).")
    fields: dict[str, list[str]] | None = Field(None, description="With invalid_fields: messages per field.")
    scope: str | None = Field(None, description="With missing_scope and inactive_api_key: the scope concerned.")
    events: list[EventError] | None = Field(None, description="With invalid_events: one entry per refused event.")


class Error(Schema):
    error: ErrorBody


class ApiError(Exception):
    """A refusal with its HTTP status, stable code and message (already translated)."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class MissingScope(Exception):
    def __init__(self, scope: str):
        super().__init__(scope)
        self.scope = scope


def not_found(what: str = "") -> ApiError:
    return ApiError(404, "not_found", what or _("There is no such object."))


def missing(fields: dict[str, list[str]]) -> ApiError:
    """An object the body names by id does not exist: 404, as for an id in the path, the fields saying which."""
    return ApiError(
        404, "not_found", _("Some objects the body names do not exist; nothing was changed."), fields=fields
    )


def body_too_large() -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        _("The body is larger than %(max)s bytes; send less per request (fewer events or a smaller template).")
        % {"max": max_body_bytes()},
    )


def max_body_bytes() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440


def error_response(status: int, code: str, message: str, **extra) -> HttpResponse:
    text = json.dumps({"error": {"code": code, "message": message, **extra}}, ensure_ascii=False)
    # A member name the caller sent may hold a lone surrogate; backslashreplace writes it as a JSON escape.
    response = HttpResponse(text.encode("utf-8", "backslashreplace"), status=status, content_type="application/json")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="webhookhub"'
    return response


def respond(error: ApiError) -> HttpResponse:
    return error_response(error.status, error.code, error.message, **error.extra)


def missing_scope_response(scope: str) -> HttpResponse:
    return error_response(
        403,
        "missing_scope",
        _("This API key lacks the scope %(scope)s; create a key with it in the admin (Open API › API keys).")
        % {"scope": scope},
        scope=str(scope),
    )


def api_language(request) -> str:
    # Not get_language_from_request: its fallback is the admin's zh-hans, and it reads the admin's cookie.
    for code, _quality in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return "en"


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


def pydantic_message(error: dict) -> str:
    describe = _PYDANTIC_MESSAGES.get(error.get("type", ""))
    return describe(error) if describe else str(error.get("msg", ""))


def _field_name(location) -> str:
    # ("body", "payload", "name") → "name"; ("query", "limit") → "limit".
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    if len(parts) > 1 and parts[0] in ("payload", "data", "filters"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation(request, exc: NinjaValidationError):
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        fields.setdefault(_field_name(error.get("loc", ())), []).append(pydantic_message(error))
    if list(fields) == ["body"]:
        return respond(ApiError(400, "malformed_body", " ".join(fields["body"]), fields=fields))
    return respond(ApiError(400, "invalid_fields", _("Some fields are invalid; nothing was changed."), fields=fields))


def _django_validation(request, exc: DjangoValidationError):
    fields = exc.message_dict if hasattr(exc, "error_dict") else {}
    if fields:
        return respond(
            ApiError(400, "invalid_fields", _("Some fields are invalid; nothing was changed."), fields=fields)
        )
    return respond(ApiError(400, "invalid", " ".join(exc.messages)))


def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, ApiError):  # the parser's refusal, wrapped by ninja
        return respond(exc.__cause__)
    if exc.status_code == 400:  # ninja's only one: a body that does not parse
        return respond(ApiError(400, "malformed_json", _("The body is not valid JSON.")))
    return respond(ApiError(exc.status_code, "http_error", str(exc)))


def _unexpected(request, exc: Exception):
    # Logged with its traceback as Django would; the caller gets the documented shape, not a page.
    logger.exception("Open API: unexpected error on %s %s", request.method, request.path)
    return server_error()


def server_error() -> HttpResponse:
    return error_response(
        500,
        "server_error",
        _("Something went wrong on the hub. Try again; if it happens again, tell your administrator."),
    )


def _api_error(request, exc):
    return respond(exc)


def _missing_scope(request, exc):
    return missing_scope_response(exc.scope)


def _refused(request, exc):
    # A service's refusal: the request was understood, the state does not allow it.
    return respond(ApiError(409, "refused", " ".join(exc.messages)))


def _not_found(request, exc):
    return respond(not_found())


def _unauthenticated(request, exc):
    return respond(ApiError(401, "missing_api_key", _("Send your API key in the header Authorization: Bearer <key>.")))


def _too_large(request, exc):
    return respond(body_too_large())


# Looked up by the exception's class and then its bases: the most specific one answers.
HANDLERS: tuple[tuple[type[Exception], Callable[..., HttpResponse]], ...] = (
    (ApiError, _api_error),
    (MissingScope, _missing_scope),
    (HubError, _refused),
    (DjangoValidationError, _django_validation),
    (Http404, _not_found),
    (AuthenticationError, _unauthenticated),
    (HttpError, _http_error),
    (NinjaValidationError, _validation),
    (RequestDataTooBig, _too_large),
    (Exception, _unexpected),
)


def handlers_register(api: NinjaAPI) -> None:
    """Every exception an operation can raise, answered in the one shape."""
    for exception, handler in HANDLERS:
        api.add_exception_handler(exception, handler)


# What Django itself answers (before a view, or a view outside ninja), by status.
_STATUS_ERRORS = {
    400: ("bad_request", lambda: _("The request could not be read.")),
    403: ("forbidden", lambda: _("This request is not allowed.")),
    404: ("not_found", lambda: _("There is no such API endpoint. See /api/v1/openapi.json.")),
    405: ("method_not_allowed", lambda: _("This method is not allowed here.")),
    413: ("body_too_large", lambda: body_too_large().message),
    415: ("unsupported_media_type", lambda: _("Send the body as JSON: Content-Type: application/json.")),
}


class ApiErrorMiddleware:
    """Under /api/v1/, an error page Django made (HTML) becomes the documented JSON error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        with translation.override(api_language(request)):
            if response.status_code >= 500:
                replaced = server_error()
                replaced.status_code = response.status_code
            else:
                code, message = _STATUS_ERRORS.get(response.status_code, ("http_error", lambda: response.reason_phrase))
                replaced = error_response(response.status_code, code, str(message()))
            replaced["Content-Language"] = translation.get_language()
        if "Allow" in response:
            replaced["Allow"] = response["Allow"]
        return replaced

    def process_exception(self, request, exc):
        # A body over the limit read before ninja (the idempotency check reads it): 413, not Django's 400.
        if request.path.startswith(API_PREFIX) and isinstance(exc, RequestDataTooBig):
            with translation.override(api_language(request)):
                return respond(body_too_large())
        return None
