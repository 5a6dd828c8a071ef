"""onnxruntime's float32 kernels against Certus's float32 error models (issue 15,
`--semantics float32` for Softmax, Exp, Log, Sqrt, Reciprocal, Erf, GeLU, Pow,
LayerNormalization, Sin and Cos): one-operator
models x [1, n] -> OP -> y (and GeLU spelt out as its Erf pattern, which onnxruntime fuses),
with onnxruntime's float32 outputs at random float32 inputs over wide ranges (exp near its
overflow and underflow, log near 1 and over decades, softmax logits 60 apart...). Writes into
Tests/Fixtures/float32/ops/, per model NAME:

  NAME.onnx       the model (float32)
  NAME.ort.json   {"model", "onnxruntime", "points": [{"x": [...], "y": [...]}, ...]}

Float32OperatorRoundingTests checks that the float32 bounds of each one-point box hold
onnxruntime's output (the bounds there are the exact value plus the model's error term).

Run from the repository root with a Python that has onnx, onnxruntime and numpy:
  /tmp/venv-ref/bin/python scripts/make_float32_ops.py
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from fixture_common import floats, require_repo_root

FOLDER = "Tests/Fixtures/float32/ops"
N = 8          # inputs (and outputs) per model
POINTS = 200   # random input vectors per model


def model(name, nodes, inits, opset):
    g = helper.make_graph(nodes, name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, N])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="certus-fixture")
    m.ir_version = 8 if opset < 21 else 10
    onnx.checker.check_model(m, full_check=True)
    return m


def one(op, **attrs):
    return [helper.make_node(op, ["x"], ["y"], name=op.lower(), **attrs)]


def main():
    require_repo_root()
    os.makedirs(FOLDER, exist_ok=True)
    rng = np.random.default_rng(15)
    ln_rng = np.random.default_rng(17)

    def uniform(lo, hi):
        return lambda: rng.uniform(lo, hi, N)

    def log_uniform(lo, hi, signs=False):
        def draw():
            v = np.exp(rng.uniform(np.log(lo), np.log(hi), N))
            return v * rng.choice([-1, 1], N) if signs else v
        return draw

    def mixed(*draws):
        return lambda: draws[rng.integers(len(draws))]()

    def pow_of(p):
        return [helper.make_node("Pow", ["x", "p"], ["y"], name="pow")]

    gelu_erf = [
        helper.make_node("Div", ["x", "sqrt2"], ["t"], name="div"),
        helper.make_node("Erf", ["t"], ["e"], name="erf"),
        helper.make_node("Add", ["e", "one"], ["s"], name="add"),
        helper.make_node("Mul", ["x", "s"], ["p"], name="mul"),
        helper.make_node("Mul", ["p", "half"], ["y"], name="half"),
    ]
    models = {
        "exp": (one("Exp"), [], 13, mixed(uniform(-87, 88), uniform(-5, 5), uniform(-100, -80))),
        "log": (one("Log"), [], 13, mixed(log_uniform(1e-30, 1e30), uniform(0.9, 1.1), uniform(0.999, 1.001))),
        "sqrt": (one("Sqrt"), [], 13, mixed(log_uniform(1e-30, 1e30), uniform(0, 4))),
        "reciprocal": (one("Reciprocal"), [], 13, mixed(log_uniform(1e-30, 1e30, signs=True), uniform(0.5, 2))),
        "erf": (one("Erf"), [], 13, mixed(uniform(-5, 5), uniform(-0.01, 0.01), uniform(-1, 1))),
        "gelu": (one("Gelu"), [], 20, mixed(uniform(-10, 10), uniform(-100, 100), uniform(-1, 1))),
        "gelu_tanh": (one("Gelu", approximate="tanh"), [], 20, mixed(uniform(-10, 10), uniform(-100, 100), uniform(-1, 1))),
        "gelu_erf": (gelu_erf, [floats("sqrt2", np.sqrt(2)), floats("one", 1), floats("half", 0.5)], 13,
                     mixed(uniform(-10, 10), uniform(-100, 100), uniform(-1, 1))),
        "softmax": (one("Softmax", axis=-1), [], 13, mixed(uniform(-30, 30), uniform(-1, 1), uniform(-100, 100))),
        "pow2": (pow_of(2), [floats("p", 2)], 13, mixed(uniform(-10, 10), log_uniform(1e-15, 1e15, signs=True))),
        "pow3": (pow_of(3), [floats("p", 3)], 13, mixed(uniform(-10, 10), log_uniform(1e-10, 1e10, signs=True))),
        "pow_half": (pow_of(0.5), [floats("p", 0.5)], 13, mixed(uniform(0, 10), log_uniform(1e-30, 1e30))),
        "pow_1_7": (pow_of(1.7), [floats("p", 1.7)], 13, mixed(uniform(0, 10), log_uniform(1e-20, 1e20))),
        "pow_minus_1": (pow_of(-1), [floats("p", -1)], 13, mixed(uniform(0.5, 2), log_uniform(1e-30, 1e30, signs=True))),
        # Last, and with constants of its own generator, so the fixtures above stay as they were.
        "layernorm": ([helper.make_node("LayerNormalization", ["x", "scale", "bias"], ["y"], name="layernorm", axis=-1)],
                      [floats("scale", ln_rng.uniform(-2, 2, N)), floats("bias", ln_rng.uniform(-1, 1, N))], 17,
                      mixed(uniform(-1, 1), uniform(-10, 10), lambda: 3 + rng.uniform(-0.1, 0.1, N),
                            uniform(-0.01, 0.01))),
        # After the others, so their fixtures stay as they were: Sin and Cos over small, large
        # and huge arguments (range reduction up to 3e38).
        "sin": (one("Sin"), [], 13, mixed(uniform(-4, 4), uniform(-1e4, 1e4), log_uniform(1e6, 3e38, signs=True))),
        "cos": (one("Cos"), [], 13, mixed(uniform(-4, 4), uniform(-1e4, 1e4), log_uniform(1e6, 3e38, signs=True))),
    }
    for name, (nodes, inits, opset, draw) in models.items():
        m = model(name, nodes, inits, opset)
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        points = []
        for _ in range(POINTS):
            x = draw().astype(np.float32).reshape(1, N)
            y = sess.run(None, {"x": x})[0].ravel()
            points.append({"x": [float(v) for v in x.ravel()], "y": [float(v) for v in y]})
        onnx.save(m, os.path.join(FOLDER, name + ".onnx"))
        with open(os.path.join(FOLDER, name + ".ort.json"), "w") as f:
            json.dump({"model": name + ".onnx", "onnxruntime": ort.__version__, "points": points}, f)
        print(name, len(points))


if __name__ == "__main__":
    main()
