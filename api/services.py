"""Open API writes: keys, and accepting posted events (all of a request's events, or none)."""

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from webhooks.services import events_publish

from .models import ApiKey, IdempotencyRecord, Scope, default_scopes, key_hash
from .selectors import idempotency_record_get
from .validation import ValidEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import User

KEY_PREFIX = "whk_"
# Writing last_used_at on every request would make each call a write; a minute is precise enough.
LAST_USED_PRECISION = timedelta(minutes=1)


def api_key_create(*, name: str, user: "User | None" = None, scopes: Iterable[str] | None = None) -> tuple[ApiKey, str]:
    """A new key with its scopes (default: events:write only); the clear key is returned this once, never stored."""
    scopes = default_scopes() if scopes is None else [Scope(scope).value for scope in scopes]
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


class IdempotencyConflict(Exception):
    """The key was used before with a different body."""


def events_accept(
    *, api_key: ApiKey, events: list[ValidEvent], idempotency_key: str = "", request_hash: str = ""
) -> tuple[int, dict]:
    """Publish every event in one transaction; with an idempotency key, a repeat gets the first answer.

    Returns (status code, response body). Raises IdempotencyConflict for a reused key and another body.
    """
    try:
        with transaction.atomic():
            if idempotency_key:
                record = idempotency_record_get(api_key=api_key, key=idempotency_key)
                if record is not None:
                    return _replay(record, request_hash)
            now = timezone.now()
            messages = events_publish(events=[(event.event, {"date": now, **event.data}) for event in events])
            message_ids = [message.pk for message in messages]
            status, response = 202, {"messageIds": message_ids}
            if idempotency_key:
                # Written with the messages: a crash cannot leave messages without their record.
                IdempotencyRecord.objects.create(
                    api_key=api_key,
                    key=idempotency_key,
                    request_hash=request_hash,
                    status_code=status,
                    response=response,
                )
            return status, response
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as it did.
        record = idempotency_record_get(api_key=api_key, key=idempotency_key) if idempotency_key else None
        if record is None:
            raise
        return _replay(record, request_hash)


def _replay(record: IdempotencyRecord, request_hash: str) -> tuple[int, dict]:
    if record.request_hash != request_hash:
        raise IdempotencyConflict
    return record.status_code, record.response
