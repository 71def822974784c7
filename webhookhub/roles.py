"""The two roles of the hub, as Django groups: what a marketer may do, and the administrator.

As in DM Hub (设置 › Webhook), a marketer creates, edits, tests and sends her own webhooks, works with
customers and groups, and reads the results. Secrets are write-only for everyone: she may set or replace
one, nobody reads one back. She never deletes records. Pausing and resuming webhooks, alert channels,
API keys, users and roles, and the retention of records stay with the administrator.
A marketer sees the outbound proxies and private CAs (to choose among them); a webhook's client
certificate and key are an Administrator's alone (is_administrator), whatever else a role may change.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.utils.translation import gettext_lazy as _

MARKETER = "Marketer"
ADMINISTRATOR = "Administrator"

# Group names stay in English in the database (they are keys); the admin shows these labels.
ROLE_LABELS = {MARKETER: _("Marketer"), ADMINISTRATOR: _("Administrator")}

MARKETER_PERMISSIONS = (
    "customers.view_customer",
    "customers.add_customer",
    "customers.change_customer",
    "customers.view_group",
    "customers.add_group",
    "customers.change_group",
    "customers.view_groupentry",
    "customers.add_groupentry",
    "customers.change_groupentry",
    "customers.view_membershiplevel",
    "webhooks.view_webhook",
    # DM Hub's marketer creates and edits her webhooks (secrets are write-only: see forms.SecretInput).
    "webhooks.add_webhook",
    "webhooks.change_webhook",
    # Sending: a group send or a test send is an added GroupSend; cancelling or stopping one changes it.
    "webhooks.view_groupsend",
    "webhooks.add_groupsend",
    "webhooks.change_groupsend",
    "webhooks.view_message",
    "webhooks.view_delivery",
    # Redeliver: the delivery admin edits nothing by hand, so this permission only opens the button.
    "webhooks.change_delivery",
    "webhooks.view_attempt",
    # Egress and TLS: a marketer chooses among the proxies and private CAs an Administrator set up.
    "webhooks.view_outboundproxy",
    "webhooks.view_privateca",
    # The loyalty side: members' levels, coupons, redeeming codes.
    "customers.view_member",
    "customers.change_member",
    "customers.view_coupon",
    "customers.add_coupon",
    "customers.change_coupon",
    "customers.view_couponcode",
    "customers.change_couponcode",
    # Micro-pages and automation flows.
    "automation.view_micropage",
    "automation.add_micropage",
    "automation.change_micropage",
    "automation.view_formfield",
    "automation.add_formfield",
    "automation.change_formfield",
    "automation.view_submission",
    "automation.view_flow",
    "automation.add_flow",
    "automation.change_flow",
    "automation.view_flowstep",
    "automation.add_flowstep",
    "automation.change_flowstep",
    "automation.view_flowrun",
)

# Who may see that a secret is set and replace it (never read it back): whoever may edit a webhook.
SECRETS_PERMISSION = "webhooks.change_webhook"
SEND_PERMISSION = "webhooks.add_groupsend"
CANCEL_PERMISSION = "webhooks.change_groupsend"
REDELIVER_PERMISSION = "webhooks.change_delivery"


def can_manage_secrets(user) -> bool:
    return user.has_perm(SECRETS_PERMISSION)


def is_administrator(user) -> bool:
    """A superuser, or an active member of the Administrator group (not merely staff)."""
    if not (user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or user.groups.filter(name=ADMINISTRATOR).exists()


def administrator_names(limit: int = 5) -> list[str]:
    """Whom to ask for what a role may not do: the active administrators' names, by login."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    users = (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name=ADMINISTRATOR), is_active=True)
        .distinct()
        .order_by("username")[:limit]
    )
    return [user.get_full_name() or user.get_username() for user in users]


def roles_sync(apps, *, create_permissions_first=False) -> None:
    """Create or update both groups with their permissions; safe to repeat.

    Run by the roles migration and again after every migrate (post_migrate), so that the
    administrator also gets the permissions of models added later, and the groups come back after
    a test run flushes the database.
    """
    if create_permissions_first:
        # Permissions are normally created after all migrations ran; the migration needs them now.
        for app_config in apps.get_app_configs():
            app_config.models_module = True
            create_permissions(app_config, apps=apps, verbosity=0)
            app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    marketer, _created = Group.objects.get_or_create(name=MARKETER)
    wanted = Permission.objects.none()
    for dotted in MARKETER_PERMISSIONS:
        app_label, codename = dotted.split(".")
        wanted |= Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    marketer.permissions.set(wanted)

    administrator, _created = Group.objects.get_or_create(name=ADMINISTRATOR)
    administrator.permissions.set(Permission.objects.all())


def roles_post_migrate(sender, **kwargs) -> None:
    last = [config for config in global_apps.get_app_configs() if config.models_module][-1]
    if sender.label != last.label:
        return
    roles_sync(kwargs.get("apps") or global_apps)
