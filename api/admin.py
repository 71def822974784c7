from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import services
from .models import ApiKey, Scope, default_scopes
from .selectors import api_key_scopes_lacking, scopes_lacking


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("scopes"),
        choices=Scope.choices,
        initial=default_scopes,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy(
            "What the key may do; a request outside them is refused with 403. Fixed once created. "
            "None ticked: events:write only. Only scopes your role grants; the key stops working for a scope "
            "when its creator is deactivated or loses the role that grants it."
        ),
    )

    class Meta:
        model = ApiKey
        fields = ("name", "scopes")

    # Set by ApiKeyAdmin.get_form: the person creating the key, whose roles bound its scopes.
    creator = None

    def clean_scopes(self):
        scopes = self.cleaned_data.get("scopes") or default_scopes()
        lacking = scopes_lacking(self.creator, scopes)
        if lacking:
            raise forms.ValidationError(
                _("Your role does not grant these scopes, so a key of yours cannot hold them: %(scopes)s.")
                % {"scopes": ", ".join(lacking)},
                code="scope_beyond_role",
            )
        return scopes


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("name", "prefix", "created_by", "scope_list", "state", "last_used_at", "created_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "scope_list", "state", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.creator = request.user  # type: ignore[attr-defined]
        return form

    def get_fields(self, request, obj=None):
        return ("name", "scopes") if obj is None else ("name", *self.readonly_fields)

    @admin.display(description=gettext_lazy("scopes"))
    def scope_list(self, obj):
        return ", ".join(obj.scopes or []) or "—"

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj):
        if obj.is_revoked:
            return _("revoked")
        lacking = api_key_scopes_lacking(obj)
        if lacking:
            return _("inactive: owner lacks %(scopes)s") % {"scopes": ", ".join(lacking)}
        return _("active")

    def save_form(self, request, form, change):
        if change:
            return super().save_form(request, form, change)
        # A new key is made, and saved, by its service, the one place that sees the clear key; the admin
        # goes on (log entry, the page that shows the key) with the key the service returns.
        api_key, raw_key = services.api_key_create(
            name=form.cleaned_data["name"], user=request.user, scopes=form.cleaned_data.get("scopes") or None
        )
        # Kept on the request only, for the one page that shows it.
        request._new_api_key = raw_key
        return api_key

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])

    def save_related(self, request, form, formsets, change):
        # A key has no relations a form edits; a new one was not saved through the form at all.
        if change:
            super().save_related(request, form, formsets, change)

    def response_add(self, request, obj, post_url_continue=None):
        raw_key = getattr(request, "_new_api_key", None)
        if raw_key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": _("API key created"),
            "opts": self.model._meta,
            "original": obj,
            "raw_key": raw_key,
        }
        response = TemplateResponse(request, "admin/api/apikey/created.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description=gettext_lazy("Revoke selected API keys"), permissions=["change"])
    def revoke(self, request, queryset):
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(api_key=api_key, user=request.user)
            count += 1
        self.message_user(
            request,
            _("%(count)s API keys revoked; requests with them now get 403.") % {"count": count},
            messages.SUCCESS,
        )
