"""The odd pixel modes keep their values through the Django layer's re-encoding: what
is stored decodes (with plain Pillow, as a browser would) to the expected pixels within
two levels per channel."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from stylestore.validators import sanitize_upload
from tests.fixtures import hostile_images as corpus

from .conftest import SECOND_JPEG_GENERATION, assert_clean_copy

ODD_MODES = ("cmyk_jpeg_adobe", "cmyk_jpeg_plain", "png16_grey", "png16_rgb", "png16_rgba",
             "palette_transparency_png", "palette_unused_transparency_png", "exif_orientation_6", "la_png",
             "gif_transparent")


@pytest.mark.parametrize("name", ODD_MODES)
def test_odd_mode_survives_sanitizing(name):
    case = corpus.BY_NAME[name]
    assert name not in SECOND_JPEG_GENERATION  # held to the corpus tolerance of 2
    clean = sanitize_upload(SimpleUploadedFile(case.filename, case.data))
    assert_clean_copy(clean.name, clean.read(), case)
