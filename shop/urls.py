from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView
from django.views.i18n import set_language

from . import views

shop_patterns = (
    [
        path("", views.product_list, name="product_list"),
        path("products/<slug:slug>/", views.product_detail, name="product"),
        path("products/<slug:slug>/add-to-cart/", views.cart_add, name="cart_add"),
        path("cart/", views.cart_detail, name="cart"),
        path("cart/order/", views.place_order, name="place_order"),
        path("orders/<int:pk>/", views.order_detail, name="order"),
    ],
    "shop",
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("media/<path:path>", views.media, name="media"),
    path("api/", include("stylestore.api.urls")),
    path("stylestore/", include("stylestore.personalization.urls")),
    # The header's language switcher posts here. Without a CSRF token: the token would
    # set a cookie on every page, which pages that write nothing must not; and a forged
    # post could only change the language of a shop anyone may browse in any language.
    path("i18n/setlang/", csrf_exempt(set_language), name="set_language"),
    # Browsers ask for /favicon.ico on pages that link no icon (the admin's, the API's).
    path("favicon.ico", RedirectView.as_view(url=static("shop/favicon.svg"), permanent=True)),
    path("", include(shop_patterns)),
]

# Errors raised before a view runs: JSON in the API's error shape under /api/,
# Django's default pages elsewhere.
handler400 = "stylestore.api.exceptions.bad_request"
handler500 = "stylestore.api.exceptions.server_error"
