"""The image gate and the conversions around the networks (pure: no database)."""
import io
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from stylestore.engine import colorspace, errors, imaging, metrics
from tests.fixtures import hostile_images as corpus

DEMO = Path(__file__).resolve().parents[2] / "shop" / "demo_data"


_close = corpus.matches


def _assert_pixels(image, case, tolerance=corpus.TOLERANCE):
    assert image.mode == case.mode
    assert image.size == case.size
    for xy, expected in case.pixels.items():
        actual = image.getpixel(xy)
        assert _close(actual, expected, tolerance), f"{case.name} at {xy}: {actual} != {expected}"


# ---------------------------------------------------------------------- the corpus


@pytest.mark.parametrize("case", corpus.REJECTED, ids=lambda c: c.name)
def test_rejected_by_every_entry_point(case):
    if case.decode_only:
        assert imaging.inspect_image(case.data, filename=case.filename).format
    else:
        with pytest.raises(case.error):
            imaging.inspect_image(case.data, filename=case.filename)
    for decode in (imaging.open_image, imaging.sanitize):
        with pytest.raises(case.error):
            decode(case.data, filename=case.filename)


@pytest.mark.parametrize("case", corpus.ACCEPTED, ids=lambda c: c.name)
def test_accepted_decodes_to_expected_pixels(case):
    info = imaging.inspect_image(case.data, filename=case.filename)
    assert (info.format, info.frames) == (case.format, case.frames)
    image = imaging.open_image(case.data, filename=case.filename)
    _assert_pixels(image, case)
    assert image.info == {}


@pytest.mark.parametrize("case", corpus.REJECTED, ids=lambda c: c.name)
def test_rejection_is_fast_and_cheap(case):
    data = case.data
    elapsed = []
    tracemalloc.start()
    try:
        for _ in range(3):  # best of three: the CPU is shared
            started = time.perf_counter()
            with pytest.raises(case.error):
                imaging.open_image(data, filename=case.filename)
            elapsed.append(time.perf_counter() - started)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert min(elapsed) < 0.1
    assert peak < 50 * 1024 * 1024


@pytest.mark.parametrize("case", corpus.BOMBS, ids=lambda c: c.name)
def test_bombs_never_reach_a_pixel_buffer(case):
    before = Image.core.get_stats()["new_count"]
    with pytest.raises(errors.ImageTooLarge):
        imaging.open_image(case.data)
    assert Image.core.get_stats()["new_count"] == before


@pytest.mark.parametrize("name", ["png_bomb_100mp", "png_bomb_400mp", "jpeg_bomb_400mp", "gif_bomb_400mp"])
def test_pillow_limit_holds_even_when_the_caller_raises_the_cap(name):
    with pytest.raises(errors.ImageTooLarge):
        imaging.inspect_image(corpus.BY_NAME[name].data, max_pixels=10**12)


def test_frames_count_towards_the_pixel_cap():
    data = corpus.gif_300_frames()  # 128 x 128 x 300 = 4.9 MP
    assert imaging.inspect_image(data).frames == 300
    with pytest.raises(errors.ImageTooLarge):
        imaging.inspect_image(data, max_pixels=128 * 128 * 299)


def test_corpus_builds_quickly():
    for case in corpus.CASES:
        getattr(case.build, "cache_clear", lambda: None)()
    started = time.perf_counter()
    for case in corpus.CASES:
        case.data
    assert time.perf_counter() - started < 5


# ----------------------------------------------------------------------- sources


class _Unseekable(io.RawIOBase):
    def __init__(self, data):
        self._inner = io.BytesIO(data)

    def readable(self):
        return True

    def seekable(self):
        return False

    def readinto(self, buffer):
        return self._inner.readinto(buffer)


def test_every_kind_of_source(tmp_path):
    data = corpus.red_png()
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    stream = io.BytesIO(data)
    stream.seek(10)
    upload = SimpleUploadedFile("photo.png", data, content_type="image/png")
    upload.read(5)
    sources = [data, bytearray(data), memoryview(data), str(path), path, stream, upload, _Unseekable(data)]
    for source in sources:
        assert imaging.open_image(source, filename="photo.png").getpixel((16, 16)) == corpus.RED
    assert stream.tell() == 0 and upload.tell() == 0  # rewound for the next reader


def test_byte_cap_refuses_before_reading(tmp_path):
    data = corpus.red_png()
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    for source in (data, path, io.BytesIO(data), SimpleUploadedFile("p.png", data), _Unseekable(data)):
        with pytest.raises(errors.ImageTooLarge):
            imaging.inspect_image(source, max_bytes=len(data) - 1)
    assert imaging.inspect_image(data, max_bytes=len(data)).width == 64


@pytest.mark.parametrize("name", ["PHOTO.JPG", "photo.jpeg", "photo.jfif", "C:\\fakepath\\shot.Jpg", "a.png.jpg"])
def test_jpeg_names_accepted(name):
    assert imaging.inspect_image(corpus.gradient_jpeg(), filename=name).format == "JPEG"


@pytest.mark.parametrize("name", ["photo", "photo.", "photo.jpg.png", "photo.gif", "jpg"])
def test_jpeg_names_refused(name):
    with pytest.raises(errors.UnsupportedFormat):
        imaging.inspect_image(corpus.gradient_jpeg(), filename=name)


def test_truncated_images_flag_must_stay_off(monkeypatch):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError):
        imaging.open_image(corpus.truncated_jpeg())


# ---------------------------------------------------------------------- sanitize


