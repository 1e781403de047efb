"""The demo shop's URLs with its product page served by a class-based view that does
not call ``events.expect_view``, as a shop's own generic ``DetailView`` would."""
from django.urls import include, path
from django.views.generic import DetailView

from shop import urls
from shop.models import Product


class ProductDetailView(DetailView):
    model = Product
    queryset = Product.objects.select_related("category")
    template_name = "shop/product_detail.html"
    context_object_name = "product"


# The shop's own routes (listing, cart, checkout...), the product page's replaced.
shop_patterns = (
    [
        *(pattern for pattern in urls.shop_patterns[0] if pattern.name != "product"),
        path("products/<slug:slug>/", ProductDetailView.as_view(), name="product"),
    ],
    "shop",
)

urlpatterns = [
    *(pattern for pattern in urls.urlpatterns if getattr(pattern, "app_name", None) != "shop"),
    path("", include(shop_patterns)),
]
