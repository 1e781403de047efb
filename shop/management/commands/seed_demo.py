"""Create the demo catalogue and styles. Safe to run any number of times."""
import json
from decimal import Decimal
from pathlib import Path

from django.core.files import File
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from shop.models import Category, Product
from stylestore.models import Style
from stylestore.variants import previews

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo_data"


class Command(BaseCommand):
    help = "Load the demo catalogue (8 products, 4 categories) and styles (8 paintings, 3 presets)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--render", action="store_true",
            help="When this run creates the catalogue, also queue every demo style for every demo product (what "
                 "the admin's \"Apply style...\" queues), so the storefront shows styled looks once the worker "
                 "has rendered them. make run passes it.")

    def handle(self, *args, **options):
        data = json.loads((DEMO_DIR / "catalogue.json").read_text())
        created = {"categories": 0, "products": 0, "styles": 0}
        with transaction.atomic():
            categories = {}
            for item in data["categories"]:
                categories[item["slug"]], new = Category.objects.get_or_create(
                    slug=item["slug"], defaults={"name": item["name"]}
                )
                created["categories"] += new
            for item in data["products"]:
                product, new = Product.objects.get_or_create(
                    slug=item["slug"],
                    defaults={
                        "name": item["name"],
                        "category": categories[item["category"]],
                        "price": Decimal(item["price"]),
                        "description": item["description"],
                        "image_alt": item["alt"],
                        "attribution": item["attribution"],
                    },
                )
                created["products"] += new
                _ensure_file(product, "image", DEMO_DIR / "products" / f"{item['slug']}.jpg")
            for item in data["styles"]:
                style, new = Style.objects.get_or_create(
                    slug=item["slug"],
                    defaults={"name": item["name"], "kind": Style.Kind.IMAGE, "attribution": item["attribution"]},
                )
                created["styles"] += new
                _ensure_file(style, "image", DEMO_DIR / "styles" / f"{item['slug']}.jpg")
            for item in data["presets"]:
                _, new = Style.objects.get_or_create(
                    slug=item["slug"],
                    defaults={"name": item["name"], "kind": Style.Kind.PRESET, "preset_weights": item["weights"]},
                )
                created["styles"] += new
        # The admin shows each preset by its swatch: the worker renders those still missing.
        previews.swatches(previews.every_swatch())
        summary = ", ".join(f"{n} {what}" for what, n in created.items())
        self.stdout.write(self.style.SUCCESS(f"Demo data in place (new: {summary})."))
        # Only for a new catalogue: variants an admin rejected or deleted since stay so.
        if options["render"] and created["products"]:
            slugs = [item["slug"] for item in data["styles"] + data["presets"]]
            call_command("stylize", "--model", "shop.product", *(arg for slug in slugs for arg in ("--style", slug)),
                         stdout=self.stdout, verbosity=options["verbosity"])


def _ensure_file(obj, field_name, path):
    """Attach the demo image unless the object already has a file that exists."""
    field_file = getattr(obj, field_name)
    if field_file and field_file.storage.exists(field_file.name):
        return
    with path.open("rb") as fh:
        field_file.save(path.name, File(fh), save=True)
