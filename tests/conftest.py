import io

import pytest
from PIL import Image


def pytest_addoption(parser):
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        default=False,
        help="e2e tests: also write the README's screenshots to docs/screenshots/ (or set UPDATE_SCREENSHOTS=1)",
    )


@pytest.fixture(autouse=True)
def clear_cache():
    """The cache is shared across processes and runs (throttle counters): start clean."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test writes media under its own temporary directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_image_bytes(size=(96, 64), color=(200, 80, 40), fmt="JPEG", mode="RGB"):
    """A small generated image with a gradient, so it has texture to stylize."""
    img = Image.new(mode, size, color)
    px = img.load()
    for x in range(size[0]):
        for y in range(0, size[1], 4):
            base = px[x, y]
            if mode == "RGB":
                px[x, y] = ((base[0] + x) % 256, (base[1] + y) % 256, base[2])
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


@pytest.fixture
def image_bytes():
    return make_image_bytes
