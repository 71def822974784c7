from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    # The admin's section and breadcrumbs say the same (webhookhub/admin_site.py).
    verbose_name = _("Customers and loyalty")
