"""The product stays true: tone-true colour, regions on opaque photos, honest metrics.

Generated studio shots (``samples.studio``: an object with a known mask on a light
backdrop), dark saturated ones included, go through the real networks: the saliency
network finds the product, the arbitrary-style network styles the picture, and the
metrics judge the product against its photo.
"""
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from stylestore.engine import RenderOptions, StyleSpec, Stylizer, colorspace, metrics, product, runtime
from tests.engine.samples import DEEP_RED, NAVY, one_thread, painting, print_on_wall, studio, woven  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_thread")

DEFAULTS = dict(preserve_color=True, region="all", strength=1.0)  # a new image style's defaults


@pytest.fixture(scope="module")
def stylizer():
    return Stylizer(device=runtime.pick_device("cpu"), compile=False)


@pytest.fixture(scope="module")
def wave():
    return StyleSpec.image(painting("great-wave", size=(256, 256)))


def lab(image):
    return colorspace.srgb_to_lab(torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255))


def delta_e(a, b, where):
    """Mean CIEDE2000 between two pictures over the pixels ``where`` is true."""
    return float(metrics.ciede2000(lab(a), lab(b))[torch.from_numpy(where)].mean())


@pytest.mark.parametrize("colour", [DEEP_RED, NAVY], ids=["deep red", "navy"])
def test_a_dark_saturated_product_keeps_its_colour_while_the_picture_is_styled(stylizer, wave, colour):
    shot, true_mask = studio("ellipse", colour, (200, 170), seed=3)
    assert 15 < float(lab(shot)[160, 192, 0]) < 35  # a dark product: L* about 20-30
    (found,) = stylizer.product_masks([shot])
    (result,) = stylizer.render([shot], wave, RenderOptions(max_side=384, **DEFAULTS), masks=[found.mask])
    assert result.error is None
    inside = np.asarray(true_mask) >= 250
    outside = np.asarray(true_mask) == 0
    # The product: true in colour and lightness (the gate's default ceiling is 3).
    assert result.metrics["product_delta_e"] <= 3.0
    assert delta_e(shot, result.image, inside) <= 3.0
    assert abs(float(lab(result.image)[..., 0][torch.from_numpy(inside)].mean())
               - float(lab(shot)[..., 0][torch.from_numpy(inside)].mean())) < 2.0
    # The picture: visibly styled around it, and the product keeps its shape.
    assert delta_e(shot, result.image, outside) > 10
    assert result.metrics["style_visibility"] > 0.1
    assert result.metrics["structure"] > 0.8


def test_without_colour_preservation_the_product_changes_and_the_metric_says_so(stylizer, wave):
    shot, _ = studio("rectangle", DEEP_RED, (200, 170), seed=4)
    (found,) = stylizer.product_masks([shot])
    options = RenderOptions(max_side=384, preserve_color=False, region="all")
    (result,) = stylizer.render([shot], wave, options, masks=[found.mask])
    assert result.metrics["product_delta_e"] > 10 and result.metrics["style_visibility"] > 0.9


def test_background_mode_leaves_the_product_as_photographed(stylizer, wave):
    shot, true_mask = studio("star", NAVY, (220, 220), seed=5)
    (found,) = stylizer.product_masks([shot])
    (result,) = stylizer.render([shot], wave, RenderOptions(max_side=384, region="background"), masks=[found.mask])
    inside = np.asarray(true_mask) >= 250
    assert delta_e(shot, result.image, inside) <= 1.0
    assert result.metrics["product_delta_e"] <= 1.0
    assert delta_e(shot, result.image, np.asarray(true_mask) == 0) > 10


def test_product_mode_leaves_the_backdrop_as_photographed(stylizer, wave):
    shot, true_mask = studio("polygon", DEEP_RED, (200, 160), seed=6)
    (found,) = stylizer.product_masks([shot])
    options = RenderOptions(max_side=384, region="product", preserve_color=False)
    (result,) = stylizer.render([shot], wave, options, masks=[found.mask])
    # Away from the product (beyond the feathered seam), the backdrop is untouched.
    far = np.asarray(Image.fromarray(np.asarray(true_mask)).resize(shot.size)) == 0
    far[100:220, 70:314] = False
    assert delta_e(shot, result.image, far) <= 1.0
    assert delta_e(shot, result.image, np.asarray(true_mask) >= 250) > 10


def test_a_textile_filling_the_frame_is_the_product_and_keeps_its_tone(stylizer, wave):
    cloth = woven("zigzag", seed=1)
    (found,) = stylizer.product_masks([cloth])
    assert found.fills_frame and found.method == "full_frame"
    (result,) = stylizer.render([cloth], wave, RenderOptions(max_side=384, **DEFAULTS), masks=[found.mask])
    assert result.metrics["product_coverage"] == 1.0
    assert result.metrics["product_delta_e"] <= 3.0


