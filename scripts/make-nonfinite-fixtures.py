#!/usr/bin/env python3
"""Builds Tests/Fixtures/nonfinite_ops: one small float32 model per operator whose input holds
infinities and NaN at run time, and onnxruntime's outputs.

Every model computes v = Concat(x, x / (x - x)) for an input x of shape [1, 4], so with
x = [1, -1, 0, 2] it feeds [1, -1, 0, 2, inf, -inf, nan, inf] to the operator under test; Gemm
and MatMul get the first six of those through a Gather. The division makes the non-finite values
identically in float32 (onnxruntime) and float64 (Certus).
The models named *InfWeights* hold infinite weights instead (Certus loads infinite weights and
refuses NaN ones) and feed x itself, so its 0 meets an infinity: 0 * inf is NaN in onnxruntime,
through Gemm (B plain and transposed, and a 20-row product, which BLAS computes differently from
a one-row one), MatMul and Conv (padding zeros times infinite weights included); ConvInfInput
gives a zero weight to the infinities of v (17 output channels).
expected.json: {"input": x, "models": {"NAME.onnx": [output values, flattened, with the strings
"inf", "-inf", "nan" for non-finite ones]}}.

Requires: pip install onnx onnxruntime numpy. Run from the repository root:
  python3 scripts/make-nonfinite-fixtures.py
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join("Tests", "Fixtures", "nonfinite_ops")
X = np.array([[1, -1, 0, 2]], dtype=np.float32)


def model(name, op_nodes, out_shape, inits=(), opset=20):
    nodes = [helper.make_node("Sub", ["x", "x"], ["z"]),
             helper.make_node("Div", ["x", "z"], ["c"]),
             helper.make_node("Concat", ["x", "c"], ["v"], axis=1)] + op_nodes
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="certus-fixture")
    m.ir_version = 9
    onnx.checker.check_model(m, full_check=True)
    return m


def models():
    for op, attrs in [("Relu", {}), ("LeakyRelu", {"alpha": 0.1}), ("Sigmoid", {}), ("Tanh", {}), ("Gelu", {}),
                      ("Erf", {}), ("Sin", {}), ("Cos", {}), ("Neg", {}), ("Identity", {}), ("Softmax", {"axis": -1})]:
        yield op, model(op, [helper.make_node(op, ["v"], ["y"], **attrs)], [1, 8])
    # Gemm and MatMul see [1, -1, 0, 2, inf, -inf] (Gather drops the NaN): a zero weight on an
    # infinity gives NaN (no skipping of zero weights), inf - inf gives NaN, and +-inf survives.
    w = np.array([[1, 0, 0.5, 1], [0, 1, -0.5, 0], [2, 0, 0, 1], [0, 0, 1, 0], [0, 1, 1, -1], [0, 0, -1, 1]],
                 dtype=np.float32)
    b = np.array([0.25, -0.25, 0, 1], dtype=np.float32)
    pick = numpy_helper.from_array(np.arange(6, dtype=np.int64), "pick")
    gather = helper.make_node("Gather", ["v", "pick"], ["g"], axis=1)
    yield "Gemm", model("Gemm", [gather, helper.make_node("Gemm", ["g", "W", "b"], ["y"])], [1, 4],
                        [pick, numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    yield "MatMul", model("MatMul", [gather, helper.make_node("MatMul", ["g", "W"], ["y"])], [1, 4],
                          [pick, numpy_helper.from_array(w, "W")])
    yield from inf_weight_models()
    k = np.array([1, 2, -1, 0.5, 0, 1, 1, -2], dtype=np.float32).reshape(1, 8)
    for op in ["Add", "Sub", "Mul", "Div"]:
        yield op, model(op, [helper.make_node(op, ["v", "k"], ["y"])], [1, 8], [numpy_helper.from_array(k, "k")])


def inf_weight_models():
    inf = np.inf
    # Columns for x = [1, -1, 0, 2]: NaN (0 * inf), -inf, NaN (0 * -inf), finite (zero weight on
    # the 0), NaN (inf - inf), +inf.
    w = np.array([[1, 0, 2, 1, inf, inf],
                  [0, inf, 1, 1, inf, 0],
                  [inf, 1, -inf, 0, 0, 0],
                  [1, 0, 0, 1, 0, 0]], dtype=np.float32)
    b = np.array([0.5, 0, -1, 0.25, 0, 1], dtype=np.float32)
    yield "GemmInfWeights", model("GemmInfWeights", [helper.make_node("Gemm", ["x", "W", "b"], ["y"])], [1, 6],
                                  [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    yield "GemmInfWeightsTransB", model(
        "GemmInfWeightsTransB", [helper.make_node("Gemm", ["x", "Wt", "b"], ["y"], transB=1)], [1, 6],
        [numpy_helper.from_array(np.ascontiguousarray(w.T), "Wt"), numpy_helper.from_array(b, "b")])
    yield "MatMulInfWeights", model("MatMulInfWeights", [helper.make_node("MatMul", ["x", "W"], ["y"])], [1, 6],
                                    [numpy_helper.from_array(w, "W")])
    # 20 rows of constant weights times x as a column: an infinity or a zero in column 2 (x's 0).
    a = np.zeros((20, 4), dtype=np.float32)
    for r in range(20):
        a[r] = [r % 3 - 1, 0.5 * r, [inf, -inf, 0, 1][r % 4], 1 - r % 2]
    col = numpy_helper.from_array(np.array([4, 1], dtype=np.int64), "col")
    reshape = helper.make_node("Reshape", ["x", "col"], ["xc"])
    yield "GemmInfWeights20Rows", model(
        "GemmInfWeights20Rows", [reshape, helper.make_node("Gemm", ["A", "xc"], ["y"])], [20, 1],
        [col, numpy_helper.from_array(a, "A")])
    yield "MatMulInfWeights20Rows", model(
        "MatMulInfWeights20Rows", [reshape, helper.make_node("MatMul", ["A", "xc"], ["y"])], [20, 1],
        [col, numpy_helper.from_array(a, "A")])
    # Conv: x as a 2 x 2 image [[1, -1], [0, 2]], two 2 x 2 kernels with infinities, padding 1.
    img = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.int64), "img")
    k = np.array([[[[1, 0], [inf, 1]]], [[[0, -inf], [1, 0]]]], dtype=np.float32)
    yield "ConvInfWeights", model(
        "ConvInfWeights", [helper.make_node("Reshape", ["x", "img"], ["xi"]),
                           helper.make_node("Conv", ["xi", "K", "kb"], ["y"], pads=[1, 1, 1, 1])], [1, 2, 3, 3],
        [img, numpy_helper.from_array(k, "K"), numpy_helper.from_array(np.array([0, 1], dtype=np.float32), "kb")])
    # Conv: v as two 2 x 2 channels (the second all non-finite), 17 1 x 1 kernels, some with a zero
    # weight on the second channel.
    img2 = numpy_helper.from_array(np.array([1, 2, 2, 2], dtype=np.int64), "img2")
    k2 = np.array([[(o % 5) - 2, [0, 1, -1][o % 3]] for o in range(17)], dtype=np.float32).reshape(17, 2, 1, 1)
    yield "ConvInfInput", model(
        "ConvInfInput", [helper.make_node("Reshape", ["v", "img2"], ["vi"]),
                         helper.make_node("Conv", ["vi", "K2"], ["y"])], [1, 17, 2, 2],
        [img2, numpy_helper.from_array(k2, "K2")])


def text(v):
    return "nan" if np.isnan(v) else "inf" if v == np.inf else "-inf" if v == -np.inf else float(v)


def main():
    if not os.path.isfile("Package.swift"):
        sys.exit("run from the repository root")
    os.makedirs(OUT, exist_ok=True)
    expected = {"input": [float(v) for v in X.ravel()], "onnxruntime": ort.__version__, "models": {}}
    for name, m in models():
        onnx.save(m, os.path.join(OUT, name + ".onnx"))
        y = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": X})[0]
        expected["models"][name + ".onnx"] = [text(v) for v in y.ravel()]
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    print("wrote", len(expected["models"]), "models to", OUT)


if __name__ == "__main__":
    main()
