"""Query-parameter filters, declared as serializers.

A list view names a ``filter_serializer_class``: a serializer whose fields are the
query parameters and whose ``filter(queryset)`` method applies the validated values;
:class:`SerializerFilterBackend` runs it. Declaring parameters as serializer fields
buys three things at once: bad values are a 400 in the API's error shape (never a
database error: slugs, choices and ids are checked before they reach a query), the
OpenAPI schema lists every parameter with its type and choices
(``StylestoreAutoSchema`` adds the serializer to list operations), and there is no
extra dependency such as django-filter.
"""
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.filters import BaseFilterBackend

from ..models import Batch, Style, StylizedImage
from ..references import EXAMPLE_REFERENCE, MalformedReference, UnknownReference, parse_reference

MAX_FILTER_IDS = 100
MAX_ID_DIGITS = 18  # every 18-digit number fits a signed 64-bit primary key


def filter_serializer_for(view):
    """The view's ``filter_serializer_class`` if the view is listing, else None.

    Filters narrow lists only: a detail lookup (``get_object`` runs the filter
    backends too) must not turn into a 404 because of a stray query parameter.
    Views that are not viewsets have no ``action`` and are lists if they filter.
    """
    if getattr(view, "action", "list") != "list":
        return None
    return getattr(view, "filter_serializer_class", None)


class SerializerFilterBackend(BaseFilterBackend):
    """Filter a list with the view's ``filter_serializer_class``."""

    def filter_queryset(self, request, queryset, view):
        filter_class = filter_serializer_for(view)
        if filter_class is None:
            return queryset
        # A plain dict, not the QueryDict: DRF reads a missing boolean in form-style
        # input as False, which would turn "no filter" into "active=false". Empty
        # values mean "any", as an HTML form submits them.
        params = {key: value for key, value in request.query_params.items() if value != ""}
        filters = filter_class(data=params, context=view.get_serializer_context())
        filters.is_valid(raise_exception=True)
        return filters.filter(queryset)


class StyleFilter(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Style.Kind.choices, required=False, help_text=_("Only styles of this kind."))
    active = serializers.BooleanField(
        required=False,
        help_text=_("Only active (true) or inactive (false) styles. Inactive styles are listed only "
                    "for staff who may view or change styles."),
    )

    def filter(self, queryset):
        if "kind" in self.validated_data:
            queryset = queryset.filter(kind=self.validated_data["kind"])
        if "active" in self.validated_data:
            queryset = queryset.filter(active=self.validated_data["active"])
        return queryset


class VariantFilter(serializers.Serializer):
    # No "format" filter: DRF reserves ?format= for choosing a renderer.
    style = serializers.SlugField(
        max_length=100, required=False, help_text=_("Only variants of the style with this slug."),
    )

    def filter(self, queryset):
        if "style" in self.validated_data:
            queryset = queryset.filter(style__slug=self.validated_data["style"])
        return queryset


class JobFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=StylizedImage.Status.choices, required=False)
    review = serializers.ChoiceField(choices=StylizedImage.Review.choices, required=False)
    style = serializers.SlugField(max_length=100, required=False, help_text=_("Slug of the style."))
    source = serializers.CharField(
        max_length=300, required=False, help_text=format_lazy(_("Source reference, e.g. {}."), EXAMPLE_REFERENCE)
    )
    batch = serializers.IntegerField(min_value=1, max_value=10**MAX_ID_DIGITS - 1, required=False,
                                     help_text=_("Only the jobs of this batch (the id a job request returned)."))
    ids = serializers.CharField(
        max_length=MAX_FILTER_IDS * (MAX_ID_DIGITS + 1),
        required=False,
        help_text=format_lazy(_("Comma-separated job ids (at most {}), e.g. the ids a job request returned."),
                              MAX_FILTER_IDS),
    )

    def validate_source(self, value):
        try:
            return parse_reference(value)
        except MalformedReference as exc:
            raise serializers.ValidationError(str(exc))
        except UnknownReference:
            return None  # a filter on something that does not exist matches nothing

    def validate_ids(self, value):
        ids = [part.strip() for part in value.split(",") if part.strip()]
        if len(ids) > MAX_FILTER_IDS:
            raise serializers.ValidationError(_("At most %d ids.") % MAX_FILTER_IDS)
        if not all(part.isascii() and part.isdigit() and len(part) <= MAX_ID_DIGITS for part in ids):
            raise serializers.ValidationError(_("Give job ids as comma-separated positive integers."))
        return [int(part) for part in ids]

    def filter(self, queryset):
        data = self.validated_data
        for name in ("status", "review"):
            if name in data:
                queryset = queryset.filter(**{name: data[name]})
        if "style" in data:
            queryset = queryset.filter(style__slug=data["style"])
        if "source" in data:
            ref = data["source"]
            if ref is None:
                return queryset.none()
            queryset = queryset.filter(source__content_type=ref.content_type, source__object_id=ref.object_id)
        if "batch" in data:
            queryset = queryset.filter(batches=data["batch"])
        if "ids" in data:
            queryset = queryset.filter(pk__in=data["ids"])
        return queryset


class BatchFilter(serializers.Serializer):
    finished = serializers.BooleanField(required=False, help_text=_(
        "Only batches that are finished or cancelled (true), or still queued or rendering (false)."))
    origin = serializers.ChoiceField(choices=Batch.Origin.choices, required=False, help_text=_(
        "Only batches queued from the admin, the API or a command."))
    mine = serializers.BooleanField(required=False, help_text=_("Only (true) or all but (false) your own batches."))

    def filter(self, queryset):
        data = self.validated_data
        if "finished" in data:
            queryset = queryset.filter(finished_at__isnull=not data["finished"])
        if "origin" in data:
            queryset = queryset.filter(origin=data["origin"])
        if "mine" in data:
            mine = {"created_by": self.context["request"].user}
            queryset = queryset.filter(**mine) if data["mine"] else queryset.exclude(**mine)
        return queryset
