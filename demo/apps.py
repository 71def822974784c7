"""The demo: a receiver written as a customer's developer would write one, and demo data pointing at it.

bin/run starts both so that a newcomer sees messages arrive; the benchmark and the tests use the same
receiver. The product never imports this app: it is a customer of the hub, not a part of it.
"""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = _("Demo")
