"""Device choice, the per-process model cache, optional torch.compile, batched inference.

CUDA is only touched when a model is first needed, never at import: django-q2 forks
its workers, and a CUDA context created in the parent does not survive a fork.

Precision: CUDA runs fp16 (the networks' instance-norm statistics stay fp32, see
``transform_net``), the CPU fp32. Models and inputs are channels_last on every device:
measured on this project's 2-core CPU it is ~10% faster for the transform networks and
~35% for VGG19, and it is what cuDNN's fp16 kernels want.

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

CPU memory: activations of a 512 px image reach 32 MB per tensor, above glibc's mmap
threshold, so every op got fresh pages from the kernel and paid a page fault per 4 KB
on first touch: 40% of the 26-style network's eager time at 512 px (one core: 280 ->
150 ms). When the first model is built on the CPU, :func:`keep_freed_memory` tells
glibc to serve such blocks from its heap and not to hand freed memory back to the
kernel. The price is that a rendering process keeps its peak memory (a few hundred MB
at 1024 px) instead of returning it; jemalloc or tcmalloc would do the same job.

CPU threads: torch uses one thread per core, and its OpenMP parallel regions collapse
when the cores are oversubscribed (measured here: a 17 ms predictor pass took 140-460 ms
at 2 threads while other processes kept both cores busy). Several rendering processes
on one machine (django-q2 workers) must therefore split the cores:
``STYLESTORE_ENGINE_THREADS`` (e.g. cores // workers) is applied with the first CPU model.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from PIL import Image

from . import imaging
from .errors import EngineError

logger = logging.getLogger(__name__)

COMPILE_ENV = "STYLESTORE_ENGINE_COMPILE"
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
    half: bool

    @property
    def dtype(self) -> torch.dtype:
        return torch.float16 if self.half else torch.float32


def pick_device(preference: str = "auto", half: bool | None = None) -> Device:
    """``auto`` takes CUDA (fp16) when present, the CPU (fp32) otherwise."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"device {preference!r} requested but CUDA is not available")
    if half is None:
        half = device.type == "cuda"
    return Device(device, half)


def compile_default(device: Device) -> bool:
    """Whether to torch.compile by default: ``STYLESTORE_ENGINE_COMPILE`` or CUDA-only."""
    value = os.environ.get(COMPILE_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return device.torch_device.type == "cuda"


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
            except torch.cuda.OutOfMemoryError:
                raise
            except Exception:  # noqa: BLE001 - any compiler failure: run eager from now on
                logger.warning("torch.compile failed for %s; running it eagerly", self.name, exc_info=True)
                self.compiled = None
        return self.eager(*args)


#: glibc ``mallopt`` parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_BYTES = 1 << 30
_cpu_configured = False


def keep_freed_memory() -> bool:
    """Make glibc reuse large freed blocks instead of unmapping them (see module docs).

    Process-wide; returns whether it applied (False off glibc).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _HEAP_BYTES)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _HEAP_BYTES))
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False


def configure_cpu() -> None:
    """Once per process, before the first CPU model: allocator and thread count."""
    global _cpu_configured
    if _cpu_configured:
        return
    _cpu_configured = True
    keep_freed_memory()
    threads = os.environ.get(THREADS_ENV, "").strip()
    if threads:
        try:
            torch.set_num_threads(max(1, int(threads)))
        except ValueError:
            logger.warning("ignoring %s=%r: not an integer", THREADS_ENV, threads)


Model = Union[torch.nn.Module, CompiledModel]
_cache: Dict[Tuple[str, str, bool, bool], Model] = {}
_lock = threading.Lock()


def cached(name: str, device: Device, factory: Callable[[], torch.nn.Module], compile: bool = False) -> Model:
    """Build a model once per process, device, precision and compile choice.

    The model is in eval mode without gradients, on ``device`` in its dtype, and
    channels_last. With ``compile`` it is wrapped in :class:`CompiledModel`.
    """
    key = (name, str(device.torch_device), device.half, compile)
    with _lock:
        model = _cache.get(key)
        if model is None:
            if device.torch_device.type == "cpu":
                configure_cpu()
            module = factory().eval().to(device.torch_device, memory_format=torch.channels_last)
            module = module.to(device.dtype)
            model = CompiledModel(module, name) if compile else module
            _cache[key] = model
        return model


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
    ``EngineError`` when even a shrunken copy does not fit in device memory). On CUDA
    out-of-memory a pass is split in halves and retried; a single image is retried
    smaller and its result resized up to the requested size.
    """
    if len(images) != conditions.shape[0]:
        raise ValueError(f"{len(images)} images but {conditions.shape[0]} condition rows")
    budget = batch_pixels or BATCH_PIXELS.get(device.torch_device.type, BATCH_PIXELS["cpu"])
    groups: Dict[Tuple[int, int], List[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(image.size, []).append(index)
    outcomes: List[Optional[Outcome]] = [None] * len(images)
    for (width, height), indices in groups.items():
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
    except torch.cuda.OutOfMemoryError:
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
    if min(image.size) * OOM_SHRINK < imaging.MIN_SIDE:
        return EngineError("not enough device memory for this image, even shrunken")
    logger.warning("out of device memory for a %dx%d image; rendering it at %d px", *image.size, side)
    (outcome,) = _forward(model, [imaging.fit(image, side)], condition, device)
    return outcome.resize(image.size, Image.Resampling.LANCZOS) if isinstance(outcome, Image.Image) else outcome


def _to_image(tensor: torch.Tensor) -> Outcome:
    try:
        return imaging.to_image(tensor)
    except EngineError as exc:  # NonFiniteOutput: this image only
        return exc
