"""What both Oscar scenarios (scenario.py, dashboard_scenario.py) stand on: the example
shop's settings in this process, a product photo and a rendered variant. Importing it
sets Django up, so the scenarios import it before anything that needs the apps."""
import io
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "examples" / "oscar_shop"), str(REPO)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oscar_shop.settings")

import django  # noqa: E402

django.setup()

from django.core.files.base import ContentFile  # noqa: E402
from PIL import Image  # noqa: E402

from stylestore.models import StylizedImage, params_hash  # noqa: E402
from stylestore.storage import variant_storage  # noqa: E402


def photo(i):
    """A small product photo, its colour and file name set by ``i``."""
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (i * 37 % 256, 90, 160)).save(buffer, "JPEG")
    return ContentFile(buffer.getvalue(), f"p{i}.jpg")


def ready_variant(source, style, review=StylizedImage.Review.APPROVED, metrics=None):
    """A rendered variant of ``source`` in ``style`` (a file of a few bytes: the pages
    only link to what is ready)."""
    params = dict(strength=1.0, preserve_color=True, max_side=512, output_format="webp",
                  engine=style.effective_engine, region="all")
    digest = params_hash(**params, style_fingerprint=style.fingerprint)
    name = variant_storage().save(f"stylestore/{source.content_hash[:8]}/{style.pk}/{digest}.webp",
                                  ContentFile(b"variant"))
    return StylizedImage.objects.create(
        source=source, style=style, source_hash=source.content_hash, params_hash=digest,
        style_fingerprint=style.fingerprint, status=StylizedImage.Status.READY, review=review, file=name,
        width=512, height=341, file_size=7, metrics=metrics or {}, **params)
