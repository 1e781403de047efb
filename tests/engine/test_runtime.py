"""Device choice, model cache, compile fallback and the batching helper.

The batching tests use tiny stand-in models that record what they were called with, so
grouping, splitting and failure isolation are checked exactly and in milliseconds.
"""
import pytest
import torch
from PIL import Image

from stylestore.engine import runtime
from stylestore.engine.errors import EngineError, NonFiniteOutput
from tests.engine.samples import one_thread  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = runtime.pick_device("cpu", "exact")
BF16 = runtime.Device(torch.device("cpu"), torch.bfloat16)


class Recorder(torch.nn.Module):
    """Returns ``image * condition[:, :1]`` and records each call's batch shape."""

    def __init__(self, fail_above=None, nan_rows=(), error=None):
        super().__init__()
        self.calls = []
        self.fail_above = fail_above  # batch pixel count above which memory "runs out"
        self.error = error or torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        self.nan_rows = set(nan_rows)

    def forward(self, images, conditions):
        self.calls.append(tuple(images.shape))
        if self.fail_above is not None and images.shape[0] * images.shape[2] * images.shape[3] > self.fail_above:
            raise self.error
        out = images * conditions[:, :1, None, None]
        for row, value in enumerate(conditions[:, 0].tolist()):
            if value in self.nan_rows:
                out[row] = float("nan")
        return out


def grey(size, level=200):
    return Image.new("RGB", size, (level, level, level))


def test_pick_device_exact_is_fp32():
    assert CPU.torch_device.type == "cpu" and CPU.dtype == torch.float32
    assert BF16.exact() == CPU


def test_fast_cpu_precision_is_bf16_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.delenv(runtime.PRECISION_ENV, raising=False)
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    assert runtime.pick_device("cpu").dtype == torch.bfloat16
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)  # emulated bf16 would be slower
    assert runtime.pick_device("cpu").dtype == torch.float32


def test_precision_follows_the_environment_unless_given(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setenv(runtime.PRECISION_ENV, "exact")
    assert runtime.pick_device("cpu").dtype == torch.float32
    assert runtime.pick_device("cpu", "fast").dtype == torch.bfloat16
    monkeypatch.setenv(runtime.PRECISION_ENV, "half")
    with pytest.raises(EngineError, match="precision"):
        runtime.pick_device("cpu")


def test_native_bf16_detection_agrees_with_the_cpu_flags():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = set(next(line for line in cpuinfo if line.startswith("flags")).split())
    except (OSError, StopIteration):
        pytest.skip("no x86 /proc/cpuinfo")
    assert runtime.cpu_has_native_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_cast_leaves_layers_flagged_keep_fp32_untouched():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.Sequential(torch.nn.Linear(4, 4)))
    net[1].keep_fp32 = True
    kept = net[1][0].weight.clone()
    runtime.cast(net, torch.bfloat16)
    assert net[0].weight.dtype == net[0].bias.dtype == torch.bfloat16
    assert torch.equal(net[1][0].weight, kept)  # never rounded, not even through bf16 and back


def test_cache_keeps_one_model_per_precision():
    def factory():
        return torch.nn.Conv2d(3, 4, 1)

    assert runtime.cached("test-precision", CPU, factory) is not runtime.cached("test-precision", BF16, factory)
    assert runtime.cached("test-precision", BF16, factory).weight.dtype == torch.bfloat16


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_pick_device_refuses_missing_cuda():
    with pytest.raises(EngineError, match="CUDA"):
        runtime.pick_device("cuda")


@pytest.mark.parametrize("value, expected", [("1", True), ("on", True), ("0", False), ("off", False), ("", False)])
def test_compile_default_follows_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(runtime.COMPILE_ENV, value)
    assert runtime.compile_default(CPU) is expected  # "" means auto: off on the CPU


