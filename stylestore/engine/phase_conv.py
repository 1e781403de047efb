"""Exact rewrites of the transform networks' slowest convolutions, for speed.

The expanding paths end in convs with very few channels at full resolution (16->8 and
8->3 in the arbitrary transformer, 8->4 and 4->3 in the 26-style network). CPU conv
kernels vectorize over channels, so these run at 15-25 GFLOP/s against ~100 for the
32-channel convs (one core of this project's CPU, oneDNN). Both rewrites below compute
*the same function* on a 2x2 space-to-depth layout instead, where the channel counts are
4x larger and the spatial size 4x smaller; the weights are rearranged on the fly from
the original (out, in, k, k) parameter, so loading and parity tests do not change:

* :class:`SpaceToDepthConv` - reflect pad + stride-1 conv. Each of the 4 output phases is
  a conv of the 4 input phases with a ceil(k/2)-tap kernel (9x9 -> 5x5).
  8->3 9x9 at 384 px: 27.8 -> 11.4 ms on one core, rearrangements included.
* :class:`UpsampleConv` - nearest x2 upsample + reflect pad 1 + 3x3 conv. Reflect padding
  of a nearest-upsampled image equals the upsample of the edge-replicated image, so each
  output phase is a conv of the *small* input with the 3 taps folded into 2. The
  upsampled tensor never exists. 16->8 to 384 px: 8.7 -> 4.7 ms on one core.

Phases are laid out with the phase outermost (channel = phase * C + c), which keeps
channels_last memory moves to contiguous runs of C values.
"""
import torch
import torch.nn.functional as F
from torch import nn


def space_to_depth(x: torch.Tensor) -> torch.Tensor:
    """(N, C, 2H, 2W) -> (N, 4C, H, W), channel (2*ry + rx)*C + c holds x[c, 2i+ry, 2j+rx]."""
    n, c, h, w = x.shape
    y = x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h // 2, w // 2, 4 * c).permute(0, 3, 1, 2)


def depth_to_space(y: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`space_to_depth`."""
    n, c4, h, w = y.shape
    x = y.permute(0, 2, 3, 1).reshape(n, h, w, 2, 2, c4 // 4).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, 2 * h, 2 * w, c4 // 4).permute(0, 3, 1, 2)


def _phase_weight(weight: torch.Tensor, taps: torch.Tensor, in_phases: int) -> torch.Tensor:
    """Rearrange (O, I, k, k) into (4*O, in_phases*I, t, t) with a 0/1 map per axis.

    ``taps[a, t, r, d]`` is 1 when output phase ``a``'s tap ``t`` on input phase ``r``
    reads original kernel row ``d``; the same map serves rows and columns.
    """
    out_ch, in_ch = weight.shape[:2]
    taps = taps.to(weight.dtype)
    w = torch.einsum("ytpd,xsqe,oide->yxopqits", taps, taps, weight)  # phases ay, ax, then ry, rx
    return w.reshape(4 * out_ch, in_phases * in_ch, taps.shape[1], taps.shape[1])


def _bias(bias, repeat: int):
    return None if bias is None else bias.repeat(repeat)


class SpaceToDepthConv(nn.Conv2d):
    """Reflect pad by k // 2 + stride-1 conv (odd k), computed in space-to-depth layout.

    The input's height and width must be even (the networks feed multiples of 4).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = False):
        super().__init__(in_channels, out_channels, kernel_size, bias=bias)
        k, t = kernel_size, kernel_size // 2 + 1
        taps = torch.zeros(2, t, 2, k)
        for a in range(2):  # out[2i+a] = sum_d w[d] * padded[2i+a+d], padded[2q+r] -> phase r, tap q-i
            for d in range(k):
                taps[a, (a + d) // 2, (a + d) % 2, d] = 1
        self.register_buffer("taps", taps, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.kernel_size[0] // 2
        x = space_to_depth(F.pad(x, (p, p, p, p), mode="reflect"))
        weight = _phase_weight(self.weight, self.taps, in_phases=4)
        return depth_to_space(F.conv2d(x, weight, _bias(self.bias, 4)))


class UpsampleConv(nn.Conv2d):
    """Nearest x2 upsample + reflect pad 1 + 3x3 conv, without materializing the upsample."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False):
        super().__init__(in_channels, out_channels, 3, bias=bias)
        # out[2i+a] reads upsampled rows 2i+a-1 .. 2i+a+1 = small rows i-1+(a+d)//2 ... -> taps 0..2
        taps = torch.zeros(2, 3, 1, 3)
        for a in range(2):
            for d in range(3):
                taps[a, (a + d + 1) // 2, 0, d] = 1
        self.register_buffer("taps", taps, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")
        weight = _phase_weight(self.weight, self.taps, in_phases=1)
        return depth_to_space(F.conv2d(x, weight, _bias(self.bias, 4)))
