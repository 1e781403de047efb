"""``path("dashboard/stylestore/", include("stylestore.contrib.oscar.dashboard.urls"))``:
the views of ``StylestoreDashboardConfig``, each behind its permissions."""
from django.apps import apps

app_name = "stylestore_dashboard"
urlpatterns = apps.get_app_config("stylestore_dashboard").get_urls()
