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


def space_to_depth(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """(N, C, fH, fW) -> (N, f*f*C, H, W), channel (f*ry + rx)*C + c holds x[c, f*i+ry, f*j+rx]."""
    n, c, h, w = x.shape
    y = x.permute(0, 2, 3, 1).reshape(n, h // factor, factor, w // factor, factor, c).permute(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h // factor, w // factor, factor * factor * c).permute(0, 3, 1, 2)


def depth_to_space(y: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Inverse of :func:`space_to_depth`."""
    n, cf, h, w = y.shape
    c = cf // (factor * factor)
    x = y.permute(0, 2, 3, 1).reshape(n, h, w, factor, factor, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, factor * h, factor * w, c).permute(0, 3, 1, 2)


def _phase_weight(weight: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Rearrange (O, I, k, k) into (A*A*O, R*R*I, T, T) with a 0/1 map per axis.

    ``taps[a, t, r, d]`` (A output phases, T taps, R input phases, k kernel rows) is 1
    when output phase ``a``'s tap ``t`` on input phase ``r`` reads original kernel row
    ``d``; the same map serves rows and columns.
    """
    out_ch, in_ch = weight.shape[:2]
    phases_out, n_taps, phases_in = taps.shape[:3]
    taps = taps.to(weight.dtype)
    w = torch.einsum("ytpd,xsqe,oide->yxopqits", taps, taps, weight)  # phases ay, ax, then ry, rx
    return w.reshape(phases_out**2 * out_ch, phases_in**2 * in_ch, n_taps, n_taps)


def _bias(bias, repeat: int):
    return None if bias is None else bias.repeat(repeat)


class SpaceToDepthConv(nn.Conv2d):
    """Reflect pad by k // 2 + stride-1 conv (odd k), computed in space-to-depth layout.

    ``factor`` f: f*f phases, ceil((k + f - 1) / f) taps. The input's height and width
    must be multiples of f (the networks feed multiples of 4).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, factor: int = 2, bias: bool = False):
        super().__init__(in_channels, out_channels, kernel_size, bias=bias)
        k, f = kernel_size, factor
        taps = torch.zeros(f, (k + f - 2) // f + 1, f, k)
        for a in range(f):  # out[f*i+a] = sum_d w[d] * padded[f*i+a+d], padded[f*q+r] -> phase r, tap q-i
            for d in range(k):
                taps[a, (a + d) // f, (a + d) % f, d] = 1
        self.factor = factor
        self.register_buffer("taps", taps, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, f = self.kernel_size[0] // 2, self.factor
        x = space_to_depth(F.pad(x, (p, p, p, p), mode="reflect"), f)
        return depth_to_space(F.conv2d(x, _phase_weight(self.weight, self.taps), _bias(self.bias, f * f)), f)


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
        return depth_to_space(F.conv2d(x, _phase_weight(self.weight, self.taps), _bias(self.bias, 4)))
