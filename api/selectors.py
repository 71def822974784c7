from .models import ApiKey, IdempotencyRecord, key_hash


def api_key_by_raw(raw_key: str) -> ApiKey | None:
    """The key a caller presented, revoked or not; None when no key matches."""
    if not raw_key:
        return None
    return ApiKey.objects.filter(hashed_key=key_hash(raw_key)).first()


def idempotency_record_get(*, api_key: ApiKey, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
