"""The conversions around the networks: fitting, cropping, tensors, masks, encoding.

Images arrive here already decoded by the gate (:mod:`.gate`: 8-bit sRGB ``RGB`` or
``RGBA``, upright, no metadata); what leaves is pixels for the networks, pixels from
them, and the encoded result.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

from .errors import NonFiniteOutput, StyleSpecError
from .formats import OUTPUT_FORMATS
from .gate import encode_pixels

# torch is imported by the functions that need it, like the rest of the engine's
# image handling: importing this module does not load it.
if TYPE_CHECKING:
    import torch


def flatten(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Composite a transparent image over a solid colour; opaque images pass as RGB."""
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return image if image.mode == "RGB" else image.convert("RGB")
    base = Image.new("RGBA", image.size, (*background, 255))
    return Image.alpha_composite(base, image.convert("RGBA")).convert("RGB")


def encode(image: Image.Image, fmt: str, quality: int = 90) -> bytes:
    """Encode a rendered image as ``"webp"``, ``"jpeg"`` or ``"png"`` without metadata.

    JPEG has no alpha, so transparent images are composited on white for it.
    """
    if fmt not in OUTPUT_FORMATS:
        raise StyleSpecError(f"output format must be one of {sorted(OUTPUT_FORMATS)}, not {fmt!r}")
    if not 1 <= quality <= 100:
        raise StyleSpecError(f"quality must be within 1..100, not {quality}")
    pil_format = OUTPUT_FORMATS[fmt].pil_format
    if pil_format == "JPEG":
        image = flatten(image)
    elif image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if alpha_mask(image) is not None else "RGB")
    return encode_pixels(image, pil_format, quality=quality)


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
