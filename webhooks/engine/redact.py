"""Keeping secrets out of what is recorded: masked headers and URLs, scrubbed echoes."""

from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

from webhooks.secrets import MASK


def masked_headers(headers: dict) -> dict:
    return {
        name: (f"{value.split(' ', 1)[0]} {MASK}" if name.lower() == "authorization" else value)
        for name, value in headers.items()
    }


def masked_url(url: str) -> str:
    parts = urlsplit(url)
    if "access_token" not in parts.query:
        return url
    placeholder = "MASKEDTOKEN"
    query = [(k, placeholder if k == "access_token" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    # The mask is put in after encoding, so the record reads access_token=•••••• rather than %E2%80%A2….
    return urlunsplit(parts._replace(query=urlencode(query).replace(placeholder, MASK)))


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
        quoted = quote_plus(secret) if secret else ""
        if quoted and quoted in text:
            text = text.replace(quoted, MASK)
    return text
