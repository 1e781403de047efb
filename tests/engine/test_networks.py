"""The hand-written networks against onnxruntime running the packaged graphs.

Parity is against the float version of each graph (``float_graphs``): with the same
float weights and activations, the PyTorch port in ``exact`` (fp32) precision must agree
to ~1e-6, on real photos, at the graphs' own size and at an odd size that exercises
padding and cropping. The reduced precisions (fp16 as on CUDA, bf16 as on CPUs that
have it) are checked against fp32.
"""
import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from stylestore.engine import metrics, onnx_weights, phase_conv, preset_names, presets, runtime, weights
from stylestore.engine.arbitrary import STYLE_DIM, StylePredictor, Transformer, blend_vectors
from stylestore.engine.errors import StyleSpecError, WeightsError
from stylestore.engine.presets import MultiStyleNet
from tests.engine import float_graphs
from tests.engine.samples import one_thread, painting, photo, pixels  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = runtime.pick_device("cpu", "exact")
ODD = (333, 250)  # width, height: neither a multiple of 4 nor square


@pytest.fixture(scope="module")
def nets():
    factories = {"predictor": StylePredictor, "transformer": Transformer, "presets": MultiStyleNet}
    return {name: runtime.cached(name, CPU, f.from_package) for name, f in factories.items()}


@pytest.fixture(scope="module")
def sessions():
    return {
        "predictor": float_graphs.session("arbitrary_predict", same_padding=True),
        "transformer": float_graphs.session("arbitrary_transform"),
    }


def nchw(array: np.ndarray) -> torch.Tensor:
    """(H, W, 3) -> channels_last (1, 3, H, W), as the runtime feeds the networks."""
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)


def reflect_to_multiple_of_4(array: np.ndarray) -> np.ndarray:
    h, w = array.shape[:2]
    return np.pad(array, ((0, -h % 4), (0, -w % 4), (0, 0)), mode="reflect")


def run(model, *args):
    with torch.inference_mode():
        return model(*args).float()


@pytest.mark.parametrize("size", [(256, 256), ODD])
def test_predictor_matches_float_graph(nets, sessions, size):
    image = pixels(painting("great-wave", size))
    session = sessions["predictor"]
    expected = session.run(None, {session.get_inputs()[0].name: image[None]})[0].reshape(STYLE_DIM)
    got = run(nets["predictor"], nchw(image))[0].numpy()
    assert np.abs(got - expected).max() < 1e-4 * np.abs(expected).max()


def test_predictor_close_to_shipped_int8_graph(nets):
    """Loose: onnxruntime's int8 kernels differ by CPU (cosine ~0.98 in the notes)."""
    image = pixels(painting("irises", (256, 256)))
    session = float_graphs.packaged_session("arbitrary_predict")
    expected = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: image[None]})[0].reshape(1, -1))
    got = run(nets["predictor"], nchw(image))
    assert torch.cosine_similarity(got, expected).item() > 0.95


@pytest.mark.parametrize("size", [(384, 384), ODD])
def test_transformer_matches_float_graph(nets, sessions, size):
    """The graph gets the image reflect-padded to a multiple of 4; our module pads itself."""
    content = pixels(photo("delft-basin", size))
    vector = run(nets["predictor"], nchw(pixels(painting("great-wave", (256, 256)))))
    session = sessions["transformer"]
    names = [i.name for i in session.get_inputs()]
    padded = reflect_to_multiple_of_4(content)
    expected = session.run(None, {names[0]: padded[None], names[1]: vector.numpy().reshape(1, 1, 1, STYLE_DIM)})[0][0]
    expected = expected[: size[1], : size[0]]
    got = run(nets["transformer"], nchw(content), vector)[0].permute(1, 2, 0).numpy()
    assert got.shape == content.shape
    assert np.abs(got - expected).mean() < 1e-4


