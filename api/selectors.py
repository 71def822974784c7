"""Open API reads: the key a caller presents, what its owner can back, remembered answers."""

from typing import Any

from .models import SCOPE_PERMISSIONS, ApiKey, IdempotencyRecord, Scope, key_hash


def api_key_by_raw(raw_key: str) -> ApiKey | None:
    """The key a caller presented (with its owner), revoked or not; None when no key matches."""
    if not raw_key:
        return None
    return ApiKey.objects.select_related("created_by").filter(hashed_key=key_hash(raw_key)).first()


def scopes_lacking(user: Any, scopes) -> list[str]:
    """The scopes among `scopes` that `user` may not use: all of them for an inactive or missing user.

    Read from the user's roles each time it is called (Django caches permissions on the user object, and
    a key's owner is loaded afresh with every request), so removing a role stops a key at once.
    """
    wanted = [Scope(scope).value for scope in scopes]
    if user is None or not user.is_active:
        return wanted
    return [scope for scope in wanted if not all(user.has_perm(perm) for perm in SCOPE_PERMISSIONS[scope])]


def api_key_scopes_lacking(api_key: ApiKey) -> list[str]:
    """The key's scopes its owner no longer backs (owner deactivated, deleted or without the role)."""
    return scopes_lacking(api_key.created_by, api_key.scopes or [])


def api_keys_stopped_by(user) -> list[ApiKey]:
    """The unrevoked keys of `user` that now lack at least one of their scopes (after a change to the user)."""
    keys = ApiKey.objects.filter(created_by=user, revoked_at__isnull=True)
    return [api_key for api_key in keys if scopes_lacking(user, api_key.scopes or [])]


def idempotency_record_get(*, api_key: ApiKey, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
