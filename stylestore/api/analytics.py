"""The analytics report over the API: ``GET v1/analytics/``.

The same numbers as the admin's analytics page (``personalization.report``), for a
headless shop's own dashboard: styled images against the original photos with their
intervals, per style and per product category, and the personalized policy against
the best single style. Staff only, with the permission the page asks for
(``stylestore.view_styleevent``).

Numbers are numbers, not the page's formatted strings: rates and lifts are fractions
(0.034 is 3.4 %), amounts are decimal strings per currency. An interval end that the
data cannot bound yet (too few visitors) is null rather than infinite, which JSON
cannot carry. The headline sentences are the page's, in the request's language.
"""
import math
from datetime import timedelta

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import moments
from ..conf import stylestore_settings
from ..personalization import report
from .permissions import CanViewAnalytics
from .personalization import StyleRefSerializer
from .schema import describe
from .views import StylestoreAPIMixin


class BoundField(serializers.FloatField):
    """An interval end; null where it is unbounded (not enough data yet)."""

    def to_representation(self, value):
        return value if math.isfinite(value) else None


class EstimateSerializer(serializers.Serializer):
    value = serializers.FloatField(help_text=gettext_lazy("The point estimate."))
    low = BoundField(allow_null=True, help_text=gettext_lazy("Lower end of the 95 % interval; null: unbounded."))
    high = BoundField(allow_null=True, help_text=gettext_lazy("Upper end of the 95 % interval; null: unbounded."))
    n = serializers.IntegerField(help_text=gettext_lazy("How many observations it is made of."))


class RevenueField(serializers.DictField):
    """``{currency code: amount}``; the code is "" for revenue of unknown currency."""

    child = serializers.DecimalField(max_digits=20, decimal_places=2, coerce_to_string=True)


class StyleRowSerializer(serializers.Serializer):
    style = serializers.SerializerMethodField(help_text=gettext_lazy("The style; null for the original photo."))
    name = serializers.CharField(source="style.name")
    impressions = serializers.IntegerField()
    clicks = serializers.IntegerField()
    add_to_carts = serializers.IntegerField()
    purchases = serializers.IntegerField()
    revenue = RevenueField()
    picks = serializers.IntegerField(help_text=gettext_lazy("Customers' own picks of this look."))
    ctr = EstimateSerializer(help_text=gettext_lazy("Clicks per impression (Wilson interval)."))

    @extend_schema_field(StyleRefSerializer(allow_null=True))
    def get_style(self, row):
        return None if row.style.pk is None else StyleRefSerializer(row.style).data


class CategoryRowSerializer(serializers.Serializer):
    category = serializers.CharField(allow_null=True, help_text=gettext_lazy("Null: products without a category."))
    impressions = serializers.IntegerField()
    clicks = serializers.IntegerField()
    add_to_carts = serializers.IntegerField()
    purchases = serializers.IntegerField()
    revenue = RevenueField()
    rate = EstimateSerializer(help_text=gettext_lazy("The configured reward per impression (Wilson interval)."))


class ArmSerializer(serializers.Serializer):
    visitors = serializers.IntegerField()
    impressions = serializers.IntegerField()
    clicks = EstimateSerializer(help_text=gettext_lazy("Per impression."))
    add_to_carts = EstimateSerializer(help_text=gettext_lazy("Per impression."))
    purchases = EstimateSerializer(help_text=gettext_lazy("Per visitor."))
    revenue = EstimateSerializer(help_text=gettext_lazy("Per visitor, in `currency`."))


class LiftsSerializer(serializers.Serializer):
    clicks = EstimateSerializer(source="clicks_lift", allow_null=True)
    add_to_carts = EstimateSerializer(source="add_to_carts_lift", allow_null=True)
    purchases = EstimateSerializer(source="purchases_lift", allow_null=True)
    revenue = EstimateSerializer(source="revenue_lift", allow_null=True)


class ControlSerializer(serializers.Serializer):
    styled = ArmSerializer(help_text=gettext_lazy("Visitors who saw styled images."))
    original = ArmSerializer(help_text=gettext_lazy("The control group: original photos everywhere."))
    lift = LiftsSerializer(source="*", help_text=gettext_lazy(
        "Styled relative to original, per outcome (0.12 is +12 %); null: not enough data yet."))
    currency = serializers.CharField(allow_null=True, help_text=gettext_lazy(
        "The revenue figures' currency (the comparison's most frequent); null without purchases."))
    other_currencies = serializers.ListField(
        source="currencies", child=serializers.CharField(),
        help_text=gettext_lazy("Currencies of purchases left out of the revenue figures."))

    def to_representation(self, control):
        data = super().to_representation(control)
        data["other_currencies"] = data["other_currencies"][1:]
        return data


