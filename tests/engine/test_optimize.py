"""Gatys optimization: it lowers its loss, reports progress, stops and aborts on request."""
from pathlib import Path

import pytest
import torch

from stylestore.engine import errors, gate, imaging, optimize, runtime, vgg

DEMO = Path(__file__).resolve().parents[2] / "shop" / "demo_data"


@pytest.fixture(scope="module")
def content():
    return imaging.fit(gate.open_image(DEMO / "products" / "peony-panel.jpg"), 64)


@pytest.fixture(scope="module")
def style():
    return imaging.fit(gate.open_image(DEMO / "styles" / "irises.jpg"), 64)


def _loss(content, style, image, device):
    def tensor(picture):
        return imaging.to_tensor([picture], device.torch_device, torch.float32)

    loss = optimize.GatysLoss(
        vgg.model(device), tensor(content), tensor(style), content_weight=1.0, style_weight=10.0, tv_weight=1.0
    )
    with torch.no_grad():
        return float(loss(tensor(image)))


def _run(content, style, device):
    calls = []
    result = optimize.optimize(
        content, style, max_side=64, steps=4, device=device, progress=lambda step, total: calls.append((step, total))
    )
    assert calls == [(step, 4) for step in range(1, 5)]
    assert result.mode == "RGB" and result.size == content.size
    assert _loss(content, style, result, device) < 0.9 * _loss(content, style, content, device)


def test_a_short_run_lowers_the_loss_and_reports_progress(content, style):
    _run(content, style, runtime.pick_device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda_in_fp32(content, style):
    _run(content, style, runtime.pick_device("cuda"))


def test_output_is_bounded_by_max_side(content, style):
    assert max(optimize.optimize(content, style, max_side=48, steps=1).size) == 48


def test_returning_false_stops_early(content, style):
    calls = []

    def stop(step, total):
        calls.append(step)
        return False

    assert optimize.optimize(content, style, max_side=64, steps=50, progress=stop).size == content.size
    assert calls == [1]


def test_raising_aborts(content, style):
    class Cancelled(Exception):
        pass

    def cancel(step, total):
        raise Cancelled

    with pytest.raises(Cancelled):
        optimize.optimize(content, style, max_side=64, steps=50, progress=cancel)


@pytest.mark.parametrize("options", [{"steps": 0}, {"max_side": 16}, {"style_weight": -1.0}])
def test_invalid_options(content, style, options):
    with pytest.raises(errors.StyleSpecError):
        optimize.optimize(content, style, **options)
