"""System checks for Stylestore inside Oscar's dashboard: a menu entry whose page is
missing takes the whole dashboard down, so ``manage.py check`` says what to add first."""
from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.urls import NoReverseMatch, reverse

from .navigation import DASHBOARD_APP, access_fn

DASHBOARD_NAME = "stylestore.contrib.oscar.dashboard"
URLS = 'path("dashboard/stylestore/", include("stylestore.contrib.oscar.dashboard.urls"))'
#: Oscar's app whose templates (product list, product page) the dashboard app overrides.
OSCAR_CATALOGUE_DASHBOARD = "catalogue_dashboard"


def _entries(items):
    for item in items:
        yield item
        yield from _entries(item.get("children", []))


@register(Tags.urls)
def check_dashboard(app_configs, **kwargs):
    navigation = [item for item in _entries(getattr(settings, "OSCAR_DASHBOARD_NAVIGATION", []))
                  if item.get("access_fn") is access_fn]
    if not apps.is_installed(DASHBOARD_NAME):
        if navigation:
            return [Error("OSCAR_DASHBOARD_NAVIGATION has Stylestore's pages, but their app is not installed: "
                          "the dashboard fails on every page.",
                          hint=f"Add '{DASHBOARD_NAME}' to INSTALLED_APPS, before Oscar's apps.",
                          id="stylestore.E060")]
        return []
    problems = []
    try:
        reverse(f"{DASHBOARD_APP}:stylestore-styles")
    except NoReverseMatch:
        problems.append(Error("Stylestore's dashboard pages have no URL: the dashboard's Stylestore menu and "
                              "\"Apply style…\" fail.", hint=f"Add {URLS} to your root URLconf.",
                              id="stylestore.E061"))
    order = [config.label for config in apps.get_app_configs()]
    if OSCAR_CATALOGUE_DASHBOARD in order and order.index(DASHBOARD_APP) > order.index(OSCAR_CATALOGUE_DASHBOARD):
        problems.append(Warning("'stylestore.contrib.oscar.dashboard' comes after Oscar's dashboard apps, so "
                                "Oscar's product list and product page show no \"Apply style…\".",
                                hint="Move it before Oscar's apps in INSTALLED_APPS.", id="stylestore.W062"))
    return problems
