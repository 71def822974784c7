"""The way out of a webhook's requests: what makes a proxy's URL usable (the sessions themselves are http.py's)."""

from urllib.parse import urlsplit

from django.utils.translation import gettext as _


def proxy_url_problem(url: str, *, credentials_allowed: bool = False) -> str:
    """Why `url` cannot be a proxy's URL, in the reader's language; '' when it can."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return _("Not a URL.")
    if parts.scheme != "http" or not parts.hostname:
        return _("A proxy URL is http://host:port (an HTTP proxy; https requests go through it with CONNECT).")
    if (parts.username or parts.password) and not credentials_allowed:
        return _("Put the proxy's username and password in their own fields, not in the URL.")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return _("A proxy URL has no path: http://host:port.")
    return ""
