"""Who may reach what: every admin, API and shop route, for every kind of visitor.

Routes are enumerated from the URL resolver, so a route added later is covered
without touching this file, and it is covered **fail-closed**: any route (and method)
not listed below as public or staff-level is treated as permission-gated, and must
refuse anonymous visitors, logged-in customers and staff without permissions. A new
public route therefore fails here until it is listed, deliberately.

Checked for every route, method and role:

- no server error, ever (a refusal is a 3xx/4xx, never a 5xx);
- permission-gated routes refuse ``anonymous``, ``customer`` (logged in, not staff,
  but holding every Stylestore permission: permissions alone open nothing) and
  ``staff`` (staff without permissions);
- staff-level admin pages (index, own password, logout...) refuse the first two;
- staff holding the Stylestore permissions (``editor``) get through where they should;
- every state-changing request by a logged-in session user without a CSRF token is
  refused, except the visitor endpoints, which authenticate no session user (beacons
  cannot send a token; the SameSite=Lax visitor cookie protects them, see
  ``stylestore.api.personalization``).
"""
import re
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.views.generic import RedirectView
from rest_framework.authtoken.models import Token

from shop.models import Category, Product
from stylestore.models import Style, StyleEvent, StylizedImage, Visitor
from stylestore.variants.sources import sync_sources
from tests.conftest import make_image_bytes

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "customer", "staff", "editor", "superuser")
REFUSED_ROLES = ("anonymous", "customer", "staff")
EDITOR_PERMISSIONS = ("apply_style", "add_style", "change_style", "view_style", "change_stylizedimage",
                      "view_stylizedimage", "view_product", "change_product", "view_category")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")

#: Routes anyone may use, with the methods that are public (others fall back to gated).
PUBLIC = {
    "admin:login": {"GET", "POST"},
    # Read-only pages: a POST is answered like a GET (and a cross-site one is stopped by
    # the CSRF middleware, checked below).
    "shop:product_list": {"GET", "POST"},
    "shop:product": {"GET", "POST"},
    # The demo's cart and checkout: anyone may shop; an order's page opens only in the
    # session that placed it (a 404 elsewhere).
    "shop:cart_add": {"POST"},
    "shop:cart": {"GET", "POST"},
    "shop:place_order": {"POST"},
    "shop:order": {"GET", "POST"},
    "media": {"GET", "POST"},
    "stylestore_personalization:pick": {"GET", "POST"},
    "stylestore_api:style-list": {"GET"},
    "stylestore_api:style-detail": {"GET"},
    "stylestore_api:source-variants": {"GET"},
    "stylestore_api:source-personalized": {"GET"},
    "stylestore_api:source-more-in-this-style": {"GET"},
    "stylestore_api:visitor-events": {"POST"},
    "stylestore_api:visitor-erase": {"POST"},
    "stylestore_api:schema": {"GET"},
    "stylestore_api:docs": {"GET"},
    "stylestore_api:not-found": set(UNSAFE) | {"GET"},  # a JSON 404 for everyone
    # Django's language switch: it only sets the visitor's language cookie.
    "set_language": {"GET", "POST"},
}
#: Admin pages every active staff user may open, whatever their permissions.
STAFF_LEVEL = {"admin:index", "admin:logout", "admin:password_change", "admin:password_change_done",
               "admin:jsi18n", "admin:view_on_site"}
#: POSTs that authenticate no session user, so need no CSRF token (see the docstring);
#: the language switch is exempt so that its form sets no CSRF cookie on every page, and
#: a forged one can only change someone's language; so is the demo's "Add to cart" (on
#: every product page), where a forged one can only put a product in a cart.
NO_SESSION_AUTH = {"stylestore_api:visitor-events", "stylestore_api:visitor-erase", "set_language",
                   "shop:cart_add"}
