"""Fixtures for the hostile-corpus tests: clients for the admin and the API, and checks
on what ended up in storage."""
import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from shop.models import Category
from tests.chaos.cluster import private_queue  # noqa: F401 (a fixture)
from tests.fixtures import hostile_images as corpus

#: Accepted by the gate when uploaded, by content alone: only their *name* lies. A
#: worker decodes stored files by content (their names were judged at upload), so
#: these two are not hostile there.
NAME_ONLY = {"png_named_jpg", "jpeg_named_png"}

#: Accepted cases whose stored copy is a second JPEG generation of saturated colours:
#: the gate re-encodes at quality 95 with 4:2:0 chroma, which moves them by up to 3
#: levels. Every other case, the odd pixel modes included, must stay within the
#: corpus tolerance (2).
SECOND_JPEG_GENERATION = {"jpeg_with_appended_zip": 4, "jpeg_with_exif_gps": 4, "progressive_jpeg": 4}

#: Pillow's name of a stored format -> the extensions a stored file of it may carry.
EXTENSIONS = {"JPEG": {"jpg"}, "PNG": {"png"}, "WEBP": {"webp"}}


@pytest.fixture
def category(db):
    return Category.objects.create(name="Ceramics", slug="ceramics")


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "unused"))
    return client


@pytest.fixture
def style_editor(db):
    """An API client for staff allowed to create and change styles."""
    user = User.objects.create_user("editor", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_style", "change_style", "view_style"]))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def stored_files(media_root, folder):
    base = Path(media_root) / folder
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


def assert_clean_copy(name: str, data: bytes, case: corpus.Case):
    """What was stored for an accepted upload: the gate's re-encoding, and only that.

    The extension names the real format, no payload, text, EXIF or ICC profile
    survives, and the pixels are the expected ones within the corpus tolerance (JPEG
    re-encoding and 16 -> 8 bit reduction), decoded here by plain Pillow as a browser
    would see the file.
    """
    for marker in (corpus.HTML_PAYLOAD, corpus.ZIP_PAYLOAD, corpus.TEXT_MARKER, corpus.EXIF_MARKER.encode()):
        assert marker not in data, f"{case.name}: {marker[:20]!r} survived"
    with Image.open(io.BytesIO(data)) as image:
        assert name.rsplit(".", 1)[-1] in EXTENSIONS[image.format], f"{name} holds {image.format}"
        assert not image.getexif(), f"{case.name}: EXIF survived"
        assert not set(image.info) & {"icc_profile", "exif", "comment", "Comment", "xmp", "XML:com.adobe.xmp"}
        assert getattr(image, "n_frames", 1) == 1
        image.load()
        assert (image.mode, image.size) == (case.mode, case.size)
        pixels = {xy: image.getpixel(xy) for xy in case.pixels}
    tolerance = SECOND_JPEG_GENERATION.get(case.name, corpus.TOLERANCE)
    for xy, expected in case.pixels.items():
        actual = pixels[xy]
        assert corpus.matches(actual, expected, tolerance), f"{case.name} at {xy}: {actual} != {expected}"
