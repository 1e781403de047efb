"""Stylestore's pages in Oscar's dashboard (``stylestore.contrib.oscar.dashboard``), in
the example shop's settings and a process of its own like scenario.py: ``python
dashboard_scenario.py`` prints one JSON object of observations that
tests/oscar/test_dashboard.py asserts on. Needs OSCAR_SHOP_VAR (a fresh folder)."""
import json
import re
import sys
import types
from unittest import mock

from example_shop import photo  # first: it sets Django up
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from oscar.core.loading import get_model

from stylestore.contrib.oscar import checks
from stylestore.models import Batch, SourceImage, Style, StylizedImage
from tests.variants import ready_variant

Product, ProductClass, ProductImage = (get_model("catalogue", name) for name in ("Product", "ProductClass",
                                                                                  "ProductImage"))
BASE = "/dashboard/stylestore"
PAGES = {"styles": f"{BASE}/styles/", "progress": f"{BASE}/progress/", "review": f"{BASE}/review/",
         "analytics": f"{BASE}/analytics/"}


def user(name, *codenames):
    account = User.objects.create_user(name, f"{name}@example.com", "pw", is_staff=True)
    account.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(account)
    return client


def reviewed_variant(source, style, review):
    """A rendered variant whose quality-gate metrics agree with its review: a held one
    failed the gate on colour."""
    held = review == StylizedImage.Review.HELD
    metrics = {"gate": {"passed": not held, "reasons": ["product colour changed (ΔE 9.0, at most 3.0)"] if held else []},
               "product_delta_e": 9.0 if held else 1.2}
    return ready_variant(source, style, review=review, metrics=metrics)


def messages_of(html):
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip()
            for text in re.findall(r'<div class="alertinner[^"]*">(.*?)</div>', html, re.S)]


