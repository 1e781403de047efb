"""Stylestore's pages in Oscar's dashboard menu. Importable from settings (no models)::

    from stylestore.contrib.oscar.navigation import DASHBOARD_NAVIGATION
    OSCAR_DASHBOARD_NAVIGATION = [*OSCAR_DASHBOARD_NAVIGATION, *DASHBOARD_NAVIGATION]

The entries lead to the dashboard's Stylestore pages (``stylestore.contrib.oscar.dashboard``),
and to Oscar's product list (where "Apply style…" is).
Each carries an ``access_fn`` asking for what its page asks for: without one, Oscar
looks the URL up among its own dashboard views only, and a URL outside them takes the
whole dashboard down (``KeyError``).
"""
from django.utils.translation import gettext_lazy as _

DASHBOARD_APP = "stylestore_dashboard"
#: Menu entries whose page is not one of the dashboard app's views: the dashboard
#: view whose permissions they take.
OTHER_PAGES = {
    "dashboard:catalogue-product-list": "stylestore-apply",
}


def access_fn(user, url_name, url_args=None, url_kwargs=None):
    # Imported here: settings import this module before apps are ready.
    from django.apps import apps
    from oscar.views.decorators import check_permissions

    dashboard = apps.get_app_config(DASHBOARD_APP)
    return check_permissions(user, dashboard.get_permissions(OTHER_PAGES.get(url_name, url_name)))


def _entry(label, url_name):
    return {"label": label, "url_name": url_name, "access_fn": access_fn}


DASHBOARD_NAVIGATION = [
    {
        "label": _("Styles"),
        "icon": "fas fa-palette",
        "children": [
            _entry(_("Styles"), f"{DASHBOARD_APP}:stylestore-styles"),
            _entry(_("Apply styles to products"), "dashboard:catalogue-product-list"),
            _entry(_("Progress"), f"{DASHBOARD_APP}:stylestore-progress"),
            _entry(_("Review queue"), f"{DASHBOARD_APP}:stylestore-review"),
            _entry(_("Analytics"), f"{DASHBOARD_APP}:stylestore-analytics"),
        ],
    },
]
