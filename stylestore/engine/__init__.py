"""Stylestore's stylization engine: pure PyTorch and Pillow, no Django.

The Django layer uses :class:`Stylizer` with a :class:`StyleSpec` and
:class:`RenderOptions` and gets one :class:`Result` per image (see ``pipeline``).
Importing the package loads no model, touches no GPU and does not import torch.
"""
from .errors import (
    CorruptImage,
    EngineError,
    ImageError,
    ImageTooLarge,
    ImageTooSmall,
    NonFiniteOutput,
    StyleSpecError,
    UnsupportedFormat,
    WeightsError,
)

# The networks' modules import torch; the image gate (``gate``), the conversions around
# the networks (``imaging``) and ``errors`` do not.
# They load on first use, so a web process that only validates uploads never pays for
# torch (hundreds of MB per process).
_LAZY = {
    **dict.fromkeys(["ENGINES", "FORMATS", "RenderOptions", "Result", "StyleSpec", "Stylizer"], "pipeline"),
    **dict.fromkeys(["NUM_PRESETS", "PRESET_NAMES"], "preset_names"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ENGINES",
    "FORMATS",
    "NUM_PRESETS",
    "PRESET_NAMES",
    "CorruptImage",
    "EngineError",
    "ImageError",
    "ImageTooLarge",
    "ImageTooSmall",
    "NonFiniteOutput",
    "RenderOptions",
    "Result",
    "StyleSpec",
    "StyleSpecError",
    "Stylizer",
    "UnsupportedFormat",
    "WeightsError",
]