class PolicyLiftSerializer(serializers.Serializer):
    impressions = serializers.IntegerField()
    rewards = serializers.IntegerField(source="clicks", help_text=gettext_lazy("Of the configured reward."))
    best_single_ranking = serializers.ListField(
        source="baseline_styles", child=serializers.CharField(),
        help_text=gettext_lazy("The looks by their fitted rate, best first: the baseline shows the best "
                               "one a product has."))
    personalized = EstimateSerializer(help_text=gettext_lazy("Measured reward rate of the personalized policy."))
    best_single_ipw = EstimateSerializer(source="baseline_ipw")
    best_single_snipw = EstimateSerializer(source="baseline_snipw", allow_null=True)
    absolute_lift = EstimateSerializer(source="absolute", help_text=gettext_lazy("Difference of the rates."))
    relative_lift = EstimateSerializer(source="relative", allow_null=True)


class AnalyticsSerializer(serializers.Serializer):
    start = serializers.DateField(help_text=gettext_lazy("First day of the window."))
    end = serializers.DateField(help_text=gettext_lazy("Last day of the window, included."))
    time_zone = serializers.CharField(help_text=gettext_lazy("The zone whose days the window counts."))
    reward = serializers.ChoiceField(choices=list(report.OUTCOME_NAMES), help_text=gettext_lazy(
        'The outcome the policy optimises (STYLESTORE["REWARD"]).'))
    headline = serializers.ListField(child=serializers.CharField(), help_text=gettext_lazy(
        "What styling does against the original photos, in plain sentences, the configured reward's first."))
    styled_vs_original = ControlSerializer(allow_null=True, help_text=gettext_lazy(
        "Null when no visitor of the window was in the control group (CONTROL_SHARE)."))
    styles = StyleRowSerializer(many=True)
    categories = CategoryRowSerializer(many=True)
    personalized_vs_best_single = PolicyLiftSerializer(allow_null=True, help_text=gettext_lazy(
        "Off-policy estimates from the logged impressions; null without impressions to compare on."))


class AnalyticsQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text=gettext_lazy("First day (YYYY-MM-DD); with `end`."))
    end = serializers.DateField(required=False, help_text=gettext_lazy("Last day, included; with `start`."))
    days = serializers.IntegerField(required=False, help_text=gettext_lazy(
        "Instead of a range: the last 7, 30 or 90 days, today included (those within the event retention). "
        "Default: 30."))

    def validate_days(self, days):
        if days not in report.quick_windows():
            raise serializers.ValidationError(_("One of %s.") % ", ".join(map(str, report.quick_windows())))
        return days

    def validate(self, attrs):
        if "days" in attrs and ("start" in attrs or "end" in attrs):
            raise serializers.ValidationError(_("Either a range (start and end) or days, not both."))
        if "start" in attrs or "end" in attrs:
            # The page's own rules: both ends, in order, within the retention, not in the future.
            form = report.RangeForm({name: self.initial_data.get(name, "") for name in ("start", "end")})
            if not form.is_valid():
                raise serializers.ValidationError(form.non_field_errors() or form.errors)
        return attrs


@describe(
    summary="Analytics",
    description="The admin's analytics report as data: styled images against the original photos (the control "
                "group), per style and per product category, and the personalized policy against the best single "
                "style, over a window of whole days. Rates and lifts are fractions; an interval end is null "
                "where the data cannot bound it yet. Needs `stylestore.view_styleevent`.",
    parameters=[AnalyticsQuerySerializer],
    responses={200: AnalyticsSerializer},
)
class AnalyticsView(StylestoreAPIMixin, APIView):
    permission_classes = [CanViewAnalytics]

    def get(self, request, **kwargs):
        query = AnalyticsQuerySerializer(data={k: v for k, v in request.query_params.items() if v != ""})
        query.is_valid(raise_exception=True)
        span = report.window(query.initial_data)
        numbers = report.figures(span)
        data = {
            "start": span.since.date(),
            "end": (span.until - timedelta(days=1)).date(),
            "time_zone": str(moments.zone()),
            "reward": stylestore_settings.REWARD,
            "headline": report.control_headlines(numbers.control),
            "styled_vs_original": numbers.control,
            "styles": numbers.styles,
            "categories": numbers.categories,
            "personalized_vs_best_single": numbers.lift,
        }
        return Response(AnalyticsSerializer(data).data)
