"""Keeping the product true: where the style may go, and what it may change there.

A styled product image is only publishable if the customer still sees the real
product: its colours, its lightness, its shape. Three tools, all driven by the product
mask (the photo's alpha when it has one, else the saliency network's map, see
``saliency``):

* **Regions.** ``all`` styles the whole picture, ``product`` only the product (the
  photo's background stays), ``background`` only what is around it (the product's
  pixels stay the photo's own). The mask is feathered by a fraction of a percent of the
  image's size, just outside the product (its own edge stays true), so the seam is
  soft; the mask is applied as a matte rather than thresholded, so the soft edges the
  network finds (hair, fringes) blend without a hard line. Where the product stands
  out from its backdrop, the seam (the feather, and the product's outermost pixel
  where the mask is unsure of it) is unmixed by colour (:func:`backdrop_matte`): each pixel's share of product is read
  off its colour between the two, and only that share of the photo stays, without
  its backdrop.
* **A backdrop to paint** (:func:`textured_backdrop`). The networks are given a faint
  grain outside the product, so a plain studio backdrop takes the style's strokes
  instead of one flat colour with a glow along the product's edge.
* **Tone-true colour** (``preserve_color``). Taking only a*b* from the photo (the old
  rule) keeps hue and chroma but not lightness: a deep-red blanket (L* 25) came out
  salmon pink (L* 61) because the networks lift every picture towards the painting's
  tones. Here the product keeps the photo's L*, a* and b*, and the style shows in it as
  *texture*: the stylized image's fine lightness structure (its high-pass: brush
  strokes, hatching) is added to the photo's L*, scaled so that its mean CIEDE2000 on
  the product is :data:`TEXTURE_DELTA_E` at full strength: visible, and well inside
  the "not noticeable side by side" range the quality gate allows. Around the product
  the style shows fully, colours included.

All arithmetic is in CIELAB (``colorspace``), the space the metrics judge in, on the
CPU: these are per-pixel operations on one image, cheaper than moving it to a GPU.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import colorspace
from .errors import StyleSpecError
from .metrics import ciede2000

REGIONS = ("all", "product", "background")

#: Mean CIEDE2000 of the style's texture on the product at full strength. The quality
#: gate's default ceiling is 3 (about where a difference becomes noticeable side by
#: side); 2 leaves room for JPEG/WebP coding and the feathered edge. Chosen on the demo
#: products with "The Great Wave" and "Irises"; checked on the other demo styles.
TEXTURE_DELTA_E = 2.0
#: The texture is the stylized lightness minus its blur over this fraction of the
#: longer side: fine enough to carry brush strokes, coarse enough to leave shading.
TEXTURE_SCALE = 1 / 48
#: Feathering of the mask's edge, as a fraction of the longer side (at least 1 px):
#: about a pixel at the usual sizes. The feather reaches outside the product, where it
#: blends in the photo's own backdrop; at 1/200 that showed as a dark ring around
#: products shot on black, at no gain in product colour (mean CIEDE2000 of the mask,
#: Serape and Delft basin in two styles: 1/200 1.94-2.31, 1/768 1.93-2.28).
FEATHER = 1 / 768
#: CIELAB distance between the colours of a product's edge and of its backdrop from
#: which the seam's matte follows the colours alone; below it the mask's weights count
#: in proportion (a white product on white: colour cannot tell product from backdrop).
#: Without the colour matte the seam showed the photo's own backdrop as a ring a few
#: pixels wide (light around a near-black bag on white, under a dark style).
MATTE_CONTRAST = 20.0

#: Standard deviation (on the 0-1 scale) of the grain added to the backdrop of what the
#: feed-forward networks see (:func:`textured_backdrop`).
BACKDROP_GRAIN = 0.06
#: The grain's make-up: ``(blur radius in px, weight)`` of each layer of noise, from
#: speckle to blobs the size of a brush stroke at the usual output sizes.
GRAIN_LAYERS = ((1, 0.5), (3, 1.0), (8, 1.0))
#: Side of the square of grain every picture's is cut from (``_grain``).
GRAIN_CANVAS = 1024


def _lab(image: Image.Image) -> torch.Tensor:
    return colorspace.srgb_to_lab(torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0))


def _from_lab(lab: torch.Tensor) -> Image.Image:
    return Image.fromarray(colorspace.lab_to_srgb(lab).mul(255).round().to(torch.uint8).numpy())


def _blur(plane: torch.Tensor, radius: float, passes: int = 2) -> torch.Tensor:
    """Separable box blurs of width ``2 * radius + 1``; two make a cheap, close
    Gaussian. ``plane`` is ``(H, W)``, or ``(C, H, W)`` for several planes at once."""
    height, width = plane.shape[-2:]
    pad = min(max(1, round(radius)), height - 1, width - 1)
    x = plane.reshape(1, -1, height, width)
    for _ in range(passes):
        x = _box(F.pad(x, (0, 0, pad, pad), mode="reflect"), 2 * pad + 1, dim=2)
        x = _box(F.pad(x, (pad, pad, 0, 0), mode="reflect"), 2 * pad + 1, dim=3)
    return x.reshape(plane.shape)


def _box(x: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Means of ``size`` neighbours along ``dim`` (``size - 1`` fewer values), summed
    shift by shift: 3-4x faster than ``avg_pool2d`` on the CPU at these widths, and a
    mask's ones and zeros stay exact (running sums would not)."""
    count = x.shape[dim] - size + 1
    total = x.narrow(dim, 0, count).clone()
    for offset in range(1, size):
        total += x.narrow(dim, offset, count)
    return total / size


