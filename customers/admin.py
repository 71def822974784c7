from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from .models import Customer, Group, GroupMembership, MembershipLevel


@admin.register(MembershipLevel)
class MembershipLevelAdmin(admin.ModelAdmin):
    list_display = ("name", "rank")
    ordering = ("rank",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "wechat_nickname", "mobile", "email", "activity_score", "level", "points", "created_at")
    list_filter = ("level", "created_at")
    search_fields = ("name", "wechat_nickname", "mobile")
    list_select_related = ("level",)
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("name", "wechat_nickname", "mobile", "email", "activity_score")}),
        (_("Member"), {"fields": ("membership_id", "level", "points")}),
        (_("Custom attributes"), {"fields": ("attributes",)}),
    )


class GroupMembershipInline(admin.TabularInline):
    model = GroupMembership
    raw_id_fields = ("customer",)
    readonly_fields = ("joined_at",)
    extra = 0


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "member_count", "created_at")
    search_fields = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, obj):
        return obj.member_count