def test_a_print_keeps_its_whole_picture_while_the_wall_is_styled(stylizer, wave):
    """The network marks the flowers of a print of Irises; styled as background, the
    print's light ground changed (mean ΔE 6.8 over the print before the mask was
    completed from the wall, while the metric over the flowers said 2.0). The whole
    print is the product now: true, and the wall styled."""
    shot, true = print_on_wall("irises", 0.03)
    (found,) = stylizer.product_masks([shot])
    (result,) = stylizer.render([shot], wave, RenderOptions(max_side=240, **DEFAULTS), masks=[found.mask])
    on_print = np.asarray(true) >= 128
    assert delta_e(shot, result.image, on_print) <= 3.0
    assert delta_e(shot, result.image, ~on_print) > 5  # the wall took the style


def test_the_photos_own_transparency_wins_over_the_network(stylizer):
    shot, _ = studio("ellipse", NAVY, (200, 170), seed=7)
    cutout = shot.convert("RGBA")
    alpha = Image.new("L", shot.size, 0)
    alpha.paste(255, (10, 10, 110, 90))  # deliberately not where the object is
    cutout.putalpha(alpha)
    masks = stylizer.product_masks([cutout, shot])
    assert masks[0].method == "alpha" and np.array_equal(np.asarray(masks[0].mask), np.asarray(alpha))
    assert masks[1].method == "network"


def test_the_networks_see_a_fixed_grain_on_the_backdrop_and_the_product_as_photographed():
    photo = Image.new("RGB", (160, 120), (128, 128, 128))
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (40, 30, 120, 90))
    seen = np.asarray(product.textured_backdrop(photo, mask), dtype=np.float32)
    inside, backdrop = np.asarray(mask) == 255, np.asarray(mask) == 0
    assert (seen[inside] == 128).all()
    assert seen[backdrop].std() == pytest.approx(product.BACKDROP_GRAIN * 255, rel=0.15)
    assert abs(seen[backdrop].mean() - 128) < 1.5  # grain, not a shift of the backdrop's colour
    assert np.array_equal(seen, np.asarray(product.textured_backdrop(photo, mask)))  # the same for every render
    assert product.textured_backdrop(photo, None) is photo  # no mask: the whole photo is the product


@pytest.mark.parametrize("style_name", ["great-wave", "irises"])
def test_a_flat_studio_backdrop_takes_the_styles_strokes(stylizer, style_name):
    """A product on a seamless white backdrop: without grain for the network to paint,
    the backdrop came out one flat colour (L* spread 2.7-5.9 over the far backdrop,
    these two styles, navy, red and white products) and the style showed only as a
    glow along the product's edge; with it, 11-22."""
    shot = Image.new("RGB", (192, 160), (245, 245, 242))
    true_mask = Image.new("L", shot.size, 0)
    for image, fill in ((shot, NAVY), (true_mask, 255)):
        ImageDraw.Draw(image).rounded_rectangle((56, 40, 136, 120), 16, fill=fill)
    (found,) = stylizer.product_masks([shot])
    style = StyleSpec.image(painting(style_name, size=(256, 256)))
    (result,) = stylizer.render([shot], style, RenderOptions(max_side=192, **DEFAULTS), masks=[found.mask])
    far = np.asarray(true_mask.filter(ImageFilter.MaxFilter(41))) == 0  # 20 px and more from the product
    assert float(lab(result.image)[..., 0][torch.from_numpy(far)].std()) > 9
    assert result.metrics["product_delta_e"] <= 3.0 and result.metrics["structure"] > 0.9
    assert delta_e(shot, result.image, np.asarray(true_mask) == 255) <= 3.0


def test_the_seam_is_soft_and_outside_the_product():
    mask = Image.new("L", (200, 100), 0)
    mask.paste(255, (50, 20, 150, 80))
    weights = product.feather(product.mask_weights(mask, mask.size))
    assert float(weights[20:80, 50:150].min()) == pytest.approx(1.0)  # the product itself: fully inside
    row = weights[50, 140:165].numpy()  # the product's right edge is at x = 150
    soft = np.flatnonzero((row > 0) & (row < 1)) + 140
    assert (np.diff(row) <= 1e-6).all() and len(soft) >= 2 and soft.min() >= 150  # a gradual fall, outside
    assert float(weights[0, 0]) == 0.0


def test_no_ring_of_the_photos_backdrop_around_the_product():
    """The seam is narrow: a few pixels outside the product the picture is the style's,
    not the photo's backdrop (a black one showed as a dark ring around the product)."""
    mask = Image.new("L", (768, 512), 0)
    mask.paste(255, (200, 100, 568, 412))
    weights = product.feather(product.mask_weights(mask, mask.size))
    assert float(weights[256, 568 + 4:].max()) == 0.0  # 4 px outside the product's right edge
    assert float(weights[100:412, 200:568].min()) == pytest.approx(1.0)


