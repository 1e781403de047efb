"""The Stylizer as the Django layer uses it, on small real photos (64-256 px)."""
import io

import numpy as np
import pytest
from PIL import Image

from stylestore.engine import (
    CorruptImage,
    ImageTooSmall,
    NonFiniteOutput,
    RenderOptions,
    Result,
    StyleSpec,
    StyleSpecError,
    Stylizer,
    runtime,
)
from tests.engine.samples import one_thread, painting, photo, pixels  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = dict(max_side=128)


@pytest.fixture(scope="module")
def stylizer():
    """The product's default: ``fast`` precision (bf16 on CPUs with native bf16)."""
    return Stylizer("cpu", compile=False)


@pytest.fixture(scope="module")
def exact():
    """fp32, for checks of exact equalities that bf16 rounding would blur."""
    return Stylizer("cpu", compile=False, precision="exact")


@pytest.fixture(scope="module")
def wave():
    return StyleSpec.image(painting("great-wave", (300, 200)))


def render_one(stylizer, image, style, **options) -> Result:
    (result,) = stylizer.render([image], style, RenderOptions(**options), with_metrics=False)
    assert result.error is None, result.error
    return result


def difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(pixels(a) - pixels(b)).mean())


@pytest.mark.parametrize("size, max_side, expected", [((250, 133), 128, (128, 68)), ((90, 70), 128, (90, 70))])
def test_output_has_the_fitted_size(stylizer, wave, size, max_side, expected):
    result = render_one(stylizer, photo(size=size), wave, max_side=max_side)
    assert (result.width, result.height) == result.image.size == expected


@pytest.mark.parametrize("fmt, pil_format", [("webp", "WEBP"), ("jpeg", "JPEG"), ("png", "PNG")])
def test_encoded_data_decodes_in_the_requested_format(stylizer, fmt, pil_format):
    result = render_one(stylizer, photo(size=(96, 80)), StyleSpec.preset(5), engine="preset", format=fmt, **FAST)
    with Image.open(io.BytesIO(result.data)) as decoded:
        assert decoded.format == pil_format and decoded.size == (96, 80)
    assert result.format == fmt


def test_style_vector_is_the_predictor_on_the_centre_square(exact):
    image = painting("irises", (300, 200))
    vector = exact.style_vector(image)
    assert vector.shape == (100,) and vector.dtype == np.float32
    square = image.crop((50, 0, 250, 200))
    np.testing.assert_allclose(exact.style_vector(square), vector, atol=2e-3)  # resampling only
    both = exact.style_vectors([image, painting("pink-cloud", (64, 96))])
    np.testing.assert_allclose(both[0], vector, atol=1e-5)


def test_strength_zero_stays_close_to_the_photo(stylizer, wave):
    original = photo("serape-blanket", (128, 96))
    full = render_one(stylizer, original, wave, **FAST).image
    none = render_one(stylizer, original, wave, strength=0.0, **FAST).image
    half = render_one(stylizer, original, wave, strength=0.5, **FAST).image
    assert difference(none, original) < 0.6 * difference(full, original)
    assert difference(none, original) < difference(half, original) < difference(full, original)
    preset = render_one(stylizer, original, StyleSpec.preset(3), engine="preset", strength=0.0, format="png", **FAST)
    assert difference(preset.image, original) == 0.0


def test_vector_spec_renders_like_its_image(stylizer, wave):
    original = photo(size=(96, 96))
    by_image = render_one(stylizer, original, wave, format="png", **FAST).image
    by_vector = render_one(stylizer, original, StyleSpec.vector(stylizer.style_vector(wave.value)), format="png", **FAST)
    assert difference(by_image, by_vector.image) < 1 / 255


def test_blends_are_weighted_means(stylizer, wave):
    original = photo(size=(96, 96))
    irises = StyleSpec.image(painting("irises", (200, 200)))
    mean = (stylizer.style_vector(wave.value) + 3 * stylizer.style_vector(irises.value)) / 4
    blended = render_one(stylizer, original, StyleSpec.blend([(wave, 1), (irises, 3)]), format="png", **FAST)
    expected = render_one(stylizer, original, StyleSpec.vector(mean), format="png", **FAST)
    assert difference(blended.image, expected.image) < 1 / 255

    presets = StyleSpec.blend([(StyleSpec.preset(3), 1), (StyleSpec.preset(12), 1)])
    assert presets.kind == "preset"
    np.testing.assert_allclose(presets.value, StyleSpec.preset("3:0.5,12:0.5").value)
    with pytest.raises(StyleSpecError):
        StyleSpec.blend([(StyleSpec.preset(3), 1), (wave, 1)])


def test_one_image_many_styles_in_one_forward_pass(stylizer, monkeypatch):
    calls = []
    original_stylize = runtime.stylize

    def counting(model, images, conditions, device, **kwargs):
        calls.append(len(images))
        return original_stylize(model, images, conditions, device, **kwargs)

    monkeypatch.setattr(runtime, "stylize", counting)
    styles = [StyleSpec.preset(i) for i in (0, 9, 18)]
    results = stylizer.render_styles(photo(size=(80, 64)), styles, RenderOptions(engine="preset", **FAST), with_metrics=False)
    assert calls == [3]
    images = [r.image for r in results]
    assert all(r.error is None for r in results) and difference(images[0], images[1]) > 0.02


