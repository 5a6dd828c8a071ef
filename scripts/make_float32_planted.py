"""Planted float32 benchmarks for `--semantics float32` (issue 15): tiny ONNX networks with
VNN-LIB properties that hold over the reals but are violated only through float32 rounding,
plus one smooth network (no planted violation) for enclosure tests. Writes into
Tests/Fixtures/float32/, per network NAME:

  NAME.onnx       the model (float32)
  NAME.vnnlib     the property (its assertion is the violation: sat = violated)
  NAME.ort.json   onnxruntime's float32 evidence: the outputs at random float32 points of the
                  box ("samples"), the planted violating point with its onnxruntime output
                  ("witness", null for the smooth network), the real-valued answer and what the
                  rounding does (for the docs and tests)

Run from the repository root with a Python that has onnx, onnxruntime and numpy:
  /tmp/venv-ref/bin/python scripts/make_float32_planted.py
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from fixture_common import floats, require_repo_root

FOLDER = "Tests/Fixtures/float32"
T24 = float(2 ** 24)
T25 = float(2 ** 25)


def model(name, nodes, inits, n_in, n_out):
    g = helper.make_graph(nodes, name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="certus-fixture")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def vnnlib(lower, upper, n_out, assertion, comment):
    lines = [f"; {comment}"]
    lines += [f"(declare-const X_{i} Real)" for i in range(len(lower))]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_out)]
    for i, (lo, hi) in enumerate(zip(lower, upper)):
        lines += [f"(assert (>= X_{i} {lo!r}))", f"(assert (<= X_{i} {hi!r}))"]
    lines.append(assertion)
    return "\n".join(lines) + "\n"


def run(m, x):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": np.asarray(x, dtype=np.float32).reshape(1, -1)})[0].ravel()


def sum_network(name, relu):
    """Networks 4 and 6: y = a + b + c (one MatMul with ones), then a ReLU when `relu`."""
    nodes = [helper.make_node("MatMul", ["x", "ones"], ["h" if relu else "y"], name="dot")]
    if relu:
        nodes.append(helper.make_node("Relu", ["h"], ["y"], name="relu"))
    return dict(
        name=name,
        model=model(name, nodes, [floats("ones", [[1], [1], [1]])], 3, 1),
        lower=[T24, 0.5, -T24], upper=[T24, 0.75, -T24], n_out=1,
        assertion="(assert (<= Y_0 0.25))",
        witness=[T24, 0.625, -T24],
        real="unsat (y = relu(b) >= 0.5)" if relu else "unsat (y = b >= 0.5)",
        rounding=("left to right: fl(2^24 + b) = 2^24, y = relu(0) = 0; (a + c) + b: y = b" if relu
                  else "left to right: fl(2^24 + b) = 2^24, y = 0; (a + c) + b: y = b"),
        float32_expected="unknown or sat (never unsat)")


def networks():
    # 1. (x + 2^24) - 2^24 - x: 0 over the reals; in float32 the first sum rounds x away
    #    (the float32 spacing at 2^24 is 2), so y = -x.
    yield dict(
        name="cancel_add",
        model=model("cancel_add", [
            helper.make_node("Add", ["x", "big"], ["a"], name="add_big"),
            helper.make_node("Sub", ["a", "big"], ["b"], name="sub_big"),
            helper.make_node("Sub", ["b", "x"], ["y"], name="sub_x"),
        ], [floats("big", [T24])], 1, 1),
        lower=[0.125], upper=[0.375], n_out=1,
        assertion="(assert (<= Y_0 -0.0625))",
        witness=[0.25],
        real="unsat (y = 0 for every real x)",
        rounding="fl(x + 2^24) = 2^24 for 0 <= x < 1, so y = -x <= -0.125 at every float32 x of the box",
        float32_expected="sat")
    # 2. Two MatMul layers: h = x W1 + b1 = [x0 + 2^24, x1 - 2^24, x0 + x1], y = h0 + h1 - h2:
    #    0 over the reals; in float32 h0 = 2^24 and h1 = -2^24 (x rounded away), y = -(x0 + x1).
    w1 = [[1, 0, 1], [0, 1, 1]]
    yield dict(
        name="cancel_matmul",
        model=model("cancel_matmul", [
            helper.make_node("MatMul", ["x", "w1"], ["p"], name="layer1"),
            helper.make_node("Add", ["p", "b1"], ["h"], name="bias1"),
            helper.make_node("MatMul", ["h", "w2"], ["y"], name="layer2"),
        ], [floats("w1", w1), floats("b1", [T24, -T24, 0]), floats("w2", [[1], [1], [-1]])], 2, 1),
        lower=[0.125, 0.125], upper=[0.375, 0.375], n_out=1,
        assertion="(assert (<= Y_0 -0.125))",
        witness=[0.25, 0.25],
        real="unsat (y = 0 for every real x)",
        rounding="h0 = fl(x0 + 2^24) = 2^24, h1 = fl(x1 - 2^24) = -2^24, so y = -(x0 + x1) in the order onnxruntime sums",
        float32_expected="sat")
    # 3. Gemm, ReLU, then subtractions: relu(x + 2^25) - 2^25 - x = 0 over the reals; in float32
    #    fl(x + 2^25) = 2^25 for 0 <= x < 2 (spacing 4), so y = -x.
    yield dict(
        name="relu_offset",
        model=model("relu_offset", [
            helper.make_node("Gemm", ["x", "w", "c"], ["g"], name="gemm"),
            helper.make_node("Relu", ["g"], ["r"], name="relu"),
            helper.make_node("Sub", ["r", "c2"], ["s"], name="sub_big"),
            helper.make_node("Sub", ["s", "x"], ["y"], name="sub_x"),
        ], [floats("w", [[1]]), floats("c", [T25]), floats("c2", [T25])], 1, 1),
        lower=[0.25], upper=[1.0], n_out=1,
        assertion="(assert (<= Y_0 -0.125))",
        witness=[0.5],
        real="unsat (y = 0 for every real x)",
        rounding="fl(x + 2^25) = 2^25 for 0 <= x < 2, so y = -x <= -0.25",
        float32_expected="sat")
    # 4. One dot product whose float32 value depends on the summation order: y = a + b + c with
    #    a = 2^24, c = -2^24 (pinned inputs) and b in [0.5, 0.75]. Over the reals y = b >= 0.5;
    #    summed left to right in float32, fl(2^24 + b) = 2^24 and y = 0, which violates y >= 0.25;
    #    summed as (a + c) + b, y = b. A correctly rounded evaluation gives b, so no checked
    #    float32 counterexample exists for Certus's float32 evaluation: the expected float32
    #    answer is unknown (never unsat).
    yield sum_network("sum_order", relu=False)
    # 5. A smooth network (no planted violation): Gemm, Sigmoid, Gemm, Tanh, Gemm, for the
    #    enclosure tests of the activations' allowance against onnxruntime.
    rng = np.random.default_rng(15)
    w1 = rng.normal(0, 1, (4, 8)).astype(np.float32)
    w2 = rng.normal(0, 0.7, (8, 8)).astype(np.float32)
    w3 = rng.normal(0, 0.7, (8, 2)).astype(np.float32)
    yield dict(
        name="smooth_mlp",
        model=model("smooth_mlp", [
            helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], name="fc1"),
            helper.make_node("Sigmoid", ["h1"], ["a1"], name="sigmoid"),
            helper.make_node("Gemm", ["a1", "w2", "b2"], ["h2"], name="fc2"),
            helper.make_node("Tanh", ["h2"], ["a2"], name="tanh"),
            helper.make_node("Gemm", ["a2", "w3", "b3"], ["y"], name="fc3"),
        ], [floats("w1", w1), floats("b1", rng.normal(0, 0.5, 8)), floats("w2", w2),
            floats("b2", rng.normal(0, 0.5, 8)), floats("w3", w3), floats("b3", rng.normal(0, 0.5, 2))], 4, 2),
        lower=[-3.0] * 4, upper=[3.0] * 4, n_out=2,
        assertion="(assert (>= Y_0 100.0))",
        witness=None,
        real="unsat (|y| is far below 100)",
        rounding="none planted",
        float32_expected="unsat")
    # 6. The dot product of network 4 feeding a ReLU: over the reals its input is b >= 0.5 (a
    #    stable neuron); in float32 it may be 0 (left to right), so its bounds, and every CROWN
    #    pass that starts at the MatMul, must carry the MatMul's own float32 error.
    yield sum_network("sum_order_relu", relu=True)

def main():
    require_repo_root()
    os.makedirs(FOLDER, exist_ok=True)
    rng = np.random.default_rng(2026)
    for net in networks():
        name, m = net["name"], net["model"]
        onnx.save(m, os.path.join(FOLDER, name + ".onnx"))
        with open(os.path.join(FOLDER, name + ".vnnlib"), "w") as f:
            f.write(vnnlib(net["lower"], net["upper"], net["n_out"], net["assertion"],
                           f"{name}: over the reals {net['real']}; float32: {net['rounding']}"))
        lo, hi = np.array(net["lower"]), np.array(net["upper"])
        samples = []
        for _ in range(200):
            x = (lo + (hi - lo) * rng.uniform(0, 1, lo.shape)).astype(np.float32)
            x = np.clip(x, lo.astype(np.float32), hi.astype(np.float32))
            samples.append({"x": [float(v) for v in x], "y": [float(v) for v in run(m, x)]})
        witness = None
        if net["witness"] is not None:
            y = run(m, net["witness"])
            witness = {"x": net["witness"], "y": [float(v) for v in y]}
        with open(os.path.join(FOLDER, name + ".ort.json"), "w") as f:
            json.dump({"model": name + ".onnx", "onnxruntime": ort.__version__, "real": net["real"],
                       "rounding": net["rounding"], "float32_expected": net["float32_expected"],
                       "witness": witness, "samples": samples}, f, indent=1)
        print("wrote", name, "witness", witness)


if __name__ == "__main__":
    main()
