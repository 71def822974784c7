"""Django's users and groups as the hub names them: a group of users is a role (webhookhub/roles.py), never
to be mistaken for a customer group (群组), in either language."""

from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group, User
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from api.selectors import api_keys_stopped_by, scopes_lacking

from .roles import ROLE_LABELS

# Only the names the admin shows: Meta's declared options (original_attrs, which makemigrations reads) stay
# Django's own, so no migration of django.contrib.auth follows.
Group._meta.verbose_name = _("role")
Group._meta.verbose_name_plural = _("roles")


class RoleFilter(admin.RelatedFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = _("role")


class HubUserAdmin(UserAdmin):
    list_filter = ("is_staff", "is_superuser", "is_active", ("groups", RoleFilter))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the roles are saved: a deactivated user, or one who lost a role, stops their API keys with it.
        stopped = api_keys_stopped_by(form.instance)
        if stopped:
            self.message_user(
                request,
                _("These API keys of %(user)s no longer work, as the user lacks what their scopes need: %(keys)s.")
                % {
                    "user": form.instance,
                    "keys": "; ".join(
                        f"{key} ({', '.join(scopes_lacking(form.instance, key.scopes or []))})" for key in stopped
                    ),
                },
                messages.WARNING,
            )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["widget"] = FilteredSelectMultiple(_("roles"), is_stacked=False)
            kwargs.setdefault("label", capfirst(_("roles")))
            kwargs.setdefault("help_text", _("What the user may see and do: Marketer or Administrator."))
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "groups" and field is not None:
            # The roles' names are keys in English in the database; people read them in their language.
            field.label_from_instance = lambda group: str(ROLE_LABELS.get(group.name, group.name))  # type: ignore[method-assign,assignment]
        return field


admin.site.unregister(User)
admin.site.register(User, HubUserAdmin)
