"""/api/v1/: every operation (django-ninja, api/routes.py) in one frame, the document, and JSON 404s."""

from django.urls import path, re_path
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from . import views
from .errors import ApiError, body_too_large, error_response, max_body_bytes, respond
from .idempotency import idempotent
from .routes import hub_api, operation_query_params

QUERY_PARAMS = operation_query_params()


def _size_limited(view):
    """413 before anything reads a body over the limit (the idempotency check reads it before the operation)."""

    def wrapper(request, *args, **kwargs):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > max_body_bytes():
            return respond(body_too_large())
        return view(request, *args, **kwargs)

    return wrapper


def _known_query(view):
    """An unknown query parameter is refused, as an unknown body field is: a misspelt filter must not read all."""

    def wrapper(request, *args, **kwargs):
        match = request.resolver_match
        known = QUERY_PARAMS.get((match.route, request.method)) if match else None
        unknown = sorted(set(request.GET) - known) if known is not None else []
        if unknown:
            return respond(
                ApiError(
                    400,
                    "invalid_fields",
                    _("Some fields are invalid; nothing was changed."),
                    fields={name: [_("Unknown query parameter.")] for name in unknown},
                )
            )
        return view(request, *args, **kwargs)

    return wrapper


def _operation(view):
    """The frame of every operation: the caller's language, the body's size, idempotency keys, JSON errors."""

    @csrf_exempt
    @views.language
    @_size_limited
    @_known_query
    @idempotent
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
            allowed = response.get("Allow", "")
            response = error_response(405, "method_not_allowed", _("Use %(methods)s.") % {"methods": allowed or "?"})
            response["Allow"] = allowed
        return response

    return wrapper


def _patterns():
    patterns = hub_api.urls[0]
    for pattern in patterns:
        pattern.callback = _operation(pattern.callback)
    return patterns


app_name = "api"
urlpatterns = [
    path("openapi.json", views.openapi, name="openapi"),
    *_patterns(),
    re_path(r"^(?P<path>.*)$", views.not_found),
]
