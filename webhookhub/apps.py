from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from . import tracing
from .logformat import stderr_json_install
from .roles import roles_post_migrate


class WebhookhubConfig(AppConfig):
    """The project itself as an app, so that its migrations can create the roles."""

    name = "webhookhub"
    verbose_name = _("WebhookHub")

    def ready(self):
        # Django sends post_migrate once for each app with models: roles_post_migrate acts on the last
        # app's, when every app's permissions exist.
        post_migrate.connect(roles_post_migrate, dispatch_uid="webhookhub_roles")
        # Traces only when the OTEL_* variables ask for them (webhookhub/tracing.py).
        tracing.setup()
        # Its metrics exist before any library's (django-prometheus's middleware): in multiprocess
        # mode they are all written where PROMETHEUS_MULTIPROC_DIR says.
        from . import telemetry  # noqa: F401

        if settings.LOG_FORMAT == "json":
            stderr_json_install()
