"""The django-oscar example shop made ready for tests/e2e/test_oscar_shop.py, in its
own process (Oscar's settings are not the demo's): tables, the example's catalogue and
styles (``seed_oscar_shop``), a second gallery image for one product (``GALLERY``), two
looks rendered by the worker's task with the real engine (unreviewed: the example shows
them with ``AUTO_APPROVE``), the preset styles' swatches, and a superuser. Needs
OSCAR_SHOP_VAR (a fresh folder)."""
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "examples" / "oscar_shop"), str(REPO)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oscar_shop.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.files import File  # noqa: E402
from django.core.management import call_command  # noqa: E402
from oscar.core.loading import get_model  # noqa: E402

from stylestore import tasks  # noqa: E402
from stylestore.models import Style, StylizedImage  # noqa: E402
from stylestore.variants import requests  # noqa: E402
from stylestore.variants.sources import sync_sources  # noqa: E402

#: The looks rendered for every product (the other styles' jobs stay queued).
LOOKS = ["preset-pastel", "great-wave"]
#: The product (its UPC) whose gallery gets a second image (another demo photo).
GALLERY = "peony-panel"

call_command("migrate", verbosity=0)
call_command("seed_oscar_shop", verbosity=0)
Style.objects.exclude(slug__in=LOOKS).update(active=False)
with (REPO / "shop" / "demo_data" / "products" / "serape-blanket.jpg").open("rb") as photo:
    second = get_model("catalogue", "ProductImage").objects.create(
        product=get_model("catalogue", "Product").objects.get(upc=GALLERY), original=File(photo, "gallery-2.jpg"),
        caption="Second view", display_order=1)
requests.request_variants(sync_sources([second], "original"), list(Style.objects.filter(slug__in=LOOKS)),
                          requests.RenderRequest(), enqueue=False)
tasks.render_variants(list(StylizedImage.objects.filter(style__slug__in=LOOKS).values_list("pk", flat=True)))
tasks.render_swatches([style.preset_weights for style in Style.objects.filter(kind=Style.Kind.PRESET)])
User.objects.create_superuser("admin", "admin@example.com", sys.argv[1])
