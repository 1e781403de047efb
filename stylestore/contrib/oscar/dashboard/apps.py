from django.urls import path
from django.utils.translation import gettext_lazy as _
from oscar.core.application import OscarDashboardConfig

from .permissions import PERMISSIONS


class StylestoreDashboardConfig(OscarDashboardConfig):
    # The one to use for "stylestore.contrib.oscar.dashboard", not the imported base.
    default = True
    name = "stylestore.contrib.oscar.dashboard"
    label = "stylestore_dashboard"
    verbose_name = _("Stylestore dashboard")
    namespace = "stylestore_dashboard"
    permissions_map = PERMISSIONS
    default_permissions = ["is_staff"]

    def get_urls(self):
        from . import views

        return self.post_process_urls([
            path("styles/", views.StyleListView.as_view(), name="stylestore-styles"),
            path("apply/", views.ApplyStyleView.as_view(), name="stylestore-apply"),
            path("progress/", views.ProgressView.as_view(), name="stylestore-progress"),
            path("review/", views.ReviewQueueView.as_view(), name="stylestore-review"),
            path("review/<int:pk>/", views.ReviewDecisionView.as_view(), name="stylestore-review-decision"),
            path("analytics/", views.AnalyticsView.as_view(), name="stylestore-analytics"),
        ])
