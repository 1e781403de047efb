"""sRGB <-> CIELAB (D65), shared by colour preservation and the colour metrics.

Both uses need the same definition of "colour": preservation keeps the original's
a*b* and the metrics measure how far a*b* moved, so a single conversion keeps them
consistent. Arrays are channels-last ``(..., 3)`` tensors, the layout PIL and numpy
hand us. The reference white is derived from the RGB->XYZ matrix itself (its row
sums) rather than the rounded textbook D65 triple, so neutral greys map to exactly
a* = b* = 0 and a grey product can never show a spurious chroma difference.
"""
import torch

#: linear sRGB -> CIE XYZ, IEC 61966-2-1 primaries with a D65 white.
_RGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_EPSILON = (6.0 / 29.0) ** 3
_KAPPA_SLOPE = 1.0 / (3.0 * (6.0 / 29.0) ** 2)


def _matrix(like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(_RGB_TO_XYZ, dtype=like.dtype, device=like.device)


def srgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Map sRGB in [0, 1] (channels last) to CIELAB L* in [0, 100], a*, b*."""
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = _matrix(rgb)
    xyz = linear @ matrix.T / matrix.sum(dim=1)
    f = torch.where(xyz > _EPSILON, xyz.clamp_min(_EPSILON) ** (1.0 / 3.0), xyz * _KAPPA_SLOPE + 4.0 / 29.0)
    fx, fy, fz = f.unbind(-1)
    return torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-1)


def lab_to_srgb(lab: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`srgb_to_lab`; out-of-gamut colours are clipped to [0, 1]."""
    lightness, a, b = lab.unbind(-1)
    fy = (lightness + 16.0) / 116.0
    f = torch.stack((fy + a / 500.0, fy, fy - b / 200.0), dim=-1)
    threshold = 6.0 / 29.0
    xyz = torch.where(f > threshold, f**3, (f - 4.0 / 29.0) / _KAPPA_SLOPE)
    matrix = _matrix(lab)
    linear = (xyz * matrix.sum(dim=1)) @ torch.linalg.inv(matrix).T
    linear = linear.clamp(0.0, 1.0)
    return torch.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1.0 / 2.4) - 0.055)
