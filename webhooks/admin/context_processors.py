"""The engine's health, for the banner administrators see on every admin page."""

from django.core.cache import cache
from django.utils.translation import get_language

from webhookhub.roles import ADMINISTRATOR
from webhooks.selectors import engine_warnings

CACHE_KEY = "webhookhub:engine-warnings"
CACHE_SECONDS = 10


def engine_health(request) -> dict:
    user = getattr(request, "user", None)
    if not request.path.startswith("/admin/") or user is None or not user.is_authenticated:
        return {}
    if not (user.is_superuser or user.groups.filter(name=ADMINISTRATOR).exists()):
        return {}
    # The words are cached, so per language: an English reader must not get the Chinese banner.
    key = f"{CACHE_KEY}:{get_language()}"
    warnings = cache.get(key)
    if warnings is None:
        warnings = [str(w) for w in engine_warnings()]
        cache.set(key, warnings, CACHE_SECONDS)
    return {"engine_warnings": warnings}
