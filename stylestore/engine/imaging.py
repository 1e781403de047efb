"""The one gate every image passes, and the conversions around the networks.

Every way an image enters Stylestore (admin upload, API upload, product image, style
image, worker decode) goes through :func:`inspect_image` / :func:`open_image` /
:func:`sanitize`, so there is exactly one place where hostile input is judged.

How the gate stays cheap on hostile input:

* The whole input is read once into memory (at most ``max_bytes``) and every later
  step works on that one buffer: the bytes that were checked are the bytes that are
  decoded, even if the file on disk changes meanwhile.
* The format is sniffed from the content against an allowlist (JPEG, PNG, WebP, GIF);
  Pillow is then told to use only that format's plugin, so TIFF, PSD, SVG, BMP and the
  rest of Pillow's readers are unreachable whatever the file is called.
* Width, height and frame count are parsed from the headers by this module, without
  Pillow, and checked against the caps *before* Pillow creates anything: a 400 MP bomb
  is refused after reading a few dozen header bytes, and no pixel buffer is allocated.
  This check is per call (no global state), hence thread-safe. Pillow's own
  ``Image.MAX_IMAGE_PIXELS`` guard is honoured as a second limit by the same explicit
  check, so its ``DecompressionBombWarning`` can never fire here, and its
  ``DecompressionBombError`` (or the warning, when a process runs warnings as
  errors) maps to :class:`ImageTooLarge`.
* Animations are charged for every frame (``width * height * frames``) although only
  the first frame is decoded: other consumers of a stored original (browsers, CDNs)
  play all of them, and a frame-count bomb must not get in through us.
* Truncated data is refused: the gate requires ``ImageFile.LOAD_TRUNCATED_IMAGES`` to be
  False and fails loudly if something in the process switched it on.

Decoded images are 8-bit ``RGB`` or ``RGBA`` (``RGBA`` only when some pixel is not
fully opaque), in sRGB, with EXIF orientation applied, and carry no metadata.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps

# torch is imported by the functions that need it: the gate (``sanitize``,
# ``inspect_image``, ``open_image``) runs in web processes, which never load torch.
if TYPE_CHECKING:
    import torch

from .errors import (
    CorruptImage,
    ImageError,
    ImageTooLarge,
    ImageTooSmall,
    NonFiniteOutput,
    StyleSpecError,
    UnsupportedFormat,
)

#: Default caps. 40 MP covers any camera a shop uses; 50 MiB any sane upload.
MAX_PIXELS = 40_000_000
MAX_BYTES = 50 * 1024 * 1024

#: Shortest side the engine accepts. VGG19 halves the image four times before
#: relu5_1, so 32 px still leaves a 2x2 map there (below that the deepest style
#: statistics describe a single position); the transform networks contract by 4 and
#: reflect-pad, which 8 px after contraction satisfies. Anything smaller is no use
#: as a product picture anyway.
MIN_SIDE = 32

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

_EXTENSIONS = {
    "JPEG": {"jpg", "jpeg", "jpe", "jfif"},
    "PNG": {"png", "apng"},
    "GIF": {"gif"},
    "WEBP": {"webp"},
}

#: What Pillow's decoders raise on hostile data. ``ImageError`` subclasses ValueError,
#: so handlers re-raise it before this tuple is consulted.
_DECODER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
    ImageCms.PyCMSError,
)

_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class ImageInfo:
    """What the headers say. ``format`` is Pillow's name: JPEG, PNG, WEBP or GIF."""

    format: str
    width: int
    height: int
    frames: int


# --------------------------------------------------------------------------- reading


def _read(source: Source, max_bytes: int) -> bytes:
    """Return the whole input, refusing it by size before reading where possible."""
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        if os.stat(source).st_size > max_bytes:
            raise ImageTooLarge(f"file is larger than {max_bytes} bytes")
        with open(source, "rb") as handle:
            data = handle.read(max_bytes + 1)
    elif hasattr(source, "read"):
        data = _read_stream(source, max_bytes)
    else:
        raise TypeError(f"cannot read an image from {type(source).__name__}")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"file is larger than {max_bytes} bytes")
    return data


