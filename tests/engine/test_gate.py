"""The image gate: sniffing, header caps, budgets, decoding, sanitizing (pure: no database)."""
import io
import random
import time
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from stylestore.engine import errors, gate
from tests.fixtures import hostile_images as corpus

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
        assert gate.inspect_image(case.data, filename=case.filename).format
    else:
        with pytest.raises(case.error):
            gate.inspect_image(case.data, filename=case.filename)
    for decode in (gate.open_image, gate.sanitize):
        with pytest.raises(case.error):
            decode(case.data, filename=case.filename)


@pytest.mark.parametrize("case", corpus.ACCEPTED, ids=lambda c: c.name)
def test_accepted_decodes_to_expected_pixels(case):
    info = gate.inspect_image(case.data, filename=case.filename)
    assert (info.format, info.frames) == (case.format, case.frames)
    image = gate.open_image(case.data, filename=case.filename)
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
                gate.open_image(data, filename=case.filename)
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
        gate.open_image(case.data)
    assert Image.core.get_stats()["new_count"] == before


@pytest.mark.parametrize("name", ["png_bomb_100mp", "png_bomb_400mp", "jpeg_bomb_400mp", "gif_bomb_400mp"])
def test_pillow_limit_holds_even_when_the_caller_raises_the_cap(name):
    with pytest.raises(errors.ImageTooLarge):
        gate.inspect_image(corpus.BY_NAME[name].data, max_pixels=10**12)


def test_frames_count_towards_the_pixel_cap():
    data = corpus.gif_300_frames()  # 128 x 128 x 300 = 4.9 MP
    assert gate.inspect_image(data).frames == 300
    with pytest.raises(errors.ImageTooLarge):
        gate.inspect_image(data, max_pixels=128 * 128 * 299)


def _rechunked_png(size: int, chunk: int) -> bytes:
    """A PNG of random RGB whose image data is split into IDAT chunks of ``chunk`` bytes."""
    noise = Image.frombytes("RGB", (size, size), random.Random(0).randbytes(size * size * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG", compress_level=1)
    data = buffer.getvalue()
    idat = b"".join(data[start + 8 : start + 8 + length] for start, length in _png_chunks(data, b"IDAT"))
    first = next(start for start, _ in _png_chunks(data, b"IDAT"))
    pieces = b"".join(corpus.png_chunk(b"IDAT", idat[i : i + chunk]) for i in range(0, len(idat), chunk))
    return data[:first] + pieces + corpus.png_chunk(b"IEND", b"")


def _png_chunks(data: bytes, kind: bytes):
    pos = 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == kind:
            yield pos, length
        pos += 12 + length


def test_structure_caps_grow_with_the_file():
    """The chunk cap is 1,000 plus one per KB of file: a 3 MB PNG in 3,000 chunks of
    1 KB decodes; the same pixels in 15,000 chunks of 200 bytes are refused."""
    big_chunks = _rechunked_png(1024, 1024)
    assert sum(1 for _ in _png_chunks(big_chunks, b"IDAT")) > 2 * gate.MAX_SEGMENTS
    assert gate.open_image(big_chunks).size == (1024, 1024)
    with pytest.raises(errors.CorruptImage, match="PNG chunks"):
        gate.inspect_image(_rechunked_png(1024, 200))


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
        assert gate.open_image(source, filename="photo.png").getpixel((16, 16)) == corpus.RED
    assert stream.tell() == 0 and upload.tell() == 0  # rewound for the next reader


def test_byte_cap_refuses_before_reading(tmp_path):
    data = corpus.red_png()
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    for source in (data, path, io.BytesIO(data), SimpleUploadedFile("p.png", data), _Unseekable(data)):
        with pytest.raises(errors.ImageTooLarge):
            gate.inspect_image(source, max_bytes=len(data) - 1)
    assert gate.inspect_image(data, max_bytes=len(data)).width == 64


@pytest.mark.parametrize("name", ["PHOTO.JPG", "photo.jpeg", "photo.jfif", "C:\\fakepath\\shot.Jpg", "a.png.jpg"])
def test_jpeg_names_accepted(name):
    assert gate.inspect_image(corpus.gradient_jpeg(), filename=name).format == "JPEG"


@pytest.mark.parametrize("name", ["photo", "photo.", "photo.jpg.png", "photo.gif", "jpg"])
def test_jpeg_names_refused(name):
    with pytest.raises(errors.UnsupportedFormat):
        gate.inspect_image(corpus.gradient_jpeg(), filename=name)


def test_truncated_images_flag_must_stay_off(monkeypatch):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError):
        gate.open_image(corpus.truncated_jpeg())


# ---------------------------------------------------------------------- sanitize


def test_sanitize_drops_appended_payloads_and_text():
    for builder, payload in (
        (corpus.png_with_appended_html, corpus.HTML_PAYLOAD),
        (corpus.png_with_text_chunk, corpus.TEXT_MARKER),
        (corpus.jpeg_with_appended_zip, corpus.ZIP_PAYLOAD),
    ):
        clean, _ = gate.sanitize(builder())
        assert payload not in clean
        assert b"<script" not in clean
    clean, extension = gate.sanitize(corpus.png_with_appended_html())
    assert extension == "png" and clean.endswith(b"IEND\xaeB`\x82")


def test_sanitize_strips_exif_and_gps():
    original = corpus.jpeg_with_exif_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the fixture really has GPS
    clean, extension = gate.sanitize(original, filename="photo.jpeg")
    assert extension == "jpg"
    reopened = Image.open(io.BytesIO(clean))
    assert len(reopened.getexif()) == 0
    assert "exif" not in reopened.info and "comment" not in reopened.info
    assert b"Exif" not in clean and corpus.EXIF_MARKER.encode() not in clean and corpus.TEXT_MARKER not in clean


def test_sanitize_bakes_in_orientation():
    clean, _ = gate.sanitize(corpus.exif_orientation_6_jpeg())
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
    clean, got_extension = gate.sanitize(case.data)
    assert got_extension == extension
    reopened = Image.open(io.BytesIO(clean))
    assert reopened.format == fmt and getattr(reopened, "n_frames", 1) == 1
    assert "icc_profile" not in reopened.info
    _assert_pixels(gate.open_image(clean), case, 2 * corpus.TOLERANCE)  # two lossy generations


def test_sanitize_keeps_lossless_webp_lossless():
    clean, _ = gate.sanitize(corpus.webp_lossless_alpha())
    assert b"VP8L" in clean[:64]
    clean, _ = gate.sanitize(corpus.webp_lossy())
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
        gate.inspect_image(data)
        image = gate.open_image(data)
    except errors.ImageError:
        return
    assert image.mode in ("RGB", "RGBA")


def test_a_jpeg_cut_inside_its_scan_header_is_refused_as_corrupt():
    """Found by the fuzz test above: a scan header whose component list is cut off was
    read before its length was checked (IndexError, a 500 where a 400 belongs)."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(out, "JPEG")
    data = out.getvalue()
    scan = data.index(b"\xff\xda")
    for cut in range(scan + 4, scan + 10):  # after the scan's component count, before its list ends
        with pytest.raises(errors.ImageError):
            gate.inspect_image(data[:cut])
