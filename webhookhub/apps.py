from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhookhubConfig(AppConfig):
    """The project itself as an app, so that its migrations can create the roles."""

    name = "webhookhub"
    verbose_name = _("WebhookHub")

    def ready(self):
        from django.db.models.signals import post_migrate

        from .roles import roles_post_migrate

        # Django sends post_migrate only for apps with models, which this one has not: listen to the
        # last app's, when every app's permissions exist.
        post_migrate.connect(roles_post_migrate, dispatch_uid="webhookhub_roles")
