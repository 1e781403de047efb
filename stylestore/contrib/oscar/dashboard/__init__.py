"""Stylestore inside Oscar's dashboard: styles, "Apply style" on the dashboard's product
list and product page, live progress and the review queue, in Oscar's own layout and
under Oscar's dashboard permission model (``apps.StylestoreDashboardConfig``).

Install it beside ``stylestore.contrib.oscar``, both before Oscar's apps (it overrides
Oscar's product list and product page to add "Apply style…")::

    INSTALLED_APPS = [..., "stylestore.contrib.oscar", "stylestore.contrib.oscar.dashboard",
                      "oscar.config.Shop", ...]

and include its URLs under the dashboard::

    path("dashboard/stylestore/", include("stylestore.contrib.oscar.dashboard.urls")),

``stylestore.contrib.oscar.navigation.DASHBOARD_NAVIGATION`` puts the pages in the menu.
"""
