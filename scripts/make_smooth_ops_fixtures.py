#!/usr/bin/env python3
"""Builds the smooth unary operator fixtures (Exp, Log, Sqrt, Reciprocal, Pow; issue 14) and their
onnxruntime outputs, beside make_ops_fixtures.py's in Tests/Fixtures/ops.

Most models are float32 with one input x and one output y: h = Tanh(x * 1.7), then the operators
under test on h (shifted into their domains where they have one: Log(h + 1.5), Sqrt(h + 1.2),
Reciprocal(h + 1.5) and Reciprocal(h - 1.5), Pow(h + 1.5, p) for non-integer or negative p), the
results concatenated into y. Covered:
  exp_opset7 (Exp-6), exp_opset13, log_opset13, sqrt_opset13, reciprocal_opset13 (both branches);
  pow_opset7 (x^2, x^3 with scalar exponents);
  pow_opset13 (float exponents 2 of shape [1], 3 scalar, 5 of shape [1, 1, 4] (broadcast, equal
  entries), 4, 0, 1, -1, -2, 0.5, 1.5, -0.5 and an int64 exponent 3: opset 13's T1 type);
  powerflow_opset13: no Tanh, y = W2 (0.5 (V x)^2 + exp(W1 x)) with Gemm, Pow, Mul, Exp, Add: a
  power-flow-like map.
Tests/Fixtures/ops/ibp_only/pow_opset13_exponents: Pow(h + 1.5, y) with a non-uniform exponent
[0.5, 2, -1, 3] that also broadcasts the base [1, 3, 1] to [1, 3, 4] (IBP bounds only; CROWN
refuses it). It sits in a subfolder so that OpsFixtureTests' CROWN checks do not read it.
For each model NAME.onnx, NAME.eval_ref.json holds {"model", "onnxruntime", "cases": [{"input",
"output"}]}: 9 inputs (row-major float32 values written as the float64 they widen to; scales 1,
0.1 and 10) and onnxruntime's output, flattened.

Requires: pip install onnx onnxruntime numpy. Run from the repository root:
  python3 scripts/make_smooth_ops_fixtures.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fixture_common import finish, floats, ints, require_repo_root, write

OUT = os.path.join("Tests", "Fixtures", "ops")
rng = np.random.default_rng(20261214)


def model(name, opset, in_shape, op_nodes, inits, outs, axis=-1, out_shape=None):
    """x -> Mul(1.7) -> Tanh -> h -> op_nodes -> Concat(outs) -> y (or outs[0] -> y)."""
    n = helper.make_node
    nodes = [n("Mul", ["x", "c"], ["xc"], name="scale"), n("Tanh", ["xc"], ["h"], name="tanh")] + op_nodes
    if len(outs) == 1:
        nodes.append(n("Identity", outs, ["y"], name="out"))
    else:
        nodes.append(n("Concat", outs, ["y"], name="concat", axis=axis))
    return finish(name, opset, nodes, in_shape, [floats("c", 1.7)] + inits, out_shape=out_shape, allow_scalar=False)


def fixtures():
    n = helper.make_node
    yield model("exp_opset7", 7, [1, 3, 4], [n("Exp", ["h"], ["e"], name="/Exp")], [], ["e"])
    yield model("exp_opset13", 13, [1, 3, 4],
                [n("Mul", ["h", "three"], ["h3"], name="gain"), n("Exp", ["h3"], ["e"], name="/Exp")],
                [floats("three", 3.0)], ["e"])
    yield model("log_opset13", 13, [1, 3, 4],
                [n("Add", ["h", "s"], ["hs"], name="shift"), n("Log", ["hs"], ["o"], name="/Log")],
                [floats("s", 1.5)], ["o"])
    yield model("sqrt_opset13", 13, [1, 3, 4],
                [n("Add", ["h", "s"], ["hs"], name="shift"), n("Sqrt", ["hs"], ["o"], name="/Sqrt")],
                [floats("s", 1.2)], ["o"])
    yield model("reciprocal_opset13", 13, [1, 3, 4],
                [n("Add", ["h", "s"], ["hp"], name="shift_up"), n("Reciprocal", ["hp"], ["rp"], name="/Reciprocal"),
                 n("Sub", ["h", "s"], ["hm"], name="shift_down"), n("Reciprocal", ["hm"], ["rm"], name="/Reciprocal_1")],
                [floats("s", 1.5)], ["rp", "rm"])
    yield model("pow_opset7", 7, [1, 3, 4],
                [n("Pow", ["h", "two"], ["p2"], name="/Pow"), n("Pow", ["h", "three"], ["p3"], name="/Pow_1")],
                [floats("two", 2.0), floats("three", 3.0)], ["p2", "p3"], out_shape=[1, 3, 8])
    plain = [("two", np.array([2.0], np.float32)), ("three", np.array(3.0, np.float32)),
             ("five", np.full([1, 1, 4], 5.0, np.float32)), ("four", np.array(4.0, np.float32)),
             ("zero", np.array(0.0, np.float32)), ("one", np.array(1.0, np.float32))]
    shifted = [("m1", np.array(-1.0, np.float32)), ("m2", np.array(-2.0, np.float32)), ("half", np.array(0.5, np.float32)),
               ("threehalves", np.array(1.5, np.float32)), ("mhalf", np.array(-0.5, np.float32))]
    nodes = [n("Add", ["h", "s"], ["hs"], name="shift")]
    inits = [floats("s", 1.5), ints("three_i", 3)]
    outs = []
    for k, (e, v) in enumerate(plain):
        nodes.append(n("Pow", ["h", e], [f"p_{e}"], name=f"/Pow_{e}"))
        inits.append(numpy_helper.from_array(v, e)); outs.append(f"p_{e}")
    for e, v in shifted:
        nodes.append(n("Pow", ["hs", e], [f"p_{e}"], name=f"/Pow_{e}"))
        inits.append(numpy_helper.from_array(v, e)); outs.append(f"p_{e}")
    nodes.append(n("Pow", ["h", "three_i"], ["p_int"], name="/Pow_int64"))
    outs.append("p_int")
    yield model("pow_opset13", 13, [1, 3, 4], nodes, inits, outs)
    # The power-flow-like map y = W2 (0.5 (V x)^2 + exp(W1 x)).
    W1 = (rng.standard_normal((6, 4)) * 0.5).astype(np.float32)
    V = (rng.standard_normal((6, 4)) * 0.8).astype(np.float32)
    W2 = (rng.standard_normal((3, 6)) * 0.6).astype(np.float32)
    yield finish("powerflow_opset13", 13, [
        n("Gemm", ["x", "V", "bv"], ["z"], name="/V", transB=1),
        n("Pow", ["z", "two"], ["z2"], name="/Pow"),
        n("Mul", ["z2", "half"], ["q"], name="/half"),
        n("Gemm", ["x", "W1", "b1"], ["w"], name="/W1", transB=1),
        n("Exp", ["w"], ["ew"], name="/Exp"),
        n("Add", ["q", "ew"], ["s"], name="/sum"),
        n("Gemm", ["s", "W2", "b2"], ["y"], name="/W2", transB=1)], [1, 4],
        [floats("V", V), floats("bv", rng.standard_normal(6) * 0.1), floats("two", 2.0), floats("half", 0.5),
         floats("W1", W1), floats("b1", rng.standard_normal(6) * 0.1), floats("W2", W2), floats("b2", rng.standard_normal(3) * 0.1)], allow_scalar=False)


def ibp_only():
    n = helper.make_node
    yield model("pow_opset13_exponents", 13, [1, 3, 1],
                [n("Add", ["h", "s"], ["hs"], name="shift"), n("Pow", ["hs", "e"], ["o"], name="/Pow")],
                [floats("s", 1.5), floats("e", [[[0.5, 2.0, -1.0, 3.0]]])], ["o"])


def main():
    require_repo_root()
    write(fixtures(), OUT, rng, require_finite=True)
    write(ibp_only(), os.path.join(OUT, "ibp_only"), rng, require_finite=True)


if __name__ == "__main__":
    main()
