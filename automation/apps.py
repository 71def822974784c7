from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = _("Micro-pages and automation")

    def ready(self):
        # Imported once the app registry is ready (the receivers import models): connects the flow triggers.
        from webhooks.engine.due import DueWork, due_work_register

        from . import receivers, selectors, services  # noqa: F401

        # Flow runs are rows with a due time: the engine's drain advances them, its doorbell wakes for them.
        due_work_register(
            DueWork(
                name="flow runs",
                run=services.flow_runs_advance_due,
                due=selectors.flow_runs_due,
                next_at=selectors.flow_runs_next_at,
                each_turn=True,
            )
        )
