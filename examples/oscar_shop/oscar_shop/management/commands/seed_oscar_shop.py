"""The example shop's catalogue: the demo's eight replicas as Oscar products (with a
partner and prices), the demo's paintings and the starter presets as styles, and every
product queued for every style. Safe to run again: nothing is created twice."""
import json
from decimal import Decimal
from pathlib import Path

from django.core.files import File
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from oscar.core.loading import get_model

DEMO_DIR = Path(__file__).resolve().parents[5] / "shop" / "demo_data"

Partner, Product, ProductClass, ProductImage, StockRecord = (
    get_model(app, name) for app, name in [("partner", "Partner"), ("catalogue", "Product"),
                                           ("catalogue", "ProductClass"), ("catalogue", "ProductImage"),
                                           ("partner", "StockRecord")])


class Command(BaseCommand):
    help = "Load the example shop's products and styles, and queue their styled images."

    def handle(self, *args, **options):
        data = json.loads((DEMO_DIR / "catalogue.json").read_text())
        with transaction.atomic():
            kind, _ = ProductClass.objects.get_or_create(name="Replicas", defaults={"requires_shipping": True,
                                                                                   "track_stock": False})
            partner, _ = Partner.objects.get_or_create(name="Replica Museum Shop")
            for item in data["products"]:
                product, new = Product.objects.get_or_create(
                    upc=item["slug"], defaults={"title": item["name"], "product_class": kind,
                                                "description": item["description"]})
                StockRecord.objects.get_or_create(product=product, partner=partner, partner_sku=item["slug"],
                                                  defaults={"price": Decimal(item["price"]), "price_currency": "GBP"})
                if new or not product.images.exists():
                    with (DEMO_DIR / "products" / f"{item['slug']}.jpg").open("rb") as fh:
                        ProductImage.objects.create(product=product, original=File(fh, f"{item['slug']}.jpg"),
                                                    caption=item["alt"], display_order=0)
        call_command("stylestore_styles", "--presets", "--folder", str(DEMO_DIR / "styles"), stdout=self.stdout)
        call_command("stylize", "--all", *[arg for slug in self.style_slugs() for arg in ("--style", slug)],
                     stdout=self.stdout)

    @staticmethod
    def style_slugs():
        Style = get_model("stylestore", "Style")
        return list(Style.objects.filter(active=True).values_list("slug", flat=True))