def main():
    call_command("migrate", verbosity=0)
    kind = ProductClass.objects.create(name="Vases", requires_shipping=False, track_stock=False)
    styles = [Style.objects.create(name=f"Look {i}", slug=f"look-{i}", kind=Style.Kind.PRESET,
                                   preset_weights={str(i): 1}) for i in range(2)]
    products = []
    for i, title in enumerate(["Blue vase", "Blue jug", "Red bowl"]):
        product = Product.objects.create(product_class=kind, title=title, is_public=True)
        ProductImage.objects.create(product=product, original=photo(i), display_order=0)
        products.append(product)
    bare = Product.objects.create(product_class=kind, title="No photo", is_public=True)
    out = {"products": {p.title: p.pk for p in products + [bare]}}

    anonymous = Client()
    clients = {
        "anonymous": anonymous,
        "plain": user("plain", "dashboard_access"),
        "viewer": user("viewer", "view_style", "view_stylizedimage", "view_product", "view_styleevent"),
        "editor": user("editor", "view_style", "view_stylizedimage", "view_product", "view_styleevent", "add_product",
                       "change_product", "apply_style", "change_stylizedimage"),
    }
    out["access"] = {name: {page: client.get(url).status_code for page, url in PAGES.items()}
                     for name, client in clients.items()}
    out["access"]["anonymous_redirect"] = anonymous.get(PAGES["styles"])["Location"]
    out["apply_access"] = {name: client.get(f"{BASE}/apply/", {"selected_product": products[0].pk}).status_code
                           for name, client in clients.items()}
    menus = {name: clients[name].get("/dashboard/").content.decode() for name in ("plain", "viewer", "editor")}
    out["menu"] = {name: sorted(set(re.findall(r'href="(/dashboard/stylestore/[^"]*|/dashboard/catalogue/|'
                                               r'/admin/stylestore/[^"]*)"', html)))
                   for name, html in menus.items()}

    editor, viewer = clients["editor"], clients["viewer"]
    styles_page = editor.get(PAGES["styles"]).content.decode()
    out["styles_page"] = {"names": [s.name for s in styles if s.name in styles_page],
                          "edit_links": styles_page.count("/admin/stylestore/style/"),
                          "layout": "oscar/css/dashboard.css" in styles_page}

    analytics = viewer.get(PAGES["analytics"], {"days": "7"}).content.decode()
    out["analytics_page"] = {"report": "Styled images against the original photos" in analytics,
                             "window": '<strong aria-current="page">last 7 days</strong>' in analytics,
                             "layout": "oscar/css/dashboard.css" in analytics,
                             "categories": "Product categories" in analytics}
    csv_query = {"table": "styles", "format": "csv"}
    out["analytics_csv"] = {name: [response.status_code, response.get("Content-Type", "")[:8]] for name, response in
                            (("viewer", viewer.get(PAGES["analytics"], csv_query)),
                             ("plain", clients["plain"].get(PAGES["analytics"], csv_query)))}

    listing = editor.get("/dashboard/catalogue/").content.decode()
    out["product_list"] = {"apply_button": 'formaction="/dashboard/stylestore/apply/"' in listing,
                           "viewer_sees_it": 'formaction="/dashboard/stylestore/apply/"' in viewer.get(
                               "/dashboard/catalogue/").content.decode()}
    product_page = editor.get(f"/dashboard/catalogue/products/{products[0].pk}/")
    out["product_page"] = [product_page.status_code, f"/dashboard/stylestore/apply/?selected_product={products[0].pk}"
                           in product_page.content.decode()]

    # From the product list: its form, the checked products, posted to the Apply page.
    chosen = [products[0].pk, products[1].pk, bare.pk]
    opened = editor.post(f"{BASE}/apply/", {"selected_product": chosen})
    html = opened.content.decode()
    out["apply_page"] = {"status": opened.status_code, "titles": [p.title for p in products + [bare] if p.title in html],
                         "form": 'name="styles"' in html and "Queue images" in html,
                         "without_image": "1 of them has no image" in html}
    form = {"selected_product": chosen, "_stylestore_confirm": "1", "styles": [s.pk for s in styles],
            "size": "256", "output_format": "webp"}
    before = StylizedImage.objects.count()
    recount = editor.post(f"{BASE}/apply/", {**form, "_stylestore_recount": "1"}).content.decode()
    out["recount"] = {"new": re.search(r'stylestore-counts-new"><strong>(\d+)</strong>', recount)[1],
                      "estimate": "stylestore-counts-estimate" in recount,
                      "rows_added": StylizedImage.objects.count() - before}
    invalid = editor.post(f"{BASE}/apply/", {**form, "styles": [], "size": "7"})
    out["invalid"] = {"status": invalid.status_code, "rows_added": StylizedImage.objects.count() - before,
                      "errors": re.findall(r"Choose at least one style\.|Select a valid choice", invalid.content.decode()),
                      "kept_selection": invalid.content.decode().count('name="selected_product"')}
    queued = editor.post(f"{BASE}/apply/", form, follow=True)
    batch = Batch.objects.order_by("-pk").first()
    page = queued.content.decode()
    out["queued"] = {
        "redirects": [url for url, _status in queued.redirect_chain],
        "rows_added": StylizedImage.objects.count() - before,
        "pending": StylizedImage.objects.filter(status=StylizedImage.Status.PENDING).count(),
        "batch": {"variants": batch.variants.count(), "by": batch.created_by.username} if batch else None,
        "messages": messages_of(page),
        "progress_cells": re.findall(r'data-stylestore-progress="(\d+)" data-pending="(\d+)"', page),
    }
    out["viewer_apply_post"] = viewer.post(f"{BASE}/apply/", form).status_code
    out["bad_selection"] = [editor.post(f"{BASE}/apply/", {"selected_product": ["x1"]}).status_code,
                            messages_of(editor.get("/dashboard/").content.decode())]

    # "Select all" on a searched list: every product the search finds, nothing else.
    before = StylizedImage.objects.count()
    editor.post(f"{BASE}/apply/?title=Red", {**form, "selected_product": [], "select_across": "1"})
    out["select_across"] = sorted({variant.source.source.product.title for variant in
                                   StylizedImage.objects.filter(pk__gt=StylizedImage.objects.order_by("pk")[before - 1].pk
                                                                if before else 0).prefetch_related("source__source")})

    progress = editor.get(PAGES["progress"]).content.decode()
    one = editor.get(PAGES["progress"], {"product": products[1].pk}).content.decode()
    out["progress"] = {"all": re.findall(r'data-stylestore-progress="(\d+)"', progress),
                       "one": re.findall(r'data-stylestore-progress="(\d+)"', one),
                       "label": re.findall(r'data-url="[^"]+">([^<]+)<', one),
                       "script": "stylestore/admin/progress.js" in one}

    # The review queue: rendered variants nobody reviewed, and those the gate held.
    StylizedImage.objects.all().delete()
    sources = {SourceImage.objects.get(object_id=str(p.images.get().pk)).pk: p for p in products}
    first, second = (SourceImage.objects.get(pk=pk) for pk in list(sources)[:2])
    unreviewed = reviewed_variant(first, styles[0], StylizedImage.Review.UNREVIEWED)
    held = reviewed_variant(second, styles[0], StylizedImage.Review.HELD)
    approved = reviewed_variant(first, styles[1], StylizedImage.Review.APPROVED)
    queue = editor.get(PAGES["review"]).content.decode()
    held_only = editor.get(PAGES["review"], {"held": "1"}).content.decode()
    listed = lambda html: sorted(int(pk) for pk in re.findall(r'<tr id="variant-(\d+)"', html))  # noqa: E731
    out["review"] = {
        "ids": {"unreviewed": unreviewed.pk, "held": held.pk, "approved": approved.pk},
        "queue": listed(queue), "held_only": listed(held_only),
        "before_after": [first.get_field_file().url in queue, unreviewed.file.url in queue],
        "gate_reason": "product colour changed" in queue,
        "buttons": queue.count('name="decision" value="approve"'),
        "viewer_buttons": viewer.get(PAGES["review"]).content.decode().count('name="decision"'),
    }
    decide = f"{BASE}/review/%d/"
    out["decisions"] = {
        "viewer_post": viewer.post(decide % held.pk, {"decision": "approve"}).status_code,
        "held_after_viewer": StylizedImage.objects.get(pk=held.pk).review,
        "get": editor.get(decide % held.pk).status_code,
    }
    approve = editor.post(decide % held.pk, {"decision": "approve", "next": f"{PAGES['review']}?held=1"}, follow=True)
    reject = editor.post(decide % unreviewed.pk, {"decision": "reject"}, follow=True)
    nonsense = editor.post(decide % unreviewed.pk, {"decision": "publish"}, follow=True)
    out["decisions"].update({
        "approve": [approve.redirect_chain[-1][0], StylizedImage.objects.get(pk=held.pk).review,
                    messages_of(approve.content.decode())],
        "reject": [reject.redirect_chain[-1][0], StylizedImage.objects.get(pk=unreviewed.pk).review,
                   messages_of(reject.content.decode())],
        "nonsense": [StylizedImage.objects.get(pk=unreviewed.pk).review, messages_of(nonsense.content.decode())],
        "offsite_next": editor.post(decide % held.pk, {"decision": "approve", "next": "https://example.com/"})["Location"],
        "missing": editor.post(decide % 999999, {"decision": "approve"}).status_code,
        "queue_after": listed(editor.get(PAGES["review"]).content.decode()),
    })
    # What a page of the queue costs: the same queries for one row as for three.
    third = SourceImage.objects.get(pk=list(sources)[2])
    reviewed_variant(second, styles[1], StylizedImage.Review.UNREVIEWED)
    queries = []
    for more in ([], [(third, styles[0]), (third, styles[1])]):
        for source, style in more:
            reviewed_variant(source, style, StylizedImage.Review.UNREVIEWED)
        with CaptureQueriesContext(connection) as captured:
            page = editor.get(PAGES["review"]).content.decode()
        queries.append([len(listed(page)), len(captured)])
    out["review_queries"] = queries
    out["checks"] = check_ids()
    print(json.dumps(out))


def check_ids():
    """``manage.py check`` on the example as it is, without the dashboard app, without its URLs."""
    found = {"installed": [problem.id for problem in checks.check_dashboard(None)]}
    with mock.patch.object(checks.apps, "is_installed", lambda name: name != checks.DASHBOARD_NAME):
        found["app_missing"] = [problem.id for problem in checks.check_dashboard(None)]
    sys.modules["no_dashboard_urls"] = types.ModuleType("no_dashboard_urls")
    sys.modules["no_dashboard_urls"].urlpatterns = []
    with override_settings(ROOT_URLCONF="no_dashboard_urls"):
        found["urls_missing"] = [problem.id for problem in checks.check_dashboard(None)]
    return found


if __name__ == "__main__":
    main()
