from django.contrib import admin

from .models import SourceImage, Style, StylizedImage


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "active", "auto_apply"]
    list_filter = ["kind", "active", "auto_apply"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]


@admin.register(StylizedImage)
class StylizedImageAdmin(admin.ModelAdmin):
    list_display = ["style", "source", "status", "review", "attempts"]
    list_filter = ["status", "review", "style"]


admin.site.register(SourceImage)
