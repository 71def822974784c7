"""Idempotency-Key on every POST of the management API: a repeat gets the first answer, nothing is done twice.

The first successful (2xx) answer is stored in the same transaction as what the request wrote, so a
crash cannot leave the one without the other; two concurrent requests with one key end with one
write (the second's transaction is rolled back and it answers as the first). Refused requests are not
remembered: the caller fixes them and tries again with the same key. A key is the caller's (per API
key); reusing it for another request (another path or body) is refused with 422.
"""

import hashlib
import json

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils.translation import gettext as _

from .errors import error_response
from .models import IdempotencyRecord
from .selectors import api_key_by_raw, idempotency_record_get

REPLAY_HEADER = "Idempotent-Replayed"
MAX_IDEMPOTENCY_KEY = 255
# The key is text a person may log and compare: printable ASCII, as the document's pattern says.
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]{0,255}$"


def _request_hash(request) -> str:
    try:
        body = json.dumps(json.loads(request.body or b"null"), sort_keys=True, ensure_ascii=False)
    except (ValueError, RecursionError):  # the operation refuses such a body; the hash only has to be stable
        body = request.body.decode("utf-8", "replace")
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(record: IdempotencyRecord, request_hash: str) -> HttpResponse:
    if record.request_hash != request_hash:
        return error_response(
            422,
            "idempotency_key_reused",
            _("This Idempotency-Key was already used with a different request; use a new key for a new request."),
        )
    response = HttpResponse(
        json.dumps(record.response, ensure_ascii=False).encode(),
        status=record.status_code,
        content_type="application/json",
    )
    response[REPLAY_HEADER] = "true"
    return response


def idempotent(view):
    def wrapper(request, *args, **kwargs):
        key = request.META.get("HTTP_IDEMPOTENCY_KEY", "")
        if request.method != "POST" or not key:
            return view(request, *args, **kwargs)
        if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable() or not key.isascii():
            return error_response(
                400,
                "invalid_idempotency_key",
                _("The Idempotency-Key must be at most %(max)s printable ASCII characters.")
                % {"max": MAX_IDEMPOTENCY_KEY},
            )
        scheme, _sep, raw_key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        api_key = api_key_by_raw(raw_key.strip()) if scheme.lower() == "bearer" else None
        if api_key is None or api_key.is_revoked or not (api_key.created_by and api_key.created_by.is_active):
            return view(request, *args, **kwargs)  # the operation answers 401 or 403
        request_hash = _request_hash(request)
        try:
            with transaction.atomic():
                record = idempotency_record_get(api_key=api_key, key=key)
                if record is not None:
                    return _replay(record, request_hash)
                response = view(request, *args, **kwargs)
                if 200 <= response.status_code < 300 and response.get("Content-Type", "").startswith(
                    "application/json"
                ):
                    IdempotencyRecord.objects.create(
                        api_key=api_key,
                        key=key,
                        request_hash=request_hash,
                        status_code=response.status_code,
                        response=json.loads(response.content),
                    )
                return response
        except IntegrityError:
            # A concurrent request with the same key committed first; this one's writes are rolled back.
            record = idempotency_record_get(api_key=api_key, key=key)
            if record is None:
                raise
            return _replay(record, request_hash)

    wrapper.__name__ = getattr(view, "__name__", "view")
    return wrapper