def mask_weights(mask: Image.Image | None, size: tuple[int, int]) -> torch.Tensor:
    """The product mask as weights in [0, 1] at ``size``; all ones without a mask (the
    whole photo is the product)."""
    width, height = size
    if mask is None:
        return torch.ones(height, width)
    mask = mask.convert("L")
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)


def textured_backdrop(photo: Image.Image, mask: Image.Image | None) -> Image.Image:
    """What the feed-forward networks are given: ``photo`` (RGB) with a faint, fixed
    grain on its backdrop (outside the product ``mask``; none without a mask).

    The networks paint strokes out of the picture's own structure. A studio backdrop
    has none: it came out as one flat colour, and the style showed only as a glow
    along the product's edge, the one structure near it (a pale froth around a dark
    shoe on white). With grain to paint, the backdrop takes the style's strokes and
    the glow goes. The product's pixels are the photo's: what is published of it is
    composed from the photo (``compose``), and the networks' view of it does not
    change. The grain is fixed (seeded): a render is a function of its inputs.
    """
    if mask is None:
        return photo
    backdrop = 1.0 - mask_weights(mask, photo.size)
    pixels = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255.0)
    textured = (pixels + _grain(*photo.size) * backdrop[..., None]).clamp(0.0, 1.0)
    return Image.fromarray(textured.mul(255).round().to(torch.uint8).numpy())


