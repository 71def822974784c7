"""Open API writes: keys, and accepting posted events (all of a request's events, or none)."""

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from webhookhub.errors import HubError
from webhooks.services import events_publish

from .models import ApiKey, Scope, default_scopes, key_hash
from .selectors import scopes_lacking

if TYPE_CHECKING:
    from django.contrib.auth.models import User

KEY_PREFIX = "whk_"
# Writing last_used_at on every request would make each call a write; a minute is precise enough.
LAST_USED_PRECISION = timedelta(minutes=1)


def api_key_create(*, name: str, user: "User", scopes: Iterable[str] | None = None) -> tuple[ApiKey, str]:
    """A new key with its scopes (default: events:write only); the clear key is returned this once, never stored.

    The key is never stronger than `user`, who owns it: a scope their roles do not grant is refused (HubError),
    and the key stops working for a scope when they lose it (api/hub.py checks on every request).
    """
    scopes = default_scopes() if scopes is None else [Scope(scope).value for scope in scopes]
    lacking = scopes_lacking(user, scopes)
    if lacking:
        raise HubError(
            _("%(user)s may not give a key these scopes, which their role does not grant: %(scopes)s.")
            % {"user": user, "scopes": ", ".join(lacking)},
            code="scope_beyond_role",
        )
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        name=name,
        prefix=raw_key[: len(KEY_PREFIX) + 6],
        hashed_key=key_hash(raw_key),
        created_by=user,
        scopes=[scope for scope in Scope.values if scope in scopes],
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey, user: "User | None" = None) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_mark_used(*, api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)


def events_accept(*, events: list[tuple[str, dict]]) -> list[int]:
    """Publish every (event, members) in one transaction, all or none; the messages' ids in the same order.

    An event without `date` happened now, when the hub accepted it. (A repeat with the same Idempotency-Key
    is answered by api/idempotency.py, whose record is written in this same transaction.)
    """
    with transaction.atomic():
        now = timezone.now()
        messages = events_publish(events=[(event, {"date": now, **members}) for event, members in events])
        return [message.pk for message in messages]
