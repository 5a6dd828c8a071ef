"""Shared by the operator fixture generators (make_ops_fixtures.py, make_smooth_ops_fixtures.py,
make_pwl_fixtures.py): onnxruntime reference outputs on random inputs, and writing each model
beside its references (NAME.onnx and NAME.eval_ref.json). Run the generators from the
repository root."""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def require_repo_root():
    if not os.path.isfile("Package.swift"):
        sys.exit("run from the repository root")


def ints(name, value):
    return numpy_helper.from_array(np.array(value, dtype=np.int64), name)


def floats(name, value):
    return numpy_helper.from_array(np.array(value, dtype=np.float32), name)


def finish(name, opset, nodes, in_shape, inits, out="y", out_shape=None, allow_scalar=True):
    """The model of `nodes` with input x (float, `in_shape`) and output `out`, whose shape is
    `out_shape` or what ONNX shape inference gives (the checker wants one declared); a scalar
    output only when `allow_scalar`."""
    g = helper.make_graph(nodes, name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="certus-fixture")
    m.ir_version = 8 if opset < 21 else 10
    inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    shape = [vi for vi in inferred.graph.value_info if vi.name == out] or list(inferred.graph.output)
    dims = out_shape or [d.dim_value for d in shape[0].type.tensor_type.shape.dim]
    assert (allow_scalar or dims) and all(d > 0 for d in dims), f"{name}: output shape {dims} not inferred; give out_shape"
    m.graph.output[0].CopyFrom(helper.make_tensor_value_info(out, TensorProto.FLOAT, dims))
    return m


def scaled_model(name, opset, in_shape, op_nodes, inits, out="y"):
    """x -> Mul(1.7) -> h -> op_nodes -> out: single-operator fixtures whose operator reads h."""
    nodes = [helper.make_node("Mul", ["x", "c"], ["h"], name="scale")] + op_nodes
    return finish(name, opset, nodes, in_shape, [floats("c", 1.7)] + inits, out)


def references(m, rng, require_finite=False):
    """onnxruntime's outputs of model m on nine random float32 inputs (scales 1, 0.1 and 10)."""
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    cases = []
    for k in range(9):
        scale = [1.0, 0.1, 10.0][k % 3]
        x = (rng.uniform(-1, 1, size=inp.shape) * scale).astype(np.float32)
        y = sess.run(None, {inp.name: x})[0]
        if require_finite:
            assert np.all(np.isfinite(y)), m.graph.name
        cases.append({"input": [float(v) for v in x.ravel()], "output": [float(v) for v in np.asarray(y).ravel()]})
    return {"model": m.graph.name + ".onnx", "onnxruntime": ort.__version__, "cases": cases}


def write(models, folder, rng, require_finite=False):
    """Checks and saves every model of `models` (an iterable, consumed in order) in `folder`,
    with its references."""
    os.makedirs(folder, exist_ok=True)
    for m in models:
        onnx.checker.check_model(m, full_check=True)
        name = m.graph.name
        onnx.save(m, os.path.join(folder, name + ".onnx"))
        with open(os.path.join(folder, name + ".eval_ref.json"), "w") as f:
            json.dump(references(m, rng, require_finite), f)
        print("wrote", os.path.join(folder, name + ".onnx"))
