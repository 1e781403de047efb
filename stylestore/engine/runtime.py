"""Device choice, the per-process model cache, optional torch.compile, batched inference.

CUDA is only touched when a model is first needed, never at import: django-q2 forks
its workers, and a CUDA context created in the parent does not survive a fork.

Precision: ``fast`` (the default) runs CUDA in fp16 and the CPU in bf16 where the CPU
has native bf16 dot products (AVX512-BF16 or AMX; emulated bf16 would be slower than
fp32), else fp32; ``exact`` runs fp32 everywhere (the parity tests against onnxruntime
use it). ``STYLESTORE_ENGINE_PRECISION`` or the ``precision`` argument choose. In reduced
precision, instance-norm statistics stay fp32 (see ``transform_net``) and so do the
layers a network flags ``keep_fp32`` (see :func:`cast`). fp32 -> bf16 on this project's
CPU (one thread, best of 20): style predictor @ 256 px 15 -> 12 ms, transformer @ 384 px
60 -> 40 ms, 26-style network @ 512 px 144 -> 103 ms; outputs stay within ~1-1.6/255 of
fp32 on average (``tests/engine/test_networks.py``).
Models and inputs are channels_last on every device: measured on this project's 2-core
CPU it is ~10% faster for the transform networks and ~35% for VGG19, and it is what
cuDNN's fp16 kernels and oneDNN's bf16 ones want.

``torch.compile`` (inductor, with weight freezing) is optional. On this project's CPU,
one core: transformer @ 384 px 60 -> 55 ms, predictor @ 256 px 20 -> 16 ms, 26-style
network @ 512 px 150 -> 134 ms, after compiling for 10-20 s per network with inductor's
disk cache warm and 80-110 s cold, again for the first new image size and batch size
(then shapes go dynamic). Eager is already tuned (``phase_conv``, the norm in
``transform_net``, the allocator below), so compiling only pays off in long-lived workers.
It is on by default on CUDA (where fusing the many small ops matters most; not measured
here), off on the CPU; ``STYLESTORE_ENGINE_COMPILE=1``/``0`` or the ``compile`` argument
decide otherwise. A compile failure never fails a render: the model falls back to eager
for the rest of the process.

CPU memory: glibc serves the large activation tensors from its heap while a batch renders
and keeps them (:func:`memory.keep_freed_memory`, applied with the first CPU model); the
worker hands the free heap back between tasks (:func:`memory.release_free_memory`).
Models a task rarely needs (VGG19, for the optimize engine only: 80 MB in fp32) are
cached with ``keep=False`` and dropped between tasks by :func:`release_transient`. A
process that never initialised CUDA drops the pages of the GPU-only libraries a CUDA
build loads at import (:func:`release_gpu_library_pages`).

CPU threads: torch uses one thread per core, and its OpenMP parallel regions collapse
when the cores are oversubscribed (measured here: a 17 ms predictor pass took 140-460 ms
at 2 threads while other processes kept both cores busy). Several rendering processes
on one machine (django-q2 workers) must therefore split the cores:
``STYLESTORE_ENGINE_THREADS`` (e.g. cores // workers) is applied with the first CPU model.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from PIL import Image

from . import imaging, memory
from .errors import EngineError
from .gate import MIN_SIDE

logger = logging.getLogger(__name__)

COMPILE_ENV = "STYLESTORE_ENGINE_COMPILE"
PRECISION_ENV = "STYLESTORE_ENGINE_PRECISION"
PRECISIONS = ("fast", "exact")
THREADS_ENV = "STYLESTORE_ENGINE_THREADS"
#: pixels per forward pass before a same-size group is split into several passes;
#: about 0.5 KB of activations per pixel in fp32 for the 26-style network
BATCH_PIXELS = {"cpu": 4_000_000, "cuda": 32_000_000}
#: on CUDA OOM with a single image left, retry at this fraction of the size
OOM_SHRINK = 0.7


@dataclass(frozen=True)
class Device:
    """Where and in which precision the networks run."""

    torch_device: torch.device
    dtype: torch.dtype = torch.float32

    def exact(self) -> "Device":
        """The same device in fp32."""
        return Device(self.torch_device)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # absent in some torch builds
    return torch.backends.mkldnn.is_available() and any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def pick_device(preference: str = "auto", precision: str | None = None) -> Device:
    """``auto`` takes CUDA when present, else the CPU; ``precision`` is ``fast`` (default:
    fp16 on CUDA, bf16 on CPUs with native bf16, else fp32) or ``exact`` (fp32)."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"device {preference!r} requested but CUDA is not available")
    precision = precision or os.environ.get(PRECISION_ENV, "").strip().lower() or "fast"
    if precision not in PRECISIONS:
        raise EngineError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    dtype = torch.float32
    if precision == "fast" and device.type == "cuda":
        dtype = torch.float16
    elif precision == "fast" and device.type == "cpu" and cpu_has_native_bf16():
        dtype = torch.bfloat16
    return Device(device, dtype)


