"""Decoding is bounded in memory and time (issue 19, item 3).

Three small files under the 40 MP cap used to blow up whoever decoded them: a 76 KB
16-bit grey PNG with transparency (6000x6500) took 1 GB, a 30-byte lossless WebP
(6000x6000) 550 MB, a 142 KB progressive JPEG of 1,002 scans 20 s (and hours at the
upload cap). The gate now refuses each from its headers, before Pillow sees it: these
tests assert the refusal, its cause, that nothing was decoded (no Pillow image, no
memory growth in a fresh process) and that the work does not grow with the file; then
that the gate's memory estimate, which decides, covers what decoding really takes.

No timing assertions: refusing before decoding is shown by what did not happen.
"""
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from stylestore.engine import errors, gate
from stylestore.models import Style
from tests.conftest import make_image_bytes
from tests.fixtures import hostile_images as corpus

from .conftest import stored_files

ROOT = Path(__file__).resolve().parents[2]
COSTLY = [corpus.BY_NAME[name] for name in ("png16_grey_transparent_39mp", "webp_lossless_36mp", "jpeg_1000_scans")]
#: What each refusal says: the memory it would take, or the scans.
CAUSES = {"png16_grey_transparent_39mp": "over the limit of 300 MB", "webp_lossless_36mp": "over the limit of 300 MB",
          "jpeg_1000_scans": "visit every block more than 12 times"}


def sanitize_in_child(tmp_path, files: dict) -> dict:
    """Sanitize each of ``files`` (name -> (warm-up bytes, bytes, filename)) in a fresh
    interpreter (no Django, no torch), each in its own; return name -> (growth of the
    peak resident size in bytes, the gate's estimate, the error's class name or None).

    The kernel's high-water mark of the process's memory (``VmHWM``; ``ru_maxrss`` would
    carry this test process's size over through fork and exec) is reset just before
    the call and read after it, and the inputs are built beforehand by this process:
    what grows is the one call's peak. The warm-up image, of the same kind, loads the
    modules involved first.
    """
    results = {}
    for name, (warm_up, data, filename) in files.items():
        (tmp_path / "warm").write_bytes(warm_up)
        (tmp_path / "data").write_bytes(data)
        code = textwrap.dedent(f"""
            import gc, json, re
            from stylestore.engine import errors, gate

            def status(key):
                with open("/proc/self/status") as handle:
                    return int(re.search(key + r":\\s+(\\d+) kB", handle.read()).group(1)) * 1024

            gate.sanitize(open({str(tmp_path / "warm")!r}, "rb").read(), filename={filename!r})
            data = open({str(tmp_path / "data")!r}, "rb").read()
            try:
                estimate = gate.inspect_image(data, filename={filename!r}, max_memory=10**12).memory
            except errors.ImageError:
                estimate = None
            gc.collect()
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")  # the high-water mark starts again from here
            before = status("VmRSS")
            try:
                gate.sanitize(data, filename={filename!r})
                error = None
            except errors.ImageError as exc:
                error = type(exc).__name__
            print(json.dumps([status("VmHWM") - before, estimate, error]))
        """)
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert result.returncode == 0, result.stderr[-3000:]
        results[name] = json.loads(result.stdout.strip().splitlines()[-1])
    return results


@pytest.mark.parametrize("case", COSTLY, ids=lambda c: c.name)
def test_costly_image_refused_from_its_headers(case, monkeypatch):
    data = case.data
    assert len(data) < 150_000  # small on disk: the cost is in what the headers promise
    opened = []
    monkeypatch.setattr(gate.Image, "open", lambda *args, **kwargs: opened.append(args) or 1 / 0)
    before = Image.core.get_stats()["new_count"]
    for entry in (gate.inspect_image, gate.open_image, gate.sanitize):
        with pytest.raises(errors.ImageTooLarge, match=CAUSES[case.name]):
            entry(data, filename=case.filename)
    assert opened == [] and Image.core.get_stats()["new_count"] == before


def test_costly_image_is_refused_by_its_cost_not_its_pixels():
    """Each is under the pixel cap; what refuses it is the budget it would need. With a
    budget raised past its estimate (a memory budget is a choice), it decodes."""
    png = corpus.png16_grey_transparent_39mp()
    info = gate.inspect_image(png, max_memory=10**10)
    assert info.width * info.height < gate.MAX_PIXELS
    assert info.memory > gate.MAX_MEMORY
    small = corpus.png_streamed(600, 650, 16, 0, (corpus.png_chunk(b"tRNS", b"\x00\x00"),))
    assert gate.open_image(small).getpixel((5, 5)) == (0, 0, 0, 0)  # all transparent, kept as RGBA


def test_the_shop_sets_the_memory_budget(settings):
    """``STYLESTORE["MAX_DECODE_MEMORY"]`` is what every Django caller passes the gate:
    an ordinary photo is refused under a tiny budget, with the cause, and accepted under
    the default."""
    from django.core.exceptions import ValidationError

    from stylestore.validators import sanitize_upload

    photo = make_image_bytes((640, 480))
    assert sanitize_upload(SimpleUploadedFile("photo.jpg", photo)).extension == "jpg"
    settings.STYLESTORE = {**settings.STYLESTORE, "MAX_DECODE_MEMORY": 1_000_000}
    with pytest.raises(ValidationError, match="over the limit of 1 MB"):
        sanitize_upload(SimpleUploadedFile("photo.jpg", photo))


