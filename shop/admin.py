from django.contrib import admin
from django.utils.html import format_html

from .models import Category, Product


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "name", "category", "price"]
    list_display_links = ["thumbnail", "name"]
    list_filter = ["category"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description="Image")
    def thumbnail(self, obj):
        if not obj.image:
            return "-"
        return format_html('<img src="{}" alt="" width="48" height="48" style="object-fit:cover;border-radius:4px">', obj.image.url)
