#!/usr/bin/env python3
"""A stronger falsification attempt on a sigmoid_mnist instance than the dataset's attack (issue
11: are the open rows sat?). Measures, per target label j, the smallest margin y_t - y_j that
projected Adam finds over the spec's input box, on a float64 torch copy of the Gemm/Sigmoid/Tanh
MLP (the two 3_50 nets of ../shared/benchmarks/sigmoid_mnist).

Per target: R restarts (a quarter start at random box vertices, the rest uniform inside), S Adam
steps with a step of a tenth of the box width, the step divided by 10 halfway, each iterate
clipped into the box. A negative margin would be a counterexample candidate (check it with
`certus verify`); a positive best margin reached from many starts says the instance is probably
unsat, nothing more.

Requires onnx, numpy and torch (CPU). Run from the repository root:
  python3 scripts/attack_sigmoid_mnist.py ../shared/benchmarks/sigmoid_mnist/mnist_tanh_3_50.onnx \
      ../shared/benchmarks/sigmoid_mnist/mnist01_img6_eps12of255.vnnlib [--restarts 2000] [--steps 300]
"""
import argparse
import re

import numpy as np
import onnx
import torch
from onnx import numpy_helper


def load_mlp(path):
    """The Gemm layers (weights as [in, out]) and the activation of a Gemm/act MLP."""
    model = onnx.load(path)
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    layers, act = [], None
    for node in model.graph.node:
        if node.op_type == "Gemm":
            w, b = weights[node.input[1]], weights[node.input[2]]
            if any(a.name == "transB" and a.i for a in node.attribute):
                w = w.T
            layers.append((torch.tensor(w, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)))
        elif node.op_type in ("Sigmoid", "Tanh"):
            act = torch.sigmoid if node.op_type == "Sigmoid" else torch.tanh
        elif node.op_type not in ("Constant", "Reshape", "Flatten"):
            raise SystemExit(f"{path}: node {node.name!r} ({node.op_type}) is not part of a Gemm/Sigmoid/Tanh MLP")
    if act is None or not layers:
        raise SystemExit(f"{path}: not a Gemm/Sigmoid/Tanh MLP")
    return layers, act


def forward(layers, act, x):
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1:
            x = act(x)
    return x


def read_box(path):
    text = open(path).read()
    lo = {int(i): float(v) for i, v in re.findall(r"\(assert \(>= X_(\d+) ([-+\d.eE]+)\)\)", text)}
    hi = {int(i): float(v) for i, v in re.findall(r"\(assert \(<= X_(\d+) ([-+\d.eE]+)\)\)", text)}
    n = len(lo)
    if n == 0 or set(lo) != set(range(n)) or set(hi) != set(range(n)):
        raise SystemExit(f"{path}: expected one (>= X_i ...) and one (<= X_i ...) bound per input")
    return np.array([lo[i] for i in range(n)]), np.array([hi[i] for i in range(n)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("onnx")
    ap.add_argument("vnnlib")
    ap.add_argument("--restarts", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    layers, act = load_mlp(args.onnx)
    lo, hi = (torch.tensor(v)[None] for v in read_box(args.vnnlib))
    label = int(torch.argmax(forward(layers, act, (lo + hi) / 2)[0]))
    best = float("inf")
    for target in range(layers[-1][1].numel()):
        if target == label:
            continue
        r = args.restarts
        x = lo + (hi - lo) * torch.rand(r, lo.shape[1], dtype=torch.float64)
        corners = torch.rand(r // 4, lo.shape[1], dtype=torch.float64) < 0.5
        x[: r // 4] = torch.where(corners, lo, hi)
        x.requires_grad_(True)
        opt = torch.optim.Adam([x], lr=0.1 * float((hi - lo).max()))
        for step in range(args.steps):
            y = forward(layers, act, x)
            opt.zero_grad()
            (y[:, label] - y[:, target]).sum().backward()
            opt.step()
            with torch.no_grad():
                x.data = torch.max(torch.min(x.data, hi), lo)
            if step == args.steps // 2:
                for g in opt.param_groups:
                    g["lr"] *= 0.1
        with torch.no_grad():
            y = forward(layers, act, x)
            margin = float((y[:, label] - y[:, target]).min())
        best = min(best, margin)
        print(f"target {target}: best margin {margin:.6g}", flush=True)
    print(f"label {label}: best margin over all targets {best:.6g}")


if __name__ == "__main__":
    main()