def test_refusals_do_not_grow_memory(tmp_path):
    """Decoding these took 1 GB, 550 MB and 240 MB of extra memory; refusing them, a
    fraction of one (the files themselves are under 150 KB)."""
    warm_up = {"PNG": corpus.red_png(), "WEBP": corpus.webp_lossless_alpha(), "JPEG": corpus.progressive_jpeg()}
    files = {case.name: (warm_up[gate._sniff(case.data)], case.data, case.filename) for case in COSTLY}
    for name, (grown, _, error) in sanitize_in_child(tmp_path, files).items():
        assert error == "ImageTooLarge", name
        assert grown < 16 * 2**20, f"{name}: {grown / 2**20:.0f} MiB"


class _CountingPattern:
    """Wraps the gate's entropy-data skipper to count the scans it walked past."""

    def __init__(self, pattern):
        self.pattern, self.calls = pattern, 0

    def search(self, *args):
        self.calls += 1
        return self.pattern.search(*args)


def test_scan_budget_stops_the_walk_whatever_the_number_of_scans(monkeypatch):
    """Before, each repeated scan cost another pass over all the blocks (20 s for 1,002
    scans, growing with the file). Now the walk stops when the scans exceed their
    budget: the same few scan headers are read for 1,002 scans as for 20,002."""
    counted = []
    for refinements in (1000, 20_000):
        counter = _CountingPattern(gate._JPEG_MARKER)
        monkeypatch.setattr(gate, "_JPEG_MARKER", counter)
        with pytest.raises(errors.ImageTooLarge, match="12 times"):
            gate.inspect_image(corpus.progressive_jpeg_scans(6000, 6000, refinements))
        counted.append(counter.calls)
    assert counted[0] == counted[1] <= gate.MAX_SCANS_PER_BLOCK


def test_standard_progressions_fit_the_scan_budget():
    """libjpeg's own progressions (10 scans in colour, 6 in grey) are far inside it, and
    so is a file repeating its refinement scans once."""
    for image in (corpus.quadrants(256, (corpus.RED, corpus.GREEN, corpus.BLUE, corpus.WHITE)),
                  Image.linear_gradient("L")):
        data = corpus._save(image, "JPEG", quality=90, progressive=True)
        assert gate.open_image(data).size == image.size
    assert gate.open_image(corpus.progressive_jpeg_scans(256, 256, 8)).size == (256, 256)


# What decoding and re-encoding really take, against the estimate that decides: each kind
# at 3000x2000 (6 MP; WebP at 1500x1000: its encoders need 40-odd bytes a pixel, and the
# lossless one is slow), sanitized in a fresh process.
KINDS = {
    "jpeg_rgb_rotated": ("photo.jpg", "JPEG", "RGB", {"quality": 90, "exif": "orientation 6"}),
    "jpeg_progressive_444": ("photo.jpg", "JPEG", "RGB", {"quality": 90, "progressive": True, "subsampling": 0}),
    "jpeg_cmyk": ("photo.jpg", "JPEG", "CMYK", {"quality": 90}),
    "png_rgba": ("photo.png", "PNG", "RGBA", {}),
    "png_palette_transparent": ("photo.png", "PNG", "P", {"transparency": 0}),
    "png16_grey_transparent": ("grey16.png", "PNG16", "I;16", {}),
    "gif": ("photo.gif", "GIF", "P", {}),
    "webp_lossy_alpha": ("photo.webp", "WEBP", "RGBA", {"quality": 90}),
    "webp_lossless": ("photo.webp", "WEBP", "RGB", {"lossless": True, "method": 0}),
}


def build(kind: str, width: int, height: int) -> bytes:
    """A noisy picture of ``kind``: gradients, a checkerboard alpha, noise of +-20 levels."""
    _, fmt, mode, params = KINDS[kind]
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height),
                     np.where((xx // 200 + yy // 200) % 2, 255, 90)], -1)
    pixels = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    if fmt == "PNG16":  # Pillow cannot write 16-bit grey with a transparent level
        grey = pixels[..., 0].astype(">u2") * 257
        rows = b"".join(b"\x00" + grey[y].tobytes() for y in range(height))
        header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + corpus.png_chunk(b"IHDR", header)
                + corpus.png_chunk(b"tRNS", struct.pack(">H", int(grey[0, 0])))
                + corpus.png_chunk(b"IDAT", zlib.compress(rows, 6)) + corpus.png_chunk(b"IEND", b""))
    if mode == "P":
        image = Image.fromarray(pixels[..., :3]).quantize(64)
    else:
        image = Image.fromarray(pixels, "RGBA").convert(mode)
    params = dict(params)
    if params.get("exif") == "orientation 6":
        params["exif"] = Image.Exif()
        params["exif"][0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", KINDS)
def test_memory_estimate_covers_the_measured_peak(kind, tmp_path):
    size = (1500, 1000) if kind.startswith("webp") else (3000, 2000)
    files = {kind: (build(kind, 64, 64), build(kind, *size), KINDS[kind][0])}
    ((grown, estimate, error),) = sanitize_in_child(tmp_path, files).values()
    assert error is None
    assert grown > estimate / 5, "the measurement saw nothing: is the input built in the child?"
    assert grown <= estimate, f"{kind}: {grown / 1e6:.0f} MB measured, {estimate / 1e6:.0f} MB estimated"


@pytest.mark.django_db
@pytest.mark.parametrize("case", COSTLY, ids=lambda c: c.name)
def test_api_refuses_a_costly_upload_with_its_cause(style_editor, media_root, case):
    upload = SimpleUploadedFile(case.filename, case.data, content_type="application/octet-stream")
    response = style_editor.post("/api/v1/styles/", {"name": "Wave", "slug": "wave", "image": upload},
                                 format="multipart")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    (message,) = response.json()["error"]["fields"]["image"]
    assert message.startswith("This image is too large: ") and CAUSES[case.name] in message
    assert Style.objects.count() == 0 and stored_files(media_root, "stylestore") == []
