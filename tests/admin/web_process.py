"""A web process's life in the admin, run alone by ``test_web_process.py``.

Run as ``python -m tests.admin.web_process`` with ``SHOP_VAR_DIR`` pointing at an empty
directory (its own SQLite database, cache and media). It imports every module a web
process imports, builds a small catalogue, requests every admin page (each
changelist, add, change, history and delete page, the custom views, the "Apply
style" action and the Style form submitted with an upload), then prints a JSON report:
the pages that answered an error (a 403 for a page the admin refuses to everyone, such
as adding an event, is an answer), whether ``torch`` was imported, and the process's
peak RSS.
"""
import importlib
import io
import json
import sys

import django

WEB_MODULES = [
    "stylestore.admin", "stylestore.api.urls", "stylestore.api.views", "shop.urls",
    "stylestore.templatetags.stylestore", "stylestore.forms", "stylestore.admin.views",
    "stylestore.personalization.urls",
]


def image_upload(name, color):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    data = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(data, "JPEG")
    return SimpleUploadedFile(name, data.getvalue(), content_type="image/jpeg")


def build_catalogue():
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from shop.models import Category, Product
    from stylestore.models import Style, StyleEvent, StylizedImage, Visitor
    from stylestore.variants import requests
    from stylestore.variants.sources import sync_sources

    call_command("migrate", verbosity=0)
    User.objects.create_superuser("admin", "admin@example.com", "unused")
    category = Category.objects.create(name="Ceramics", slug="ceramics")
    product = Product(name="Vase", slug="vase", category=category, price="10.00")
    product.image = image_upload("vase.jpg", (200, 80, 40))
    product.save()
    ink = Style.objects.create(name="Ink", slug="ink", kind=Style.Kind.PRESET, preset_weights={"3": 1})
    wave = Style(name="Wave", slug="wave", kind=Style.Kind.IMAGE)
    wave.image = image_upload("wave.jpg", (20, 60, 160))
    wave.save()
    [source] = sync_sources([product], "image")
    requests.request_for_objects([product], "image", [ink, wave], requests.RenderRequest())
    visitor = Visitor.objects.create()
    StyleEvent.objects.create(visitor=visitor, kind=StyleEvent.Kind.VIEW, source=source)
    return {"product": product, "style": ink, "image_style": wave, "source": source,
            "variant": StylizedImage.objects.first(), "visitor": visitor}


def admin_pages(objects):
    """Every page of every registered ModelAdmin, with an object where the page needs one."""
    from django.contrib import admin
    from django.urls import reverse

    from django.urls import NoReverseMatch

    by_model = {type(obj): obj for obj in objects.values()}
    urls = []

    def add(name, *args):
        try:
            urls.append(reverse(name, args=args))
        except NoReverseMatch:  # an admin with fewer pages (a proxy that only leads to a page)
            pass

    for model in admin.site._registry:
        opts = model._meta
        prefix = f"admin:{opts.app_label}_{opts.model_name}"
        add(f"{prefix}_changelist")
        add(f"{prefix}_add")
        obj = by_model.get(model) or model._default_manager.first()
        if obj is not None:
            for page in ("change", "history", "delete"):
                add(f"{prefix}_{page}", obj.pk)
    for name, args, query in [
        ("admin:index", [], ""),
        ("admin:stylestore_style_preview", [objects["style"].pk], ""),
        ("admin:stylestore_style_preview", [objects["image_style"].pk], "?format=json"),
        ("admin:stylestore_style_preview", [objects["image_style"].pk], "?retry=1"),
        ("admin:stylestore_styleevent_analytics", [], ""),
        ("admin:shop_product_stylize_progress", [], f"?id={objects['product'].pk}"),
        ("admin:stylestore_style_swatches", [], "?w=%7B%223%22%3A%201%7D&w=%7B%220%22%3A%201%7D"),
    ]:
        urls.append(reverse(name, args=args) + query)
    return urls


def peak_rss_mb():
    """This program's peak RSS (VmHWM): unlike ``ru_maxrss``, it does not inherit the peak
    of the process that started it (a test run that has loaded torch itself)."""
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return round(kib / 1024, 1)


def main():
    django.setup()
    for name in WEB_MODULES:
        importlib.import_module(name)
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()
    objects = build_catalogue()
    client = Client()
    client.login(username="admin", password="unused")
    failed = {}
    for url in admin_pages(objects):
        status = client.get(url).status_code
        if status not in (200, 302, 403):
            failed[url] = status
    posts = [
        (reverse("admin:shop_product_changelist"),
         {"action": "apply_style", "_selected_action": [objects["product"].pk], "_stylestore_confirm": "1",
          "styles": [objects["style"].pk], "size": 256, "output_format": "webp"}),
        (reverse("admin:stylestore_style_add"),
         {"name": "Sun", "slug": "sun", "kind": "image", "active": "on", "image": image_upload("sun.jpg", (250, 200, 0)),
          "engine": "", "default_strength": "1.0", "region": "all"}),
        (reverse("admin:stylestore_style_change", args=[objects["style"].pk]),
         {"name": "Ink", "slug": "ink", "kind": "preset", "active": "on", "preset_weights_3": "1",
          "preset_weights_5": "2", "engine": "", "default_strength": "0.8", "region": "all"}),
    ]
    for url, data in posts:
        status = client.post(url, data).status_code
        if status != 302:
            failed[f"POST {url}"] = status
    print(json.dumps({
        "failed": failed,
        "torch": "torch" in sys.modules,
        "max_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
