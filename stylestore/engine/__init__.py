"""Stylestore's stylization engine: pure PyTorch and Pillow, no Django.

The Django layer uses :class:`Stylizer` with a :class:`StyleSpec` and
:class:`RenderOptions` and gets one :class:`Result` per image (see ``pipeline``).
Importing the package loads no model and touches no GPU.
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
from .pipeline import ENGINES, FORMATS, RenderOptions, Result, StyleSpec, Stylizer
from .presets import NUM_PRESETS, PRESET_NAMES

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
