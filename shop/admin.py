from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from stylestore.admin import StylizeAdminMixin

from .models import Category, Product


@admin.register(Category)
class CategoryAdmin(StylizeAdminMixin, admin.ModelAdmin):
    """"Apply style to products in category…": styles every product of the selected categories."""

    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    stylize_action_description = _("Apply style to products in category…")
    stylize_image_field = "image"  # of the products, not of the categories this admin lists

    def get_stylize_objects(self, request, queryset):
        return Product.objects.filter(category__in=queryset)

    def get_stylize_objects_by_row(self, request, rows):
        grouped = {row.pk: [] for row in rows}
        for product in Product.objects.filter(category__in=rows).only("pk", "category_id"):
            grouped[product.category_id].append(product)
        return grouped


@admin.register(Product)
class ProductAdmin(StylizeAdminMixin, admin.ModelAdmin):
    list_display = ["thumbnail", "name", "category", "price"]
    list_display_links = ["thumbnail", "name"]
    list_filter = ["category"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description=_("Image"))
    def thumbnail(self, obj):
        if not obj.image:
            return "-"
        return format_html('<img src="{}" alt="" width="48" height="48" style="object-fit:cover;border-radius:4px">', obj.image.url)
