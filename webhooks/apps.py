from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self):
        from django.db.models.signals import pre_delete

        from . import checks  # noqa: F401 - registers the system checks
        from .retention import customer_pre_delete

        # Before the customer's deliveries lose their link to them (SET_NULL): their bodies go first.
        pre_delete.connect(customer_pre_delete, sender="customers.Customer", dispatch_uid="webhooks-customer-bodies")
