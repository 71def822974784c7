from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = _("Alerts")

    def ready(self):
        # The health → alerts contract (webhooks/signals.py): the receiver records; every running drain's
        # due work sends due alerts in its realtime turn, beside its waves (services.py).
        from webhooks.engine.due import DueWork, due_work_register

        from . import receivers, selectors, services  # noqa: F401

        due_work_register(
            DueWork(
                name="alerts",
                run=services.alerts_due_send,
                due=selectors.alerts_due,
                next_at=selectors.alerts_next_at,
                settle=services.alerts_due_settle,
                each_turn=True,
            )
        )
        # Client certificates about to end (webhooks' mutual TLS): announced once, 30 days before by default.
        due_work_register(
            DueWork(
                name="certificates",
                run=services.certificates_announce,
                due=selectors.certificates_due,
                next_at=selectors.certificates_next_at,
            )
        )
