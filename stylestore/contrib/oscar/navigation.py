"""Stylestore's pages in Oscar's dashboard menu. Importable from settings (no models)::

    from stylestore.contrib.oscar.navigation import DASHBOARD_NAVIGATION
    OSCAR_DASHBOARD_NAVIGATION = [*OSCAR_DASHBOARD_NAVIGATION, *DASHBOARD_NAVIGATION]

The entries link to Stylestore's admin pages. Each carries an ``access_fn``: without
one, Oscar looks the URL up among its own dashboard views, and an admin URL takes the
whole dashboard down (``KeyError``).
"""
from django.utils.translation import gettext_lazy as _

#: The permission each entry needs (besides staff status).
PERMISSIONS = {
    "admin:catalogue_product_changelist": "stylestore.apply_style",
    "admin:stylestore_style_changelist": "stylestore.view_style",
    "admin:stylestore_stylizedimage_changelist": "stylestore.view_stylizedimage",
    "admin:stylestore_styleevent_analytics": "stylestore.view_styleevent",
}


def access_fn(user, url_name, url_args=None, url_kwargs=None):
    return bool(user.is_staff and user.has_perm(PERMISSIONS[url_name]))


DASHBOARD_NAVIGATION = [
    {
        "label": _("Styles"),
        "icon": "fas fa-palette",
        "children": [
            {"label": _("Apply styles to products"), "url_name": "admin:catalogue_product_changelist",
             "access_fn": access_fn},
            {"label": _("Styles"), "url_name": "admin:stylestore_style_changelist", "access_fn": access_fn},
            {"label": _("Styled images (review)"), "url_name": "admin:stylestore_stylizedimage_changelist",
             "access_fn": access_fn},
            {"label": _("Analytics"), "url_name": "admin:stylestore_styleevent_analytics", "access_fn": access_fn},
        ],
    },
]
