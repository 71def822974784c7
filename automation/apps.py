from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = _("Micro-pages and automation")

    def ready(self):
        from . import receivers  # noqa: F401 - connects the flow triggers
