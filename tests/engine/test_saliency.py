"""Product masks (U²-Net-p): parity with onnxruntime, masks of known shape, frame-filling shots.

Parity is against the packaged graph itself (it is float; batch norm already folded).
Masks are judged on generated studio shots whose true mask is known: plain and
patterned objects of several shapes and colours, dark saturated ones included, on a
light backdrop with a soft gradient. Frame-filling textiles use seeds (and two weaves)
the fills-frame thresholds were not tuned on (``saliency._fills_frame``).
"""
import sys

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from stylestore.engine import colorspace, runtime, saliency, weights
from stylestore.engine.errors import WeightsError
from tests.engine.samples import (  # noqa: F401 - one_thread is a fixture
    CREAM, DEEP_RED, NAVY, ORANGE, SIZE, SKY, one_thread, photo, print_on_wall, studio, woven)

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = runtime.pick_device("cpu", "exact")



@pytest.fixture(scope="module")
def network():
    return runtime.cached("u2netp", CPU, saliency.U2NetP.from_package)


def lightness(rgb) -> float:
    return float(colorspace.srgb_to_lab(torch.tensor(rgb, dtype=torch.float64) / 255)[0])


def iou(a: Image.Image, b: Image.Image) -> float:
    a, b = np.asarray(a) >= 128, np.asarray(b) >= 128
    return float((a & b).sum() / (a | b).sum())


def test_weights_come_from_the_distribution_without_importing_rembg(network):
    location = weights.path("u2netp")
    assert location.name == "u2netp.onnx" and location.stat().st_size == 4_574_861
    assert "rembg" not in sys.modules


def test_a_missing_distribution_is_a_weights_error(monkeypatch):
    monkeypatch.setitem(weights.FILES, "u2netp", ("no-such-dist-stylestore", "x.onnx"))
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


@pytest.mark.parametrize("name, margin, wall", [
    ("irises", 0.03, (250, 250, 250)),
    ("the-bedroom", 0.06, (236, 234, 230)),
    ("products/moche-portrait-vessel", 0.1, (250, 250, 250)),  # a print of a product photo
])
def test_a_print_is_the_whole_print_not_the_subject_of_its_picture(name, margin, wall):
    """The network marks the picture's subject (the flowers, the vessel: IoU 0.18-0.4
    with the print); on a plain wall the mask is completed to all the wall surrounds."""
    shot, true = print_on_wall(name, margin, wall)
    (found,) = saliency.product_masks([shot], CPU)
    assert found.method == "backdrop" and not found.fills_frame
    assert iou(found.mask, true) >= 0.95


def test_a_cast_shadow_is_not_made_part_of_the_product():
    """A hard light's shadow stands out from the backdrop too, but the network's object
    is most of what stands out: its mask stays."""
    size = (240, 200)
    shadow = Image.new("L", size, 0)
    ImageDraw.Draw(shadow).rounded_rectangle((90, 72, 198, 190), radius=12, fill=120)
    backdrop = np.full((size[1], size[0], 3), (245, 245, 243), dtype=np.float64)
    backdrop -= np.asarray(shadow.filter(ImageFilter.GaussianBlur(6)), dtype=np.float64)[..., None]
    shot = Image.fromarray(backdrop.clip(0, 255).astype(np.uint8))
    true = Image.new("L", size, 0)
    ImageDraw.Draw(true).rounded_rectangle((72, 60, 180, 178), radius=12, fill=255)
    shot.paste((150, 80, 120), mask=true)
    (found,) = saliency.product_masks([shot], CPU)
    assert found.method == "network" and iou(found.mask, true) >= 0.9
