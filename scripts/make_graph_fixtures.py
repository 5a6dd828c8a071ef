#!/usr/bin/env python3
"""Builds the end-to-end general-graph fixtures of Tests/Fixtures/ops/graphs and their
onnxruntime outputs (issue 14, item 5): small networks of the kinds the issue names, written as
plain ONNX operators, with weights fixed by the seed.

lstm_unrolled (opset 13): an LSTM cell unrolled over 3 steps, input 4, hidden 6, then a Gemm to
  2 outputs. x [3, 4] (steps by features); step t is cut out with Slice (steps 0 and 1) or Gather
  with a constant index (step 2). The gates are Gemm(x_t) + MatMul(h, R) (no recurrent term at
  step 0, where h = c = 0), cut into i, f, g, o with Split (steps 0 and 2, sizes given as an input)
  or Slice (step 1); c = Sigmoid(f) * c + Sigmoid(i) * Tanh(g), h = Sigmoid(o) * Tanh(c) (Mul of
  two variables). y = Gemm(Concat(h, c)) [1, 2]. Not the ONNX LSTM operator, which Certus refuses.
  lstm_unrolled_saturated is the same cell with input and recurrent weights 3 times larger, so
  that the gates saturate (the S-shaped relaxations' flat tails).
lyapunov_controller (opset 13): a neural Lyapunov-style closed loop. State x [1, 4] (position,
  angle theta, velocity, angular velocity omega) -> Gemm -> LeakyRelu -> Gemm -> u [1, 1]
  (controller), plus ConstantOfShape(Shape(u)) (zeros, folded at load). theta and omega are
  picked with Gather (constant indices), the velocities with Slice; then Sin(theta), Cos(theta),
  u * Cos(theta), velocity * omega, omega * Sin(theta), and V = ReduceSum(x * x) (a Lyapunov
  candidate) and the velocities' ReduceSum of squares. y [1, 3] = Concat(V, the angular
  acceleration u cos(theta) + 9.8 sin(theta) - 0.1 v omega, the energy-like term
  ReduceSum(v^2) + Pow(omega, 2) - omega sin(theta)).
powerflow_products (opset 13): a power-flow-like map on 3 buses. x [1, 4] -> Gemm -> Sigmoid ->
  voltage magnitudes vm = 0.9 + 0.2 s [1, 3]; Gemm -> angles va [1, 3]; vr = vm * Cos(va),
  vi = vm * Sin(va) (products of variables); the injections p = vr * (vr G - vi B) + vi * (vr B +
  vi G), q = vi * (vr G - vi B) - vr * (vr B + vi G) (MatMul by constant admittance matrices,
  products of variables), and Pow(vm, 2) * g_shunt. y [1, 9] = Concat(p, q, Pow term).
  (Tests/Fixtures/ops/powerflow_opset13 has Pow but no product of two variables.)

For each model NAME.onnx, NAME.eval_ref.json holds {"model", "onnxruntime", "cases": [{"input",
"output"}]}: 9 inputs (row-major, float32 values written as the float64 they widen to; scales
1, 0.1 and 10) and onnxruntime's output, flattened. GraphFixtureTests reads them.

Requires: pip install onnx onnxruntime numpy. Run from the repository root:
  PYTHONPATH=scripts python3 scripts/make_graph_fixtures.py
"""
import os

import numpy as np
from onnx import helper

from fixture_common import finish, floats, ints, require_repo_root, write

OUT = os.path.join("Tests", "Fixtures", "ops", "graphs")
rng = np.random.default_rng(20261214 + 5)
n = helper.make_node


def w(shape, s):
    return rng.normal(0, s / np.sqrt(shape[-1]), size=shape).astype(np.float32)