def _grain(width: int, height: int) -> torch.Tensor:
    """``(height, width, 3)`` grain of standard deviation ``BACKDROP_GRAIN``: the top-left
    corner of a canvas of ``GRAIN_CANVAS`` px (more for larger pictures), so that every
    size below it shares one canvas, made once per process (12 MB; making it costs
    about a tenth of a render on the CPU)."""
    side = max(GRAIN_CANVAS, -(-max(width, height) // GRAIN_CANVAS) * GRAIN_CANVAS)
    return _grain_canvas(side)[:height, :width]


@functools.lru_cache(maxsize=2)
def _grain_canvas(side: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(side)
    grain = torch.zeros(3, side, side)
    for radius, weight in GRAIN_LAYERS:
        layer = _blur(torch.randn(3, side, side, generator=generator), radius)
        grain += weight * layer / layer.std()
    grain *= BACKDROP_GRAIN / grain.std()
    return grain.permute(1, 2, 0).contiguous()


def feather(weights: torch.Tensor) -> torch.Tensor:
    """``weights`` (a product mask) with a soft edge just outside the product."""
    radius = max(1, round(max(weights.shape) * FEATHER))
    # Grown by the blur's reach first (two box blurs: twice the radius), so the soft
    # seam falls just outside the product: its own edge pixels stay true, and only
    # the photo's backdrop is in it (which ``backdrop_matte`` takes out).
    reach = 2 * radius
    grown = F.max_pool2d(weights[None, None], 2 * reach + 1, stride=1, padding=reach)[0, 0]
    return _blur(grown, radius).clamp(0.0, 1.0)


def _near_mean(lab: torch.Tensor, where: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean colour of the ``where`` pixels within ``radius`` of each pixel (one box),
    and how much of the box they fill (0: none within reach, the mean is meaningless
    there)."""
    where = where.float()
    share, *sums = _blur(torch.cat([where[None], (lab * where[..., None]).permute(2, 0, 1)]), radius, passes=1)
    return torch.stack(sums, dim=-1) / share.clamp_min(1e-6)[..., None], share


def backdrop_matte(photo: torch.Tensor, raw: torch.Tensor, weights: torch.Tensor):
    """``(alpha, backdrop, trust)`` for the seam around the product: the share of
    product in each pixel read off its colour (CIELAB ``photo``) between the product's
    colour just inside its edge and the backdrop's just beyond the feather, both
    averaged nearby; the local backdrop colour; and how far the colours are trusted
    (``MATTE_CONTRAST``; 0 where the two are alike or one is out of reach, where alpha
    is the mask's). ``raw`` is the mask's weights, ``weights`` its feathered form. The
    seam is the feather and the product's outermost pixel where the mask is unsure of
    it (an antialiased edge shares it with the backdrop); deeper in, and wherever the
    mask is sure, alpha is 1. None when there is no seam.
    """
    inside, core, seam = _seam(raw, weights)
    if not bool(seam.any()):
        return None
    # The feather's reach (``feather``: grown by two radii, blurred by two more).
    extent = 4 * max(1, round(max(raw.shape) * FEATHER))
    # Worked out on the seam's bounding box only (a product on a plain backdrop leaves
    # most of the picture out): its margin holds every pixel the seam's pixels are
    # worked out from, so the result is the same as on the whole picture.
    rows, columns = seam.any(1).nonzero(), seam.any(0).nonzero()
    margin = 3 * extent + 2
    box = (slice(max(0, int(rows[0]) - margin), int(rows[-1]) + margin + 1),
           slice(max(0, int(columns[0]) - margin), int(columns[-1]) + margin + 1))
    alpha, trust = weights.clone(), torch.zeros_like(weights)
    backdrop = torch.zeros_like(photo)
    alpha[box], backdrop[box], trust[box] = _matte(photo[box], inside[box], core[box], seam[box], weights[box], extent)
    return alpha, backdrop, trust


def _seam(raw: torch.Tensor, weights: torch.Tensor):
    """The product (``raw >= 0.5``), its core (the product less its outermost pixel) and
    the seam's pixels."""
    inside = (raw >= 0.5).float()
    core = -F.max_pool2d(-inside[None, None], 3, stride=1, padding=1)[0, 0]
    # A pixel the mask is sure of is the product's, whatever its colour (a light
    # fringe of a dark blanket is not backdrop).
    return inside, core, (weights > 0) & (core < 1) & (raw < 1)


def _matte(photo, inside, core, seam, weights, extent):
    """``backdrop_matte`` on a picture (or a part holding the seam with its margin)."""
    # The backdrop is what lies beyond the feather's reach from the product; a
    # network's faint haze of weights further out is backdrop too.
    size = 2 * extent + 1  # one square dilation as two strokes: far cheaper on big pictures
    near = F.max_pool2d(F.max_pool2d(inside[None, None], (size, 1), stride=1, padding=(extent, 0)), (1, size),
                        stride=1, padding=(0, extent))
    clear = near[0, 0] == 0
    # Reaching across the seam to both sides.
    product, product_share = _near_mean(photo, core, extent + 1)
    backdrop, backdrop_share = _near_mean(photo, clear, extent + 1)
    span = product - backdrop
    contrast = span.norm(dim=-1)
    along = ((photo - backdrop) * span).sum(-1) / contrast.square().clamp_min(1e-6)
    trust = (contrast / MATTE_CONTRAST).clamp(0.0, 1.0)
    trust = torch.where(seam & (product_share > 1e-3) & (backdrop_share > 1e-3), trust, torch.zeros_like(trust))
    alpha = trust * along.clamp(0.0, 1.0) + (1 - trust) * weights
    return alpha, backdrop, trust


def tone_true(stylized: torch.Tensor, photo: torch.Tensor, weights: torch.Tensor, size: int) -> torch.Tensor:
    """CIELAB of the ``photo`` with the ``stylized`` picture's texture (both CIELAB) in its
    lightness, scaled so the mean CIEDE2000 over the product (``weights``) is
    ``TEXTURE_DELTA_E``. ``size``: the picture's longer side, which the texture's scale
    follows."""
    lightness = stylized[..., 0]
    texture = lightness - _blur(lightness, size * TEXTURE_SCALE)
    product = weights > 0.5
    if not bool(product.any()):
        return photo
    texture = texture - texture[product].mean()
    # The budget is measured on every other pixel: the same mean, a quarter of the work.
    probe = photo[::2, ::2].clone()
    probe[..., 0] = (probe[..., 0] + texture[::2, ::2]).clamp(0.0, 100.0)
    spent = float(ciede2000(photo[::2, ::2], probe)[product[::2, ::2]].mean())
    gain = 0.0 if spent <= 0 else min(1.0, TEXTURE_DELTA_E / spent)
    result = photo.clone()
    result[..., 0] = (photo[..., 0] + gain * texture).clamp(0.0, 100.0)
    return result


def compose(
    stylized: Image.Image,
    original: Image.Image,
    mask: Image.Image | None,
    region: str = "all",
    preserve_color: bool = False,
) -> Image.Image:
    """The published picture: the style confined to ``region`` of the product ``mask``
    (None: the whole photo is the product), tone-true on the product when
    ``preserve_color``. The original is resized to the stylized image's size.

    Keeps the photo's transparency (RGBA) when it has some, except in ``background``
    mode, whose stylized surroundings fill the frame (RGB).
    """
    if region not in REGIONS:
        raise StyleSpecError(f"region must be one of {REGIONS}, not {region!r}")
    stylized = stylized if stylized.mode == "RGB" else stylized.convert("RGB")
    alpha = original.getchannel("A") if original.mode == "RGBA" else None
    source = original.convert("RGB")
    if source.size != stylized.size:
        source = source.resize(stylized.size, Image.Resampling.LANCZOS)
        alpha = None if alpha is None else alpha.resize(stylized.size, Image.Resampling.LANCZOS)
    raw = mask_weights(mask, stylized.size)
    weights = feather(raw)
    photo, styled = _lab(source), _lab(stylized)
    shown = tone_true(styled, photo, weights, max(stylized.size)) if preserve_color else styled
    if region == "product":
        w = weights[..., None]
        combined = shown * w + photo * (1 - w)
    elif region == "all" and not preserve_color:
        combined = styled
    else:  # the product (tone-true under "all") over the style's surroundings
        combined = _over_style(shown if region == "all" else photo, styled, photo, raw, weights, alpha is None)
    result = _from_lab(combined)
    if alpha is not None and region != "background":
        result.putalpha(alpha)
    return result


def _over_style(kept: torch.Tensor, styled: torch.Tensor, photo: torch.Tensor, raw: torch.Tensor,
                weights: torch.Tensor, unmix: bool) -> torch.Tensor:
    """The product (``kept``, CIELAB) over the styled surroundings. With ``unmix``, the
    seam is unmixed by colour (:func:`backdrop_matte`): of a pixel that is ``alpha``
    product, the product's part stays and the backdrop's part is the style's, as if
    the product had been shot against the style. A photo with its own transparency
    has an exact matte and no backdrop to take out."""
    matte = backdrop_matte(photo, raw, weights) if unmix else None
    if matte is None:
        w = weights[..., None]
        return kept * w + styled * (1 - w)
    alpha, backdrop, trust = matte
    alpha, trust = alpha[..., None], trust[..., None]
    # kept = alpha * product + (1 - alpha) * backdrop where the colours are trusted, so
    # the product's own part is kept - (1 - alpha) * backdrop.
    return alpha * kept + (1 - alpha) * styled + trust * (1 - alpha) * (kept - backdrop)
