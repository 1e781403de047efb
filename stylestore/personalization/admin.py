"""Personalization in the admin: the event log, visitors, and the analytics page.

The event log and visitors are read-only: they are written by the storefront, and
an edited row would make the statistics lie. Deleting a visitor erases it with its
events (the cascade is the erasure). The analytics page lives under the event log's
URLs (``admin:stylestore_styleevent_analytics``) and needs the permission to view
events; the event list links to it, and so does its entry in the admin's app list
(``PersonalizationAnalytics``, a proxy model).
"""
import typing

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import PersonalizationAnalytics, StyleEvent, Visitor
from . import policy, report



class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Visitor)
class VisitorAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "user", "created_at", "last_seen_at"]
    list_select_related = ["user"]
    date_hierarchy = "last_seen_at"
    exclude = ["state"]
    readonly_fields = ["user", "created_at", "last_seen_at"]


class ReasonFilter(admin.SimpleListFilter):
    """Why the policy showed a look (``policy.Reason``), in words. Not the column's own
    values: a pick's ``reason`` holds the style picked, and the style filter has those."""

    title = gettext_lazy("reason")
    parameter_name = "reason"
    LABELS = {
        "pick": gettext_lazy("The visitor's own pick"),
        "sticky": gettext_lazy("Kept from before (sticky)"),
        "history": gettext_lazy("The visitor's history"),
        "global": gettext_lazy("Popular with everyone"),
        "explore": gettext_lazy("Exploring"),
        "original": gettext_lazy("Original photo"),
        "control": gettext_lazy("Control group"),
        "remembered": gettext_lazy("The look it was shown in before"),
    }

    def lookups(self, request, model_admin):
        return [(reason, self.LABELS.get(reason, reason)) for reason in typing.get_args(policy.Reason)]

    def queryset(self, request, queryset):
        if self.value() in typing.get_args(policy.Reason):
            return queryset.filter(reason=self.value())
        return queryset


@admin.register(StyleEvent)
class StyleEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "style", "source", "reason_display", "propensity", "visitor"]
    list_filter = ["kind", ReasonFilter, "style"]
    list_select_related = ["style", "source__content_type", "visitor"]
    date_hierarchy = "created_at"
    change_list_template = "stylestore/admin/styleevent_change_list.html"

    @admin.display(description=gettext_lazy("reason"), ordering="reason")
    def reason_display(self, obj):
        """The policy's reason in words; a pick's own value (the style picked) as it is."""
        return ReasonFilter.LABELS.get(obj.reason, obj.reason) or "–"

    def get_urls(self):
        return [
            path("analytics/", self.admin_site.admin_view(self.analytics_view), name="stylestore_styleevent_analytics"),
            *super().get_urls(),
        ]

    def analytics_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.GET.get("format") == "csv" and (response := report.csv_response(request.GET)) is not None:
            return response
        context = {
            **self.admin_site.each_context(request),
            **report.context(request.GET),
            "title": _("Personalization analytics"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "stylestore/admin/personalization_analytics.html", context)


@admin.register(PersonalizationAnalytics)
class AnalyticsEntryAdmin(ReadOnlyAdmin):
    """"Analytics" in the admin index and app list, for whoever may view the events;
    it leads to the analytics page."""

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("stylestore.view_styleevent")

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("", self.admin_site.admin_view(self.changelist_view), name="%s_%s_changelist" % info)]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:stylestore_styleevent_analytics"))
