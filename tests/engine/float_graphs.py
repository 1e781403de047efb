"""Reference graphs for parity tests: the packaged ONNX files run in float by onnxruntime.

The shipped arbitrary-style graphs are int8 QDQ. onnxruntime's fused int8 kernels differ
by CPU, so our float port is compared with the *same graph in float*: weight
initializers dequantized into float initializers, activation QuantizeLinear /
DequantizeLinear pairs turned into identities, and the fixed 1x384x384 shapes made free.
This is written independently of ``stylestore.engine.onnx_weights`` on purpose.
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper

from stylestore.engine import weights


def _dequantize(q, scale, zero_point, axis):
    shape = [1] * q.ndim
    if scale.ndim:
        shape[axis] = scale.shape[0]
    return ((q.astype(np.float64) - zero_point.astype(np.float64).reshape(shape)) * scale.reshape(shape)).astype(
        np.float32
    )


def float_model(name: str, same_padding: bool = False) -> bytes:
    """Serialized float version of a packaged graph.

    ``same_padding`` replaces every conv's explicit pads with ``SAME_UPPER`` (TF "SAME"),
    so the predictor graph stays TF-exact at odd sizes, not only at the 256x256 it was
    exported for.
    """
    model = onnx.load(str(weights.path(name)))
    graph = model.graph
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes, floats = [], {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in arrays:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            zp = arrays[node.input[2]] if len(node.input) > 2 else np.zeros(())
            floats[node.output[0]] = _dequantize(arrays[node.input[0]], arrays[node.input[1]], zp, axis)
        elif node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            nodes.append(helper.make_node("Identity", [node.input[0]], [node.output[0]]))
        else:
            if same_padding and node.op_type == "Conv":
                kept = [a for a in node.attribute if a.name not in ("pads", "auto_pad")]
                del node.attribute[:]
                node.attribute.extend(kept + [helper.make_attribute("auto_pad", "SAME_UPPER")])
            nodes.append(node)
    used = {name for node in nodes for name in node.input}
    initializers = [init for init in graph.initializer if init.name in used and init.data_type != onnx.TensorProto.INT8]
    initializers += [numpy_helper.from_array(value, key) for key, value in floats.items()]
    for value in list(graph.input) + list(graph.output):
        for i, dim in enumerate(value.type.tensor_type.shape.dim):
            if i:  # batch stays 1: the graphs hard-code it in their reshapes
                dim.Clear()
                dim.dim_param = f"{value.name.replace('/', '_')}_{i}"
    new_graph = helper.make_graph(nodes, graph.name, graph.input, graph.output, initializers)
    out = helper.make_model(new_graph, opset_imports=model.opset_import)
    out.ir_version = model.ir_version
    return out.SerializeToString()


def session(name: str, same_padding: bool = False):
    """onnxruntime session of :func:`float_model`."""
    return _session(float_model(name, same_padding))


def packaged_session(name: str):
    """onnxruntime session of a packaged graph as shipped."""
    return _session(str(weights.path(name)))


def _session(model):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1  # small test inputs; see samples.one_thread
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
