"""Product masks (U²-Net-p): parity with onnxruntime, masks of known shape, frame-filling shots.

Parity is against the packaged graph itself (it is float; batch norm already folded).
Masks are judged on generated studio shots whose true mask is known: plain and
patterned objects of several shapes and colours, dark saturated ones included, on a
light backdrop with a soft gradient. Frame-filling textiles use seeds (and two weaves)
the fills-frame thresholds were not tuned on (``saliency._fills_frame``).
"""
import math
import sys

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from stylestore.engine import colorspace, runtime, saliency, weights
from stylestore.engine.errors import WeightsError
from tests.engine.samples import one_thread, photo  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = runtime.pick_device("cpu", "exact")
SIZE = (384, 320)  # width, height of the generated photos: not square, not 320
DEEP_RED, NAVY = (120, 20, 30), (38, 48, 110)
CREAM, SKY, ORANGE = (240, 225, 160), (160, 195, 230), (200, 90, 30)


@pytest.fixture(scope="module")
def network():
    return runtime.cached("u2netp", CPU, saliency.U2NetP.from_package)


def lightness(rgb) -> float:
    return float(colorspace.srgb_to_lab(torch.tensor(rgb, dtype=torch.float64) / 255)[0])


def studio(shape: str, colour, extent, seed: int, pattern: Image.Image | None = None):
    """A studio shot and its true mask: a shaded object (``colour``, or ``pattern`` where
    given) with a soft contact shadow, on a light backdrop with a vertical gradient.

    ``extent`` is the object's (width, height) in pixels; edges are anti-aliased (4x
    supersampled), so the mask is soft like a real one.
    """
    rng = np.random.default_rng(seed)
    w, h = SIZE
    ew, eh = extent
    cx, cy = w / 2, h / 2
    ss = 4
    big = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(big)
    box = [(cx - ew / 2) * ss, (cy - eh / 2) * ss, (cx + ew / 2) * ss, (cy + eh / 2) * ss]
    if shape == "ellipse":
        draw.ellipse(box, fill=255)
    elif shape == "rectangle":
        draw.rounded_rectangle(box, radius=6 * ss, fill=255)
    elif shape == "star":
        points = [
            (cx + r * math.sin(math.pi * i / 5), cy - r * math.cos(math.pi * i / 5))
            for i, r in enumerate([eh / 2, eh / 4.5] * 5)
        ]
        draw.polygon([(x * ss, y * ss) for x, y in points], fill=255)
    elif shape == "polygon":
        corners = [(-1 / 2, 1 / 2), (1 / 2, 1 / 2), (1 / 4, -1 / 2), (-1 / 3, -1 / 3)]
        draw.polygon([((cx + fx * ew) * ss, (cy + fy * eh) * ss) for fx, fy in corners], fill=255)
    mask = big.resize(SIZE, Image.Resampling.BOX)
    m = np.asarray(mask, dtype=np.float64)[..., None] / 255
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    t = (yy / (h - 1))[..., None]
    backdrop = np.array((236, 236, 233), float) * (1 - t) + np.array((250, 250, 248), float) * t
    shadow = np.asarray(Image.fromarray((m[..., 0] * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(10)))
    backdrop = backdrop * (1 - 0.12 * np.roll(shadow / 255, 6, axis=0)[..., None])
    light = 1.0 + 0.18 * (((cx - xx) / ew + (cy - yy) / eh) / 2)[..., None]
    surface = np.asarray(pattern, dtype=np.float64) if pattern is not None else np.array(colour, float)
    obj = surface * light + rng.normal(0, 2.0, (h, w, 1))
    pixels = obj * m + backdrop * (1 - m) + rng.normal(0, 1.0, (h, w, 3))
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)), mask


