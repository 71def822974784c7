import hashlib

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from webhookhub.text import validate_one_line


def key_hash(raw_key: str) -> str:
    # Keys are 256-bit random values, so a plain SHA-256 cannot be brute-forced; no slow hash needed.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class Scope(models.TextChoices):
    """What a key may do; chosen when it is created, shown in the admin, checked on every request."""

    EVENTS_WRITE = "events:write", _("events:write: report loyalty events")
    WEBHOOKS_READ = "webhooks:read", _("webhooks:read: list and read webhooks and their history")
    WEBHOOKS_WRITE = "webhooks:write", _("webhooks:write: create, change, pause, test webhooks; rotate secrets")
    DELIVERIES_READ = "deliveries:read", _("deliveries:read: list and read deliveries and attempts")
    DELIVERIES_WRITE = "deliveries:write", _("deliveries:write: redeliver")
    SENDS_READ = "sends:read", _("sends:read: list group sends and read their progress")
    SENDS_WRITE = "sends:write", _("sends:write: create and cancel group sends")
    CUSTOMERS_READ = "customers:read", _("customers:read: list and read customers and groups")
    CUSTOMERS_WRITE = "customers:write", _("customers:write: create customers and groups, add and remove group entries")


# The permissions (webhookhub/roles.py gives them to roles) a key's owner must hold for the key to use a scope:
# what the same person could do in the admin. A key is never stronger than the person who made it.
SCOPE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Scope.EVENTS_WRITE: ("webhooks.add_message",),
    Scope.WEBHOOKS_READ: ("webhooks.view_webhook",),
    Scope.WEBHOOKS_WRITE: ("webhooks.add_webhook", "webhooks.change_webhook"),
    Scope.DELIVERIES_READ: ("webhooks.view_delivery", "webhooks.view_attempt"),
    Scope.DELIVERIES_WRITE: ("webhooks.change_delivery",),
    Scope.SENDS_READ: ("webhooks.view_groupsend",),
    Scope.SENDS_WRITE: ("webhooks.add_groupsend", "webhooks.change_groupsend"),
    Scope.CUSTOMERS_READ: ("customers.view_customer", "customers.view_group"),
    Scope.CUSTOMERS_WRITE: (
        "customers.add_customer",
        "customers.change_customer",
        "customers.add_group",
        "customers.change_group",
        "customers.add_groupentry",
        "customers.change_groupentry",
    ),
}


def default_scopes() -> list[str]:
    # What a key could do before scopes existed: report events.
    return [Scope.EVENTS_WRITE.value]


class ApiKey(models.Model):
    """A key for the Open API; only its hash is stored, the key itself is shown once at creation."""

    name = models.CharField(
        _("name"), max_length=128, help_text=_("Who or what uses this key."), validators=[validate_one_line]
    )
    prefix = models.CharField(
        _("prefix"), max_length=16, editable=False, help_text=_("The start of the key, to recognise it.")
    )
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=default_scopes, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])

    @property
    def actor(self) -> str:
        """How its acts are named in histories and records."""
        return _("API key “%(name)s” (%(prefix)s…)") % {"name": self.name, "prefix": self.prefix}


class IdempotencyRecord(models.Model):
    """The first answer to a request with an Idempotency-Key, returned again for every repeat."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_once_per_api_key")]

    def __str__(self):
        return self.key
