from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = _("Alerts")

    def ready(self):
        # The health → alerts contract (webhooks/signals.py): the receiver records, the drain's due work
        # hands pending alerts whose rq job Redis lost to a new job.
        from webhooks.engine.due import DueWork, due_work_register

        from . import receivers, selectors, services  # noqa: F401

        due_work_register(
            DueWork(
                name="alerts",
                run=services.alerts_due_enqueue,
                due=selectors.alerts_due,
                next_at=selectors.alerts_next_at,
                each_turn=True,
            )
        )
