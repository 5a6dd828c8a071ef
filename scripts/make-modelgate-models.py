#!/usr/bin/env python3
"""Builds the models of the example package Examples/ModelGate (python3 with onnx 1.23.2; no
training, the weights are written out by hand so that the properties the example checks are known):

  sector.onnx         a three-class "sector" classifier of 2-D points: x [1, 2] -> Gemm(2 -> 8)
                      -> ReLU -> Gemm(8 -> 3) -> y [1, 3]. Hidden units relu(+-x0), relu(+-x1) and four
                      corner units relu(+-x0 +-x1 - 1); output k is p_k . x (plus 0.2 of some corner
                      units), p_0 = (1, 0), p_1 = (-1/2, sqrt(3)/2), p_2 = (-1/2, -sqrt(3)/2): class k
                      wins in the 120-degree sector around p_k. Near p_0 (|x - p_0|_inf <= 0.3):
                      y_0 - y_1 >= 1.5 * 0.7 - 0.866 * 0.3 > 0.79, y_0 >= 0.7, and |grad y_0|_1 <= 1.4.
  sector_broken.onnx  the same model with one output weight perturbed (class 1's weight on
                      relu(x0) from -0.5 to 1.3), as a retraining gone wrong could leave it: class 1
                      now wins at p_0 itself, so the robustness of sector 0 is violated.

Run from the repository root: python3 scripts/make-modelgate-models.py
"""
import math
import os

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(__file__), "..", "Examples", "ModelGate", "Models")

S = math.sqrt(3) / 2
W1 = [[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [-1, 1], [1, -1], [-1, -1]]
B1 = [0, 0, 0, 0, -1, -1, -1, -1]
PROTOTYPES = [(1.0, 0.0), (-0.5, S), (-0.5, -S)]
CORNERS = [[0.2, 0.0, 0.2, 0.0], [0.0, 0.2, 0.0, 0.0], [0.0, 0.0, 0.0, 0.2]]


def output_weights():
    rows = []
    for (a, b), extra in zip(PROTOTYPES, CORNERS):
        rows.append([a, -a, b, -b] + extra)
    return rows


def model(w2, name):
    # Gemm computes x W^T + b with transB=1: weights stored as [out, in].
    init = [
        helper.make_tensor("W1", TensorProto.FLOAT, [8, 2], [v for r in W1 for v in r]),
        helper.make_tensor("B1", TensorProto.FLOAT, [8], B1),
        helper.make_tensor("W2", TensorProto.FLOAT, [3, 8], [v for r in w2 for v in r]),
        helper.make_tensor("B2", TensorProto.FLOAT, [3], [0, 0, 0]),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["z"], name="hidden", transB=1),
        helper.make_node("Relu", ["z"], ["h"], name="relu"),
        helper.make_node("Gemm", ["h", "W2", "B2"], ["y"], name="logits", transB=1),
    ]
    graph = helper.make_graph(nodes, name,
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], init)
    m = helper.make_model(graph, producer_name="scripts/make-modelgate-models.py",
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def main():
    os.makedirs(OUT, exist_ok=True)
    good = output_weights()
    broken = [list(r) for r in good]
    broken[1][0] = 1.3          # class 1's weight on relu(x0): -0.5 -> 1.3
    onnx.save(model(good, "sector"), os.path.join(OUT, "sector.onnx"))
    onnx.save(model(broken, "sector_broken"), os.path.join(OUT, "sector_broken.onnx"))
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
