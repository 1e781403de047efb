"""Quality metrics of a stylized image: structure, content, style and colour fidelity.

Every metric works at a bounded resolution: the reference image (the original, or the
image being judged for style) is Lanczos-fitted to :data:`METRIC_SIDE` on its longer
side and the other image is resized to match. That keeps a measurement to a fraction of
a second on a CPU whatever the upload size, and makes numbers from different output
sizes comparable. Pixel metrics (SSIM, CIEDE2000) run in float64 on the CPU; the VGG
metrics run in fp32 on the requested device.
"""
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import colorspace, imaging, runtime, vgg

#: Longer side, in pixels, at which all metrics are computed.
METRIC_SIDE = 256


def _pair(a: Image.Image, b: Image.Image) -> tuple[Image.Image, Image.Image]:
    """``a`` fitted to the metric size (RGB), ``b`` resized to exactly match it."""
    a = imaging.fit(a if a.mode == "RGB" else a.convert("RGB"), METRIC_SIDE)
    b = b if b.mode == "RGB" else b.convert("RGB")
    if b.size != a.size:
        b = b.resize(a.size, Image.Resampling.LANCZOS)
    return a, b


def _pixels(image: Image.Image) -> torch.Tensor:
    """``(H, W, 3)`` float64 in [0, 1]."""
    return torch.from_numpy(np.asarray(image, dtype=np.float64) / 255.0)


def _vgg_device(device: Optional[runtime.Device]) -> runtime.Device:
    """Measurements always use an fp32 VGG: fp16 Grams of ~2e4 activations overflow."""
    device = device or runtime.pick_device()
    return device.exact()


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).view(1, 1, size, size)


