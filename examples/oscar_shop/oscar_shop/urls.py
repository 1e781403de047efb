from django.apps import apps
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from .views import HomeView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("stylestore/", include("stylestore.personalization.urls")),
    path("api/", include("stylestore.api.urls")),
    # Stylestore's pages in Oscar's dashboard (styles, Apply style, progress, review).
    path("dashboard/stylestore/", include("stylestore.contrib.oscar.dashboard.urls")),
    path("", HomeView.as_view(), name="home"),
    path("", include(apps.get_app_config("oscar").urls[0])),
] + static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
