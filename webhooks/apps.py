from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self):
        from django.conf import settings
        from django.db.models.signals import pre_delete

        from webhooks import (
            checks,  # noqa: F401 - registers the system checks
            selectors,
        )
        from webhooks.engine import claim, record
        from webhooks.engine.due import DueWork, due_work_register, never_due
        from webhooks.services import group_sends, recoveries, retention, webhook_config

        # Before the customer's deliveries lose their link to them (SET_NULL): their bodies go first.
        pre_delete.connect(
            retention.customer_pre_delete, sender="customers.Customer", dispatch_uid="webhooks-customer-bodies"
        )
        # The engine's own due work, in the order the drain's upkeep runs it. Those whose `due` is
        # never true are finished by the drain that records their last wave (its upkeep, before it ends):
        # the tick does not ring for them, so a send waiting on a retry in an hour wakes no one now.
        for work in (
            DueWork(
                name="scheduled group sends",
                run=group_sends.group_sends_start_due,
                due=group_sends.group_sends_due,
                next_at=group_sends.group_sends_next_at,
            ),
            DueWork(
                name="fan-outs",
                run=group_sends.group_send_fanout_run,
                due=group_sends.group_send_fanouts_due,
                own_thread=True,
            ),
            # The daily prune: on the second thread too, after the fan-outs (a slice gives way to a step).
            DueWork(
                name="retention",
                run=retention.prune_slice_run,
                due=retention.prune_due,
                next_at=retention.prune_next_at,
                own_thread=True,
            ),
            DueWork(name="claims of dead drains", run=record.claims_dead_take_back, due=claim.drains_dead_due),
            # Reads every `sending` row version (a held snapshot keeps them all): once per lease (60 s).
            DueWork(
                name="claims of no known drain",
                run=record.claims_orphaned_take_back,
                due=claim.claims_orphaned_due,
                every=float(settings.WEBHOOK_CLAIM_LEASE),
            ),
            # Reads every `sending` row of a busy webhook: once a minute, off the claim's path.
            DueWork(name="in-flight numbers", run=claim.in_flight_correct, due=never_due, every=60.0),
            DueWork(name="finished group sends", run=group_sends.group_sends_complete, due=never_due),
            DueWork(name="bulk recovers moving", run=recoveries.recoveries_advance, due=recoveries.recoveries_due),
            DueWork(name="bulk recovers stopped", run=recoveries.recoveries_settle, due=never_due),
            DueWork(name="finished bulk recovers", run=recoveries.recoveries_complete, due=never_due),
            # The end of a secret rotation's overlap is recorded in the webhook's history when it comes (the
            # signing itself stops by the clock, with or without this).
            DueWork(
                name="secret rotations",
                run=webhook_config.webhook_rotations_expire,
                due=selectors.webhook_rotations_due,
                next_at=selectors.webhook_rotations_next_at,
            ),
        ):
            due_work_register(work)
