"""What both Oscar scenarios (scenario.py, dashboard_scenario.py) stand on: the example
shop's settings in this process, and a product photo. Importing it sets Django up, so
the scenarios import it before anything that needs the apps."""
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


def photo(i):
    """A small product photo, its colour and file name set by ``i``."""
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (i * 37 % 256, 90, 160)).save(buffer, "JPEG")
    return ContentFile(buffer.getvalue(), f"p{i}.jpg")
