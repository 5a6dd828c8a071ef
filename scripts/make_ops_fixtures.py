#!/usr/bin/env python3
"""Builds the operator fixtures of Tests/Fixtures/ops and their onnxruntime outputs (issue 14).

Every model is float32 with one input x and one output y: h = Tanh(x * 1.7), then the operator
under test on h (a Tanh in front, so that the bound tests have a nonlinearity before the
operator), then y. Operators and opsets covered:
  Dropout (opset 7 with a ratio attribute; opset 13 with ratio and training_mode=false inputs and
  a declared, unused mask output), Slice (opset 9 attributes; opset 10 INT64_MAX end and step 2;
  opset 13 negative starts, axes and steps with INT64_MIN/over-range ends), ReduceSum (opset 11
  axes attribute, keepdims 0; opset 13 axes input; opset 13 without axes: every axis), ReduceMean
  (opset 13 attribute, keepdims 1; opset 18 axes input, negative axis, keepdims 0), Expand
  (two-way broadcasting), Tile, Pad (opset 10 attributes with a value; opset 13 inputs with
  negative (cropping) pads and a constant value; opset 18 axes), Split (opset 11 attribute;
  opset 13 split input, three outputs concatenated in another order; opset 13 equal parts;
  opset 18 num_outputs with a smaller last part), GlobalAveragePool, ConstantOfShape (of a Shape,
  folded at load), Cast (FLOAT/DOUBLE of a computed value: identity; INT64 and back of constants,
  truncating toward zero; of a Shape), Where (constant conditions from Equal/Not/Less/Greater/
  LessOrEqual/GreaterOrEqual on constants and a Shape; computed X and Y, broadcasting), Range
  (float and int64 constants, a negative delta; folded at load).
For each model NAME.onnx, NAME.eval_ref.json holds {"model", "onnxruntime", "cases": [{"input",
"output"}]}: 9 inputs (row-major, float32 values written as the float64 they widen to; scales
1, 0.1 and 10) and onnxruntime's output, flattened.

Requires: pip install onnx onnxruntime numpy. Run from the repository root:
  python3 scripts/make_ops_fixtures.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fixture_common import finish, floats, ints, require_repo_root, write

OUT = os.path.join("Tests", "Fixtures", "ops")
rng = np.random.default_rng(20261201)
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def model(name, opset, in_shape, op_nodes, inits, out="y", out_shape=None):
    """x -> Mul(1.7) -> Tanh -> h -> op_nodes -> out."""
    nodes = [helper.make_node("Mul", ["x", "c"], ["xc"], name="scale"),
             helper.make_node("Tanh", ["xc"], ["h"], name="tanh")] + op_nodes
    return finish(name, opset, nodes, in_shape, [floats("c", 1.7)] + inits, out, out_shape)


def fixtures():
    n = helper.make_node
    yield model("dropout_opset7", 7, [1, 3, 4], [n("Dropout", ["h"], ["y"], name="dropout", ratio=0.4)], [])
    yield model("dropout_opset13", 13, [1, 3, 4],
                [n("Dropout", ["h", "ratio", "train"], ["y", "mask"], name="dropout")],
                [floats("ratio", 0.3), numpy_helper.from_array(np.array(False), "train")])
    yield model("slice_opset9", 9, [1, 4, 5],
                [n("Slice", ["h"], ["y"], name="/Slice", starts=[1, 0], ends=[3, 1000], axes=[1, 2])], [])
    yield model("slice_opset10_step", 10, [1, 3, 7],
                [n("Slice", ["h", "s", "e", "a", "st"], ["y"], name="/Slice")],
                [ints("s", [1]), ints("e", [INT64_MAX]), ints("a", [2]), ints("st", [2])])
    yield model("slice_opset13_negative", 13, [1, 4, 6],
                [n("Slice", ["h", "s", "e", "a", "st"], ["y"], name="/Slice")],
                [ints("s", [-1, 5]), ints("e", [INT64_MIN, -10 + 10]), ints("a", [-1, 1]), ints("st", [-2, -1])])
    yield model("reducesum_opset11", 11, [1, 3, 4],
                [n("ReduceSum", ["h"], ["y"], name="rsum", axes=[1], keepdims=0)], [])
    yield model("reducesum_opset13", 13, [1, 3, 4],
                [n("ReduceSum", ["h", "ax"], ["y"], name="rsum")], [ints("ax", [-1])])
    yield model("reducesum_opset13_all", 13, [1, 3, 4],
                [n("ReduceSum", ["h"], ["y"], name="rsum", keepdims=0)], [])
    yield model("reducemean_opset13", 13, [1, 3, 4],
                [n("ReduceMean", ["h"], ["y"], name="rmean", axes=[1, 2], keepdims=1)], [])
    yield model("reducemean_opset18", 18, [2, 3, 4],
                [n("ReduceMean", ["h", "ax"], ["y"], name="rmean", keepdims=0)], [ints("ax", [0, -1])])
    yield model("expand_opset13", 13, [1, 3, 1],
                [n("Expand", ["h", "shape"], ["y"], name="expand")], [ints("shape", [2, 1, 3, 4])])
    yield model("tile_opset13", 13, [1, 2, 3],
                [n("Tile", ["h", "rep"], ["y"], name="tile")], [ints("rep", [2, 1, 2])])
    yield model("pad_opset10", 10, [1, 2, 3],
                [n("Pad", ["h"], ["y"], name="pad", pads=[0, 1, 2, 0, 0, 1], value=0.25)], [])
    yield model("pad_opset13_crop", 13, [1, 3, 4],
                [n("Pad", ["h", "pads", "v"], ["y"], name="pad", mode="constant")],
                [ints("pads", [0, 1, -1, 0, 2, 1]), floats("v", 0.5)])
    yield model("pad_opset18_axes", 18, [1, 3, 4],
                [n("Pad", ["h", "pads", "v", "axes"], ["y"], name="pad")],
                [ints("pads", [1, 2]), floats("v", -0.75), ints("axes", [-1])])
    yield model("split_opset11", 11, [1, 5, 2],
                [n("Split", ["h"], ["p0", "p1"], name="split", axis=1, split=[2, 3]),
                 n("Concat", ["p1", "p0"], ["y"], name="cat", axis=1)], [])
    yield model("split_opset13", 13, [1, 6, 2],
                [n("Split", ["h", "sizes"], ["p0", "p1", "p2"], name="split", axis=1),
                 n("Concat", ["p2", "p0", "p1"], ["y"], name="cat", axis=1)], [ints("sizes", [1, 3, 2])])
    yield model("split_opset13_equal", 13, [1, 2, 6],
                [n("Split", ["h"], ["p0", "p1"], name="split", axis=-1),
                 n("Sub", ["p0", "p1"], ["y"], name="diff")], [])
    yield model("split_opset18_num_outputs", 18, [1, 7],
                [n("Split", ["h"], ["p0", "p1", "p2", "p3"], name="split", axis=1, num_outputs=4),
                 n("Concat", ["p3", "p1", "p0", "p2"], ["y"], name="cat", axis=1)], [])
    yield model("globalaveragepool_opset13", 13, [1, 2, 3, 4],
                [n("GlobalAveragePool", ["h"], ["y"], name="gap")], [])
    yield model("constantofshape_opset13", 13, [1, 2, 3],
                [n("Shape", ["h"], ["s"], name="shape"),
                 n("ConstantOfShape", ["s"], ["k"], name="cos", value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])),
                 n("Add", ["h", "k"], ["y"], name="add")], [], out_shape=[1, 2, 3])
    yield model("cast_opset13", 13, [1, 2, 3],
                [n("Shape", ["h"], ["s"], name="shape"), n("Cast", ["s"], ["sf"], name="cast_shape", to=TensorProto.FLOAT),
                 n("Cast", ["k"], ["ki"], name="cast_int", to=TensorProto.INT64),
                 n("Cast", ["ki"], ["kf"], name="cast_back", to=TensorProto.FLOAT),
                 n("Cast", ["h"], ["hd"], name="cast_double", to=TensorProto.DOUBLE),
                 n("Cast", ["hd"], ["hf"], name="cast_float", to=TensorProto.FLOAT),
                 n("Mul", ["hf", "sf"], ["m"], name="mul"), n("Add", ["m", "kf"], ["y"], name="add")],
                [floats("k", [2.7, -1.5, 0.2])])
    yield model("where_opset13", 13, [1, 2, 3],
                [n("Shape", ["h"], ["s"], name="shape"),
                 n("Equal", ["s", "three"], ["is3"], name="eq"), n("Not", ["is3"], ["not3"], name="not"),
                 n("Less", ["a", "b"], ["lt"], name="lt"), n("Greater", ["a", "b"], ["gt"], name="gt"),
                 n("LessOrEqual", ["a", "b"], ["le"], name="le"), n("GreaterOrEqual", ["a", "b"], ["ge"], name="ge"),
                 n("Where", ["lt", "h", "neg"], ["w1"], name="where_lt"),
                 n("Neg", ["h"], ["nh"], name="negate"),
                 n("Where", ["ge", "w1", "nh"], ["w2"], name="where_ge"),
                 n("Where", ["le", "w2", "h"], ["w3"], name="where_le"),
                 n("Where", ["gt", "w3", "half"], ["w4"], name="where_gt"),
                 n("Cast", ["not3"], ["nf"], name="cast_not", to=TensorProto.FLOAT),
                 n("Add", ["w4", "nf"], ["y"], name="add")],
                [ints("three", [1, 2, 4]), floats("a", [0.5, -1.0, 2.0]), floats("b", [0.5, 1.0, -2.0]),
                 floats("neg", [-0.25]), floats("half", [[0.5], [1.5]])], out_shape=[1, 2, 3])
    yield model("range_opset11", 11, [1, 2, 4],
                [n("Range", ["r0", "r1", "r2"], ["r"], name="range"),
                 n("Range", ["q0", "q1", "q2"], ["q"], name="range_down"),
                 n("Cast", ["q"], ["qf"], name="cast", to=TensorProto.FLOAT),
                 n("Mul", ["h", "r"], ["hr"], name="mul"), n("Add", ["hr", "qf"], ["y"], name="add")],
                [floats("r0", 0.5), floats("r1", 2.2), floats("r2", 0.5),
                 ints("q0", 10), ints("q1", 0), ints("q2", -3)], out_shape=[1, 2, 4])
    # Omitted optional inputs before a present one (an empty input name): Slice without axes but
    # with steps, Pad without constant_value but with axes.
    yield model("slice_opset13_omitted_axes", 13, [1, 4, 6],
                [n("Slice", ["h", "s", "e", "", "st"], ["y"], name="/Slice")],
                [ints("s", [0, 1, 5]), ints("e", [1, 4, 0]), ints("st", [1, 2, -2])])
    yield model("pad_opset18_omitted_value", 18, [1, 3, 4],
                [n("Pad", ["h", "pads", "", "axes"], ["y"], name="pad")],
                [ints("pads", [2, 1]), ints("axes", [1])])


def main():
    require_repo_root()
    write(fixtures(), OUT, rng)


if __name__ == "__main__":
    main()
