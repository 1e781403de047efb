"""The image transformation network shared by both fast engines.

Magenta's arbitrary-style transformer and the 26-style network (Dumoulin et al.) are the
same architecture at different widths: a contracting path (9x9 conv, two stride-2 3x3
convs), residual blocks, and an expanding path (two nearest x2 upsamples + 3x3 convs, a
final 9x9 conv, sigmoid), every conv reflect-padded, and every normalization a
*conditional* instance norm whose per-channel scale (gamma) and shift (beta) come from a
style code. Only where gamma/beta come from differs, so this module takes them as inputs
and the engines (``arbitrary.py``, ``presets.py``) compute them.

Numerics: instance-norm statistics are always taken in fp32. The 26-style network's
activations reach ~430 and 430**2 overflows fp16, so an fp16 variance would be inf.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .phase_conv import SpaceToDepthConv, UpsampleConv

#: epsilon of every instance norm in both packaged graphs
NORM_EPS = 1e-5
#: the network downsamples twice by 2; inputs are reflect-padded to this multiple
SIZE_MULTIPLE = 4


def conditional_instance_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps) * gamma + beta`` per sample and channel.

    ``gamma``/``beta`` are (N, C) in fp32. Statistics and the affine are computed in fp32
    whatever the dtype of ``x``; the result is cast back. Two plain means (of ``x``, then
    of the squared deviations) rather than ``torch.var_mean``: on channels_last CPU
    tensors the latter's Welford kernel is 5-10x slower, and taking the mean first keeps
    the variance free of cancellation.

    Memory: this is where a render peaks (a 32-channel map at full resolution). The only
    full-size fp32 tensor kept is ``centered`` (``x - mean`` promotes to fp32 without an
    fp32 copy of ``x``), and the affine writes into it: 10 bytes per element at most for a
    half-precision ``x`` instead of 16, the same results to the bit (a 1024 px render of
    the 26-style network peaked 0.3 GB lower).
    """
    mean = x.mean(dim=(2, 3), keepdim=True, dtype=torch.float32)
    centered = torch.sub(x, mean)
    var = centered.square().mean(dim=(2, 3), keepdim=True)
    scale = gamma[:, :, None, None] * torch.rsqrt(var + NORM_EPS)
    return torch.addcmul(beta[:, :, None, None], centered, scale, out=centered).to(x.dtype)


class ReflectConv(nn.Conv2d):
    """Reflect-pad by ``kernel // 2``, then an unpadded conv (as TF's MirrorPad + VALID)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias: bool = False):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.kernel_size[0] // 2
        return super().forward(F.pad(x, (p, p, p, p), mode="reflect"))


def pad_to_multiple(x: torch.Tensor, multiple: int = SIZE_MULTIPLE) -> torch.Tensor:
    """Reflect-pad bottom/right so H and W are multiples of ``multiple``."""
    ph, pw = (-x.shape[-2]) % multiple, (-x.shape[-1]) % multiple
    return F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x


class TransformNet(nn.Module):
    """Contract -> residual blocks -> expand, conditioned by per-layer gamma/beta.

    ``forward(image, gamma, beta)``: image (N, 3, H, W) in [0, 1], any H, W >= 8;
    gamma/beta (N, sum(norm_channels)) fp32 in the order of ``norm_channels``.
    Returns (N, 3, H, W) in (0, 1), in the convs' dtype: the input is cast to it,
    reflect-padded to a multiple of 4 and the result cropped back, so the output has
    the input's size.
    """

    def __init__(
        self,
        contract: Tuple[int, int, int],
        residual_blocks: int,
        expand: Tuple[int, int],
        contract_norm: bool,
    ):
        super().__init__()
        c1, c2, c3 = contract
        e1, e2 = expand
        # Without a following norm the contract convs carry a bias (batch norm folded in);
        # before an instance norm a bias would be subtracted again with the mean.
        bias = not contract_norm
        self.contract_norm = contract_norm
        self.contract = nn.ModuleList(
            [ReflectConv(3, c1, 9, bias=bias), ReflectConv(c1, c2, 3, 2, bias=bias), ReflectConv(c2, c3, 3, 2, bias=bias)]
        )
        self.residual = nn.ModuleList(
            nn.ModuleList([ReflectConv(c3, c3, 3), ReflectConv(c3, c3, 3)]) for _ in range(residual_blocks)
        )
        # the expanding path's convs in exact phase form: see ``phase_conv`` (why: speed)
        self.expand = nn.ModuleList([UpsampleConv(c3, e1), UpsampleConv(e1, e2), SpaceToDepthConv(e2, 3, 9)])
        self.norm_channels: List[int] = (
            ([c1, c2, c3] if contract_norm else []) + [c3] * (2 * residual_blocks) + [e1, e2, 3]
        )

    def forward(self, image: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        norms = iter(zip(gamma.split(self.norm_channels, dim=1), beta.split(self.norm_channels, dim=1)))

        def norm(x: torch.Tensor) -> torch.Tensor:
            return conditional_instance_norm(x, *next(norms))

        # activations work in place on tensors just produced: no extra allocation
        x = pad_to_multiple(image.to(self.contract[0].weight.dtype))
        for conv in self.contract:
            x = conv(x)
            x = torch.relu_(norm(x) if self.contract_norm else x)
        for conv1, conv2 in self.residual:
            x = x + norm(conv2(torch.relu_(norm(conv1(x)))))
        for i, conv in enumerate(self.expand):  # the first two upsample by 2 (nearest)
            x = norm(conv(x))
            x = torch.relu_(x) if i < 2 else torch.sigmoid_(x)
        return x[..., :height, :width]

    def conv_layers(self) -> Sequence[nn.Conv2d]:
        """Every conv in forward order (for loading weights by position)."""
        return [*self.contract, *(conv for block in self.residual for conv in block), *self.expand]
