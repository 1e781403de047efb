"""Source images: read-only, they follow the shop's own objects."""
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import SourceImage


@admin.register(SourceImage)
class SourceImageAdmin(admin.ModelAdmin):
    """Read-only: source rows follow the shop's own objects and are kept in sync by signals."""

    list_display = ["__str__", "field_name", "short_hash", "width", "height", "updated_at"]
    list_filter = ["content_type", "field_name"]
    search_fields = ["object_id"]
    list_select_related = ["content_type"]

    @admin.display(description=_("Content hash"))
    def short_hash(self, obj):
        return obj.content_hash[:12] or "–"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # it would only come back on the object's next save, without its variants
