#!/usr/bin/env python3
"""Builds the static-shape fixtures of Tests/Fixtures/static_shape and their onnxruntime outputs.

Models (float32, random weights from a fixed seed):
  view_flatten.onnx  opset 13, input x [N, 2, 3, 4] with a symbolic batch N (Certus takes it as 1):
                     the old `x.view(x.size(0), -1)` export Shape -> Gather -> Unsqueeze -> Concat
                     -> Reshape, then MatMul, Relu, and a Gather on the computed activations with
                     constant indices [4, 0, 4, -1] along axis 1 (repeated and negative indices).
  shape_slice.onnx   opset 15, input x [1, 2, 3, 4]: Shape with start=1, end=-1 ([2, 3]) inside
                     the Reshape target [1, 2, 3, -1], a scalar Gather (index -1, axis -1) that
                     drops the last axis, Flatten, MatMul, Tanh.
For each model (and for ../shared/cases/soundness/n_shape_gather_concat.onnx, whose model stays in
../shared) NAME.eval_ref.json holds {"model", "cases": [{"input", "output"}]}: 9 inputs (row-major,
float32 values written as exact decimals of the float64 they widen to) and onnxruntime's first
output, flattened.

Requires: pip install onnx onnxruntime numpy. Run from the repository root:
  python3 scripts/make-static-shape-fixtures.py
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join("Tests", "Fixtures", "static_shape")
SHARED_CASE = os.path.join("..", "shared", "cases", "soundness", "n_shape_gather_concat.onnx")
rng = np.random.default_rng(20240610)


def const(name, value, dtype):
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


def view_flatten():
    w = rng.normal(0, 0.3, size=(24, 6)).astype(np.float32)
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["s0"], axis=0),
        helper.make_node("Unsqueeze", ["s0", "ax0"], ["s0u"]),
        helper.make_node("Concat", ["s0u", "m1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gather", ["r", "pick"], ["y"], axis=1),
    ]
    inits = [const("i0", 0, np.int64), const("ax0", [0], np.int64), const("m1", [-1], np.int64),
             numpy_helper.from_array(w, "W"), const("pick", [4, 0, 4, -1], np.int64)]
    g = helper.make_graph(nodes, "view_flatten",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="certus-fixture")


def shape_slice():
    w = rng.normal(0, 0.4, size=(6, 5)).astype(np.float32)
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], start=1, end=-1),
        helper.make_node("Concat", ["one", "s", "m1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["same"]),
        helper.make_node("Gather", ["same", "last"], ["g"], axis=-1),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "W"], ["h"]),
        helper.make_node("Tanh", ["h"], ["y"]),
    ]
    inits = [const("one", [1], np.int64), const("m1", [-1], np.int64), const("last", -1, np.int64),
             numpy_helper.from_array(w, "W")]
    g = helper.make_graph(nodes, "shape_slice",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)], producer_name="certus-fixture")


def references(model_bytes, name):
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    cases = []
    for k in range(9):
        scale = [1.0, 0.1, 10.0][k % 3]
        x = (rng.uniform(-1, 1, size=shape) * scale).astype(np.float32)
        y = sess.run(None, {inp.name: x})[0]
        cases.append({"input": [float(v) for v in x.ravel()], "output": [float(v) for v in y.ravel()]})
    return {"model": name, "onnxruntime": ort.__version__, "cases": cases}


def main():
    if not os.path.isfile("Package.swift"):
        sys.exit("run from the repository root")
    os.makedirs(OUT, exist_ok=True)
    for name, build in [("view_flatten", view_flatten), ("shape_slice", shape_slice)]:
        m = build()
        m.ir_version = 8
        onnx.checker.check_model(m, full_check=True)
        onnx.save(m, os.path.join(OUT, name + ".onnx"))
        with open(os.path.join(OUT, name + ".eval_ref.json"), "w") as f:
            json.dump(references(m.SerializeToString(), name + ".onnx"), f)
    if os.path.isfile(SHARED_CASE):
        with open(SHARED_CASE, "rb") as f:
            ref = references(f.read(), "../shared/cases/soundness/n_shape_gather_concat.onnx")
        with open(os.path.join(OUT, "n_shape_gather_concat.eval_ref.json"), "w") as f:
            json.dump(ref, f)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
