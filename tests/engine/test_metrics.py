"""Quality metrics: CIEDE2000 against Sharma's data, SSIM, VGG distances, measure()."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from stylestore.engine import colorspace, gate, imaging, metrics

DEMO = Path(__file__).resolve().parents[2] / "shop" / "demo_data"

#: Sharma, Wu & Dalal, "The CIEDE2000 Color-Difference Formula: Implementation Notes,
#: Supplementary Test Data, and Mathematical Observations", Color Res. Appl. 30(1), 2005,
#: Table 1: L1 a1 b1, L2 a2 b2, dE00 (kL = kC = kH = 1), published to 4 decimals.
SHARMA_PAIRS = (
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
)


def test_ciede2000_matches_sharma_test_data():
    table = torch.tensor(SHARMA_PAIRS, dtype=torch.float64)
    forward = metrics.ciede2000(table[:, 0:3], table[:, 3:6])
    backward = metrics.ciede2000(table[:, 3:6], table[:, 0:3])
    assert torch.allclose(forward, table[:, 6], atol=1e-4, rtol=0)
    assert torch.allclose(backward, table[:, 6], atol=1e-4, rtol=0)


def test_chromatic_variant_ignores_lightness_only():
    lab1 = torch.tensor([[50.0, 20.0, -10.0], [30.0, 0.0, 0.0]], dtype=torch.float64)
    lab2 = lab1.clone()
    lab2[:, 0] += 25
    assert torch.allclose(metrics.ciede2000(lab1, lab2, lightness=False), torch.zeros(2, dtype=torch.float64))
    shifted = lab2.clone()
    shifted[:, 1] += 5
    chromatic = metrics.ciede2000(lab1, shifted, lightness=False)
    assert bool((chromatic > 1).all()) and bool((chromatic < metrics.ciede2000(lab1, shifted)).all())


def test_lab_conversion():
    rgb = torch.rand(32, 32, 3, dtype=torch.float64)
    assert torch.allclose(colorspace.lab_to_srgb(colorspace.srgb_to_lab(rgb)), rgb, atol=1e-9)
    greys = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None].expand(11, 3)
    lab = colorspace.srgb_to_lab(greys)
    assert lab[:, 1:].abs().max() < 1e-9
    assert abs(float(lab[-1, 0]) - 100) < 1e-6
    red = colorspace.srgb_to_lab(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert torch.allclose(red, torch.tensor([53.24, 80.09, 67.20], dtype=torch.float64), atol=0.02)


@pytest.fixture(scope="module")
def photo():
    return imaging.fit(gate.open_image(DEMO / "products" / "delft-basin.jpg"), 64)


@pytest.fixture(scope="module")
def style():
    return imaging.fit(gate.open_image(DEMO / "styles" / "great-wave.jpg"), 64)


def test_measure_is_zero_for_the_photo_itself(photo):
    result = metrics.measure(photo, photo, stylized=photo)
    assert result["product_delta_e"] == pytest.approx(0.0, abs=1e-4)
    assert result["product_delta_e_p95"] == pytest.approx(0.0, abs=1e-4)
    assert result["structure"] == pytest.approx(1.0, abs=1e-4)
    assert result["product_coverage"] == 1.0 and result["style_visibility"] is None  # no reach at all


def test_lightness_counts_a_darker_or_lighter_product_as_changed(photo):
    """The old metric was chromatic only and called a pink blanket true: a pure lightness
    change now shows in ``product_delta_e``."""
    lighter = Image.eval(photo, lambda v: min(255, int(v * 1.4) + 30))
    assert metrics.measure(photo, lighter)["product_delta_e"] > 10


def test_only_the_product_counts(photo):
    width, height = photo.size
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (16, 16, 48, 48))  # the product: a square in the middle
    background_changed = photo.copy()
    background_changed.paste((0, 255, 0), (0, 0, width, 8))
    product_changed = photo.copy()
    product_changed.paste((255, 0, 0), (20, 20, 44, 44))
    assert metrics.measure(photo, background_changed, mask)["product_delta_e"] == pytest.approx(0.0, abs=1e-4)
    assert metrics.measure(photo, background_changed)["product_delta_e"] > 1
    assert metrics.measure(photo, product_changed, mask)["product_delta_e"] > 10
    # The photo's alpha is its mask when none is given.
    cutout = photo.convert("RGBA")
    cutout.putalpha(mask)
    assert metrics.measure(cutout, background_changed)["product_delta_e"] == pytest.approx(0.0, abs=1e-4)
    share = float((np.asarray(mask) >= 128).mean())
    assert metrics.measure(cutout, background_changed)["product_coverage"] == pytest.approx(share, abs=0.03)


def test_the_products_outline_is_judged_without_its_surroundings():
    """At the metric size a pixel on the product's outline is part surroundings: a
    product restyled around right up to its edge is still true (0.73 with its outline
    judged, all of it from the outline), and a changed product is still seen."""
    box = (101, 77, 299, 223)  # not on the 160 px grid: the outline's pixels are mixed
    photo = Image.new("RGB", (400, 300), (240, 240, 240))
    photo.paste((20, 20, 80), box)
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, box)
    restyled = Image.new("RGB", photo.size, (200, 40, 30))
    restyled.paste(photo.crop(box), box)
    assert metrics.measure(photo, restyled, mask)["product_delta_e"] < 0.1
    changed = restyled.copy()
    changed.paste((20, 60, 80), box)
    assert metrics.measure(photo, changed, mask)["product_delta_e"] > 10


def test_structure_sees_lost_detail_but_not_a_tone_shift(photo):
    blurred = photo.filter(ImageFilter.GaussianBlur(3))
    darker = Image.eval(photo, lambda v: int(v * 0.7))
    assert metrics.measure(photo, blurred)["structure"] < 0.7
    assert metrics.measure(photo, darker)["structure"] > 0.95


def test_metrics_work_at_bounded_resolution():
    big = Image.fromarray(np.random.default_rng(0).integers(0, 256, (600, 900, 3), dtype=np.uint8))
    a, b = metrics._pair(big, big.resize((300, 200)))
    assert max(a.size) == metrics.METRIC_SIDE and a.size == b.size
