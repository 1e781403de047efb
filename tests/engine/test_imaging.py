"""The conversions around the networks (pure: no database)."""
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylestore.engine import errors, gate, imaging
from tests.fixtures import hostile_images as corpus

DEMO = Path(__file__).resolve().parents[2] / "shop" / "demo_data"

_close = corpus.matches


def _photo(max_side=128):
    return imaging.fit(gate.open_image(DEMO / "products" / "serape-blanket.jpg"), max_side)


def test_fit_downscales_only():
    image = Image.new("RGB", (300, 120))
    assert imaging.fit(image, 100).size == (100, 40)
    assert imaging.fit(image, 300) is image
    assert imaging.fit(image, 1000) is image
    with pytest.raises(ValueError):
        imaging.fit(image, 0)


def test_square_crop_takes_the_centre():
    image = Image.new("RGB", (300, 100), corpus.RED)
    image.paste(corpus.BLUE, (100, 0, 200, 100))
    square = imaging.square_crop(image, 64)
    assert square.size == (64, 64)
    assert _close(square.getpixel((32, 32)), corpus.BLUE)


def test_tensor_round_trip_is_exact():
    photo = _photo(64)
    rgba = photo.convert("RGBA")
    batch = imaging.to_tensor([photo, rgba], "cpu", torch.float32)
    assert batch.shape == (2, 3, photo.height, photo.width) and batch.dtype == torch.float32
    assert 0 <= float(batch.min()) and float(batch.max()) <= 1
    assert np.array_equal(np.asarray(imaging.to_image(batch[1])), np.asarray(photo))
    assert imaging.to_tensor([photo], "cpu", torch.float16).dtype == torch.float16


def test_tensor_conversion_refuses_bad_input():
    with pytest.raises(ValueError):
        imaging.to_tensor([Image.new("RGB", (32, 32)), Image.new("RGB", (32, 33))], "cpu", torch.float32)
    with pytest.raises(ValueError):
        imaging.to_tensor([], "cpu", torch.float32)
    with pytest.raises(errors.NonFiniteOutput):
        imaging.to_image(torch.full((3, 8, 8), float("nan")))
    assert imaging.to_image(torch.full((3, 2, 2), 7.0)).getpixel((0, 0)) == (255, 255, 255)


def test_alpha_mask_and_flatten():
    assert imaging.alpha_mask(Image.new("RGB", (8, 8))) is None
    assert imaging.alpha_mask(Image.new("RGBA", (8, 8), (1, 2, 3, 255))) is None
    transparent = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    mask = imaging.alpha_mask(transparent)
    assert mask.mode == "L" and mask.getpixel((0, 0)) == 0
    assert imaging.flatten(transparent).getpixel((0, 0)) == (255, 255, 255)


def test_encode_formats_and_metadata():
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 20, 40))
    image.info.update(exif=b"Exif\x00\x00junk", icc_profile=b"junk", comment=b"secret")
    jpeg = Image.open(io.BytesIO(imaging.encode(image, "jpeg")))
    assert jpeg.format == "JPEG" and jpeg.mode == "RGB"
    assert _close(jpeg.getpixel((35, 20)), corpus.WHITE)
    for fmt, name in (("png", "PNG"), ("webp", "WEBP")):
        decoded = Image.open(io.BytesIO(imaging.encode(image, fmt, quality=80)))
        assert decoded.format == name and decoded.getpixel((35, 20))[3] == 0
    for fmt in ("jpeg", "png", "webp"):
        data = imaging.encode(image, fmt)
        assert b"secret" not in data and b"junk" not in data
    with pytest.raises(errors.StyleSpecError):
        imaging.encode(image, "gif")
    with pytest.raises(errors.StyleSpecError):
        imaging.encode(image, "jpeg", quality=0)