def ssim_luminance(a: Image.Image, b: Image.Image) -> float:
    """Mean SSIM of the luma (Rec. 601, 0-255) of two images; 1.0 means identical.

    Wang et al. 2004: 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
    L = 255, statistics over valid window positions only. Luminance only, because the
    question is whether the product's structure survived, not its colours.
    """
    a, b = _pair(a, b)
    if min(a.size) < 11:
        raise ValueError("SSIM needs images of at least 11 px on a side")
    weights = torch.tensor((0.299, 0.587, 0.114), dtype=torch.float64)
    x = (_pixels(a) @ weights * 255.0)[None, None]
    y = (_pixels(b) @ weights * 255.0)[None, None]
    window = _gaussian_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    var_x = F.conv2d(x * x, window) - mu_x**2
    var_y = F.conv2d(y * y, window) - mu_y**2
    cov = F.conv2d(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


@torch.no_grad()
def content_distance(a: Image.Image, b: Image.Image, device: Optional[runtime.Device] = None) -> float:
    """How far ``b``'s content moved from ``a``'s: relu4_2 squared error over ``a``'s energy.

    ``sum((F(a) - F(b))^2) / sum(F(a)^2)``: dimensionless, 0 for identical content and
    of order 1 for unrelated pictures, so it compares across sizes and images.
    """
    device = _vgg_device(device)
    a, b = _pair(a, b)
    batch = imaging.to_tensor([a, b], device.torch_device, torch.float32)
    return _content_change(vgg.model(device)(batch, [vgg.CONTENT_LAYER]))


def _content_change(features: Dict[str, torch.Tensor]) -> float:
    """``content_distance`` of the batch's first two images, from their VGG features."""
    content = features[vgg.CONTENT_LAYER].float()
    return float((content[0] - content[1]).square().sum() / content[0].square().sum().clamp_min(1e-12))


@torch.no_grad()
def style_distance(image: Image.Image, style_image: Image.Image, device: Optional[runtime.Device] = None) -> float:
    """Relative Gram distance to the style, averaged over relu1_1..relu5_1.

    Per layer ``||G(image) - G(style)||_F / ||G(style)||_F``. Normalizing each layer by the
    style's own Gram norm keeps the deep layers (activations ~2e4) from drowning the
    shallow ones, where raw Gram MSE would barely move. The image is fitted to
    :data:`METRIC_SIDE` and the style image to the same longer side, because brush
    strokes are judged at the scale they are applied (the optimizer does the same).
    """
    device = _vgg_device(device)
    fitted = imaging.fit(image if image.mode == "RGB" else image.convert("RGB"), METRIC_SIDE)
    features = vgg.model(device)(imaging.to_tensor([fitted], device.torch_device, torch.float32), vgg.STYLE_LAYERS)
    return _gram_distance(features, 0, _style_grams(style_image, max(fitted.size), device))


def _gram_distance(features: Dict[str, torch.Tensor], index: int, target: Dict[str, torch.Tensor]) -> float:
    distances = [
        float(torch.linalg.norm(vgg.gram(features[name][index : index + 1])[0] - target[name])
              / torch.linalg.norm(target[name]).clamp_min(1e-12))
        for name in vgg.STYLE_LAYERS
    ]
    return sum(distances) / len(distances)


# One entry: a batch measures many images against the same style. The entry holds the
# style image itself, so the id in its key cannot be reused while it is cached.
_style_cache: Dict[str, object] = {}


def _style_grams(style_image: Image.Image, side: int, device: runtime.Device) -> Dict[str, torch.Tensor]:
    key = (id(style_image), style_image.size, side, str(device.torch_device))
    if _style_cache.get("key") != key:
        style = imaging.fit(style_image if style_image.mode == "RGB" else style_image.convert("RGB"), side)
        features = vgg.model(device)(imaging.to_tensor([style], device.torch_device, torch.float32), vgg.STYLE_LAYERS)
        _style_cache.update(key=key, image=style_image, grams={name: vgg.gram(features[name])[0] for name in vgg.STYLE_LAYERS})
    return _style_cache["grams"]


def ciede2000(lab1: torch.Tensor, lab2: torch.Tensor, *, lightness: bool = True) -> torch.Tensor:
    """CIEDE2000 colour difference of CIELAB colours (channels last), kL = kC = kH = 1.

    Implemented after Sharma, Wu & Dalal, "The CIEDE2000 Color-Difference Formula:
    Implementation Notes, Supplementary Test Data, and Mathematical Observations",
    Color Res. Appl. 30(1), 2005, including their notes on hue of achromatic colours
    (h' = 0 when a' = b' = 0) and on the mean hue across the 0/360 boundary.

    With ``lightness=False`` the lightness term (dL'/S_L)^2 is dropped: the chromatic
    difference, blind to the lightness changes a style deliberately makes, and the one
    that matters for "the product's colours stay true".
    """
    l1, a1, b1 = lab1.unbind(-1)
    l2, a2, b2 = lab2.unbind(-1)
    c_bar = (torch.hypot(a1, b1) + torch.hypot(a2, b2)) / 2
    c_bar7 = c_bar**7
    g = 0.5 * (1 - torch.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = torch.hypot(a1p, b1), torch.hypot(a2p, b2)
    h1p = torch.where((a1p == 0) & (b1 == 0), 0.0, torch.rad2deg(torch.atan2(b1, a1p)) % 360)
    h2p = torch.where((a2p == 0) & (b2 == 0), 0.0, torch.rad2deg(torch.atan2(b2, a2p)) % 360)
    chroma_product = c1p * c2p

    d_lp = l2 - l1
    d_cp = c2p - c1p
    dh = h2p - h1p
    dh = torch.where(dh > 180, dh - 360, torch.where(dh < -180, dh + 360, dh))
    dh = torch.where(chroma_product == 0, 0.0, dh)
    d_hp = 2 * torch.sqrt(chroma_product) * torch.sin(torch.deg2rad(dh) / 2)

    l_bar = (l1 + l2) / 2
    c_bar_p = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = torch.where(
        (h1p - h2p).abs() <= 180, h_sum / 2, torch.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)
    )
    h_bar = torch.where(chroma_product == 0, h_sum, h_bar)
    t = (
        1
        - 0.17 * torch.cos(torch.deg2rad(h_bar - 30))
        + 0.24 * torch.cos(torch.deg2rad(2 * h_bar))
        + 0.32 * torch.cos(torch.deg2rad(3 * h_bar + 6))
        - 0.20 * torch.cos(torch.deg2rad(4 * h_bar - 63))
    )
    d_theta = 30 * torch.exp(-(((h_bar - 275) / 25) ** 2))
    c_bar_p7 = c_bar_p**7
    r_c = 2 * torch.sqrt(c_bar_p7 / (c_bar_p7 + 25.0**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / torch.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar_p
    s_h = 1 + 0.015 * c_bar_p * t
    r_t = -torch.sin(torch.deg2rad(2 * d_theta)) * r_c

    chroma_term = d_cp / s_c
    hue_term = d_hp / s_h
    total = chroma_term**2 + hue_term**2 + r_t * chroma_term * hue_term
    if lightness:
        total = total + (d_lp / s_l) ** 2
    return torch.sqrt(total.clamp_min(0))


def color_difference(
    a: Image.Image, b: Image.Image, mask: Optional[Image.Image] = None, *, lightness: bool = True
) -> float:
    """Mean CIEDE2000 between two images, over all pixels or over ``mask > 0`` (the product).

    ``lightness=False`` gives the chromatic variant (see :func:`ciede2000`). The mask is
    resized with nearest-neighbour to the metric size; an empty mask gives 0.0 (no
    product pixels, nothing that could change colour).
    """
    a, b = _pair(a, b)
    difference = ciede2000(colorspace.srgb_to_lab(_pixels(a)), colorspace.srgb_to_lab(_pixels(b)), lightness=lightness)
    if mask is not None:
        selected = torch.from_numpy(np.asarray(mask.convert("L").resize(a.size, Image.Resampling.NEAREST)) > 0)
        if not bool(selected.any()):
            return 0.0
        difference = difference[selected]
    return float(difference.mean())


def measure(
    original: Image.Image,
    stylized: Image.Image,
    style_image: Optional[Image.Image] = None,
    device: Optional[runtime.Device] = None,
    mask: Optional[Image.Image] = None,
) -> Dict[str, Optional[float]]:
    """All metrics of one rendering, as plain floats for storage and display.

    Keys: ``ssim`` (luminance SSIM to the original), ``content_distance`` (relu4_2,
    relative), ``style_distance`` and ``style_distance_original`` (the stylized image's and
    the untouched photo's distance to the style; None without a style image: the
    former should be well below the latter), and ``color_difference``: the *chromatic*
    CIEDE2000 over the product. It is chromatic because styling changes lightness on
    purpose, and the promise to shops is that a product's colours (hue and chroma) stay
    true: with colour preservation on it stays under 3 on real photos, about the
    threshold where a difference becomes noticeable side by side. The product is
    ``mask > 0`` if a mask is given, else the original's alpha if it has real
    transparency, else the whole image.
    """
    if mask is None:
        mask = imaging.alpha_mask(original)
    device = _vgg_device(device)
    # One VGG pass over the pair serves the content distance and both style distances.
    a, b = _pair(original, stylized)
    layers = [*vgg.STYLE_LAYERS, vgg.CONTENT_LAYER]
    with torch.no_grad():
        features = vgg.model(device)(imaging.to_tensor([a, b], device.torch_device, torch.float32), layers)
        result: Dict[str, Optional[float]] = {
            "ssim": ssim_luminance(a, b),
            "content_distance": _content_change(features),
            "style_distance": None,
            "style_distance_original": None,
            "color_difference": color_difference(a, b, mask, lightness=False),
        }
        if style_image is not None:
            target = _style_grams(style_image, max(a.size), device)
            result["style_distance"] = _gram_distance(features, 1, target)
            result["style_distance_original"] = _gram_distance(features, 0, target)
    return result
