"""Secrets at rest: Fernet-encrypted columns whose values never print in clear.

The keys come from settings.SECRETS_ENCRYPTION_KEYS: the first encrypts, every key decrypts, so an
operator rotates by putting a new key first and running `manage.py secrets_rotate`.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.translation import gettext_lazy as _

MASK = "••••••"
_PREFIX = "enc:"


class SecretUndecryptable(ImproperlyConfigured):
    """A stored secret that no key of SECRETS_ENCRYPTION_KEYS decrypts: a wrong key, or one rotated away.

    Its message is for people (translated) and never holds the ciphertext.
    """

    default_message = _(
        "A stored secret cannot be decrypted with SECRETS_ENCRYPTION_KEYS: replace the secret on the "
        "webhook's page, or put the key it was encrypted with back into SECRETS_ENCRYPTION_KEYS."
    )

    def __init__(self, message=None):
        self.message = message or self.default_message
        super().__init__(self.message)

    def __str__(self):
        return str(self.message)


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
        """The clear text; SecretUndecryptable when no configured key decrypts it."""
        if self._plaintext is None:
            try:
                self._plaintext = fernet().decrypt((self._ciphertext or "").encode()).decode()
            except InvalidToken:
                raise SecretUndecryptable from None
        return self._plaintext

    @property
    def is_undecryptable(self) -> bool:
        try:
            self.reveal()
        except SecretUndecryptable:
            return True
        return False

    def encrypted(self) -> str:
        if self._ciphertext is None:
            self._ciphertext = fernet().encrypt((self._plaintext or "").encode()).decode()
        return self._ciphertext

    def rotated(self) -> "Secret":
        try:
            return Secret(ciphertext=fernet().rotate(self.encrypted().encode()).decode())
        except InvalidToken:
            raise SecretUndecryptable from None

    def __bool__(self):
        # Whether a secret is set; one that cannot be decrypted is still set (and must be replaced).
        try:
            return bool(self.reveal())
        except SecretUndecryptable:
            return True

    def __eq__(self, other):
        if isinstance(other, Secret):
            if self.is_undecryptable or other.is_undecryptable:
                return self._ciphertext is not None and self._ciphertext == other._ciphertext
            return self.reveal() == other.reveal()
        return NotImplemented

    # __eq__ without __hash__ leaves Secret unhashable: a hash could only come from the clear text.

    def __str__(self):
        return MASK if self else ""

    __repr__ = lambda self: "<Secret ••••••>"  # noqa: E731


def secret_revealed(value) -> str:
    """The clear text of a secret field: a row read from the database holds a Secret, one just built in
    memory may hold plain text, an empty field is ''."""
    if not value:
        return ""
    return value.reveal() if isinstance(value, Secret) else str(value)


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


def encrypted_fields():
    """(model, [field names]) for every model with an encrypted column, whichever app defines it."""
    from django.apps import apps

    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            yield model, names


def undecryptable_secrets() -> list[tuple[models.Model, list[str]]]:
    """(row, [field names]) for every stored secret no configured key decrypts."""
    found = []
    for model, names in encrypted_fields():
        for row in model._base_manager.only("pk", *names).order_by("pk").iterator(chunk_size=500):
            broken = [name for name in names if getattr(row, name) is not None and getattr(row, name).is_undecryptable]
            if broken:
                found.append((row, broken))
    return found
