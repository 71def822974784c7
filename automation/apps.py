from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = _("Micro-pages and automation")

    def ready(self):
        # Imported once the app registry is ready (the receivers import models): connects the flow triggers.
        from . import receivers  # noqa: F401
