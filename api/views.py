"""The Open API's HTTP side: authenticate, read, answer in JSON. Checks and writes live elsewhere."""

import hashlib
import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.csrf import csrf_exempt

from . import services
from .models import Scope
from .openapi import openapi_document
from .selectors import api_key_by_raw
from .validation import BodyError, parse_body, validate_events

MAX_IDEMPOTENCY_KEY = 255


def error_response(status: int, code: str, message: str, **extra) -> HttpResponse:
    text = json.dumps({"error": {"code": code, "message": message, **extra}}, ensure_ascii=False)
    # A member name the caller sent may hold a lone surrogate; backslashreplace writes it as a JSON escape.
    response = HttpResponse(text.encode("utf-8", "backslashreplace"), status=status, content_type="application/json")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="webhookhub"'
    return response


def missing_scope_response(scope: str) -> HttpResponse:
    return error_response(
        403,
        "missing_scope",
        _("This API key lacks the scope %(scope)s; create a key with it in the admin (Open API › API keys).")
        % {"scope": scope},
        scope=str(scope),
    )


def _api_language(request) -> str:
    # Not get_language_from_request: its fallback is the admin's zh-hans, and it reads the admin's cookie.
    for code, _quality in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return "en"


def language(view):
    """Answer in the caller's Accept-Language; English when it names none (not the admin's zh-hans)."""

    def wrapper(request, *args, **kwargs):
        with translation.override(_api_language(request)):
            response = view(request, *args, **kwargs)
            response.headers["Content-Language"] = translation.get_language()
            response.headers.setdefault("Vary", "Accept-Language")
            return response

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _authenticate(request):
    """(api_key, None) or (None, error response)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, raw_key = header.partition(" ")
    if not header:
        return None, error_response(
            401, "missing_api_key", _("Send your API key in the header Authorization: Bearer <key>.")
        )
    if scheme.lower() != "bearer" or not raw_key.strip():
        return None, error_response(401, "invalid_authorization", _("The Authorization header must be: Bearer <key>."))
    api_key = api_key_by_raw(raw_key.strip())
    if api_key is None:
        return None, error_response(401, "unknown_api_key", _("This API key is not known."))
    if api_key.is_revoked:
        return None, error_response(403, "revoked_api_key", _("This API key has been revoked."))
    return api_key, None


def _is_json(request) -> bool:
    content_type = request.content_type or ""
    charset = (request.content_params or {}).get("charset", "utf-8").lower()
    return content_type.lower() == "application/json" and charset in ("utf-8", "utf8")


@csrf_exempt
@language
def events(request):
    """POST /api/v1/events: one fixed loyalty event, or a list of up to 1,000, accepted whole or not at all."""
    if request.method != "POST":
        response = error_response(405, "method_not_allowed", _("Use POST."))
        response["Allow"] = "POST"
        return response
    api_key, refusal = _authenticate(request)
    if refusal:
        return refusal
    if not api_key.has_scope(Scope.EVENTS_WRITE):
        return missing_scope_response(Scope.EVENTS_WRITE)
    services.api_key_mark_used(api_key=api_key)
    if not _is_json(request):
        return error_response(
            415, "unsupported_media_type", _("Send the body as JSON: Content-Type: application/json.")
        )
    idempotency_key = request.META.get("HTTP_IDEMPOTENCY_KEY", "")
    if idempotency_key and (
        len(idempotency_key) > MAX_IDEMPOTENCY_KEY or not idempotency_key.isprintable() or not idempotency_key.isascii()
    ):
        return error_response(
            400,
            "invalid_idempotency_key",
            _("The Idempotency-Key must be at most %(max)s printable ASCII characters.") % {"max": MAX_IDEMPOTENCY_KEY},
        )
    max_bytes = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    too_big = error_response(
        413,
        "body_too_large",
        _("The body is larger than %(max)s bytes; send fewer events per request.") % {"max": max_bytes},
    )
    if length > max_bytes:
        return too_big
    try:
        raw = request.body
    except RequestDataTooBig:
        return too_big
    if len(raw) > max_bytes:
        return too_big
    try:
        body = parse_body(raw)
        valid, invalid = validate_events(body)
    except BodyError as exc:
        return error_response(400, exc.code, exc.message)
    if invalid:
        total = len(body) if isinstance(body, list) else 1
        return error_response(
            400,
            "invalid_events",
            _("%(invalid)s of %(total)s events are invalid; none was accepted.")
            % {"invalid": len(invalid), "total": total},
            events=[errors.as_json() for errors in invalid],
        )
    request_hash = hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    try:
        status, payload = services.events_accept(
            api_key=api_key, events=valid, idempotency_key=idempotency_key, request_hash=request_hash
        )
    except services.IdempotencyConflict:
        return error_response(
            422,
            "idempotency_key_reused",
            _("This Idempotency-Key was already used with a different body; use a new key for a new request."),
        )
    return JsonResponse(payload, status=status)


@language
def openapi(request):
    return JsonResponse(openapi_document(request), json_dumps_params={"ensure_ascii": False})


@csrf_exempt
@language
def not_found(request, path=""):
    return error_response(404, "not_found", _("There is no such API endpoint. See /api/v1/openapi.json."))