@pytest.mark.parametrize("region, preserve_color", [("all", True), ("background", False)])
def test_no_ring_of_a_light_backdrop_around_a_dark_product(stylizer, region, preserve_color):
    """Around the product the seam shows the style, not the photo's backdrop: with the
    network's mask, a navy product on a light backdrop under a dark style had a light
    ring a few pixels wide where the mask fades (mean L* 47 and up to 80 against the
    style's 14). The product's own pixels stay the photo's."""
    shot, true_mask = studio("ellipse", NAVY, (200, 170), seed=5)
    (found,) = stylizer.product_masks([shot])
    dusk = Image.new("RGB", shot.size, (40, 30, 60))
    published = product.compose(dusk, shot, found.mask, region, preserve_color)
    true = np.asarray(true_mask)
    ring = (np.asarray(true_mask.filter(ImageFilter.MaxFilter(13))) > 0) & (true == 0)  # 6 px outside
    lightness = lab(published)[..., 0][torch.from_numpy(ring)]
    style_lightness = float(lab(dusk)[0, 0, 0])
    assert float(lightness.mean()) < style_lightness + 4
    assert float(lightness.max()) < style_lightness + 20
    assert delta_e(shot, published, true >= 250) < 0.5


def test_a_light_fringe_the_mask_is_sure_of_stays_the_products():
    """A dark blanket with a light fringe on a light backdrop: the fringe's colour is
    the backdrop's, but where the mask is sure of a pixel it is the product's, and it
    stays the photo's to the last pixel."""
    shot = Image.new("RGB", (160, 120), (236, 236, 232))
    shot.paste((244, 242, 236), (40, 30, 120, 90))  # the fringe: the outer 3 px
    shot.paste((120, 20, 30), (43, 33, 117, 87))
    mask = Image.new("L", shot.size, 0)
    mask.paste(255, (40, 30, 120, 90))
    dusk = Image.new("RGB", shot.size, (40, 30, 60))
    published = product.compose(dusk, shot, mask, "background")
    on_product = np.asarray(mask) == 255
    assert np.array_equal(np.asarray(published)[on_product], np.asarray(shot)[on_product])


def test_a_product_like_its_backdrop_keeps_the_masks_seam():
    """Where colour cannot tell the product from its backdrop (a white plate on white:
    only the mask knows where it is), the seam is the mask's feather, as without the
    colour matte."""
    shot = Image.new("RGB", (160, 120), (240, 240, 240))
    mask = Image.new("L", shot.size, 0)
    mask.paste(255, (40, 30, 120, 90))
    dusk = Image.new("RGB", shot.size, (40, 30, 60))
    published = lab(product.compose(dusk, shot, mask, "background"))
    weights = product.feather(product.mask_weights(mask, shot.size))[..., None]
    assert torch.allclose(published, lab(shot) * weights + lab(dusk) * (1 - weights), atol=0.6)


@pytest.mark.parametrize("box", [(40, 30, 200, 150), (-30, 60, 120, 260)], ids=["inside", "off the edge"])
def test_the_matte_worked_out_around_the_seam_equals_the_whole_pictures(box):
    """The matte is worked out on the seam's bounding box with a margin: the same
    result as on the whole picture, for a product inside it or cut by its edge."""
    mask = Image.new("L", (320, 240), 0)
    ImageDraw.Draw(mask).ellipse(box, fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(1.5))
    photo = torch.from_numpy(np.random.default_rng(4).uniform(0, 100, (240, 320, 3)).astype(np.float32))
    raw = product.mask_weights(mask, mask.size)
    weights = product.feather(raw)
    alpha, backdrop, trust = product.backdrop_matte(photo, raw, weights)
    inside, core, seam = product._seam(raw, weights)
    whole = product._matte(photo, inside, core, seam, weights, 4)
    assert torch.equal(alpha, whole[0]) and torch.equal(trust, whole[2])
    assert torch.equal(backdrop[seam], whole[1][seam])


def test_metrics_cost_a_small_share_of_what_they_measure():
    """The metrics work on a bounded copy: their result for a big picture equals that
    for its 256 px reduction (what keeps them cheap whatever the output size)."""
    shot, true_mask = studio("ellipse", DEEP_RED, (200, 170), seed=8)
    shifted = Image.eval(shot, lambda v: min(255, v + 12))
    big = metrics.measure(shot.resize((768, 640)), shifted.resize((768, 640)), true_mask.resize((768, 640)))
    small = metrics.measure(shot, shifted, true_mask)
    assert big["product_delta_e"] == pytest.approx(small["product_delta_e"], rel=0.05)
    assert big["structure"] == pytest.approx(small["structure"], abs=0.02)
