"""System checks (`manage.py check`): stored secrets that no configured key can decrypt."""

from django.core.checks import Warning, register
from django.db import DatabaseError
from django.utils.translation import gettext as _

from webhooks.secrets import undecryptable_secrets


@register("secrets")
def undecryptable_secrets_check(app_configs=None, **kwargs):
    # A warning, not an error: an error would stop every command (the web server, the workers) over
    # one webhook whose own deliveries are what fail.
    try:
        found = undecryptable_secrets()
    except DatabaseError:
        return []  # no tables yet (before the first migrate)
    return [
        Warning(
            _("%(model)s #%(pk)s (%(name)s): %(fields)s cannot be decrypted with SECRETS_ENCRYPTION_KEYS.")
            % {"model": row._meta.label, "pk": row.pk, "name": row, "fields": ", ".join(names)},
            hint=_(
                "Replace the secret on the webhook's page, or put the key it was encrypted with back into "
                "SECRETS_ENCRYPTION_KEYS and run `manage.py secrets_rotate`."
            ),
            obj=row,
            id="webhooks.W001",
        )
        for row, names in found
    ]
