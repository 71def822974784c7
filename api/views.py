"""The Open API's frame around the operations: the caller's language, the published document, unknown paths."""

from django.http import JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from .errors import api_language, error_response
from .openapi import openapi_document


def language(view):
    """Answer in the caller's Accept-Language; English when it names none (not the admin's zh-hans)."""

    def wrapper(request, *args, **kwargs):
        with translation.override(api_language(request)):
            response = view(request, *args, **kwargs)
            response.headers["Content-Language"] = translation.get_language()
            response.headers.setdefault("Vary", "Accept-Language")
            return response

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@language
def openapi(request):
    return JsonResponse(openapi_document(request), json_dumps_params={"ensure_ascii": False})


@csrf_exempt
@language
def not_found(request, path=""):
    return error_response(404, "not_found", _("There is no such API endpoint. See /api/v1/openapi.json."))