def test_a_bad_image_does_not_fail_its_batch(stylizer, wave):
    sliver = photo(size=(400, 20))  # fitted to 128 px it is 128x6: too small for the networks
    good = photo(size=(96, 64))
    results = stylizer.render([sliver, good, good], wave, RenderOptions(**FAST), with_metrics=False)
    assert isinstance(results[0].error, ImageTooSmall) and results[0].data == b"" and results[0].image is None
    assert all(r.error is None and r.data for r in results[1:])


def test_an_unreadable_mask_fails_only_its_image(stylizer, wave):
    buffer = io.BytesIO()
    photo(size=(64, 64)).convert("L").save(buffer, "PNG")
    truncated = Image.open(io.BytesIO(buffer.getvalue()[:200]))  # opens; its pixels never load
    results = stylizer.render([photo(size=(64, 64))] * 2, wave, RenderOptions(**FAST),
                              masks=[truncated, None], with_metrics=False)
    assert isinstance(results[0].error, CorruptImage) and results[0].data == b""
    assert results[1].error is None and results[1].data


def test_regions_work_on_opaque_photos_with_a_mask_and_alpha_wins(stylizer):
    opaque = photo(size=(64, 64))
    cutout = photo(size=(64, 64)).convert("RGBA")
    square = Image.new("L", (64, 64), 0)
    square.paste(255, (16, 16, 48, 48))
    cutout.putalpha(square)
    options = RenderOptions(engine="preset", region="product", format="png", **FAST)
    opaque_result, cutout_result = stylizer.render([opaque, cutout], StyleSpec.preset(1), options,
                                                   masks=[square, None], with_metrics=False)
    assert opaque_result.error is None and opaque_result.image.mode == "RGB"
    # Outside the (feathered) product the photo is untouched; inside, the style shows.
    outside = np.abs(pixels(opaque_result.image)[:4, :4] - pixels(opaque)[:4, :4]).max()
    inside = np.abs(pixels(opaque_result.image)[24:40, 24:40] - pixels(opaque)[24:40, 24:40]).mean()
    assert outside < 2 / 255 and inside > 0.05
    assert cutout_result.error is None and cutout_result.image.mode == "RGBA"
    assert cutout_result.image.getchannel("A").getextrema() == (0, 255)


def test_non_finite_network_output_is_reported_per_image(stylizer, wave, monkeypatch):
    def poisoned(model, images, conditions, device, **kwargs):
        return [NonFiniteOutput("simulated NaN")] + [Image.new("RGB", i.size) for i in images[1:]]

    monkeypatch.setattr(runtime, "stylize", poisoned)
    results = stylizer.render([photo(size=(64, 64))] * 2, wave, RenderOptions(**FAST), with_metrics=False)
    assert isinstance(results[0].error, NonFiniteOutput) and results[1].error is None


def test_metrics_and_timings_are_reported(stylizer, wave):
    (result,) = stylizer.render([photo(size=(96, 80))], wave, RenderOptions(max_side=96))
    assert {"product_delta_e", "product_delta_e_p95", "structure", "style_visibility", "product_coverage"} <= set(
        result.metrics
    )
    # Unconstrained, the style recolours the product and shows strongly.
    assert result.metrics["product_delta_e"] > 5 and result.metrics["style_visibility"] > 0.3
    assert {"prepare_ms", "infer_ms", "encode_ms", "metrics_ms"} <= set(result.timings)


def test_optimize_engine_renders_with_progress(stylizer, wave):
    seen = []
    options = RenderOptions(engine="optimize", optimize_steps=1, max_side=64)
    results = stylizer.render([photo(size=(64, 48))] * 2, wave, options, progress=lambda d, t: seen.append((d, t)),
                              with_metrics=False)
    assert all(r.error is None and r.image.size == (64, 48) for r in results)
    assert seen == [(1, 2), (2, 2)]


@pytest.mark.parametrize(
    "options",
    [
        dict(engine="fast"),
        dict(strength=1.5),
        dict(strength=-0.1),
        dict(max_side=16),
        dict(max_side=512.0),
        dict(region="sky"),
        dict(format="gif"),
        dict(quality=0),
        dict(optimize_steps=0),
    ],
)
def test_invalid_options_raise_style_spec_error(options):
    with pytest.raises(StyleSpecError):
        RenderOptions(**options)


@pytest.mark.parametrize(
    "engine, style",
    [
        ("preset", lambda wave: wave),
        ("arbitrary", lambda wave: StyleSpec.preset(2)),
        ("optimize", lambda wave: StyleSpec.vector(np.zeros(100))),
    ],
)
def test_engine_and_style_must_match(stylizer, wave, engine, style):
    with pytest.raises(StyleSpecError):
        stylizer.render([photo(size=(64, 64))], style(wave), RenderOptions(engine=engine, **FAST))


@pytest.mark.parametrize("vector", [np.zeros(99), [float("nan")] * 100])
def test_bad_vectors_raise_style_spec_error(vector):
    with pytest.raises(StyleSpecError):
        StyleSpec.vector(vector)
