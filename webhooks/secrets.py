"""Secrets at rest: Fernet-encrypted columns whose values never print in clear.

The keys come from settings.SECRETS_ENCRYPTION_KEYS: the first encrypts, every key decrypts, so an
operator rotates by putting a new key first and running `manage.py secrets_rotate`.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

MASK = "••••••"
_PREFIX = "enc:"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured("SECRETS_ENCRYPTION_KEYS holds a key that is not a Fernet key.") from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.SECRETS_ENCRYPTION_KEYS))


class Secret:
    """A secret value: masked in str() and repr(); `reveal()` is the one way to the clear text."""

    __slots__ = ("_ciphertext", "_plaintext")

    def __init__(self, plaintext: str | None = None, *, ciphertext: str | None = None):
        # One of the two is always known; Secret() is the empty secret.
        self._plaintext = "" if plaintext is None and ciphertext is None else plaintext
        self._ciphertext = ciphertext

    def reveal(self) -> str:
        if self._plaintext is None:
            try:
                self._plaintext = fernet().decrypt((self._ciphertext or "").encode()).decode()
            except InvalidToken as exc:
                raise ImproperlyConfigured("A stored secret cannot be decrypted with SECRETS_ENCRYPTION_KEYS.") from exc
        return self._plaintext

    def encrypted(self) -> str:
        if self._ciphertext is None:
            self._ciphertext = fernet().encrypt((self._plaintext or "").encode()).decode()
        return self._ciphertext

    def rotated(self) -> "Secret":
        return Secret(ciphertext=fernet().rotate(self.encrypted().encode()).decode())

    def __bool__(self):
        return bool(self.reveal())

    def __eq__(self, other):
        if isinstance(other, Secret):
            return self.reveal() == other.reveal()
        return NotImplemented

    # __eq__ without __hash__ leaves Secret unhashable: a hash could only come from the clear text.

    def __str__(self):
        return MASK if self else ""

    __repr__ = lambda self: "<Secret ••••••>"  # noqa: E731


class EncryptedTextField(models.TextField):
    """Stores `enc:<fernet token>`; reads back as a Secret. An empty secret is stored as ''."""

    def from_db_value(self, value, expression, connection):
        return self.to_python(value)

    def to_python(self, value):
        if value is None or isinstance(value, Secret):
            return value
        if value == "":
            return Secret("")
        if value.startswith(_PREFIX):
            return Secret(ciphertext=value[len(_PREFIX) :])
        return Secret(value)

    def get_prep_value(self, value):
        value = self.to_python(value)
        if value is None:
            return None
        if value._ciphertext is None and not value._plaintext:
            return ""
        return _PREFIX + value.encrypted()

    def value_to_string(self, obj):
        # Serialization (dumpdata) keeps the ciphertext, never the clear text.
        return self.get_prep_value(self.value_from_object(obj))
