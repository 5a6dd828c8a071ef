#!/usr/bin/env python3
"""Builds the piecewise-linear operator fixtures of Tests/Fixtures/ops/pwl and their onnxruntime
outputs (issue 14): Clip, Max, Min, Floor, Sign, ReduceMax, ReduceMin, MaxPool.

Single-operator models are float32 with one input x and one output y: h = x * 1.7, then the
operator under test on h (no squashing in front, so that the inputs reach the kinks: scales 1,
0.1 and 10 give |h| up to 17). Covered:
  Clip (opset 10 min/max attributes; opset 11 min and max inputs; opset 13 min input only; opset 13
  with min > max), Max and Min (a computed input and a scalar constant; a [1]-shaped constant;
  two computed inputs and a broadcast constant tensor, three inputs; opset 8 equal shapes),
  Floor, Sign, ReduceMax (opset 13 axes attribute, keepdims 0; opset 18 axes input, negative
  axis), ReduceMin (opset 13 every axis; opset 18 noop_with_empty_axes), MaxPool (opset 8 kernel
  2 stride 2 with an unused Indices output; opset 12 pads, strides, dilations and ceil_mode; opset
  12 windows without an input cell).
pwl_net is a small network for end-to-end bounds: x[1,3] -> Gemm -> Clip(-0.5, 1) -> Gemm ->
Max(., 0.1) -> Gemm -> Min(., 0.4) -> Gemm -> Floor -> Gemm -> Sign -> Gemm -> y[1,2].
For each model NAME.onnx, NAME.eval_ref.json holds {"model", "onnxruntime", "cases": [{"input",
"output"}]}: 9 inputs (row-major, float32 values written as the float64 they widen to) and
onnxruntime's output, flattened.

The folder is a subfolder of Tests/Fixtures/ops so that OpsFixtureTests (which bounds every
model there with CROWN) does not pick up operators that only have IBP bounds.

Requires: pip install onnx onnxruntime numpy. Run from the repository root:
  python3 scripts/make_pwl_fixtures.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fixture_common import finish, floats, ints, require_repo_root, scaled_model as model, write

OUT = os.path.join("Tests", "Fixtures", "ops", "pwl")
rng = np.random.default_rng(20261214)


def net():
    """The end-to-end network (weights fixed by the seed)."""
    n = helper.make_node
    sizes = [3, 6, 6, 6, 5, 4, 2]
    inits, nodes, prev = [], [], "x"
    acts = [("Clip", ["lo", "hi"]), ("Max", ["m"]), ("Min", ["n"]), ("Floor", []), ("Sign", []), None]
    for k in range(len(sizes) - 1):
        w = rng.normal(0, 1.2, size=(sizes[k], sizes[k + 1])).astype(np.float32)
        b = rng.normal(0, 0.5, size=(sizes[k + 1],)).astype(np.float32)
        inits += [floats(f"W{k}", w), floats(f"b{k}", b)]
        out = "y" if acts[k] is None else f"z{k}"
        nodes.append(n("Gemm", [prev, f"W{k}", f"b{k}"], [out], name=f"gemm{k}"))
        if acts[k] is not None:
            op, extra = acts[k]
            nodes.append(n(op, [out] + extra, [f"a{k}"], name=f"{op.lower()}{k}"))
            prev = f"a{k}"
    inits += [floats("lo", -0.5), floats("hi", 1.0), floats("m", 0.1), floats("n", 0.4)]
    g = helper.make_graph(nodes, "pwl_net",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="certus-fixture")
    m.ir_version = 8
    return m


def fixtures():
    n = helper.make_node
    yield model("clip_opset10", 10, [2, 5], [n("Clip", ["h"], ["y"], name="clip", min=-0.3, max=0.8)], [])
    yield model("clip_opset11", 11, [2, 5], [n("Clip", ["h", "lo", "hi"], ["y"], name="clip")],
                [floats("lo", -1.25), floats("hi", 0.5)])
    yield model("clip_opset13_min", 13, [2, 5], [n("Clip", ["h", "lo"], ["y"], name="clip")], [floats("lo", 0.2)])
    yield model("clip_opset13_inverted", 13, [2, 3], [n("Clip", ["h", "lo", "hi"], ["y"], name="clip")],
                [floats("lo", 1.0), floats("hi", -1.0)])
    yield model("max_opset13_const", 13, [2, 5], [n("Max", ["h", "k"], ["y"], name="max")], [floats("k", 0.3)])
    yield model("min_opset13_const", 13, [2, 5], [n("Min", ["h", "k"], ["y"], name="min")], [floats("k", [-0.4])])
    yield model("max_opset13_vars", 13, [2, 4],
                [n("Neg", ["h"], ["g"], name="neg"), n("Max", ["h", "g", "k"], ["y"], name="max")],
                [floats("k", [[0.5], [-0.5]])])
    yield model("min_opset8_vars", 8, [2, 4],
                [n("Relu", ["h"], ["g"], name="relu"), n("Min", ["g", "h"], ["y"], name="min")], [])
    yield model("floor_opset13", 13, [3, 4], [n("Floor", ["h"], ["y"], name="floor")], [])
    yield model("sign_opset13", 13, [3, 4], [n("Sign", ["h"], ["y"], name="sign")], [])
    yield model("reducemax_opset13", 13, [2, 3, 4], [n("ReduceMax", ["h"], ["y"], name="rmax", axes=[1], keepdims=0)], [])
    yield model("reducemax_opset18", 18, [2, 3, 4], [n("ReduceMax", ["h", "ax"], ["y"], name="rmax")], [ints("ax", [-1, 0])])
    yield model("reducemin_opset13_all", 13, [2, 3, 4], [n("ReduceMin", ["h"], ["y"], name="rmin")], [])
    yield model("reducemin_opset18_noop", 18, [2, 3], [n("ReduceMin", ["h"], ["y"], name="rmin", noop_with_empty_axes=1)], [])
    yield model("maxpool_opset8", 8, [1, 2, 4, 4],
                [n("MaxPool", ["h"], ["y", "idx"], name="pool", kernel_shape=[2, 2], strides=[2, 2])], [])
    yield model("maxpool_opset12_ceil", 12, [1, 2, 5, 6],
                [n("MaxPool", ["h"], ["y"], name="pool", kernel_shape=[2, 3], strides=[2, 2], pads=[1, 0, 0, 1],
                   dilations=[1, 2], ceil_mode=1)], [])
    yield net()
    # An omitted min before a present max (an empty input name): no lower bound.
    yield model("clip_opset13_max_only", 13, [2, 5], [n("Clip", ["h", "", "hi"], ["y"], name="clip")], [floats("hi", 0.5)])
    # Windows without an input cell (rows -1 and 1 of a 1-row input: pads and dilation 2), found
    # by the soundness battery: onnxruntime gives the lowest float32 there, not -inf.
    yield model("maxpool_opset12_empty_windows", 12, [1, 1, 1, 3],
                [n("MaxPool", ["h"], ["y"], name="pool", kernel_shape=[2, 1], pads=[1, 0, 1, 0], dilations=[2, 1])], [])


def main():
    require_repo_root()
    write(fixtures(), OUT, rng)


if __name__ == "__main__":
    main()