@pytest.mark.parametrize("size", [(384, 384), ODD])
def test_multistyle_matches_packaged_graph(nets, size):
    """multistyle26 is a float graph already: compared with it as shipped."""
    content = pixels(photo("peony-panel", size))
    style = presets.parse_weights("3:0.5,12:0.5")
    session = float_graphs.packaged_session("multistyle26")
    padded = np.ascontiguousarray(reflect_to_multiple_of_4(content).transpose(2, 0, 1)[None])
    expected = session.run(None, {"image": padded, "style_weights": style})[0][0][:, : size[1], : size[0]]
    got = run(nets["presets"], nchw(content), torch.from_numpy(style)[None])[0].numpy()
    assert np.abs(got - expected).mean() < 1e-4


def test_batches_equal_single_images(nets):
    images = [pixels(photo(name, (96, 72))) for name in ("delft-basin", "bhairava-mask")]
    batch = torch.cat([nchw(image) for image in images]).contiguous(memory_format=torch.channels_last)
    vectors = torch.randn(2, STYLE_DIM, generator=torch.Generator().manual_seed(0)) * 0.5
    preset_rows = torch.eye(presets.NUM_PRESETS)[[7, 25]]
    for model, conditions in ((nets["transformer"], vectors), (nets["presets"], preset_rows)):
        together = run(model, batch, conditions)
        for i in range(2):
            alone = run(model, batch[i : i + 1], conditions[i : i + 1])
            torch.testing.assert_close(together[i : i + 1], alone, atol=1e-5, rtol=0)
    together = run(nets["predictor"], batch)
    for i in range(2):
        torch.testing.assert_close(together[i : i + 1], run(nets["predictor"], batch[i : i + 1]), atol=1e-5, rtol=1e-5)


def test_fp16_path_stays_close_to_fp32(nets):
    """Same code path CUDA takes (CPU fp16 is slow, so small sizes): instance-norm
    statistics stay fp32, so the 26-style net's ~430 activations do not overflow."""
    half = runtime.Device(torch.device("cpu"), torch.float16)
    style = nchw(pixels(painting("pink-cloud", (96, 96))))
    vector32 = run(nets["predictor"], style)
    predictor16 = runtime.cached("predictor", half, StylePredictor.from_package)
    vector16 = run(predictor16, style.half())
    assert torch.cosine_similarity(vector16, vector32).item() > 0.999

    content = nchw(pixels(photo("marble-akroterion", (96, 64))))
    weights16 = torch.eye(presets.NUM_PRESETS)[[11]]
    out32 = run(nets["presets"], content, weights16)
    out16 = run(runtime.cached("presets", half, MultiStyleNet.from_package), content.half(), weights16.half())
    assert torch.isfinite(out16).all()
    assert (out16 - out32).abs().mean() < 2e-3


def to_pil(tensor: torch.Tensor) -> Image.Image:
    return Image.fromarray((tensor[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy())


def test_bf16_path_stays_close_to_fp32(nets):
    """The CPU's fast precision (bf16 weights and activations, fp32 norm statistics and
    first predictor layers) against fp32, at the sizes the product renders."""
    bf16 = runtime.Device(torch.device("cpu"), torch.bfloat16)
    fast = {name: runtime.cached(name, bf16, f.from_package)
            for name, f in (("predictor", StylePredictor), ("transformer", Transformer), ("presets", MultiStyleNet))}
    style = nchw(pixels(painting("irises", (256, 256))))
    vector32, vector16 = run(nets["predictor"], style), run(fast["predictor"], style)
    assert fast["predictor"].head[0].weight.dtype == torch.bfloat16
    assert torch.cosine_similarity(vector16, vector32).item() > 0.9998  # whole net in bf16: 0.9989

    content = nchw(pixels(photo("delft-basin", (256, 192))))
    preset = torch.eye(presets.NUM_PRESETS)[[11]]
    for exact, approximate in (
        (run(nets["transformer"], content, vector32), run(fast["transformer"], content, vector16)),
        (run(nets["presets"], content, preset), run(fast["presets"], content, preset)),
    ):
        assert approximate.dtype == torch.float32 and approximate.shape == exact.shape
        assert (approximate - exact).abs().mean() * 255 < 2.0  # of 255 levels; measured 0.3-1.6
        assert metrics.measure(to_pil(exact), to_pil(approximate))["structure"] > 0.99  # SSIM's structure term


@pytest.mark.parametrize("batch, height, width", [(1, 12, 20), (2, 8, 6)])
def test_phase_convs_compute_the_plain_convs(batch, height, width):
    """The rewritten convs against their definition: pad + conv (after a nearest upsample)."""
    torch.manual_seed(0)
    x = torch.randn(batch, 5, height, width).contiguous(memory_format=torch.channels_last)
    for kernel in (3, 9):
        fast = phase_conv.SpaceToDepthConv(5, 3, kernel, bias=True)
        p = kernel // 2
        expected = F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), fast.weight, fast.bias)
        torch.testing.assert_close(run(fast, x), expected, atol=1e-5, rtol=1e-5)
    fast = phase_conv.UpsampleConv(5, 7, bias=True)
    upsampled = F.interpolate(x, scale_factor=2.0, mode="nearest")
    expected = F.conv2d(F.pad(upsampled, (1, 1, 1, 1), mode="reflect"), fast.weight, fast.bias)
    torch.testing.assert_close(run(fast, x), expected, atol=1e-5, rtol=1e-5)


