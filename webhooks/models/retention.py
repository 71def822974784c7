"""The daily prune's book (webhooks/services/retention.py): one row, in the database like all other due work."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PruneState(models.Model):
    """When the next prune is due, who runs a slice of it now, how far the blanking came, what the last run did.

    One row (pk 1). A drain runs a slice when `due_at` has come and no other drain's slice holds
    `running_until`: a slice killed with its worker is taken over when that time has passed. The
    blanking's watermark lives here too, so an emptied Redis costs the prune nothing.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    due_at = models.DateTimeField(_("next prune"), null=True, blank=True)
    # The RETENTION_PRUNE_AT `due_at` was reckoned from: another setting reckons it anew.
    schedule = models.CharField(max_length=5, blank=True, default="")
    running_until = models.DateTimeField(null=True, blank=True)
    # The run under way (one or more slices) and its totals so far; null and empty between runs.
    run_started_at = models.DateTimeField(null=True, blank=True)
    run_report = models.JSONField(default=dict, blank=True)
    # Bodies of deliveries created before this moment (and, at it, with an id up to this one) are blank.
    bodies_until_at = models.DateTimeField(null=True, blank=True)
    bodies_until_id = models.CharField(max_length=32, blank=True, default="")
    last_report = models.JSONField(_("last prune"), null=True, blank=True)

    class Meta:
        verbose_name = _("prune state")
        verbose_name_plural = _("prune state")

    def __str__(self):
        return f"prune due {self.due_at}"