def compile_default(device: Device) -> bool:
    """Whether to torch.compile by default: ``STYLESTORE_ENGINE_COMPILE`` or CUDA-only."""
    value = os.environ.get(COMPILE_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return device.torch_device.type == "cuda"


def out_of_memory(exc: BaseException) -> bool:
    """CUDA out of memory, or the CPU allocator refusing a request: a property of the
    batch, which a smaller one may not have."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
    )


class CompiledModel:
    """A compiled model that falls back to its eager original if compiling fails.

    Compilation happens lazily on the first call, so that is where failures show
    (missing compiler, unsupported op, ...). Out-of-memory is a property of the input,
    not of compiling, and propagates so the batching code can split the batch.
    """

    def __init__(self, model: torch.nn.Module, name: str):
        self.eager = model
        self.name = name
        self.compiled: Optional[Callable] = torch.compile(model, options={"freezing": True})

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: run eager from now on
                if out_of_memory(exc):
                    raise
                logger.warning("torch.compile failed for %s; running it eagerly", self.name, exc_info=True)
                self.compiled = None
        return self.eager(*args)


_cpu_configured = False


def configure_cpu(threads: int | None = None) -> None:
    """Once per process, before the first CPU model: allocator and thread count
    (``threads``, else ``STYLESTORE_ENGINE_THREADS``, else torch's default)."""
    global _cpu_configured
    if _cpu_configured:
        return
    _cpu_configured = True
    memory.keep_freed_memory()
    threads = str(threads) if threads else os.environ.get(THREADS_ENV, "").strip()
    if threads:
        try:
            torch.set_num_threads(max(1, int(threads)))
        except ValueError:
            logger.warning("ignoring %s=%r: not an integer", THREADS_ENV, threads)


Model = Union[torch.nn.Module, CompiledModel]
_Key = Tuple[str, str, torch.dtype, bool]
_cache: Dict[_Key, Model] = {}
#: keys of the models built with ``keep=False``: :func:`release_transient` drops them
_transient: set = set()
_lock = threading.Lock()


def cached(
    name: str, device: Device, factory: Callable[[], torch.nn.Module], compile: bool = False, keep: bool = True
) -> Model:
    """Build a model once per process, device, precision and compile choice.

    The model is in eval mode without gradients, on ``device`` in its dtype, and
    channels_last. With ``compile`` it is wrapped in :class:`CompiledModel`. With
    ``keep=False`` it is built again after :func:`release_transient`: for a large model
    few tasks use, whose rebuild is small next to the work of a task that needs it.
    """
    key = (name, str(device.torch_device), device.dtype, compile)
    with _lock:
        model = _cache.get(key)
        if model is None:
            if device.torch_device.type == "cpu":
                configure_cpu()
            module = factory().eval().to(device.torch_device, memory_format=torch.channels_last)
            cast(module, device.dtype)
            model = CompiledModel(module, name) if compile else module
            _cache[key] = model
        if not keep:
            _transient.add(key)
        return model


#: The libraries of a CUDA build of torch that only GPU work runs (and the CUDA runtime
#: they need): ``memory.release_library_pages`` matches their file names.
GPU_ONLY_LIBRARIES = re.compile(
    r"^lib(cublas|cublasLt|cudnn\w*|nvrtc\w*|nvJitLink|cusparse|cusparseLt|cufft\w*|curand|cusolver\w*|nccl|"
    r"nvshmem\w*|cupti|cudart|nvToolsExt|cufile\w*)\.so"
)


def release_gpu_library_pages() -> float:
    """In a process that has not initialised CUDA, drop the GPU-only libraries' resident
    pages (see ``memory``); MB released. Were CUDA initialised later, they would fault in
    again as they are used."""
    return 0.0 if torch.cuda.is_initialized() else memory.release_library_pages(GPU_ONLY_LIBRARIES)


def release_transient() -> List[str]:
    """Drop the models cached with ``keep=False`` (their memory goes back with the next
    :func:`memory.release_free_memory`, or to CUDA's driver here). Returns their names."""
    with _lock:
        released = [key[0] for key in _transient if _cache.pop(key, None) is not None]
        _transient.clear()
    if released and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    return released


def cast(module: torch.nn.Module, dtype: torch.dtype) -> None:
    """Cast floating-point parameters and buffers to ``dtype`` in place, except in submodules
    with ``keep_fp32 = True``: layers whose rounded weights would cost too much accuracy
    (they cast their inputs themselves). Casting is one way, so it starts from fp32 weights."""
    if getattr(module, "keep_fp32", False):
        return
    for child in module.children():
        cast(child, dtype)
    for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
        if tensor.is_floating_point():
            tensor.data = tensor.data.to(dtype)


def to_batch(images: Sequence[Image.Image], device: Device) -> torch.Tensor:
    """Same-size PIL images -> channels_last (N, 3, H, W) in the device's dtype."""
    batch = imaging.to_tensor(list(images), device.torch_device, device.dtype)
    return batch.contiguous(memory_format=torch.channels_last)


Outcome = Union[Image.Image, EngineError]


def stylize(
    model: Model,
    images: Sequence[Image.Image],
    conditions: torch.Tensor,
    device: Device,
    *,
    batch_pixels: Optional[int] = None,
) -> List[Outcome]:
    """Run ``model(images, conditions)`` for every (image, condition row) pair.

    Images of one size share forward passes (up to ``batch_pixels`` per pass); one image
    with many styles is the same image repeated with different condition rows. The
    result has one entry per input, in order: the stylized RGB image, or the
    :class:`EngineError` of that image alone (``NonFiniteOutput``, or a plain
    ``EngineError`` when even a shrunken copy does not fit in device memory). When
    memory runs out (CUDA, or the CPU allocator refusing a request) a pass is split in
    halves and retried; a single image is retried smaller and its result resized up to
    the requested size.
    """
    if len(images) != conditions.shape[0]:
        raise ValueError(f"{len(images)} images but {conditions.shape[0]} condition rows")
    budget = batch_pixels or BATCH_PIXELS.get(device.torch_device.type, BATCH_PIXELS["cpu"])
    groups: Dict[Tuple[int, int], List[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(image.size, []).append(index)
    outcomes: List[Optional[Outcome]] = [None] * len(images)
    # Largest first: each smaller pass then fits in the heap blocks the larger ones freed,
    # instead of growing the heap at every new size (the demo's 8 photos of 8 sizes at
    # 512 then 1024 px, one process: peak RSS 1.65-1.95 GB before, 1.56-1.68 GB after).
    for (width, height), indices in sorted(groups.items(), key=lambda group: -group[0][0] * group[0][1]):
        per_pass = max(1, budget // (width * height))
        for start in range(0, len(indices), per_pass):
            chunk = indices[start : start + per_pass]
            results = _forward(model, [images[i] for i in chunk], conditions[chunk], device)
            for index, outcome in zip(chunk, results):
                outcomes[index] = outcome
    return outcomes  # type: ignore[return-value]


def _forward(model: Model, images: List[Image.Image], conditions: torch.Tensor, device: Device) -> List[Outcome]:
    try:
        with torch.inference_mode():
            output = model(to_batch(images, device), conditions.to(device.torch_device))
            output = output.float().cpu()
    except RuntimeError as exc:
        if not out_of_memory(exc):
            raise
        output = None  # handled below, outside the except block: its traceback pins the batch's memory
    if output is None:
        torch.cuda.empty_cache()
        if len(images) > 1:
            half = len(images) // 2
            return _forward(model, images[:half], conditions[:half], device) + _forward(
                model, images[half:], conditions[half:], device
            )
        return [_forward_smaller(model, images[0], conditions, device)]
    return [_to_image(tensor) for tensor in output]


def _forward_smaller(model: Model, image: Image.Image, condition: torch.Tensor, device: Device) -> Outcome:
    side = int(max(image.size) * OOM_SHRINK)
    if min(image.size) * OOM_SHRINK < MIN_SIDE:
        return EngineError("not enough device memory for this image, even shrunken")
    logger.warning("out of device memory for a %dx%d image; rendering it at %d px", *image.size, side)
    (outcome,) = _forward(model, [imaging.fit(image, side)], condition, device)
    return outcome.resize(image.size, Image.Resampling.LANCZOS) if isinstance(outcome, Image.Image) else outcome


def _to_image(tensor: torch.Tensor) -> Outcome:
    try:
        return imaging.to_image(tensor)
    except EngineError as exc:  # NonFiniteOutput: this image only
        return exc
