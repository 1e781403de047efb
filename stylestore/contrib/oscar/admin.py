"""Oscar's product admin with Stylestore's "Apply style…" action and progress column,
over each product's images (Oscar keeps photos on ``ProductImage``, not the product).
Linked from Oscar's dashboard menu (``navigation``)."""
from django.contrib import admin
from oscar.apps.catalogue.admin import ProductAdmin as OscarProductAdmin  # registers Oscar's admins first
from oscar.core.loading import get_model

from ...admin import StylizeAdminMixin
from .images import image_field

Product = get_model("catalogue", "Product")
ProductImage = get_model("catalogue", "ProductImage")


class ProductAdmin(StylizeAdminMixin, OscarProductAdmin):
    stylize_action_description = "Apply style to the products' images…"

    @property
    def stylize_image_field(self):
        return image_field()

    def get_stylize_objects(self, request, queryset):
        return ProductImage.objects.filter(product__in=queryset).order_by("product_id", "display_order")

    def get_stylize_objects_by_row(self, request, rows):
        grouped = {row.pk: [] for row in rows}
        for image in ProductImage.objects.filter(product__in=rows).only("pk", "product_id"):
            grouped[image.product_id].append(image)
        return grouped


admin.site.unregister(Product)
admin.site.register(Product, ProductAdmin)