def lstm(name, steps=3, inp=4, hidden=6, out=2, gain=1.0):
    H = hidden
    inits = [floats("W", w((4 * H, inp), gain)), floats("R", rng.normal(0, gain / np.sqrt(H), size=(H, 4 * H)).astype(np.float32)),
             floats("b", rng.normal(0, 0.1, size=(4 * H,)).astype(np.float32)),
             floats("Wy", w((out, 2 * H), 1.0)), floats("by", rng.normal(0, 0.1, size=(out,)).astype(np.float32)),
             ints("sizes", [H, H, H, H]), ints("ax0", [0]), ints("ax1", [1])]
    nodes = []
    h = c = None
    for t in range(steps):
        p = f"s{t}_"
        if t < 2:   # step t by Slice
            inits += [ints(p + "st", [t]), ints(p + "en", [t + 1])]
            nodes.append(n("Slice", ["x", p + "st", p + "en", "ax0"], [p + "x"], name=p + "slice_step"))
        else:       # by Gather with a constant index
            inits.append(ints(p + "idx", [t]))
            nodes.append(n("Gather", ["x", p + "idx"], [p + "x"], name=p + "gather_step", axis=0))
        nodes.append(n("Gemm", [p + "x", "W", "b"], [p + "wx"], name=p + "input_gates", transB=1))
        if h is None:
            gates = p + "wx"
        else:
            nodes += [n("MatMul", [h, "R"], [p + "rh"], name=p + "recurrent"),
                      n("Add", [p + "wx", p + "rh"], [p + "gates"], name=p + "gates")]
            gates = p + "gates"
        parts = [p + k for k in "ifgo"]
        if t != 1:
            nodes.append(n("Split", [gates, "sizes"], parts, name=p + "split", axis=1))
        else:
            for k, part in enumerate(parts):
                inits += [ints(part + "_st", [k * H]), ints(part + "_en", [(k + 1) * H])]
                nodes.append(n("Slice", [gates, part + "_st", part + "_en", "ax1"], [part], name=part + "_slice"))
        nodes += [n("Sigmoid", [p + "i"], [p + "si"], name=p + "sig_i"),
                  n("Sigmoid", [p + "o"], [p + "so"], name=p + "sig_o"),
                  n("Tanh", [p + "g"], [p + "tg"], name=p + "tanh_g"),
                  n("Mul", [p + "si", p + "tg"], [p + "ig"], name=p + "input_times_cell")]
        if c is None:
            cnew = p + "ig"
        else:
            nodes += [n("Sigmoid", [p + "f"], [p + "sf"], name=p + "sig_f"),
                      n("Mul", [p + "sf", c], [p + "fc"], name=p + "forget_times_c"),
                      n("Add", [p + "fc", p + "ig"], [p + "c"], name=p + "cell")]
            cnew = p + "c"
        nodes += [n("Tanh", [cnew], [p + "tc"], name=p + "tanh_c"),
                  n("Mul", [p + "so", p + "tc"], [p + "h"], name=p + "hidden")]
        h, c = p + "h", cnew
    nodes += [n("Concat", [h, c], ["hc"], name="concat_state", axis=1),
              n("Gemm", ["hc", "Wy", "by"], ["y"], name="head", transB=1)]
    return finish(name, 13, nodes, [steps, inp], inits, "y", allow_scalar=False)


def controller(name):
    inits = [floats("W1", w((8, 4), 1.5)), floats("b1", rng.normal(0, 0.1, size=(8,)).astype(np.float32)),
             floats("W2", w((1, 8), 1.5)), floats("b2", rng.normal(0, 0.1, size=(1,)).astype(np.float32)),
             ints("i_theta", [1]), ints("i_omega", 3), ints("v_st", [2]), ints("v_en", [4]), ints("ax1", [1]),
             floats("g", 9.8), floats("damp", 0.1), floats("two", 2.0)]
    nodes = [
        n("Gemm", ["x", "W1", "b1"], ["h1"], name="/controller/Gemm1", transB=1),
        n("LeakyRelu", ["h1"], ["a1"], name="/controller/LeakyRelu", alpha=0.1),
        n("Gemm", ["a1", "W2", "b2"], ["u0"], name="/controller/Gemm2", transB=1),
        # u + zeros of u's shape, as exporters write the default of an optional input.
        n("Shape", ["u0"], ["u_shape"], name="/Shape"),
        n("ConstantOfShape", ["u_shape"], ["zeros"], name="/ConstantOfShape",
          value=helper.make_tensor("v", 1, [1], [0.0])),
        n("Add", ["u0", "zeros"], ["u"], name="/u"),
        n("Gather", ["x", "i_theta"], ["theta"], name="/Gather_theta", axis=1),          # [1, 1]
        n("Gather", ["x", "i_omega"], ["omega0"], name="/Gather_omega", axis=1),         # [1]
        n("Unsqueeze", ["omega0", "ax1"], ["omega"], name="/Unsqueeze_omega"),           # [1, 1]
        n("Slice", ["x", "v_st", "v_en", "ax1"], ["vel"], name="/Slice_vel"),            # [1, 2]
        n("Slice", ["x", "v_st", "i_theta_end", "ax1"], ["v"], name="/Slice_v"),         # [1, 1]
        n("Sin", ["theta"], ["sin"], name="/Sin"), n("Cos", ["theta"], ["cos"], name="/Cos"),
        n("Mul", ["u", "cos"], ["ucos"], name="/u_cos"),
        n("Mul", ["g", "sin"], ["gsin"], name="/g_sin"),
        n("Mul", ["v", "omega"], ["vw"], name="/v_omega"),
        n("Mul", ["damp", "vw"], ["dvw"], name="/damping"),
        n("Add", ["ucos", "gsin"], ["acc0"], name="/acc0"),
        n("Sub", ["acc0", "dvw"], ["acc"], name="/acc"),
        n("Mul", ["x", "x"], ["xx"], name="/square"),
        n("ReduceSum", ["xx", "ax1"], ["V"], name="/ReduceSum_V", keepdims=1),
        n("Mul", ["vel", "vel"], ["vv"], name="/vel_square"),
        n("ReduceSum", ["vv", "ax1"], ["ke"], name="/ReduceSum_vel", keepdims=1),
        n("Pow", ["omega", "two"], ["w2"], name="/Pow_omega"),
        n("Mul", ["omega", "sin"], ["wsin"], name="/omega_sin"),
        n("Add", ["ke", "w2"], ["e0"], name="/e0"),
        n("Sub", ["e0", "wsin"], ["e"], name="/energy"),
        n("Concat", ["V", "acc", "e"], ["y"], name="/Concat", axis=1),
    ]
    inits.append(ints("i_theta_end", [3]))
    return finish(name, 13, nodes, [1, 4], inits, "y", out_shape=[1, 3])