#: Where redirect-only routes lead (default: into the admin).
REDIRECT_TARGETS = {"favicon.ico": "/static/"}
#: (route, method) the editor's permissions must open.
EDITOR_ALLOWED = {
    ("stylestore_api:job-list", "GET"), ("stylestore_api:job-list", "POST"), ("stylestore_api:job-detail", "GET"),
    ("stylestore_api:job-retry", "POST"), ("stylestore_api:job-approve", "POST"),
    ("stylestore_api:style-list", "POST"), ("stylestore_api:style-detail", "PATCH"),
    ("admin:stylestore_style_changelist", "GET"), ("admin:stylestore_style_change", "GET"),
    ("admin:stylestore_stylizedimage_changelist", "GET"), ("admin:shop_product_changelist", "GET"),
    ("admin:shop_product_stylize_progress", "GET"),
}


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name", or the pattern for unnamed routes
    template: str  # the full pattern, parameters still in it
    callback: object

    @property
    def is_api(self):
        return self.name.startswith("stylestore_api:")

    @property
    def is_admin(self):
        return self.template.startswith("admin/")


def _walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}".strip(":") if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            template = prefix + str(pattern.pattern)
            name = f"{namespace}:{pattern.name}".strip(":") if pattern.name else template
            yield Route(name, template, pattern.callback)


ROUTES = list(_walk(get_resolver().url_patterns))
PATH_PARAM = re.compile(r"<(?:[^>:]+:)?(?P<name>\w+)>")
REGEX_PARAM = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")


@pytest.fixture
def world(db):
    """One object of every kind the routes can point at, and a user per role."""
    category = Category.objects.create(name="Ceramics", slug="ceramics")
    product = Product(name="Vase", slug="vase", category=category, price="10.00")
    product.image.save("vase.jpg", ContentFile(make_image_bytes((96, 64))), save=True)
    style = Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})
    (source,) = sync_sources([product], "image")
    job = StylizedImage.objects.create(source=source, style=style, source_hash=source.content_hash,
                                       params_hash="0" * 32, strength=1, preserve_color=True, max_side=256,
                                       output_format="webp", engine="preset", status=StylizedImage.Status.FAILED)
    visitor = Visitor.objects.create(key="a" * 32)
    StyleEvent.objects.create(visitor=visitor, kind=StyleEvent.Kind.VIEW, style=style)
    Group.objects.create(name="Editors")
    users = {"superuser": User.objects.create_superuser("root", "root@example.com", "unused")}
    users["customer"] = User.objects.create_user("customer")
    users["customer"].user_permissions.add(*Permission.objects.filter(content_type__app_label="stylestore"))
    users["staff"] = User.objects.create_user("staff", is_staff=True)
    users["editor"] = User.objects.create_user("editor", is_staff=True)
    users["editor"].user_permissions.add(*Permission.objects.filter(codename__in=EDITOR_PERMISSIONS))
    Token.objects.create(user=users["editor"])
    return {"product": product, "style": style, "job": job, "users": users}


def url_for(route: Route, world) -> str:
    """A concrete URL for the route, its parameters filled with existing objects."""
    model_admin = getattr(route.callback, "model_admin", None)
    existing = model_admin.model._default_manager.order_by("pk").first() if model_admin else None
    values = {
        "version": "v1",
        "reference": f"shop.product:{world['product'].pk}",
        "slug": world["style"].slug if route.is_api else world["product"].slug,
        "pk": str(world["job"].pk),
        "object_id": str(existing.pk) if existing else str(world["product"].pk),
        "content_type_id": str(ContentType.objects.get_for_model(Product).pk),
        "id": str(world["users"]["customer"].pk),
        "app_label": "stylestore",
        "url": "no-such-page/",
        "path": world["product"].image.name,
    }
    path = REGEX_PARAM.sub(lambda m: values[m["name"]], route.template)
    path = PATH_PARAM.sub(lambda m: values[m["name"]], path)
    return "/" + path.replace("^", "").replace("$", "")


def methods(route):
    return ("GET", "POST", "PUT", "PATCH", "DELETE") if route.is_api else ("GET", "POST")


