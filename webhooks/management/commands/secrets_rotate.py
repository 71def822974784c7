from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.translation import gettext as _

from webhooks.secrets import EncryptedTextField


def encrypted_fields():
    """(model, [field names]) for every model with an encrypted column, whichever app defines it."""
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            yield model, names


class Command(BaseCommand):
    help = _(
        "Re-encrypt every stored secret with the first key of SECRETS_ENCRYPTION_KEYS, so that the "
        "older keys can then be removed."
    )

    def handle(self, *args, **options):
        total = 0
        for model, names in encrypted_fields():
            count = 0
            manager = model._base_manager
            # One transaction per model: a failure (a key missing) leaves that model as it was.
            with transaction.atomic():
                for row in manager.select_for_update().only("pk", *names).iterator(chunk_size=500):
                    values = {}
                    for name in names:
                        secret = getattr(row, name)
                        if secret is not None and (secret._ciphertext or secret._plaintext):
                            values[name] = secret.rotated()
                    if values:
                        manager.filter(pk=row.pk).update(**values)
                        count += 1
            total += count
            # Counts and names only: never a value.
            self.stdout.write(
                _("%(model)s: %(count)d rows re-encrypted (%(fields)s)")
                % {"model": model._meta.label, "count": count, "fields": ", ".join(names)}
            )
        self.stdout.write(_("Done: %(total)d rows re-encrypted with the first key.") % {"total": total})
