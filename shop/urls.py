from django.contrib import admin
from django.urls import include, path

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
    path("", include(shop_patterns)),
]
