#!/usr/bin/env python3
"""Builds Tests/Fixtures/ops/pwl/relusum_*.onnx: networks whose smooth functions are exported as
sums of ReLUs, the way the VNN-COMP ml4acopf power-flow proxies write Sigmoid, Sin and Cos:

    u = Unsqueeze(z, -1); r = Relu(u - t); f = MatMul(r, m) + c

(t: K breakpoints, m: K slope changes, c: a scalar), which Certus's bound engine fuses into one
piecewise-linear function of z (`PiecewiseLinearFusion`).

relusum_sigmoid: x[1,3] -> Gemm(3 -> 4) -> the 25-piece ReLU sum of a sigmoid on [-6, 6]
(saturating: f = sigmoid(-6) left of -6, sigmoid(6) right of 6) -> Mul(scale) -> Add(low),
i.e. a generation output low + scale * sigmoid(.) as in ml4acopf, concatenated with a product of
two variables z_0 * z_1 (so that, as in ml4acopf, the network is not piecewise linear and the
bound engine fuses the sum), y[1,5].
relusum_mixed: x[1,3] -> Gemm(3 -> 4) -> a ReLU sum with unsorted, repeated breakpoints and slope
changes of both signs, no Add -> Gemm(4 -> 2) -> y[1,2]; opset 11 (Unsqueeze axes attribute). It is
piecewise linear throughout, so the bound engine keeps its ReLUs (exact LPs).

Each NAME.eval_ref.json holds onnxruntime's outputs on nine inputs (fixture_common.references).

Requires: pip install onnx onnxruntime numpy. Run from the repository root:
  python3 scripts/make_relusum_fixtures.py
"""
import os

import numpy as np
from onnx import helper

from fixture_common import finish, floats, ints, require_repo_root, write

OUT = os.path.join("Tests", "Fixtures", "ops", "pwl")
rng = np.random.default_rng(20261201)


def sigmoid_sum():
    t = np.arange(-6.0, 6.0 + 1e-9, 0.5)
    s = 1 / (1 + np.exp(-t))
    slopes = np.append(np.diff(s) / 0.5, 0.0)       # slope right of each breakpoint
    m = np.diff(np.concatenate([[0.0], slopes]))   # slope changes
    return t, m, s[0]


def relu_sum(prefix, z, t, m, c, opset):
    n = helper.make_node
    nodes = []
    if opset >= 13:
        nodes.append(n("Unsqueeze", [z, f"{prefix}_ax"], [f"{prefix}_u"], name=f"{prefix}_unsqueeze"))
        inits = [ints(f"{prefix}_ax", [-1])]
    else:
        nodes.append(n("Unsqueeze", [z], [f"{prefix}_u"], name=f"{prefix}_unsqueeze", axes=[-1]))
        inits = []
    nodes += [n("Sub", [f"{prefix}_u", f"{prefix}_t"], [f"{prefix}_d"], name=f"{prefix}_sub"),
              n("Relu", [f"{prefix}_d"], [f"{prefix}_r"], name=f"{prefix}_relu"),
              n("MatMul", [f"{prefix}_r", f"{prefix}_m"], [f"{prefix}_s"], name=f"{prefix}_matmul")]
    inits += [floats(f"{prefix}_t", t), floats(f"{prefix}_m", m)]
    out = f"{prefix}_s"
    if c is not None:
        nodes.append(n("Add", [out, f"{prefix}_c"], [f"{prefix}_f"], name=f"{prefix}_add"))
        inits.append(floats(f"{prefix}_c", c))
        out = f"{prefix}_f"
    return nodes, inits, out


def sigmoid_net():
    n = helper.make_node
    w = rng.normal(0, 2.0, size=(3, 4)).astype(np.float32)
    b = rng.normal(0, 1.0, size=(4,)).astype(np.float32)
    t, m, c = sigmoid_sum()
    nodes = [n("Gemm", ["x", "W0", "b0"], ["z"], name="gemm0")]
    more, inits, f = relu_sum("sig", "z", t, m, c, 13)
    nodes += more
    nodes += [n("Mul", [f, "scale"], ["g"], name="scale"), n("Add", ["g", "low"], ["gen"], name="low"),
              n("Slice", ["z", "s0", "s1", "ax1"], ["z0"], name="z0"), n("Slice", ["z", "s1", "s2", "ax1"], ["z1"], name="z1"),
              n("Mul", ["z0", "z1"], ["prod"], name="product"), n("Concat", ["gen", "prod"], ["y"], name="concat", axis=1)]
    inits += [floats("W0", w), floats("b0", b), floats("scale", [2.0, 0.5, 3.0, 1.0]), floats("low", [0.1, -1.0, 0.0, 2.0]),
              ints("s0", [0]), ints("s1", [1]), ints("s2", [2]), ints("ax1", [1])]
    return finish("relusum_sigmoid", 13, nodes, [1, 3], inits, out_shape=[1, 5])


def mixed_net():
    n = helper.make_node
    w0 = rng.normal(0, 1.5, size=(3, 4)).astype(np.float32)
    b0 = rng.normal(0, 0.5, size=(4,)).astype(np.float32)
    w1 = rng.normal(0, 1.0, size=(4, 2)).astype(np.float32)
    t = np.array([1.0, -2.0, 1.0, 3.0, 0.0, -0.5, 2.5])
    m = np.array([-1.5, 2.0, 0.5, -3.0, 1.0, 0.75, 0.4])
    nodes = [n("Gemm", ["x", "W0", "b0"], ["z"], name="gemm0")]
    more, inits, f = relu_sum("mix", "z", t, m, None, 11)
    nodes += more + [n("Gemm", [f, "W1"], ["y"], name="gemm1")]
    inits += [floats("W0", w0), floats("b0", b0), floats("W1", w1)]
    return finish("relusum_mixed", 11, nodes, [1, 3], inits, out_shape=[1, 2])


def main():
    require_repo_root()
    write([sigmoid_net(), mixed_net()], OUT, rng)


if __name__ == "__main__":
    main()