def test_sanitize_drops_appended_payloads_and_text():
    for builder, payload in (
        (corpus.png_with_appended_html, corpus.HTML_PAYLOAD),
        (corpus.png_with_text_chunk, corpus.TEXT_MARKER),
        (corpus.jpeg_with_appended_zip, corpus.ZIP_PAYLOAD),
    ):
        clean, _ = imaging.sanitize(builder())
        assert payload not in clean
        assert b"<script" not in clean
    clean, extension = imaging.sanitize(corpus.png_with_appended_html())
    assert extension == "png" and clean.endswith(b"IEND\xaeB`\x82")


def test_sanitize_strips_exif_and_gps():
    original = corpus.jpeg_with_exif_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the fixture really has GPS
    clean, extension = imaging.sanitize(original, filename="photo.jpeg")
    assert extension == "jpg"
    reopened = Image.open(io.BytesIO(clean))
    assert len(reopened.getexif()) == 0
    assert "exif" not in reopened.info and "comment" not in reopened.info
    assert b"Exif" not in clean and corpus.EXIF_MARKER.encode() not in clean and corpus.TEXT_MARKER not in clean


def test_sanitize_bakes_in_orientation():
    clean, _ = imaging.sanitize(corpus.exif_orientation_6_jpeg())
    reopened = Image.open(io.BytesIO(clean))
    assert reopened.size == (32, 64) and 0x0112 not in reopened.getexif()
    assert _close(reopened.getpixel((16, 12)), corpus.RED)


@pytest.mark.parametrize(
    "name, extension, fmt",
    [
        ("jpeg_with_exif_gps", "jpg", "JPEG"),
        ("cmyk_jpeg_adobe", "jpg", "JPEG"),
        ("png16_rgba", "png", "PNG"),
        ("gif_300_frames", "png", "PNG"),
        ("gif_transparent", "png", "PNG"),
        ("webp_lossy", "webp", "WEBP"),
        ("webp_lossless_alpha", "webp", "WEBP"),
        ("png_with_srgb_icc", "png", "PNG"),
    ],
)
def test_sanitize_keeps_the_picture_in_its_format_family(name, extension, fmt):
    case = corpus.BY_NAME[name]
    clean, got_extension = imaging.sanitize(case.data)
    assert got_extension == extension
    reopened = Image.open(io.BytesIO(clean))
    assert reopened.format == fmt and getattr(reopened, "n_frames", 1) == 1
    assert "icc_profile" not in reopened.info
    _assert_pixels(imaging.open_image(clean), case, 2 * corpus.TOLERANCE)  # two lossy generations


def test_sanitize_keeps_lossless_webp_lossless():
    clean, _ = imaging.sanitize(corpus.webp_lossless_alpha())
    assert b"VP8L" in clean[:64]
    clean, _ = imaging.sanitize(corpus.webp_lossy())
    assert b"VP8L" not in clean[:64]


# --------------------------------------------------------------------------- fuzz


_SEEDS = [corpus.BY_NAME[name].data for name in ("png16_rgb", "cmyk_jpeg_adobe", "gif_transparent", "webp_lossy",
                                                  "apng_two_frames", "palette_transparency_png")]


@st.composite
def _mutated(draw):
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(("flip", "cut", "insert", "zero")))
        if action == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del data[position:]
            if not data:
                break
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        else:
            data[position : position + 4] = b"\xff\xff\xff\xff"
    return bytes(data)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2048), _mutated()))
def test_fuzzed_input_raises_only_image_errors(data):
    try:
        imaging.inspect_image(data)
        image = imaging.open_image(data)
    except errors.ImageError:
        return
    assert image.mode in ("RGB", "RGBA")


# -------------------------------------------------------------------- conversions


def _photo(max_side=128):
    return imaging.fit(imaging.open_image(DEMO / "products" / "serape-blanket.jpg"), max_side)


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


def test_preserve_color_keeps_chroma_and_takes_lightness():
    photo = _photo()
    r, g, b = photo.split()
    recoloured = Image.merge("RGB", (b, r, g))  # a strong colour change
    kept = imaging.preserve_color(recoloured, photo)
    assert metrics.color_difference(photo, recoloured, lightness=False) > 10
    assert metrics.color_difference(photo, kept, lightness=False) < 1

    def lightness(image):
        return colorspace.srgb_to_lab(torch.from_numpy(np.asarray(image, dtype=np.float64) / 255))[..., 0]

    assert float((lightness(kept) - lightness(recoloured)).abs().mean()) < 1.0


def test_preserve_color_resizes_the_original():
    photo = _photo(128)
    assert imaging.preserve_color(imaging.fit(photo, 64), photo).size == imaging.fit(photo, 64).size


def _product_on_transparency():
    """A red 32x32 product centred on a transparent 64x64 background."""
    original = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    original.paste((255, 0, 0, 255), (16, 16, 48, 48))
    return original, Image.new("RGB", (64, 64), corpus.BLUE)


def test_region_background_keeps_the_product():
    original, stylized = _product_on_transparency()
    result = imaging.apply_region(stylized, original, "background")
    assert result.mode == "RGB"
    assert result.getpixel((32, 32)) == corpus.RED and result.getpixel((2, 2)) == corpus.BLUE


def test_region_foreground_and_all_keep_transparency():
    original, stylized = _product_on_transparency()
    for region in ("foreground", "all"):
        result = imaging.apply_region(stylized, original, region)
        assert result.mode == "RGBA"
        assert result.getpixel((32, 32)) == (0, 0, 255, 255)
        assert result.getpixel((2, 2))[3] == 0


def test_region_without_transparency():
    opaque, stylized = _photo(64), _photo(64).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert imaging.apply_region(stylized, opaque, "all") is stylized
    for region in ("foreground", "background"):
        with pytest.raises(errors.StyleSpecError):
            imaging.apply_region(stylized, opaque, region)
    with pytest.raises(errors.StyleSpecError):
        imaging.apply_region(stylized, opaque, "sky")


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
