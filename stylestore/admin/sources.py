"""Source images: read-only, they follow the shop's own objects."""
from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext_lazy as _

from ..models import SourceImage
from ..variants.sources import source_models
from . import search


class SourceModelFilter(admin.RelatedFieldListFilter):
    """The models ``STYLESTORE["SOURCE_MODELS"]`` names, not every model of the project."""

    def field_choices(self, field, request, model_admin):
        found = [ContentType.objects.get_for_model(apps.get_model(label)) for label in source_models()]
        return sorted(((ct.pk, str(ct)) for ct in found), key=lambda choice: choice[1])


@admin.register(SourceImage)
class SourceImageAdmin(admin.ModelAdmin):
    """Read-only: source rows follow the shop's own objects and are kept in sync by signals."""

    list_display = ["__str__", "field_name", "short_hash", "width", "height", "updated_at"]
    list_filter = [("content_type", SourceModelFilter), "field_name"]
    search_fields = ["object_id"]
    list_select_related = ["content_type"]

    def get_search_results(self, request, queryset, search_term):
        """Also by the object behind each source: its name (as its own admin searches
        it) or its reference, e.g. ``shop.product:42`` (``search``)."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            found |= queryset.filter(search.matching_sources(self.admin_site, request, search_term))
        return found, may_have_duplicates

    @admin.display(description=_("Content hash"))
    def short_hash(self, obj):
        return obj.content_hash[:12] or "–"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # it would only come back on the object's next save, without its variants
