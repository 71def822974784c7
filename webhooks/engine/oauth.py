"""OAuth2 client credentials (docs/contract.md section 2): tokens cached in Redis, one fetch at a time.

The token request itself is an HTTP request like the others and lives in webhooks.engine.http.
"""

import asyncio
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings


def with_query(url: str, **params) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class OAuthError(Exception):
    def __init__(self, message: str = "", *, params: dict | None = None):
        super().__init__(message)
        self.params = params or {}  # for webhooks/content/failures.py: the token URL's status


class TokenCache:
    """Access tokens in Redis until they expire, shared by every worker."""

    def __init__(self, redis):
        self.redis = redis

    @staticmethod
    def key(endpoint) -> str:
        # Keyed, so the Redis key says nothing about the app secret; a changed secret gets a new token.
        digest = hmac.new(
            settings.SECRET_KEY.encode(),
            f"{endpoint.oauth_token_url}|{endpoint.oauth_app_id}|{endpoint.oauth_app_secret}".encode(),
            hashlib.sha256,
        ).hexdigest()[:32]
        return f"webhookhub:oauth:{endpoint.id}:{digest}"

    def get(self, endpoint):
        value = self.redis.get(self.key(endpoint))
        return value.decode() if value else None

    def put(self, endpoint, token: str, expires_in: int):
        self.redis.set(self.key(endpoint), token, ex=max(1, expires_in - 30))

    def drop(self, endpoint):
        self.redis.delete(self.key(endpoint))


class TokenSource:
    """One batch's way to OAuth2 tokens: the shared Redis cache first, one fetch per endpoint at a time.

    Without the lock every request of a batch that finds the cache empty (or sees a 401) would fetch
    a token of its own: hundreds of token requests, each replacing the last.
    """

    def __init__(self, cache: TokenCache | None):
        self.cache = cache
        self._locks: dict[int, asyncio.Lock] = {}
        self._local: dict[int, str] = {}

    def _cached(self, endpoint) -> str | None:
        if self.cache is not None:
            return self.cache.get(endpoint)
        return self._local.get(endpoint.id)

    async def get(self, session, endpoint, *, fetch, stale: str | None = None) -> str:
        """A token for the endpoint; `stale` is one the receiver refused, so a new one is fetched."""
        token = self._cached(endpoint)
        if token and token != stale:
            return token
        async with self._locks.setdefault(endpoint.id, asyncio.Lock()):
            token = self._cached(endpoint)
            if token and token != stale:
                return token  # another request of this batch fetched it meanwhile
            token, expires_in = await fetch(session, endpoint)
            if self.cache is not None:
                self.cache.put(endpoint, token, expires_in)
            else:
                self._local[endpoint.id] = token
            return token