def is_redirect_only(route):
    return getattr(route.callback, "view_class", None) is RedirectView


def expectation(route, method):
    """"public", "staff" (any active staff user) or "gated" (staff with permissions)."""
    if method in PUBLIC.get(route.name, ()):
        return "public"
    if route.name in STAFF_LEVEL:
        return "staff"
    return "gated"


def refused(response) -> bool:
    if response.status_code in (401, 403, 404, 405):
        return True
    # The admin sends visitors without access to its login page (from logout: to its
    # index, which does the same).
    location = response.get("Location", "")
    return response.status_code == 302 and (location.startswith("/admin/login/") or location == "/admin/")


class Visitors:
    """One test client per role, logged in again whenever a request logged it out."""

    def __init__(self, world, **client_options):
        self.users = world["users"]
        self.clients = {role: Client(**client_options) for role in ROLES}

    def request(self, role, method, url, **extra):
        client = self.clients[role]
        if role != "anonymous" and "_auth_user_id" not in client.session:
            client.force_login(self.users[role])
        return client.generic(method, url, **extra)


@pytest.fixture(autouse=True)
def fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


def test_every_route_is_enumerated():
    names = {route.name for route in ROUTES}
    assert {"admin:index", "stylestore_api:job-list", "stylestore_api:visitor-events", "media"} <= names
    assert len(ROUTES) > 100


def test_route_access(world):
    """One pass over every route, method and role (one test: the world is built once)."""
    visitors = Visitors(world)
    failures = []
    for route in ROUTES:
        url = url_for(route, world)
        for method in methods(route):
            expected = expectation(route, method)
            for role in ROLES:
                response = visitors.request(role, method, url)
                status = response.status_code
                if status >= 500:
                    failures.append(f"{route.name}: {method} {url} as {role}: {status}")
                elif is_redirect_only(route):
                    target = REDIRECT_TARGETS.get(route.name, "/admin/")
                    if status not in (301, 302) or not response["Location"].startswith(target):
                        failures.append(f"{route.name}: {method} {url} as {role}: {status}, expected a redirect "
                                        f"to {target}")
                elif role in REFUSED_ROLES and not refused(response):
                    if expected == "gated" or (expected == "staff" and role != "staff"):
                        failures.append(f"{route.name}: {method} {url} as {role}: {status}, expected a refusal")
                elif role == "editor" and (route.name, method) in EDITOR_ALLOWED and status in (401, 403):
                    failures.append(f"{route.name}: {method} {url} as editor: {status}, expected access")
    assert not failures, "\n".join(failures)


def test_state_changes_need_a_csrf_token(world):
    """A logged-in browser session cannot be made to change anything by another site:
    every state-changing request the superuser's session would otherwise get served is
    refused without a CSRF token."""
    trusting, checking = Visitors(world), Visitors(world, enforce_csrf_checks=True)
    failures = []
    for route in ROUTES:
        if is_redirect_only(route) or route.name in NO_SESSION_AUTH:
            continue
        url = url_for(route, world)
        for method in (m for m in methods(route) if m in UNSAFE):
            if trusting.request("superuser", method, url).status_code in (404, 405):
                continue  # not served to anyone: nothing to forge
            response = checking.request("superuser", method, url)
            body = response.content.decode(errors="replace")
            if response.status_code != 403 or "CSRF" not in body:
                failures.append(f"{route.name}: {method} {url} without a CSRF token: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_visitor_endpoints_ignore_the_session_user(world):
    """Without CSRF checks they must not act as the logged-in user: an erase by a
    forged cross-site POST reaches only the (SameSite=Lax, so absent) visitor cookie."""
    visitors = Visitors(world, enforce_csrf_checks=True)
    response = visitors.request("superuser", "POST", "/api/v1/visitor/erase/")
    assert response.status_code == 200
    assert response.json() == {"visitors": 0, "events": 0}
    assert Visitor.objects.count() == 1 and StyleEvent.objects.count() == 1