def test_quantized_convs_are_keyed_by_weight_name():
    predictor = onnx_weights.quantized_convs("arbitrary_predict")
    transformer = onnx_weights.quantized_convs("arbitrary_transform")
    assert len(predictor) == 53 and len(transformer) == 42
    assert all(name.endswith("weights") for name in [*predictor, *transformer])
    # the residual convs share one (all-zero) bias initializer in the graph
    assert transformer["transformer/residual/residual3/conv1/weights"].bias.abs().max() == 0
    stem = predictor["MobilenetV2/Conv/weights"]
    assert stem.weight.shape == (32, 3, 3, 3) and stem.weight.dtype == torch.float32


def test_unreadable_weights_raise_weights_error(monkeypatch, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all")
    monkeypatch.setattr(weights, "path", lambda name: broken)
    with pytest.raises(WeightsError):
        onnx_weights.quantized_convs("arbitrary_predict")


def test_graph_without_quantized_convs_raises_weights_error():
    """The float 26-style graph is not a QDQ graph: asking it for int8 convs fails clearly."""
    with pytest.raises(WeightsError):
        onnx_weights.quantized_convs("multistyle26")


def test_blend_vectors_is_a_weighted_mean():
    vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    torch.testing.assert_close(blend_vectors(vectors, [3, 1]), torch.tensor([0.75, 0.25]))


@pytest.mark.parametrize(
    "spec, expected",
    [
        (7, {7: 1.0}),
        ("7", {7: 1.0}),
        (" 3:0.5, 12:0.5 ", {3: 0.5, 12: 0.5}),
        ("3:1,3:1,4:2", {3: 0.5, 4: 0.5}),
        ({"3": 2, 12: 6}, {3: 0.25, 12: 0.75}),
        ("0,25", {0: 0.5, 25: 0.5}),
    ],
)
def test_parse_preset_weights(spec, expected):
    weights = presets.parse_weights(spec)
    assert weights.dtype == np.float32 and weights.shape == (presets.NUM_PRESETS,)
    assert {i: round(float(w), 6) for i, w in enumerate(weights) if w} == expected


@pytest.mark.parametrize("spec", ["", "x", "26", "-1", "3:", "3:-1", "3:0", "3:nan", "3:inf", {}, True, 3.5, [3], None])
def test_bad_preset_specs_raise_style_spec_error(spec):
    with pytest.raises(StyleSpecError):
        presets.parse_weights(spec)


def test_preset_names_are_neutral():
    assert preset_names.PRESET_NAMES[0] == "Preset 0" and len(preset_names.PRESET_NAMES) == preset_names.NUM_PRESETS


def test_float_reference_graph_has_no_quantization_left():
    model = onnx.load_from_string(float_graphs.float_model("arbitrary_transform"))
    ops = {node.op_type for node in model.graph.node}
    assert not ops & {"QuantizeLinear", "DequantizeLinear"}
