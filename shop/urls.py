from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from . import views

shop_patterns = (
    [
        path("", views.product_list, name="product_list"),
        path("products/<slug:slug>/", views.product_detail, name="product"),
    ],
    "shop",
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("media/<path:path>", views.media, name="media"),
    path("api/", include("stylestore.api.urls")),
    path("stylestore/", include("stylestore.personalization.urls")),
    # The language switcher posts to Django's set_language view.
    path("i18n/", include("django.conf.urls.i18n")),
    # Browsers ask for /favicon.ico on pages that link no icon (the admin's, the API's).
    path("favicon.ico", RedirectView.as_view(url=static("shop/favicon.svg"), permanent=True)),
    path("", include(shop_patterns)),
]

# Errors raised before a view runs: JSON in the API's error shape under /api/,
# Django's default pages elsewhere.
handler400 = "stylestore.api.exceptions.bad_request"
handler500 = "stylestore.api.exceptions.server_error"
