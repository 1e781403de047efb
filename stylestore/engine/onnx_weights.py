"""Read the parameters of the packaged ONNX graphs as torch tensors.

The graphs are only a weight container for us: the network structure is written by
hand in ``arbitrary.py`` and ``presets.py``. The arbitrary-style graphs are int8 QDQ
models, so a conv's weight and bias each reach it through a ``DequantizeLinear`` node.
We follow those nodes from every ``Conv`` and dequantize on load
(``(q - zero_point) * scale`` along the node's axis), keyed by the name of the
quantized *weight* initializer: bias initializers are shared between layers (all the
all-zero biases point at one tensor), so their names identify nothing.
"""
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch

from . import weights
from .errors import WeightsError


@dataclass(frozen=True)
class ConvParams:
    """Float weight (out, in/groups, kh, kw) and optional bias (out,) of one conv."""

    weight: torch.Tensor
    bias: Optional[torch.Tensor]


def _load_graph(name: str):
    """Parse one packaged model; any failure is the installation's, not the caller's."""
    import onnx  # imported here: only model construction needs it

    location = weights.path(name)
    try:
        model = onnx.load(str(location))
    except Exception as exc:  # onnx raises DecodeError, OSError, ValueError...
        raise WeightsError(f"cannot read {location}: {exc}") from exc
    return model.graph


def _arrays(graph) -> Dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {init.name: numpy_helper.to_array(init) for init in graph.initializer}


def float_initializers(name: str) -> Dict[str, torch.Tensor]:
    """All initializers of a float graph (``multistyle26``) as float32 tensors by name."""
    graph = _load_graph(name)
    return {
        key: torch.from_numpy(np.array(value, dtype=np.float32))
        for key, value in _arrays(graph).items()
        if value.dtype == np.float32
    }


def _dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int) -> torch.Tensor:
    """ONNX ``DequantizeLinear`` in fp32 as onnxruntime computes it: per-tensor when
    ``scale`` is a scalar, else along ``axis``."""
    shape = [1] * q.ndim
    if scale.ndim:
        shape[axis] = scale.shape[0]
    values = (q.astype(np.int64) - zero_point.astype(np.int64).reshape(shape)).astype(np.float32)
    return torch.from_numpy(values * scale.astype(np.float32).reshape(shape))


def quantized_convs(name: str) -> Dict[str, ConvParams]:
    """Every conv of a QDQ graph, dequantized, keyed by its quantized weight's name.

    Raises ``WeightsError`` if a conv's weight does not come from an initializer
    through a ``DequantizeLinear`` node: the file is not the one this code was written for.
    """
    graph = _load_graph(name)
    arrays = _arrays(graph)
    # output name -> (initializer name, dequantized tensor), for DQ nodes fed by initializers
    dequantized: Dict[str, tuple] = {}
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in arrays:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        q = arrays[node.input[0]]
        scale = arrays[node.input[1]]
        zero_point = arrays[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros((), q.dtype)
        dequantized[node.output[0]] = (node.input[0], _dequantize(q, scale, zero_point, axis))

    convs: Dict[str, ConvParams] = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        try:
            key, weight = dequantized[node.input[1]]
        except KeyError:
            raise WeightsError(f"{name}: conv {node.name or node.output[0]} has no quantized weight") from None
        bias_input = node.input[2] if len(node.input) > 2 else ""
        if bias_input and bias_input not in dequantized:
            raise WeightsError(f"{name}: conv {key} has a bias that is not a quantized initializer")
        convs[key] = ConvParams(weight, dequantized[bias_input][1] if bias_input else None)
    if not convs:
        raise WeightsError(f"{name}: no quantized convolutions found")
    return convs
