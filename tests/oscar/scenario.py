"""The django-oscar example shop at work, run in its own process (its settings are
not the demo's): ``python scenario.py`` prints one JSON object of observations that
tests/oscar/test_oscar_shop.py asserts on. Needs OSCAR_SHOP_VAR (a fresh folder)."""
import json
import re

from example_shop import photo  # first: it sets Django up
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from oscar.core.loading import get_model

from stylestore import tasks
from stylestore.models import SourceImage, Style, StylizedImage
from stylestore.personalization import refits
from stylestore.storage import variant_storage
from tests.variants import ready_variant

Product, ProductClass, ProductImage = (get_model("catalogue", name) for name in ("Product", "ProductClass",
                                                                                  "ProductImage"))
IMG = re.compile(r"<img [^>]*>")
REF = re.compile(r'data-stylestore-ref="([^"]+)"')
#: The style of each shown variant, from its file name (``make_variants``'s).
GALLERY_LOOK = re.compile(r'<source type="image/webp" srcset="[^" ]*stylestore/[0-9a-f]{8}/(\d+)/')


def unit(i):
    return [1.0 if j == i else 0.15 for j in range(8)]


def make_product(kind, i, *, public=True, images=1):
    product = Product.objects.create(product_class=kind, title=f"Vase {i}", is_public=public)
    for n in range(images):
        ProductImage.objects.create(product=product, original=photo(i * 10 + n), display_order=n)
    return product


def make_variants(styles):
    """A ready, approved variant of every photo in every style (files of a few bytes:
    pages only read what is ready), and the photos' embeddings."""
    for source in SourceImage.objects.filter(variants__isnull=True):
        SourceImage.objects.filter(pk=source.pk).update(embedding=unit(int(source.object_id) % 3))
        for style in styles:
            ready_variant(source, style)


