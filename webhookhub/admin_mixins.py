"""Behaviour shared by the apps' admin classes."""


class ReadOnlyAdminMixin:
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