def _read_stream(stream: BinaryIO, max_bytes: int) -> bytes:
    """Read a file-like (Django ``UploadedFile`` included) from its start, then rewind it."""
    seekable = getattr(stream, "seekable", lambda: hasattr(stream, "seek"))()
    if not seekable:
        return stream.read(max_bytes + 1) or b""
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    if size > max_bytes:
        raise ImageTooLarge(f"file is larger than {max_bytes} bytes")
    try:
        return stream.read(max_bytes + 1) or b""
    finally:
        stream.seek(0)


# ------------------------------------------------------------------- header parsing


def _sniff(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    raise UnsupportedFormat("not a JPEG, PNG, WebP or GIF image")


def _need(data: bytes, end: int) -> None:
    if end > len(data):
        raise CorruptImage("image header is truncated")


def _png_header(data: bytes) -> tuple[int, int, int]:
    """IHDR size and, for APNG, the acTL frame count (both must precede IDAT).

    A repeated IHDR is invalid, but the largest one counts in case a decoder takes it.
    """
    _need(data, 8 + 8 + 13)
    if data[12:16] != b"IHDR":
        raise CorruptImage("PNG does not start with an IHDR chunk")
    width = height = 0
    frames = 1
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            break
        if kind == b"IHDR":
            _need(data, pos + 16)
            chunk_width, chunk_height = struct.unpack_from(">II", data, pos + 8)
            if chunk_width * chunk_height >= width * height:
                width, height = chunk_width, chunk_height
        elif kind == b"acTL":
            _need(data, pos + 12)
            frames = max(1, struct.unpack_from(">I", data, pos + 8)[0])
        pos += 12 + length
    return width, height, frames


def _jpeg_header(data: bytes) -> tuple[int, int, int]:
    """Walk the marker segments up to the first scan; the largest SOF (start of frame) counts.

    Pillow takes the *last* SOF before the scan, so a small first SOF must not hide a
    huge second one.
    """
    size: tuple[int, int] | None = None
    pos = 2
    while True:
        _need(data, pos + 2)
        if data[pos] != 0xFF:
            raise CorruptImage("JPEG marker expected")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        pos += 2
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan
            if size is None:
                raise CorruptImage("JPEG has no frame header before its scan")
            return size[0], size[1], 1
        _need(data, pos + 2)
        length = struct.unpack_from(">H", data, pos)[0]
        if length < 2:
            raise CorruptImage("JPEG segment length is invalid")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            _need(data, pos + 7)
            height, width = struct.unpack_from(">HH", data, pos + 3)
            if size is None or width * height > size[0] * size[1]:
                size = (width, height)
        pos += length


def _gif_skip_sub_blocks(data: bytes, pos: int) -> int:
    end = len(data)
    while pos < end:
        size = data[pos]
        pos += 1
        if size == 0:
            return pos
        pos += size
    return end


def _gif_header(data: bytes, pixel_budget: int) -> tuple[int, int, int]:
    """Logical screen grown to the largest frame extent, and the frame count.

    Pillow enlarges the canvas when a frame's descriptor reaches past the logical
    screen, so the extents count, not just the screen. Counting stops as soon as the
    budget is exceeded: the caller refuses the image either way.
    """
    _need(data, 13)
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while pos < len(data) and width * height * frames <= pixel_budget:
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then data sub-blocks
            pos = _gif_skip_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor
            _need(data, pos + 10)
            left, top, frame_width, frame_height, local = struct.unpack_from("<HHHHB", data, pos + 1)
            width = max(width, left + frame_width)
            height = max(height, top + frame_height)
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            pos = _gif_skip_sub_blocks(data, pos + 1)  # +1: LZW minimum code size
            frames += 1
        else:
            break
    if frames == 0:
        raise CorruptImage("GIF contains no image")
    return width, height, frames


def _webp_chunks(data: bytes):
    """Yield (fourcc, payload offset, payload length) of the RIFF chunks."""
    pos = 12
    while pos + 8 <= len(data):
        fourcc, length = struct.unpack_from("<4sI", data, pos)
        yield fourcc, pos + 8, length
        pos += 8 + length + (length & 1)


def _webp_header(data: bytes) -> tuple[int, int, int]:
    chunks = _webp_chunks(data)
    first = next(chunks, None)
    if first is None:
        raise CorruptImage("WebP has no image chunk")
    fourcc, pos, _ = first
    if fourcc == b"VP8 ":
        _need(data, pos + 10)
        if data[pos + 3 : pos + 6] != b"\x9d\x01\x2a":
            raise CorruptImage("VP8 frame header is invalid")
        width, height = struct.unpack_from("<HH", data, pos + 6)
        return width & 0x3FFF, height & 0x3FFF, 1
    if fourcc == b"VP8L":
        _need(data, pos + 5)
        if data[pos] != 0x2F:
            raise CorruptImage("VP8L signature is invalid")
        bits = struct.unpack_from("<I", data, pos + 1)[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1
    if fourcc == b"VP8X":
        _need(data, pos + 10)
        width = int.from_bytes(data[pos + 4 : pos + 7], "little") + 1
        height = int.from_bytes(data[pos + 7 : pos + 10], "little") + 1
        frames = 1
        if data[pos] & 0x02:  # animation flag
            frames = max(1, sum(1 for chunk in chunks if chunk[0] == b"ANMF"))
        return width, height, frames
    raise CorruptImage("WebP image chunk is of an unknown kind")


def _webp_is_lossless(data: bytes) -> bool:
    """True when the bitstream is VP8L, so a re-encode must not turn it lossy."""
    return any(fourcc == b"VP8L" for fourcc, _, _ in _webp_chunks(data))


def _check_name(filename: str, fmt: str) -> None:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    extension = base.rsplit(".", 1)[-1].lower() if "." in base else ""
    if extension not in _EXTENSIONS[fmt]:
        raise UnsupportedFormat(f"the file name {base!r} does not match its {fmt} content")


def _check_size(width: int, height: int, frames: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise CorruptImage("image header gives a zero size")
    per_frame_limit = Image.MAX_IMAGE_PIXELS
    if width * height * frames > max_pixels or (per_frame_limit and width * height > per_frame_limit):
        raise ImageTooLarge(
            f"{width}x{height} pixels x {frames} frame(s) is over the limit of {max_pixels} pixels"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageTooSmall(f"{width}x{height} is smaller than {MIN_SIDE} px on a side")


def _gate(source: Source, max_pixels: int, max_bytes: int, filename: str | None) -> tuple[bytes, ImageInfo]:
    data = _read(source, max_bytes)
    fmt = _sniff(data)
    if filename is not None:
        _check_name(filename, fmt)
    if fmt == "PNG":
        width, height, frames = _png_header(data)
    elif fmt == "JPEG":
        width, height, frames = _jpeg_header(data)
    elif fmt == "GIF":
        width, height, frames = _gif_header(data, max_pixels)
    else:
        width, height, frames = _webp_header(data)
    _check_size(width, height, frames, max_pixels)
    return data, ImageInfo(fmt, width, height, frames)


def _pillow_open(data: bytes, info: ImageInfo, max_pixels: int) -> Image.Image:
    """Let Pillow parse the headers with only the sniffed plugin, and cross-check."""
    try:
        image = Image.open(io.BytesIO(data), formats=[info.format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge("image is too large to decode safely") from exc
    except ImageError:
        raise
    except (*_DECODER_ERRORS, Image.UnidentifiedImageError) as exc:
        raise CorruptImage(f"unreadable {info.format} image") from exc
    _check_size(image.width, image.height, info.frames, max_pixels)
    return image


def inspect_image(
    source: Source,
    *,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_BYTES,
    filename: str | None = None,
) -> ImageInfo:
    """Judge an image from its headers alone, without decoding any pixel.

    ``source`` is a path, bytes, or a binary file-like (rewound after reading).
    ``filename``, when given, must carry an extension of the sniffed format.
    Raises :class:`UnsupportedFormat`, :class:`ImageTooLarge`, :class:`ImageTooSmall`
    or :class:`CorruptImage`. An ``OSError`` reading a path or stream propagates: a
    missing or unreadable file is the storage's fault, not the image's.
    """
    data, info = _gate(source, max_pixels, max_bytes, filename)
    _pillow_open(data, info, max_pixels).close()
    return info


# ------------------------------------------------------------------------- decoding


def _profile_space(icc: bytes) -> tuple[ImageCms.ImageCmsProfile, str] | None:
    try:
        profile = ImageCms.getOpenProfile(io.BytesIO(icc))
        return profile, profile.profile.xcolor_space.strip()
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError):
        return None  # an unreadable profile is ignored: the pixels are still usable


def _to_srgb(image: Image.Image, profile: ImageCms.ImageCmsProfile, output_mode: str) -> Image.Image:
    return ImageCms.profileToProfile(
        image, profile, ImageCms.createProfile("sRGB"), outputMode=output_mode
    )


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """CMYK JPEG -> RGB, through its ICC profile when it has a usable one.

    Pillow always reads 4-channel JPEGs with Adobe's inverted polarity. Only files with
    an Adobe APP14 marker are stored inverted; the others (by the JPEG convention libjpeg
    and Firefox follow) store plain ink values, so Pillow's inversion is undone for them.
    """
    if "adobe" not in image.info:
        image = image.point([255 - value for value in range(256)] * 4)
    found = _profile_space(icc) if icc else None
    if found is not None and found[1] == "CMYK":
        return _to_srgb(image, found[0], "RGB")
    return image.convert("RGB")


def _sixteen_bit_grey(image: Image.Image) -> Image.Image:
    """I;16* / I -> L scaled by 1/257. Pillow's own convert clips at 255 instead."""
    values = np.asarray(image).astype(np.int64).clip(0, 65535)
    grey = Image.fromarray(np.rint(values / 257.0).astype(np.uint8))
    transparent = image.info.get("transparency")
    if isinstance(transparent, int):
        alpha = Image.fromarray(np.where(values == transparent, 0, 255).astype(np.uint8))
        return Image.merge("RGBA", (grey, grey, grey, alpha))
    return grey.convert("RGB")


def _normalize_mode(image: Image.Image) -> Image.Image:
    """Any decoded mode -> 8-bit sRGB ``RGB``, or ``RGBA`` when transparency is real.

    RGB and CMYK ICC profiles are applied; grey profiles are not (they differ from the
    sRGB tone curve only slightly, and a grey picture has no colours to get wrong).
    """
    mode = image.mode
    icc = image.info.get("icc_profile")
    if mode == "CMYK":
        return _cmyk_to_rgb(image, icc)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        return _sixteen_bit_grey(image)
    if mode == "1":
        image, mode = image.convert("L"), "L"
    if mode in ("LA", "RGBA") or "transparency" in image.info:
        converted = image.convert("RGBA")
    elif mode in ("L", "P", "RGB"):
        converted = image.convert("RGB")
    else:
        raise UnsupportedFormat(f"pixel mode {mode} is not supported")
    if converted.mode == "RGBA" and converted.getchannel("A").getextrema()[0] == 255:
        converted = converted.convert("RGB")
    found = _profile_space(icc) if icc else None
    if found is not None and found[1] == "RGB":
        if converted.mode == "RGBA":
            rgb = _to_srgb(converted.convert("RGB"), found[0], "RGB")
            rgb.putalpha(converted.getchannel("A"))
            return rgb
        return _to_srgb(converted, found[0], "RGB")
    return converted


def _orientation(image: Image.Image) -> Image.Transpose | None:
    try:
        value = image.getexif().get(ExifTags.Base.Orientation)
    except _DECODER_ERRORS:
        return None  # unreadable EXIF: show the pixels as stored
    return _ORIENTATION.get(value) if isinstance(value, int) else None


def _decode(data: bytes, info: ImageInfo, max_pixels: int) -> Image.Image:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; the image gate requires it off")
    image = _pillow_open(data, info, max_pixels)
    try:
        with image:
            image.seek(0)
            image.load()
            transpose = _orientation(image)
            result = _normalize_mode(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge("image is too large to decode safely") from exc
    except ImageError:
        raise
    except _DECODER_ERRORS as exc:
        raise CorruptImage(f"truncated or damaged {info.format} image") from exc
    if transpose is not None:
        result = result.transpose(transpose)
    result.info = {}
    return result


def open_image(
    source: Source,
    *,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_BYTES,
    filename: str | None = None,
) -> Image.Image:
    """Gate, then fully decode: 8-bit sRGB ``RGB`` or ``RGBA``, upright, no metadata.

    Animations give their first frame. 16-bit PNGs are reduced to 8 bits (grey scaled
    by 1/257; Pillow reduces 16-bit colour PNGs by dropping the low byte, at most one
    level off). Embedded ICC profiles (RGB and CMYK) are converted to sRGB, since the
    result no longer carries one. Raises the same errors as :func:`inspect_image`.
    """
    data, info = _gate(source, max_pixels, max_bytes, filename)
    return _decode(data, info, max_pixels)


def sanitize(
    source: Source,
    *,
    filename: str | None = None,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_BYTES,
) -> tuple[bytes, str]:
    """Gate, decode and re-encode, returning ``(bytes, extension)`` to store.

    Re-encoding from pixels is what guarantees that nothing but the picture survives:
    appended payloads, text chunks, comments, EXIF (GPS included), XMP and ICC
    profiles are gone (colours were converted to sRGB, the web's default, first).
    JPEG stays JPEG (quality 95), WebP stays WebP (lossless when it was), PNG and GIF
    become PNG; animations keep their first frame only, the one the engine renders.
    The extension has no leading dot: ``"jpg"``, ``"png"`` or ``"webp"``.
    """
    data, info = _gate(source, max_pixels, max_bytes, filename)
    image = _decode(data, info, max_pixels)
    if info.format == "JPEG":
        return _save(image, "JPEG", quality=95), "jpg"
    if info.format == "WEBP":
        return _save(image, "WEBP", quality=95, lossless=_webp_is_lossless(data)), "webp"
    return _save(image, "PNG"), "png"


# ---------------------------------------------------------------------- conversions


def flatten(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Composite a transparent image over a solid colour; opaque images pass as RGB."""
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return image if image.mode == "RGB" else image.convert("RGB")
    base = Image.new("RGBA", image.size, (*background, 255))
    return Image.alpha_composite(base, image.convert("RGBA")).convert("RGB")


def _save(image: Image.Image, fmt: str, *, quality: int = 90, lossless: bool = False) -> bytes:
    """Encode pixels only: ``info`` is dropped so Pillow cannot copy metadata across."""
    if image.info:
        image = image.copy()
        image.info = {}
    buffer = io.BytesIO()
    if fmt == "JPEG":
        flatten(image).save(buffer, "JPEG", quality=quality, optimize=True)
    elif fmt == "WEBP":
        image.save(buffer, "WEBP", quality=quality, lossless=lossless, method=4)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def encode(image: Image.Image, fmt: str, quality: int = 90) -> bytes:
    """Encode a rendered image as ``"webp"``, ``"jpeg"`` or ``"png"`` without metadata.

    JPEG has no alpha, so transparent images are composited on white for it.
    """
    formats = {"webp": "WEBP", "jpeg": "JPEG", "png": "PNG"}
    if fmt not in formats:
        raise StyleSpecError(f"output format must be one of {sorted(formats)}, not {fmt!r}")
    if not 1 <= quality <= 100:
        raise StyleSpecError(f"quality must be within 1..100, not {quality}")
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if alpha_mask(image) is not None else "RGB")
    return _save(image, formats[fmt], quality=quality)


def fit(image: Image.Image, max_side: int) -> Image.Image:
    """Lanczos-downscale so the longer side is at most ``max_side``; never upscale.

    ``reducing_gap=3`` first shrinks by an integer box filter to within 3x of the target,
    which Pillow documents as indistinguishable from a full Lanczos pass and which is an
    order of magnitude faster on 40 MP inputs. An image already small enough is returned
    as is.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be positive, not {max_side}")
    width, height = image.size
    longest = max(width, height)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def square_crop(image: Image.Image, size: int = 256) -> Image.Image:
    """Centre square crop resized (Lanczos) to ``size`` x ``size``: the style predictor's input."""
    return ImageOps.fit(image, (size, size), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def to_tensor(images: list[Image.Image], device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
    """Same-size images -> ``(N, 3, H, W)`` in [0, 1]; alpha is ignored (RGB channels only).

    The batch crosses to the device as uint8, a quarter of the float traffic.
    """
    if not images:
        raise ValueError("to_tensor needs at least one image")
    size = images[0].size
    if any(image.size != size for image in images):
        raise ValueError("to_tensor needs images of one size")
    import torch

    batch = np.stack([np.asarray(image if image.mode == "RGB" else image.convert("RGB")) for image in images])
    tensor = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2)
    return tensor.to(dtype).div_(255).contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    """``(3, H, W)`` in [0, 1] -> PIL ``RGB``, clamped and rounded.

    Raises :class:`~stylestore.engine.errors.NonFiniteOutput` on NaN or infinity: clamping
    would otherwise turn a broken network output into a plausible-looking picture.
    """
    import torch

    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) tensor, got {tuple(tensor.shape)}")
    tensor = tensor.detach()
    if not torch.isfinite(tensor).all():
        raise NonFiniteOutput("the network output contains NaN or infinity")
    pixels = tensor.float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).contiguous().cpu().numpy())


def alpha_mask(image: Image.Image) -> Image.Image | None:
    """The alpha channel as ``L``, or None when the image is fully opaque."""
    if image.mode in ("RGBA", "LA", "PA"):
        alpha = image.getchannel("A")
    elif "transparency" in image.info:
        alpha = image.convert("RGBA").getchannel("A")
    else:
        return None
    return None if alpha.getextrema()[0] == 255 else alpha


def _rgb_like(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return rgb if rgb.size == size else rgb.resize(size, Image.Resampling.LANCZOS)


def preserve_color(stylized: Image.Image, original: Image.Image) -> Image.Image:
    """Keep the product's true colours: L* from the stylized image, a*b* from the original.

    CIELAB rather than YCbCr, because the product requirement is judged by CIEDE2000,
    which lives in CIELAB: taking a*b* verbatim from the original leaves a chromatic
    difference of zero except where the combination falls out of the sRGB gamut. YCbCr
    keeps Cb/Cr, but those are not perceptual chroma: when Y changes, the a*b* they map
    to shift. Measured with the chromatic CIEDE2000 of :mod:`metrics` on the eight demo
    products stylized by :mod:`optimize` (128 px, 20 steps, one demo style each): no
    preservation 12.0, YCbCr 0.98, CIELAB 0.18 (worst image 0.26); the full CIEDE2000,
    lightness included, came out about the same for both (7.7 and 7.4).

    The original is resized to the stylized image's size when they differ; alpha is
    ignored here (combine with :func:`apply_region` afterwards). Returns ``RGB``.
    """
    import torch

    from . import colorspace

    stylized = stylized if stylized.mode == "RGB" else stylized.convert("RGB")
    original = _rgb_like(original, stylized.size)
    lab_stylized = colorspace.srgb_to_lab(torch.from_numpy(np.asarray(stylized, dtype=np.float32) / 255.0))
    lab_original = colorspace.srgb_to_lab(torch.from_numpy(np.asarray(original, dtype=np.float32) / 255.0))
    combined = torch.cat((lab_stylized[..., :1], lab_original[..., 1:]), dim=-1)
    rgb = colorspace.lab_to_srgb(combined).mul(255).round().to(torch.uint8)
    return Image.fromarray(rgb.numpy())


REGIONS = ("all", "foreground", "background")


def apply_region(stylized: Image.Image, original: Image.Image, region: str) -> Image.Image:
    """Confine the style to a region, using the original's alpha as the product mask.

    * ``"all"``: everything is stylized; an original's transparency is kept (RGBA).
    * ``"foreground"``: only the product is stylized and its transparency kept (RGBA);
      the colours hidden under fully transparent pixels come from the original.
    * ``"background"``: the original product is composited over the stylized scene
      (opaque RGB), so the product's pixels stay untouched.

    Without transparency there is no product mask, so ``"foreground"`` and
    ``"background"`` raise :class:`StyleSpecError`: silently stylizing the whole image
    would hand the shop something other than what it asked for. The original is
    resized to the stylized image's size when they differ.
    """
    if region not in REGIONS:
        raise StyleSpecError(f"region must be one of {REGIONS}, not {region!r}")
    stylized = stylized if stylized.mode == "RGB" else stylized.convert("RGB")
    mask = alpha_mask(original)
    if mask is None:
        if region != "all":
            raise StyleSpecError(f"region {region!r} needs an image with a transparent background")
        return stylized
    if mask.size != stylized.size:
        mask = mask.resize(stylized.size, Image.Resampling.LANCZOS)
    source = _rgb_like(original, stylized.size)
    if region == "background":
        return Image.composite(source, stylized, mask)
    if region == "foreground":
        result = Image.composite(stylized, source, mask)
    else:
        result = stylized.copy()
    result.putalpha(mask)
    return result
