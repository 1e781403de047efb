"""URLs of the headless storefront API. Mount them under a prefix of their own::

    path("api/", include("stylestore.api.urls")),

    # For errors raised before any view runs, in the error shape under that prefix:
    handler400 = "stylestore.api.exceptions.bad_request"
    handler500 = "stylestore.api.exceptions.server_error"

Endpoints live under ``<prefix>v1/``; the OpenAPI schema is at ``<prefix>schema/``
and Swagger UI at ``<prefix>docs/``. The last pattern catches every other path under
the prefix and answers a JSON 404, which is why the prefix must not be empty.

Versioned endpoints are listed in ``v1_urlpatterns``: resources with the usual
list/detail routes are registered on ``router``, other paths appended to the list.
"""
from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from .analytics import AnalyticsView
from .personalization import personalization_urlpatterns
from .views import BatchViewSet, DocsView, JobViewSet, NotFoundView, SchemaView, SourceVariantsView, StyleViewSet

app_name = "stylestore_api"

router = SimpleRouter()
router.register("styles", StyleViewSet, basename="style")
router.register("jobs", JobViewSet, basename="job")
router.register("batches", BatchViewSet, basename="batch")

v1_urlpatterns = [
    path("sources/<str:reference>/variants/", SourceVariantsView.as_view(), name="source-variants"),
    *personalization_urlpatterns,
    path("analytics/", AnalyticsView.as_view(), name="analytics"),
    *router.urls,
]

urlpatterns = [
    re_path(r"^(?P<version>v[0-9]+)/", include(v1_urlpatterns)),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="stylestore_api:schema"), name="docs"),
    re_path(r"^", NotFoundView.as_view(), name="not-found"),
]
