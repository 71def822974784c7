"""Saving a webhook's configuration and rotating its signing secrets without downtime.

A rotation keeps the old secret signing beside the new one for an overlap the user chooses (24 hours
by default, as Svix does), so receivers switch at their own pace:

- Standard Webhooks: `webhook-signature` carries both signatures, space-separated (the specification's
  way), then only the new one.
- DM Hub's `X-Clab-Hmac-Signature` holds one hex value by contract, so the old key's signature goes in
  a second header, `X-Clab-Hmac-Signature-Previous`, when the user asks for it (off by default).

The end of an overlap needs no write to take effect: the signing code compares the time. It is
recorded in the webhook's history by `webhook_rotations_expire`, due work the drain runs when the time
comes (registered in apps.py), or at once by `webhook_rotation_end`.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from webhookhub.errors import HubError
from webhooks.content.signing import standard_secret_generate
from webhooks.forms import WebhookForm
from webhooks.models import Webhook, WebhookHistory
from webhooks.secrets import Secret

DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=30)
# The fields whose change is worth a line of history: those a person edits (secrets are named, never shown).
HISTORY_FIELDS = tuple(WebhookForm.Meta.fields)


def _history(webhook: Webhook, action: str, actor, **data) -> WebhookHistory:
    return WebhookHistory.objects.create(webhook=webhook, action=action, actor=str(actor or "")[:255], data=data)


def _overlap(overlap: timedelta | None) -> timedelta:
    overlap = DEFAULT_OVERLAP if overlap is None else overlap
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise HubError(_("The overlap must be between 0 and %(days)s days.") % {"days": MAX_OVERLAP.days})
    return overlap


def _differs(before: Webhook, webhook: Webhook, name: str) -> bool:
    old, new = getattr(before, name), getattr(webhook, name)
    if isinstance(old, Secret) or isinstance(new, Secret):
        # A secret read from the database is a Secret, one a form just set is text. Secret's equality
        # never fails: one no key decrypts equals only the same stored value.
        old = old if isinstance(old, Secret) else Secret(old or "")
        new = new if isinstance(new, Secret) else Secret(new or "")
    return old != new


@transaction.atomic
def webhook_save(
    *, webhook: Webhook, actor=None, previous_signature_overlap: timedelta | None = None
) -> tuple[Webhook, str]:
    """Create or update a webhook that a validated form built: the one path of the admin and the API.

    Returns the webhook and, when Standard Webhooks was just turned on, its new `whsec_` secret, to be
    shown this once. `previous_signature_overlap`: when the secret key is replaced, keep signing with
    the old one in X-Clab-Hmac-Signature-Previous for that long (None: no such header).
    """
    before = None if webhook.pk is None else Webhook.objects.select_for_update().get(pk=webhook.pk)
    changed = [name for name in HISTORY_FIELDS if before is None or _differs(before, webhook, name)]
    new_secret = ""
    if not webhook.standard_webhooks and before is not None and before.standard_webhooks:
        # Off means no secret: turned on again later, it gets a new one, shown once.
        webhook.standard_secret = webhook.standard_secret_previous = Secret("")
        webhook.standard_secret_previous_until = None
    if webhook.standard_webhooks and not webhook.standard_secret:
        new_secret = standard_secret_generate()
        webhook.standard_secret = Secret(new_secret)
    # An old key no configured key decrypts cannot sign: it is replaced without an overlap.
    replaced_key = (
        before is not None
        and "secret_key" in changed
        and bool(before.secret_key)
        and not before.secret_key.is_undecryptable
    )
    if replaced_key and previous_signature_overlap is not None:
        webhook.secret_key_previous = before.secret_key
        webhook.secret_key_previous_until = timezone.now() + _overlap(previous_signature_overlap)
    elif "secret_key" in changed:
        webhook.secret_key_previous, webhook.secret_key_previous_until = Secret(""), None
    webhook.save()
    if before is None:
        _history(webhook, WebhookHistory.Action.CREATED, actor)
    else:
        plain = [name for name in changed if name not in ("secret_key", "standard_webhooks")]
        if plain:
            _history(webhook, WebhookHistory.Action.CHANGED, actor, fields=plain)
        if "secret_key" in changed:
            until = webhook.secret_key_previous_until
            _history(webhook, WebhookHistory.Action.SECRET_REPLACED, actor, until=until.isoformat() if until else None)
    if "standard_webhooks" in changed:
        if webhook.standard_webhooks:
            _history(webhook, WebhookHistory.Action.STANDARD_ENABLED, actor)
        elif before is not None:
            _history(webhook, WebhookHistory.Action.STANDARD_DISABLED, actor)
    return webhook, new_secret


@transaction.atomic
def webhook_standard_secret_rotate(
    *, webhook: Webhook, overlap: timedelta | None = None, actor=None
) -> tuple[Webhook, str]:
    """A new Standard Webhooks secret; the current one keeps signing for `overlap` (0: stops at once).

    Returns the webhook and the new secret, to be shown this once. Rotating again during an overlap
    drops the oldest secret: at most two sign at any time.
    """
    overlap = _overlap(overlap)
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if not webhook.standard_webhooks:
        raise HubError(_("Standard Webhooks is off for this webhook; turn it on first."))
    now = timezone.now()
    new_secret = standard_secret_generate()
    if webhook.standard_secret and overlap:
        webhook.standard_secret_previous = webhook.standard_secret
        webhook.standard_secret_previous_until = now + overlap
    else:
        webhook.standard_secret_previous, webhook.standard_secret_previous_until = Secret(""), None
    webhook.standard_secret = Secret(new_secret)
    webhook.save(
        update_fields=["standard_secret", "standard_secret_previous", "standard_secret_previous_until", "updated_at"]
    )
    until = webhook.standard_secret_previous_until
    _history(webhook, WebhookHistory.Action.ROTATION_STARTED, actor, until=until.isoformat() if until else None)
    return webhook, new_secret


def _end(webhook: Webhook, *, actor, before=None) -> bool:
    """Stop the old secrets signing: all of them, or (before=a time) those whose overlap ends by then."""
    ended = []
    until = webhook.standard_secret_previous_until
    if until and (before is None or until <= before):
        webhook.standard_secret_previous, webhook.standard_secret_previous_until = Secret(""), None
        ended.append("standard")
    until = webhook.secret_key_previous_until
    if until and (before is None or until <= before):
        webhook.secret_key_previous, webhook.secret_key_previous_until = Secret(""), None
        ended.append("secret_key")
    if not ended:
        return False
    webhook.save(
        update_fields=[
            "standard_secret_previous",
            "standard_secret_previous_until",
            "secret_key_previous",
            "secret_key_previous_until",
            "updated_at",
        ]
    )
    _history(webhook, WebhookHistory.Action.ROTATION_ENDED, actor, ended=ended, early=before is None)
    return True


@transaction.atomic
def webhook_rotation_end(*, webhook: Webhook, actor=None) -> Webhook:
    """End a rotation's overlap now: only the new secrets sign from here on."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if not _end(webhook, actor=actor):
        raise HubError(_("No rotation of this webhook's secrets is in its overlap."))
    return webhook


def webhook_rotations_expire() -> int:
    """Clear the old secrets whose overlap is over and record each end (the drain's due work); returns how many."""
    now = timezone.now()
    due = Webhook.objects.filter(
        Q(standard_secret_previous_until__lte=now) | Q(secret_key_previous_until__lte=now)
    ).values_list("pk", flat=True)
    ended = 0
    for pk in list(due[:500]):
        with transaction.atomic():
            ended += _end(Webhook.objects.select_for_update().get(pk=pk), actor="", before=now)
    return ended