def powerflow(name, buses=3):
    G = rng.uniform(-2, 2, size=(buses, buses)).astype(np.float32)
    G = ((G + G.T) / 2).astype(np.float32)
    B = rng.uniform(-5, 5, size=(buses, buses)).astype(np.float32)
    B = ((B + B.T) / 2).astype(np.float32)
    inits = [floats("Wm", w((buses, 4), 1.0)), floats("bm", rng.normal(0, 0.1, size=(buses,)).astype(np.float32)),
             floats("Wa", w((buses, 4), 0.3)), floats("ba", rng.normal(0, 0.05, size=(buses,)).astype(np.float32)),
             floats("G", G), floats("B", B), floats("vmin", 0.9), floats("vspan", 0.2), floats("two", 2.0),
             floats("gsh", rng.uniform(0, 0.5, size=(buses,)).astype(np.float32))]
    nodes = [
        n("Gemm", ["x", "Wm", "bm"], ["zm"], name="/vm/Gemm", transB=1),
        n("Sigmoid", ["zm"], ["sm"], name="/vm/Sigmoid"),
        n("Mul", ["sm", "vspan"], ["sm2"], name="/vm/span"), n("Add", ["sm2", "vmin"], ["vm"], name="/vm/min"),
        n("Gemm", ["x", "Wa", "ba"], ["va"], name="/va/Gemm", transB=1),
        n("Cos", ["va"], ["cva"], name="/Cos"), n("Sin", ["va"], ["sva"], name="/Sin"),
        n("Mul", ["vm", "cva"], ["vr"], name="/vr"), n("Mul", ["vm", "sva"], ["vi"], name="/vi"),
        n("MatMul", ["vr", "G"], ["vrG"], name="/vrG"), n("MatMul", ["vi", "B"], ["viB"], name="/viB"),
        n("MatMul", ["vr", "B"], ["vrB"], name="/vrB"), n("MatMul", ["vi", "G"], ["viG"], name="/viG"),
        n("Sub", ["vrG", "viB"], ["ir"], name="/ir"), n("Add", ["vrB", "viG"], ["ii"], name="/ii"),
        n("Mul", ["vr", "ir"], ["p1"], name="/p1"), n("Mul", ["vi", "ii"], ["p2"], name="/p2"),
        n("Add", ["p1", "p2"], ["p"], name="/p"),
        n("Mul", ["vi", "ir"], ["q1"], name="/q1"), n("Mul", ["vr", "ii"], ["q2"], name="/q2"),
        n("Sub", ["q1", "q2"], ["q"], name="/q"),
        n("Pow", ["vm", "two"], ["vm2"], name="/Pow"), n("Mul", ["vm2", "gsh"], ["sh"], name="/shunt"),
        n("Concat", ["p", "q", "sh"], ["y"], name="/Concat", axis=1),
    ]
    return finish(name, 13, nodes, [1, 4], inits, "y", allow_scalar=False)


def fixtures():
    yield lstm("lstm_unrolled")
    yield controller("lyapunov_controller")
    yield powerflow("powerflow_products")
    yield lstm("lstm_unrolled_saturated", gain=3.0)


def main():
    require_repo_root()
    write(fixtures(), OUT, rng, require_finite=True)


if __name__ == "__main__":
    main()