def woven(kind: str, seed: int) -> Image.Image:
    """A textile edge to edge: a twill plaid, a zigzag weave, a herringbone, stripes or dots."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    palette = rng.integers(20, 235, (5, 3)).astype(float)
    if kind == "plaid":
        bw = rng.integers(8, 30)
        twill = ((xx + yy) // 2) % 2 == 0
        img = np.where(twill[..., None], palette[(xx // bw) % 3], palette[(yy // bw) % 3 + 2])
    elif kind == "zigzag":
        period, amp = rng.integers(30, 70), rng.integers(10, 40)
        phase = np.abs(((yy % period) / period) * 2 - 1) * amp
        img = palette[((xx + phase) // rng.integers(12, 30)).astype(int) % 4]
    elif kind == "herringbone":
        bw = rng.integers(6, 14)
        diag = np.where((xx // (bw * 2)) % 2 == 0, xx + yy, xx - yy) // bw % 2
        img = palette[diag + 2 * ((yy // 40) % 2)]
    elif kind == "stripes":
        edges = np.cumsum(rng.integers(5, 40, 50))
        img = palette[np.searchsorted(edges, (xx * np.cos(0.3 * seed) + yy * np.sin(0.3 * seed)) % edges[-1]) % 5]
    elif kind == "dots":
        p = rng.integers(24, 60)
        d = np.hypot((xx % p) - p / 2, (yy % p) - p / 2)
        img = np.where((d < p * rng.uniform(0.2, 0.4))[..., None], palette[0], palette[1])
    if kind in ("plaid", "zigzag", "herringbone"):
        img = img * (1 + 0.08 * np.sin(xx * 1.7) * np.sin(yy * 1.3))[..., None]  # thread relief
    img = img + rng.normal(0, 4, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def iou(a: Image.Image, b: Image.Image) -> float:
    a, b = np.asarray(a) >= 128, np.asarray(b) >= 128
    return float((a & b).sum() / (a | b).sum())


def test_weights_come_from_the_distribution_without_importing_rembg(network):
    location = weights.path("u2netp")
    assert location.name == "u2netp.onnx" and location.stat().st_size == 4_574_861
    assert "rembg" not in sys.modules


def test_a_missing_distribution_is_a_weights_error(monkeypatch):
    monkeypatch.setitem(weights.FILES, "u2netp", (weights.Distribution("no-such-dist-stylestore"), "x.onnx"))
    with pytest.raises(WeightsError, match="'no-such-dist-stylestore' holding the u2netp weights is not installed"):
        weights.path("u2netp")


def test_matches_the_packaged_graph(network):
    """The graph takes one image at a time; our forward takes both in one batch."""
    session = onnxruntime.InferenceSession(str(weights.path("u2netp")), providers=["CPUExecutionProvider"])
    batch = saliency.preprocess([photo("delft-basin"), photo("serape-blanket")], CPU)
    with torch.inference_mode():
        got = network(batch).numpy()
    for i in range(len(batch)):
        fused = session.run(None, {"input.1": batch[i : i + 1].contiguous().numpy()})[0]
        assert np.abs(got[i : i + 1] - fused).max() < 1e-4


def test_masks_of_studio_shots_match_the_true_masks():
    plaid = woven("plaid", 7)
    cases = [
        studio("ellipse", DEEP_RED, (200, 150), 1),
        studio("rectangle", NAVY, (240, 130), 2),
        studio("star", DEEP_RED, (230, 230), 3),
        studio("polygon", NAVY, (180, 200), 4),
        studio("ellipse", CREAM, (128, 128), 5),
        studio("star", SKY, (256, 256), 6),
        studio("rectangle", ORANGE, (140, 256), 7),
        studio("ellipse", None, (220, 180), 8, pattern=plaid),
    ]
    assert 20 <= lightness(DEEP_RED) <= 30 and 20 <= lightness(NAVY) <= 30
    results = saliency.product_masks([image for image, _ in cases], CPU)
    for (image, truth), result in zip(cases, results):
        assert result.mask.mode == "L" and result.mask.size == image.size
        assert not result.fills_frame and result.confidence > 0.95
        assert iou(result.mask, truth) >= 0.95
        assert abs(result.coverage - np.asarray(truth).mean() / 255) < 0.02


def test_default_precision_gives_the_same_mask():
    """The runtime's ``fast`` precision (bf16 on CPUs that have it, fp16 on CUDA)."""
    image = photo("panathenaic-amphora")  # touches the top and bottom of the frame
    exact, fast = saliency.product_mask(image, CPU), saliency.product_mask(image, runtime.pick_device("cpu"))
    assert not exact.fills_frame and not fast.fills_frame
    assert iou(exact.mask, fast.mask) >= 0.98


@pytest.mark.parametrize(
    "kind,seed",
    [("plaid", 100), ("zigzag", 101), ("herringbone", 102), ("stripes", 103), ("dots", 104)],
)
def test_a_textile_edge_to_edge_fills_the_frame(kind, seed):
    image = woven(kind, seed)
    result = saliency.product_mask(image, CPU)
    assert result.fills_frame and result.coverage == 1.0
    assert result.mask.size == image.size and result.mask.getextrema() == (255, 255)


def test_the_demo_serape_fills_the_frame_when_cropped_to_the_cloth():
    serape = photo("serape-blanket")  # a blanket on a backdrop: a clear object
    w, h = serape.size
    whole, cloth = saliency.product_masks([serape, serape.crop((w // 5, h // 6, w * 4 // 5, h * 5 // 6))], CPU)
    assert not whole.fills_frame and 0.6 < whole.coverage < 0.9
    assert cloth.fills_frame and cloth.mask.getextrema() == (255, 255)
