from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.translation import gettext as _

from webhooks.secrets import SecretUndecryptable, encrypted_fields


class Command(BaseCommand):
    help = _(
        "Re-encrypt every stored secret with the first key of SECRETS_ENCRYPTION_KEYS, so that the "
        "older keys can then be removed."
    )

    def handle(self, *args, **options):
        total = 0
        for model, names in encrypted_fields():
            count, undecryptable = 0, []
            manager = model._base_manager
            # One transaction per model: a failure (a key missing) leaves that model as it was.
            with transaction.atomic():
                for row in manager.select_for_update().only("pk", *names).iterator(chunk_size=500):
                    values = {}
                    for name in names:
                        secret = getattr(row, name)
                        if secret is not None and (secret._ciphertext or secret._plaintext):
                            try:
                                values[name] = secret.rotated()
                            except SecretUndecryptable:
                                # Left as it is (no key can read it): listed below, to be replaced by hand.
                                undecryptable.append(f"#{row.pk} {name}")
                    if values:
                        manager.filter(pk=row.pk).update(**values)
                        count += 1
            total += count
            # Counts and names only: never a value.
            self.stdout.write(
                _("%(model)s: %(count)d rows re-encrypted (%(fields)s)")
                % {"model": model._meta.label, "count": count, "fields": ", ".join(names)}
            )
            if undecryptable:
                self.stderr.write(
                    _("%(model)s: cannot be decrypted with any key, left as they are: %(rows)s")
                    % {"model": model._meta.label, "rows": ", ".join(undecryptable)}
                )
        self.stdout.write(_("Done: %(total)d rows re-encrypted with the first key.") % {"total": total})