def test_cached_builds_once_in_eval_channels_last():
    built = []

    def factory():
        built.append(1)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Dropout()).train()

    first = runtime.cached("test-cache", CPU, factory)
    assert runtime.cached("test-cache", CPU, factory) is first and len(built) == 1
    assert not first.training
    assert first[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_compiled_model_falls_back_to_eager_when_compiling_fails(monkeypatch):
    def broken_compile(model, **kwargs):
        def call(*args):
            raise RuntimeError("no C++ compiler (simulated)")

        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    model = Recorder()
    compiled = runtime.CompiledModel(model, "recorder")
    x, c = torch.ones(1, 3, 4, 4), torch.full((1, 1), 2.0)
    assert torch.equal(compiled(x, c), model(x, c))
    assert compiled.compiled is None  # eager from now on


def test_compiled_model_lets_out_of_memory_through(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: model)
    compiled = runtime.CompiledModel(Recorder(fail_above=0), "recorder")
    with pytest.raises(torch.cuda.OutOfMemoryError):
        compiled(torch.ones(1, 3, 4, 4), torch.ones(1, 1))
    assert compiled.compiled is not None  # not mistaken for a compile failure


def test_stylize_groups_by_size_and_keeps_input_order():
    model = Recorder()
    images = [grey((40, 32), 100), grey((48, 32), 100), grey((40, 32), 100), grey((40, 32), 100)]
    conditions = torch.tensor([[1.0], [0.5], [0.25], [0.0]])
    out = runtime.stylize(model, images, conditions, CPU)
    assert sorted(model.calls) == [(1, 3, 32, 48), (3, 3, 32, 40)]
    assert [o.size for o in out] == [i.size for i in images]
    assert [o.getpixel((0, 0))[0] for o in out] == [100, 50, 25, 0]  # each image got its own row


def test_one_image_many_styles_is_one_forward_pass():
    model = Recorder()
    image = grey((36, 36))
    out = runtime.stylize(model, [image] * 5, torch.linspace(0, 1, 5)[:, None], CPU)
    assert model.calls == [(5, 3, 36, 36)] and len(out) == 5


def test_stylize_splits_groups_by_pixel_budget():
    model = Recorder()
    runtime.stylize(model, [grey((32, 32))] * 5, torch.ones(5, 1), CPU, batch_pixels=2 * 32 * 32)
    assert [c[0] for c in model.calls] == [2, 2, 1]


#: What torch's CPU allocator raises when the operating system refuses an allocation.
CPU_ALLOCATION_FAILURE = RuntimeError(
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 6442450944 bytes. Error code 12 (Cannot allocate memory)"
)


@pytest.mark.parametrize("error", [None, CPU_ALLOCATION_FAILURE], ids=["cuda", "cpu"])
def test_out_of_memory_halves_the_batch_until_it_fits(error):
    model = Recorder(fail_above=2 * 32 * 32, error=error)
    out = runtime.stylize(model, [grey((32, 32))] * 5, torch.ones(5, 1), CPU)
    assert all(isinstance(o, Image.Image) for o in out)
    assert [c[0] for c in model.calls] == [5, 2, 3, 1, 2]


def test_out_of_memory_on_one_image_renders_it_smaller_at_full_size():
    model = Recorder(fail_above=60 * 60)
    (out,) = runtime.stylize(model, [grey((80, 80))], torch.ones(1, 1), CPU)
    assert isinstance(out, Image.Image) and out.size == (80, 80)
    assert model.calls == [(1, 3, 80, 80), (1, 3, 56, 56)]


def test_out_of_memory_even_when_small_fails_only_that_image():
    model = Recorder(fail_above=0)
    (out,) = runtime.stylize(model, [grey((40, 40))], torch.ones(1, 1), CPU)
    assert isinstance(out, EngineError) and "memory" in str(out)


def test_non_finite_output_fails_only_its_image():
    model = Recorder(nan_rows={0.5})
    out = runtime.stylize(model, [grey((32, 32))] * 3, torch.tensor([[1.0], [0.5], [1.0]]), CPU)
    assert isinstance(out[1], NonFiniteOutput)
    assert isinstance(out[0], Image.Image) and isinstance(out[2], Image.Image)


def test_stylize_checks_condition_count():
    with pytest.raises(ValueError):
        runtime.stylize(Recorder(), [grey((32, 32))] * 2, torch.ones(3, 1), CPU)


def test_configure_cpu_applies_the_thread_setting_once(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "_cpu_configured", False)
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    monkeypatch.setenv(runtime.THREADS_ENV, "1")
    runtime.configure_cpu()
    runtime.configure_cpu()
    assert calls == [1]


def test_errors_other_than_memory_are_not_taken_for_it():
    with pytest.raises(RuntimeError, match="shape"):
        runtime.stylize(Recorder(fail_above=0, error=RuntimeError("shape mismatch")), [grey((32, 32))],
                        torch.ones(1, 1), CPU)
