"""The wire format: canonical JSON, the X-Clab-Hmac-Signature and the Standard Webhooks signature
(docs/contract.md sections 2 and 3).

DM Hub's receivers (the seed's Java sample) bind the body to a Map, serialize it again with Gson's
defaults, strip whitespace and sign that. `canonical_json` writes exactly what Gson writes, so a
receiver that re-serializes and one that signs the raw body agree. Receivers' developers may use this
module as it is: it needs only the standard library.
"""

import base64
import binascii
import hashlib
import hmac
import math
import re
import secrets
import time
from decimal import Decimal

__all__ = [
    "canonical_json",
    "sign",
    "standard_secret_generate",
    "standard_sign",
    "standard_signature",
    "standard_verify",
    "verify",
]

# Java's `\s` (what the seed's `replaceAll("\\s+", "")` strips) is ASCII whitespace only; Python's
# `\s` would also strip U+3000 and friends and so break signatures on Chinese text.
_JAVA_WHITESPACE = re.compile(r"[ \t\n\x0b\f\r]+")

# Gson's HTML-safe string escaping: short forms, \u00xx (lowercase) for other controls,
# and < > & = ' U+2028 U+2029 as \uXXXX.
_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update(
    {
        ord('"'): '\\"',
        ord("\\"): "\\\\",
        ord("\b"): "\\b",
        ord("\f"): "\\f",
        ord("\n"): "\\n",
        ord("\r"): "\\r",
        ord("\t"): "\\t",
        ord("<"): "\\u003c",
        ord(">"): "\\u003e",
        ord("&"): "\\u0026",
        ord("="): "\\u003d",
        ord("'"): "\\u0027",
        0x2028: "\\u2028",
        0x2029: "\\u2029",
    }
)


def _string(value: str) -> str:
    return '"' + value.translate(_ESCAPES) + '"'


def _double(value: float) -> str:
    """Java's Double.toString for the shortest digits that round-trip (as Jackson reads them)."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError("NaN and infinities cannot be sent in JSON")
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign, raw_digits, exponent = Decimal(repr(value)).as_tuple()
    # Finite here, so the exponent is a number (the letters 'n', 'N', 'F' mark NaN and infinities).
    exponent = int(exponent)
    # Decimal exponent of the first significant digit.
    point = len(raw_digits) + exponent - 1
    digits = "".join(map(str, raw_digits)).rstrip("0") or "0"
    prefix = "-" if sign else ""
    if 1e-3 <= abs(value) < 1e7:
        if point >= 0:
            whole = digits[: point + 1].ljust(point + 1, "0")
            fraction = digits[point + 1 :] or "0"
        else:
            whole = "0"
            fraction = "0" * (-point - 1) + digits
        return f"{prefix}{whole}.{fraction}"
    return f"{prefix}{digits[0]}.{digits[1:] or '0'}E{point}"


def _write(value, out: list) -> None:
    if isinstance(value, str):
        out.append(_string(value))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_double(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if item is None:  # Gson leaves out null members of an object
                continue
            if not first:
                out.append(",")
            first = False
            out.append(_string(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")


def canonical_json(payload) -> str:
    """The payload as Gson 2.8 writes it with default settings; members keep their order."""
    out: list[str] = []
    _write(payload, out)
    return "".join(out)


def signing_text(body: str) -> str:
    """What is signed: the body with all (Java) whitespace removed."""
    return _JAVA_WHITESPACE.sub("", body)


def sign(body: str | bytes, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of the whitespace-stripped body, keyed with the secret (UTF-8)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    return hmac.new(secret.encode("utf-8"), signing_text(body).encode("utf-8"), hashlib.sha256).hexdigest()


def verify(body: str | bytes, signature: str, secret: str) -> bool:
    """True when `signature` is the body's signature; compares in constant time."""
    if not signature:
        return False
    return hmac.compare_digest(sign(body, secret), signature.strip().lower())


# --- Standard Webhooks (https://www.standardwebhooks.com/), docs/contract.md section 2 ----------------

STANDARD_SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
STANDARD_SECRET_BYTES = 32
# The specification's bounds on the key; the public libraries accept these sizes.
STANDARD_SECRET_MIN_BYTES, STANDARD_SECRET_MAX_BYTES = 24, 64
# The specification's replay window: receivers refuse timestamps further than this from their clock.
STANDARD_TOLERANCE_SECONDS = 5 * 60


def standard_secret_generate(size: int = STANDARD_SECRET_BYTES) -> str:
    """A new `whsec_` secret: the prefix and the base64 of `size` random bytes."""
    if not STANDARD_SECRET_MIN_BYTES <= size <= STANDARD_SECRET_MAX_BYTES:
        raise ValueError("a Standard Webhooks secret has 24 to 64 bytes")
    return STANDARD_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def standard_secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret: its decoded bytes, not its text. ValueError when malformed."""
    if not secret.startswith(STANDARD_SECRET_PREFIX):
        raise ValueError("a Standard Webhooks secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(STANDARD_SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret is base64 after whsec_") from None
    if not STANDARD_SECRET_MIN_BYTES <= len(key) <= STANDARD_SECRET_MAX_BYTES:
        raise ValueError("a Standard Webhooks secret has 24 to 64 bytes")
    return key


def _bytes(body: str | bytes) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def standard_sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """`v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, over the exact bytes of the body."""
    signed = f"{msg_id}.{int(timestamp)}.".encode() + _bytes(body)
    digest = hmac.new(standard_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def standard_signature(secrets_: list[str], msg_id: str, timestamp: int, body: str | bytes) -> str:
    """The `webhook-signature` header: one signature per valid secret (two while rotating), space-separated."""
    return " ".join(standard_sign(secret, msg_id, timestamp, body) for secret in secrets_)


def standard_verify(
    body: str | bytes, headers, secret: str, *, tolerance: int = STANDARD_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """True when the headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`) carry a valid signature
    of the body by `secret`, with a timestamp within `tolerance` seconds of `now`. Constant-time compare."""
    lowered = {str(name).lower(): value for name, value in dict(headers).items()}
    msg_id, stamp, signatures = (lowered.get(n, "") for n in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signatures) or not stamp.isascii() or not stamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    expected = standard_sign(secret, msg_id, int(stamp), body).encode()
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures.split(" ") if candidate)
