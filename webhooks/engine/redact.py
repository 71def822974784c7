"""Keeping secrets out of what is recorded: masked headers and URLs, scrubbed echoes."""

import re
from urllib.parse import quote_plus, unquote_plus, urlsplit, urlunsplit

from webhooks.secrets import MASK

# Query parameters that carry a credential in a URL, a webhook's or an alert robot's.
SECRET_PARAMS = frozenset({"key", "access_token", "token", "secret", "sign", "password", "appsecret", "app_secret"})
# scrub(): a secret shorter than this is masked only as a whole token (a robot key "K" is not the K of
# WEBHOOK); a longer one wherever it appears, since an echo may glue it to other text.
_ANYWHERE_LENGTH = 8
_WORD_CHAR = r"[A-Za-z0-9_\-]"


def masked_headers(headers: dict) -> dict:
    return {
        name: (f"{value.split(' ', 1)[0]} {MASK}" if name.lower() == "authorization" else value)
        for name, value in headers.items()
    }


def _query_pairs(query: str) -> list[tuple[str, str, str]]:
    # (raw pair, unquoted lower-case name, raw value): the raw text stays as typed, so a URL is rebuilt exactly.
    pairs = []
    for raw in query.split("&") if query else []:
        name, _sep, value = raw.partition("=")
        pairs.append((raw, unquote_plus(name).lower(), value))
    return pairs


def _split_userinfo(netloc: str) -> tuple[str, str | None, str]:
    """(user, password or None, host[:port]) of a netloc, as typed."""
    userinfo, at, hostport = netloc.rpartition("@")
    if not at:
        return "", None, netloc
    user, colon, password = userinfo.partition(":")
    return user, (password if colon else None), hostport


def masked_url(url: str) -> str:
    """The URL as people may see it: the userinfo's password and every credential in the query masked.

    The rest stays exactly as typed; unmasked_url() puts the credentials back from the full URL.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    user, password, hostport = _split_userinfo(parts.netloc)
    netloc = f"{user}:{MASK}@{hostport}" if password else parts.netloc
    query = "&".join(
        f"{raw.partition('=')[0]}={MASK}" if name in SECRET_PARAMS and value else raw
        for raw, name, value in _query_pairs(parts.query)
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def url_has_credentials(url: str) -> bool:
    return masked_url(url) != url


def unmasked_url(shown: str, full: str) -> str:
    """`shown` (a URL that may hold masks) with each masked credential taken from `full`, by name.

    ValueError when a mask has no credential of that name in `full`: it must be typed again.
    """
    if MASK not in shown:
        return shown
    try:
        parts, old = urlsplit(shown), urlsplit(full or "")
    except ValueError as exc:
        raise ValueError("unparsable URL") from exc
    user, password, hostport = _split_userinfo(parts.netloc)
    netloc = parts.netloc
    if password == MASK:
        old_user, old_password, _old_host = _split_userinfo(old.netloc)
        if old_password is None or old_user != user:
            raise ValueError("no password to keep")
        netloc = f"{user}:{old_password}@{hostport}"
    old_values = {name: value for _raw, name, value in _query_pairs(old.query) if name in SECRET_PARAMS}
    query = []
    for raw, name, value in _query_pairs(parts.query):
        if value == MASK:
            if name not in old_values:
                raise ValueError("no credential to keep")
            raw = f"{raw.partition('=')[0]}={old_values[name]}"
        query.append(raw)
    result = urlunsplit(parts._replace(netloc=netloc, query="&".join(query)))
    if MASK in result:
        raise ValueError("a mask outside a credential")
    return result


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries (as typed and decoded), to scrub them from whatever is recorded."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [value for _raw, name, value in _query_pairs(parts.query) if name in SECRET_PARAMS and value]
    _user, password, _host = _split_userinfo(parts.netloc)
    if password:
        found.append(password)
    return found + [unquote_plus(value) for value in found if unquote_plus(value) != value]


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret masked: a long one wherever it appears, a short one as a whole token only."""
    for secret in secrets:
        for form in {secret, quote_plus(secret)} if secret else ():
            if not form or form not in text:
                continue
            if len(form) >= _ANYWHERE_LENGTH:
                text = text.replace(form, MASK)
            else:
                text = re.sub(f"(?<!{_WORD_CHAR}){re.escape(form)}(?!{_WORD_CHAR})", MASK, text)
    return text
