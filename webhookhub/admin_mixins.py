"""Behaviour shared by the apps' admin classes."""

from typing import TYPE_CHECKING

from django.contrib import admin

# The mixin goes before admin.ModelAdmin in a class's bases; the type checker is told so.
if TYPE_CHECKING:
    _Base = admin.ModelAdmin
else:
    _Base = object


class ReadOnlyAdminMixin(_Base):
    """Rows the hub writes and people only read: listed and shown, never added or edited in the admin.

    Set `deletable = False` where the rows are the record of what happened and must not be deleted either.
    """

    deletable = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)
