from django.urls import path, re_path
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from . import views
from .idempotency import idempotent
from .routes import hub_api


def _management(view):
    """The frame of every management operation: the caller's language, idempotency keys, JSON errors."""

    @csrf_exempt
    @views.language
    @idempotent
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
            allowed = response.get("Allow", "")
            response = views.error_response(
                405, "method_not_allowed", _("Use %(methods)s.") % {"methods": allowed or "?"}
            )
            response["Allow"] = allowed
        return response

    return wrapper


def _patterns():
    patterns = hub_api.urls[0]
    for pattern in patterns:
        pattern.callback = _management(pattern.callback)
    return patterns


app_name = "api"
urlpatterns = [
    path("events", views.events, name="events"),
    path("openapi.json", views.openapi, name="openapi"),
    *_patterns(),
    re_path(r"^(?P<path>.*)$", views.not_found),
]
