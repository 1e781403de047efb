"""GPU throughput, batch scaling, peak memory and fp16 parity through the workers' code path.

    .venv/bin/python bench/gpu.py                      # on a CUDA machine: 512 px, batches 1..64
    .venv/bin/python bench/gpu.py --no-compile         # eager (compiling costs time per network and shape)
    .venv/bin/python bench/gpu.py --device cpu --size 128 --batches 1,2 --runs 1   # smoke run
    .venv/bin/python bench/gpu.py --estimate           # on paper: FLOPs, traffic, images/s per GPU

Everything renders through ``Stylizer`` as a worker does (``Stylizer.render`` over a batch
of same-size photos with one style, ``Stylizer.product_masks``), in the engine's ``fast``
precision (fp16 on CUDA; on the CPU bf16 where it is native, else fp32) and, for parity,
its ``exact`` one (fp32). So the engine's own batching runs, and so does its split in
halves on CUDA out-of-memory, which the OOM column reports (the caching allocator's
count); the scaling stops at the first batch that needed it.

Columns: ``network/s`` from each image's ``infer_ms`` (its share of the forward passes,
the style vector included; the GPU's side), ``end to end/s`` from the wall time of the
whole call (Lanczos fit, tensors, forward, compositing, WebP encoding: the CPU's side
is in it), peak memory from ``torch.cuda.max_memory_allocated`` per batch size.

Without CUDA (and ``--device cuda``, the default) it says so and exits 0.

``--estimate`` measures nothing on a GPU: it counts, per image, the FLOPs
(``torch.utils.flop_counter.FlopCounterMode``) and the bytes every op reads and writes
(eager, unfused: an upper bound on traffic) of each network in fp16 on the ``meta``
device (shapes only, no arithmetic), and turns them into images/s per GPU with a
per-op roofline: each op takes the longer of its FLOPs at ``COMPUTE_SHARE`` of the
card's dense fp16 tensor peak and its bytes at ``BANDWIDTH_SHARE`` of its memory
bandwidth. The peaks are the vendors' spec sheets (``GPUS``); the shares are assumptions.
The worker's CPU work around each forward pass (decode, fit, compositing, WebP, metrics)
is measured on this machine, and the GPUs a catalogue needs in an hour follow from both.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylestore.engine import RenderOptions, StyleSpec, Stylizer, gate, imaging, runtime, saliency  # noqa: E402
from stylestore.engine.arbitrary import STYLE_DIM, STYLE_SIZE, StylePredictor, Transformer  # noqa: E402
from stylestore.engine.presets import MultiStyleNet  # noqa: E402
from stylestore.engine.preset_names import NUM_PRESETS  # noqa: E402

DEMO = ROOT / "shop" / "demo_data"

#: name: (dense fp16 tensor TFLOPS, memory GB/s), from NVIDIA's data sheets (without
#: sparsity). AWS's A10G has no NVIDIA sheet; the A10's figures stand in for it.
GPUS = {
    "L4": (121, 300),
    "A10G (A10 sheet)": (125, 600),
    "A100 SXM 80GB": (312, 2039),
    "H100 SXM": (989, 3350),
}
#: assumed fractions of those peaks an op reaches: the convs are narrow (3-64 channels),
#: which feeds tensor cores poorly; large elementwise kernels stream near bandwidth
COMPUTE_SHARE = 0.25
BANDWIDTH_SHARE = 0.6
#: the shop to re-render within the hour
PRODUCTS, STYLES = 10_000, 20


# -- measured, on a CUDA machine (or the CPU for a smoke run) ------------------------------


def sync(device: runtime.Device) -> None:
    if device.torch_device.type == "cuda":
        torch.cuda.synchronize(device.torch_device)


def ooms(device: runtime.Device) -> int | None:
    """CUDA out-of-memory errors raised so far (each one made the engine split a pass)."""
    if device.torch_device.type != "cuda":
        return None
    return torch.cuda.memory_stats(device.torch_device).get("num_ooms", 0)


def photos(size: int) -> list:
    """The demo products, centre-cropped square at ``size``: one same-size group per batch."""
    return [imaging.square_crop(gate.open_image(p), size) for p in sorted((DEMO / "products").glob("*.jpg"))]


def scaling(stylizer: Stylizer, pool: list, batches: list[int], runs: int, painting) -> None:
    device, size = stylizer.device, pool[0].width
    jobs = {
        "arbitrary": lambda images: stylizer.render(
            images, StyleSpec.image(painting), RenderOptions(max_side=size), with_metrics=False),
        "preset": lambda images: stylizer.render(
            images, StyleSpec.preset(3), RenderOptions(engine="preset", max_side=size), with_metrics=False),
        "mask": stylizer.product_masks,
    }
    print(f"{'engine':<10} {'batch':>5} {'network/s':>10} {'end to end/s':>13} {'peak MB':>8} {'OOM splits':>10}")
    for name, job in jobs.items():
        for batch in batches:
            images = [pool[i % len(pool)].copy() for i in range(batch)]  # distinct objects, as a worker's
            if device.torch_device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device.torch_device)
            before = ooms(device)
            job(images)  # warm-up: compiling, cuDNN's algorithm choice
            walls, infers = [], []
            for _ in range(runs):
                sync(device)
                started = time.perf_counter()
                results = job(images)
                sync(device)
                walls.append(time.perf_counter() - started)
                if name != "mask":
                    errors = [r.error for r in results if r.error is not None]
                    if errors:
                        raise SystemExit(f"{name} batch {batch}: {errors[0]!r}")
                    infers.append(sum(r.timings["infer_ms"] for r in results) / 1000)
            split = None if before is None else ooms(device) - before
            peak = (f"{torch.cuda.max_memory_allocated(device.torch_device) / 2**20:8.0f}"
                    if device.torch_device.type == "cuda" else f"{'n/a':>8}")
            network = f"{batch / statistics.median(infers):10.1f}" if infers else f"{'-':>10}"
            print(f"{name:<10} {batch:>5} {network} {batch / statistics.median(walls):13.1f} {peak} "
                  f"{'n/a' if split is None else split:>10}")
            if split:
                print(f"{'':<10} out of memory at batch {batch}: the engine split it; larger batches not tried")
                break


def parity(fast: Stylizer, exact: Stylizer, images: list, painting) -> None:
    """The same batch both ways: pixel differences in 0-255 units (the mask: its probabilities x 255)."""
    size = images[0].width
    print(f"\nparity, {len(images)} images at {size} px: {dtype_name(fast.device)} vs {dtype_name(exact.device)}, "
          "abs difference in 0-255 units (max / mean)")
    for name, spec, options in (
        ("arbitrary", StyleSpec.image(painting), RenderOptions(max_side=size)),
        ("preset", StyleSpec.preset(3), RenderOptions(engine="preset", max_side=size)),
    ):
        a, b = ([np.asarray(r.image, dtype=np.int16) for r in s.render(images, spec, options, with_metrics=False)]
                for s in (fast, exact))
        diff = np.abs(np.stack(a) - np.stack(b))
        print(f"  {name:<10} {diff.max():6.0f} / {diff.mean():6.2f}")
    a, b = (saliency.saliency_maps(images, s.device) for s in (fast, exact))
    diff = (a - b).abs() * 255
    print(f"  {'mask':<10} {diff.max().item():6.1f} / {diff.mean().item():6.2f}   "
          f"(raw saliency at {saliency.INPUT_SIZE} px)")


def dtype_name(device: runtime.Device) -> str:
    return str(device.dtype).removeprefix("torch.")


def measure(args) -> None:
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"no GPU: CUDA is not available (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
              "nothing measured. Try --device cpu --size 128 --batches 1,2 --runs 1 for a smoke run, "
              "or --estimate for the paper figures.")
        return
    compile_ = False if args.no_compile else None  # None: the engine's default (on for CUDA)
    fast = Stylizer(args.device, compile=compile_, precision="fast")
    exact = Stylizer(args.device, compile=compile_, precision="exact")
    where = torch.cuda.get_device_name(fast.device.torch_device) if fast.device.torch_device.type == "cuda" else "CPU"
    print(f"{where}, torch {torch.__version__}, {args.size} px, fast precision {dtype_name(fast.device)}, "
          f"compile {'on' if fast.compile else 'off'}; median of {args.runs} runs after a warm-up")
    painting = gate.open_image(DEMO / "styles" / "great-wave.jpg")
    pool = photos(args.size)
    scaling(fast, pool, args.batches, args.runs, painting)
    parity(fast, exact, [pool[i % len(pool)] for i in range(min(8, max(args.batches)))], painting)


# -- on paper ------------------------------------------------------------------------------


class Roofline(TorchDispatchMode):
    """Per op: FLOPs (read from an outer FlopCounterMode around the call) and bytes moved.

    Bytes are the op's tensor inputs plus the outputs it writes; views move none (their
    schema returns an alias that is not written), in-place ops write their input.
    """

    def __init__(self, counter: FlopCounterMode):
        super().__init__()
        self.counter = counter
        self.ops: list[tuple[int, int]] = []  # (flops, bytes)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        flops = self.counter.get_total_flops()
        out = func(*args, **(kwargs or {}))
        flops = self.counter.get_total_flops() - flops
        aliases = [r.alias_info for r in func._schema.returns]
        if aliases and all(a is not None and not a.is_write for a in aliases):
            return out  # a view
        moved = sum(t.nbytes for t in pytree.tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor))
        self.ops.append((flops, moved))
        return out


def count(model: torch.nn.Module, *inputs: torch.Tensor) -> list[tuple[int, int]]:
    """(FLOPs, bytes) of every op of one forward pass, in fp16 on the meta device."""
    counter = FlopCounterMode(display=False)
    roofline = Roofline(counter)
    with counter, roofline, torch.no_grad():
        model(*inputs)
    return roofline.ops


def networks(size: int) -> dict:
    """key: (label, model, inputs) for one image, each network as the CUDA path builds it
    (fp16 with its fp32 islands, channels_last) fed what the engine feeds it."""
    def build(cls):
        with torch.device("meta"):
            model = cls().eval()
        runtime.cast(model, torch.float16)
        return model.to(memory_format=torch.channels_last)

    def image(side, dtype=torch.float16):
        return torch.empty(1, 3, side, side, dtype=dtype, device="meta").contiguous(memory_format=torch.channels_last)

    return {
        "arbitrary": (f"arbitrary transformer @{size}", build(Transformer),
                      (image(size), torch.empty(1, STYLE_DIM, device="meta"))),
        "preset": (f"26-style network @{size}", build(MultiStyleNet),
                   (image(size), torch.empty(1, NUM_PRESETS, device="meta"))),
        "mask": (f"product mask U2-Net-p @{saliency.INPUT_SIZE}", build(saliency.U2NetP),
                 (image(saliency.INPUT_SIZE),)),
        # fp32 input: its first blocks stay fp32; once per style and call, not per image
        "predictor": (f"style predictor @{STYLE_SIZE} (per style and call)", build(StylePredictor),
                      (image(STYLE_SIZE, torch.float32),)),
    }


def estimate(size: int) -> None:
    print(f"On paper, per image, fp16 (norm statistics and the predictor's first blocks fp32), eager ops. "
          f"Assumed: {COMPUTE_SHARE:.0%} of dense fp16 tensor peak, {BANDWIDTH_SHARE:.0%} of memory bandwidth, "
          f"per op the slower of the two; batches large enough that launch overhead vanishes.\n")
    ops = {}
    print(f"{'network':<46} {'GFLOP':>7} {'MB moved':>9} {'params':>9} {'largest op MB':>14}")
    for key, (label, model, inputs) in networks(size).items():
        ops[key] = count(model, *inputs)
        params = sum(p.numel() for p in model.parameters())
        print(f"{label:<46} {sum(f for f, _ in ops[key]) / 1e9:7.2f} {sum(b for _, b in ops[key]) / 2**20:9.0f} "
              f"{params:9,d} {max(b for _, b in ops[key]) / 2**20:14.1f}")

    def seconds(key, tflops, gbps):
        """Per image: the estimated time, and the part of it bound by memory traffic."""
        compute, bandwidth = tflops * 1e12 * COMPUTE_SHARE, gbps * 1e9 * BANDWIDTH_SHARE
        times = [(f / compute, b / bandwidth) for f, b in ops[key]]
        return sum(max(t) for t in times), sum(m for c, m in times if m >= c)

    cpu_ms = cpu_side(size)
    renders = PRODUCTS * STYLES
    print(f"\nimages/s per GPU (estimated), and GPUs to render {PRODUCTS:,} products x {STYLES} styles = "
          f"{renders:,} images in one hour ({renders / 3600:.1f} images/s), the {PRODUCTS:,} photos' masks included:")
    print("the GPU alone; and one worker per GPU, whose CPU side (measured above) runs between its forward passes")
    print("(x / y: arbitrary / preset engine)")
    print(f"{'GPU':<18} {'TFLOPS':>6} {'GB/s':>5} {'arbitrary/s':>12} {'preset/s':>9} {'mask/s':>7} "
          f"{'traffic-bound':>14} {'GPUs, GPU alone':>16} {'one worker/s':>13} {'GPUs, one worker each':>22}")
    for gpu, (tflops, gbps) in GPUS.items():
        estimated = {key: seconds(key, tflops, gbps) for key in ("arbitrary", "preset", "mask")}
        rate = {key: 1 / total for key, (total, _) in estimated.items()}
        bound = [100 * estimated[key][1] / estimated[key][0] for key in ("arbitrary", "preset")]
        worker = {key: 1 / (1 / rate[key] + cpu_ms / 1000) for key in ("arbitrary", "preset")}

        def gpus(rates):
            masks = PRODUCTS / rate["mask"]
            return [math.ceil((renders / rates[key] + masks) / 3600) for key in ("arbitrary", "preset")]

        alone, each = gpus(rate), gpus(worker)
        print(f"{gpu:<18} {tflops:>6} {gbps:>5} {rate['arbitrary']:12.0f} {rate['preset']:9.0f} {rate['mask']:7.0f} "
              f"{pair(bound, '.0f') + ' %':>14} {pair(alone, 'd'):>16} {pair(worker.values(), '.1f'):>13} "
              f"{pair(each, 'd'):>22}")
    print(f"The CPU side alone keeps {renders * cpu_ms / 1000 / 3600:.1f} cores busy for the hour, whatever the GPUs: "
          "workers sharing a GPU overlap it with the forward passes")


def pair(values, spec: str) -> str:
    """"arbitrary / preset" figures."""
    return " / ".join(format(v, spec) for v in values)


def cpu_side(size: int) -> float:
    """Measured here: a worker's CPU work per image around the network at ``size`` (decoding
    the source photo; Lanczos fit and tensors; compositing in CIELAB and WebP; the
    metrics), in ms: ``Result.timings`` of a CPU render, whose forward pass is left out."""
    paths = sorted((DEMO / "products").glob("*.jpg"))[:4]
    decode = []
    for path in paths:
        started = time.perf_counter()
        gate.open_image(path).load()
        decode.append((time.perf_counter() - started) * 1000)
    images = [gate.open_image(path) for path in paths]
    # one thread: this work is mostly Pillow and numpy anyway, and on one thread wall time
    # is CPU time unless the machine is oversubscribed (the load average says)
    stylizer = Stylizer("cpu", threads=1)
    spec, options = StyleSpec.preset(3), RenderOptions(engine="preset", max_side=size)
    stylizer.render(images[:1], spec, options)  # warm-up: the network and first-use set-up
    results = stylizer.render(images, spec, options)
    parts = {"decode": statistics.median(decode)}
    for key in ("prepare", "encode", "metrics"):
        parts[key] = statistics.median(r.timings[f"{key}_ms"] for r in results)
    print(f"\nCPU side per image at {size} px, measured on this machine (load average {os.getloadavg()[0]:.1f}, "
          f"median of {len(paths)} demo photos): " + ", ".join(f"{k} {v:.0f} ms" for k, v in parts.items())
          + f" = {sum(parts.values()):.0f} ms")
    return sum(parts.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu (a smoke run)")
    parser.add_argument("--size", type=int, default=512, help="square side in px (default 512)")
    parser.add_argument("--batches", default="1,4,8,16,32,64", help="batch sizes, ascending (default 1,4,8,16,32,64)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per batch size (default 5)")
    parser.add_argument("--no-compile", action="store_true", help="eager, whatever the engine's default")
    parser.add_argument("--estimate", action="store_true", help="the paper estimate instead (no GPU needed)")
    args = parser.parse_args()
    args.batches = sorted(int(b) for b in args.batches.split(","))
    if args.estimate:
        estimate(args.size)
    else:
        measure(args)


if __name__ == "__main__":
    main()