def listing(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    html = response.content.decode()
    ours = [q["sql"] for q in queries.captured_queries if "stylestore_" in q["sql"]]
    return {"status": response.status_code, "refs": REF.findall(html), "queries": len(queries.captured_queries),
            "stylestore_queries": len(ours), "placeholder": "image_not_found" in html}


def main():
    refits.MIN_REFIT_SECONDS = 3600  # refits once a minute, as tests/conftest.py holds them: the pages' queries are counted
    call_command("migrate", verbosity=0)
    kind = ProductClass.objects.create(name="Vases", requires_shipping=False, track_stock=False)
    styles = [Style.objects.create(name=f"Look {i}", slug=f"look-{i}", kind=Style.Kind.PRESET,
                                   preset_weights={str(i): 1}, style_vector=unit(i)) for i in range(3)]
    public = [make_product(kind, i, images=2 if i == 1 else 1) for i in range(1, 3)]
    bare = Product.objects.create(product_class=kind, title="No photo", is_public=True)
    hidden = make_product(kind, 9, public=False)
    make_variants(styles)
    out = {}
    client = Client()
    client.get("/")  # the visitor cookie, and per-process caches warm
    out["listing_small"] = listing(client)
    more = [make_product(kind, i) for i in range(3, 7)]
    make_variants(styles)
    out["listing_large_first"] = listing(client)  # new images: their categories are read once
    out["listing_large"] = listing(client)
    out["products"] = {"public": [p.pk for p in public + more], "bare": bare.pk, "hidden": hidden.pk}
    out["images"] = {str(p.pk): [i.pk for i in p.images.all()] for p in public + more + [hidden]}

    bare_page = client.get(bare.get_absolute_url())
    out["bare_page"] = {"status": bare_page.status_code, "placeholder": "image_not_found" in bare_page.content.decode()}

    first = public[0]
    visitor = Client()
    pages = [visitor.get(first.get_absolute_url()).content.decode() for _ in range(3)]
    out["detail"] = {
        "shown": [re.search(r'<source type="image/webp" srcset="([^" ]+)', page)[1] for page in pages],
        "picker": 'data-stylestore-picker' in pages[0] and "/static/stylestore/picker.css" in pages[0],
        "beacon": re.findall(r'data-stylestore-view="([^"]+)"', pages[0]),
        "more": REF.findall(pages[0][pages[0].find("stylestore-more-in-this-style"):])
        if "stylestore-more-in-this-style" in pages[0] else [],
    }

    # New visitors, as a browser does it: the page, then its beacon reports the view;
    # the refresh must show the look the first load showed.
    kept = []
    for _ in range(6):
        browser = Client()
        page = browser.get(first.get_absolute_url()).content.decode()
        view = re.search(r'data-stylestore-view="([^"]+)" data-stylestore-view-field="([^"]+)"', page)
        posted = browser.post("/api/v1/visitor/events/", json.dumps([{"kind": "view", "source": view[1],
                                                                      "field": view[2]}]),
                              content_type="application/json")
        again = browser.get(first.get_absolute_url()).content.decode()
        shown = [re.search(r'<source type="image/webp" srcset="([^" ]+)', html)[1] for html in (page, again)]
        kept.append({"status": posted.status_code, "same": shown[0] == shown[1]})
    out["refresh"] = kept

    # A per-product pick (PICK_SCOPE "product") made on the picker, which names the
    # primary image, shows every image of the product's gallery in the picked look.
    def gallery(html):
        return html[html.find('id="product_gallery"'):html.find("data-stylestore-picker")]

    def gallery_looks(html):
        return [int(pk) for pk in GALLERY_LOOK.findall(gallery(html))]

    with override_settings(STYLESTORE={**settings.STYLESTORE, "PICK_SCOPE": "product"}):
        picker = Client()
        html = picker.get(first.get_absolute_url()).content.decode()
        before = gallery_looks(html)
        # What the storefront script reads to refresh the gallery after a pick.
        marks = {"products": re.findall(r'<img [^>]*data-stylestore-product="([^"]+)"', gallery(html)),
                 "picker": re.findall(r'data-stylestore-scope="(\w+)"|name="source" value="[^"]+" '
                                      r'data-stylestore-product="([^"]+)"', html)}
        picked = next(style for style in styles if style.pk != before[-1])  # not what the last image shows
        posted = picker.post("/api/v1/visitor/events/", json.dumps([{
            "kind": "pick", "style": picked.slug, "source": f"catalogue.productimage:{first.primary_image().pk}"}]),
            content_type="application/json")
        after = gallery_looks(picker.get(first.get_absolute_url()).content.decode())
    out["gallery_pick"] = {"status": posted.status_code, "images": first.images.count(), "before": before,
                           "after": after, "picked": picked.pk, "marks": marks, "product": first.pk}

    hidden_image = hidden.images.get()
    api = {}
    for name, ref in (("hidden_image", f"catalogue.productimage:{hidden_image.pk}"),
                      ("public_image", f"catalogue.productimage:{first.images.first().pk}")):
        for suffix in ("variants", "personalized", "more-in-this-style"):
            api[f"{name} {suffix}"] = client.get(f"/api/v1/sources/{ref}/{suffix}/").status_code
    for name, product in (("hidden_product", hidden), ("public_product", first)):
        api[f"{name} variants"] = client.get(f"/api/v1/sources/catalogue.product:{product.pk}/variants/").status_code
    api["product personalized"] = client.get(f"/api/v1/sources/catalogue.product:{first.pk}/personalized/").json()[
        "source"]
    body = client.get(f"/api/v1/sources/catalogue.productimage:{first.images.first().pk}/more-in-this-style/",
                      {"limit": 24}).json()
    api["more"] = [result["source"] for result in body["results"]]
    out["api"] = api
    out["hidden_detail"] = client.get(hidden.get_absolute_url()).status_code

    staff = User.objects.create_user("staff", "staff@example.com", "pw", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=[
        "view_style", "view_stylizedimage", "view_styleevent"]), Permission.objects.get(codename="dashboard_access"))
    plain = User.objects.create_user("plain", "plain@example.com", "pw", is_staff=True)
    plain.user_permissions.add(Permission.objects.get(codename="dashboard_access"))
    dashboard = {}
    for user in (staff, plain):
        browser = Client()
        browser.force_login(user)
        response = browser.get("/dashboard/")
        html = response.content.decode()
        dashboard[user.username] = {"status": response.status_code,
                                    "styles_link": "/dashboard/stylestore/styles/" in html,
                                    "analytics_link": "/dashboard/stylestore/analytics/" in html}
    out["dashboard"] = dashboard

    editor = User.objects.create_user("editor", "editor@example.com", "pw", is_staff=True)
    editor.user_permissions.add(*Permission.objects.filter(codename__in=[
        "apply_style", "view_product", "view_productimage", "dashboard_access"]))
    browser = Client()
    browser.force_login(editor)
    menu = browser.get("/dashboard/").content.decode()
    before = StylizedImage.objects.count()
    changelist = "/admin/catalogue/product/"
    listing_page = browser.get(changelist)
    response = browser.post(changelist, {
        "action": "apply_style", "select_across": "0", "_selected_action": [first.pk, bare.pk],
        "_stylestore_confirm": "1", "styles": [styles[0].pk], "strength": "", "preserve_color": "",
        "engine": "", "size": "256", "output_format": "webp", "region": "all"})
    out["apply_style"] = {
        "menu_link": "Apply styles to products" in menu, "changelist": listing_page.status_code,
        "progress_column": "data-stylestore-progress" in listing_page.content.decode(),
        "status": response.status_code, "new_jobs": StylizedImage.objects.count() - before,
        "images_of_first": first.images.count(),
    }
    # What a worker does with the queued task, here in-process with the real engine.
    queued = list(StylizedImage.objects.filter(status=StylizedImage.Status.PENDING).values_list("pk", flat=True))
    tasks.render_variants(queued)
    rendered = StylizedImage.objects.filter(pk__in=queued, status=StylizedImage.Status.READY)
    out["apply_style"]["rendered"] = sum(variant_storage().exists(row.file.name) for row in rendered)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
