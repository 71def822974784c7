from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self):
        from django.db.models.signals import pre_delete

        from webhooks import (
            checks,  # noqa: F401 - registers the system checks
            selectors,
        )
        from webhooks.engine.due import DueWork, due_work_register
        from webhooks.services import webhook_config
        from webhooks.services.retention import customer_pre_delete

        # Before the customer's deliveries lose their link to them (SET_NULL): their bodies go first.
        pre_delete.connect(customer_pre_delete, sender="customers.Customer", dispatch_uid="webhooks-customer-bodies")
        # The end of a secret rotation's overlap is recorded in the webhook's history when it comes (the
        # signing itself stops by the clock, with or without this).
        due_work_register(
            DueWork(
                name="secret rotations",
                run=webhook_config.webhook_rotations_expire,
                due=selectors.webhook_rotations_due,
                next_at=selectors.webhook_rotations_next_at,
            )
        )
