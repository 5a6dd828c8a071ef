#!/usr/bin/env python3
"""Writes smooth variants of the ml4acopf2024 "linear" power-flow proxies, as a stand-in for the
VNN-COMP 2023 ml4acopf networks (which use Sigmoid, Sin and Cos where the 2024 "linear" ones use
54- and 55-piece ReLU sums): every ReLU sum `Unsqueeze(x, -1) - t -> Relu -> MatMul(m) -> Add(c)`
whose nodes are named after Sigmoid, Sin or Cos (`/Sub_Sigmoid_x_12`, `/Sub_Cos_x_62`, ...) is
replaced by that operator applied to x. Only the three non-residual networks have that plain
pattern (the residual ones reduce and fold the angle before the sum) and get a variant. The 2024 specs then apply to the variants unchanged (the
ReLU sums approximate the functions to about 1e-4), but their expected answers do not carry over
exactly; use the variants to check that every network loads, evaluates like onnxruntime and is
never answered wrongly (sat answers are re-checked by Certus itself).

  python3 scripts/make_ml4acopf_smooth_variants.py OUT_DIR
Requires: pip install onnx onnxruntime numpy. Reads ../shared/benchmarks/ml4acopf2024.
"""
import glob
import os
import re
import sys

import onnx
from onnx import helper

SHARED = os.path.join("..", "shared", "benchmarks", "ml4acopf2024")


def smooth(model):
    g = model.graph
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    producer = {o: n for n in g.node for o in n.output}
    remove, add = set(), {}
    for n in g.node:
        m = re.match(r"^/Sub_(Sigmoid|Sin|Cos)_", n.name)
        if n.op_type != "Sub" or not m:
            continue
        op = m.group(1)
        unsq = producer[n.input[0]]
        relu = consumers[n.output[0]][0]
        mm = consumers[relu.output[0]][0]
        ad = consumers[mm.output[0]][0]
        if not (unsq.op_type == "Unsqueeze" and relu.op_type == "Relu" and mm.op_type == "MatMul" and ad.op_type == "Add"):
            return None, 0   # the residual nets reduce and fold the angle first: not handled
        x = unsq.input[0]
        for k in (unsq, n, relu, mm, ad):
            remove.add(id(k))
        add[id(ad)] = helper.make_node(op, [x], [ad.output[0]], name=f"/{op}_smooth_{len(add)}")
    nodes = []
    for n in g.node:
        if id(n) in add:
            nodes.append(add[id(n)])
        elif id(n) not in remove:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    kept = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    return model, len(add)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(SHARED, "*linear*.onnx"))):
        model, count = smooth(onnx.load(path))
        if model is None:
            print(f"{os.path.basename(path)}: skipped (its sums are not the plain pattern)")
            continue
        onnx.checker.check_model(model)
        name = os.path.basename(path).replace("-linear-", "-smooth-")
        onnx.save(model, os.path.join(out, name))
        print(f"{name}: {count} ReLU sums replaced")


if __name__ == "__main__":
    main()
