"""Personalization in the admin: the event log, visitors, and the analytics page.

The event log and visitors are read-only: they are written by the storefront, and
an edited row would make the statistics lie. Deleting a visitor erases it with its
events (the cascade is the erasure). The analytics page lives under the event log's
URLs (``admin:stylestore_styleevent_analytics``) and needs the permission to view
events; the event list links to it, and so does its entry in the admin's app list
(``PersonalizationAnalytics``, a proxy model).
"""
import math
import typing

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..conf import stylestore_settings
from ..models import PersonalizationAnalytics, StyleEvent, Visitor
from . import analytics, charts, policy

#: Windows the analytics page offers, in days.
ANALYTICS_WINDOWS = (7, 30, 90)


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
        windows = [d for d in ANALYTICS_WINDOWS if d <= stylestore_settings.EVENT_RETENTION_DAYS] or [
            stylestore_settings.EVENT_RETENTION_DAYS
        ]
        try:
            days = int(request.GET.get("days", 30))
        except ValueError:
            days = 30
        days = days if days in windows else windows[min(1, len(windows) - 1)]
        since = analytics.window_start(days)
        rows = analytics.style_rows(since)
        lift = analytics.lift(since)
        control = analytics.styled_vs_original(since)
        policies = None
        if lift is not None:
            policies = charts.chart(
                [
                    (_("Personalized (measured)"), lift.personalized),
                    (_("Best single style (IPW)"), lift.baseline_ipw),
                    (_("Best single style (SNIPW)"), lift.baseline_snipw),
                ]
            )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Personalization analytics"),
            "opts": self.model._meta,
            "days": days,
            "windows": windows,
            "since": since,
            "rows": [
                {"row": row, "ctr": percent(row.ctr.value), "interval": interval(row.ctr, digits=2)} for row in rows
            ],
            "control": control,
            "control_headlines": control_headlines(control),
            "control_groups": control_groups(control),
            "lift": lift,
            "lift_figures": lift_figures(lift) if lift is not None else [],
            "styles_chart": charts.chart([(row.style.name, row.ctr) for row in rows]),
            "policies_chart": policies,
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


def percent(value, digits=2, signed=False, unit="%"):
    return f"{value * 100:{'+' if signed else ''}.{digits}f} {unit}"


def interval(estimate, digits=2, signed=False, unit="%"):
    if not (math.isfinite(estimate.low) and math.isfinite(estimate.high)):
        return _("unbounded: needs impressions from more visitors")
    return _("%(low)s to %(high)s") % {"low": percent(estimate.low, digits, signed, unit),
                                        "high": percent(estimate.high, digits, signed, unit)}


def control_headlines(control):
    """What styling does against the original photos, in plain sentences."""
    if control is None:
        if stylestore_settings.CONTROL_SHARE:
            return [_("No visitor of the control group in this window yet.")]
        return [_('No control group: set STYLESTORE["CONTROL_SHARE"] (e.g. 0.10) and that share of visitors sees '
                  "the original photos, so styled images can be measured against them.")]
    visitors = control.styled.visitors + control.original.visitors
    sentences = []
    for outcome, lift in ((_("clicks"), control.clicks_lift), (_("add to carts"), control.add_to_carts_lift)):
        if lift is None:
            sentences.append(
                _("Styled images and %(outcome)s: not enough data yet (%(styled)d visitors saw styled images, "
                  "%(original)d the original photos; an interval needs at least %(minimum)d visitors with %(outcome)s "
                  "in each group).")
                % {"outcome": outcome, "styled": control.styled.visitors, "original": control.original.visitors,
                   "minimum": analytics.evaluation.MIN_CLICKING_VISITORS}
            )
        else:
            sentences.append(
                _("Styled images: %(value)s %(outcome)s per impression versus the original photos "
                  "(95 %% interval %(interval)s), from %(visitors)d visitors, %(original)d of whom saw the "
                  "original photos.")
                % {"value": percent(lift.value, 0, signed=True), "outcome": outcome,
                   "interval": interval(lift, 0, signed=True), "visitors": visitors,
                   "original": control.original.visitors}
            )
    return sentences


def control_groups(control):
    """The two groups' rows: visitors, impressions, and each outcome's rate with its interval."""
    if control is None:
        return []
    return [
        {
            "label": label,
            "visitors": arm.visitors,
            "impressions": arm.impressions,
            "clicks": percent(arm.clicks.value),
            "clicks_interval": interval(arm.clicks),
            "add_to_carts": percent(arm.add_to_carts.value),
            "add_to_carts_interval": interval(arm.add_to_carts),
        }
        for label, arm in ((_("Styled images"), control.styled), (_("Original photos (control group)"), control.original))
    ]


def lift_figures(lift):
    """The comparison's rows: label, estimate, 95 % interval, how it was obtained."""
    rows = [
        (_("Personalized policy CTR"), lift.personalized, "%", False, _("measured on these impressions")),
        (_("Best single style CTR"), lift.baseline_ipw, "%", False, _("IPW estimate from the same impressions")),
        (_("Best single style CTR"), lift.baseline_snipw, "%", False,
         _("self-normalised IPW (lower variance, slight bias)")),
        (_("Lift, absolute"), lift.absolute, "pp", True, _("paired IPW difference, in percentage points")),
        (_("Lift, relative"), lift.relative, "%", True, _("ratio of the two, delta-method interval")),
    ]
    return [
        {
            "label": label,
            "value": percent(e.value, signed=signed, unit=unit),
            "interval": interval(e, signed=signed, unit=unit),
            "method": how,
        }
        for label, e, unit, signed, how in rows
        if e is not None
    ]
