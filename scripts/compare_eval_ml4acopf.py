#!/usr/bin/env python3
"""Measures how Certus's evaluation of the ml4acopf2024 networks compares with onnxruntime
(issue 14's target: evaluation equal to onnxruntime at random points of every spec box).

For each of the six networks and each of its specs' boxes, draws N float32 points inside the box
and evaluates them three ways: onnxruntime in float32 (the model as shipped), onnxruntime on a
float64 copy of the model (every float tensor widened; an independent near-exact reference), and
`certus eval` (Double arithmetic). Prints, per network, the largest difference of each float32 /
Double evaluation from the float64 reference, as an absolute value and relative to the largest
output magnitude of that point (outputs near 0 come from cancellation in the power-flow sums, so
a per-output relative difference is meaningless there), and the largest per-output relative
difference between Certus and onnxruntime float32 where the output magnitude is at least 1e-3 of
the point's largest.

Requires onnx, onnxruntime, numpy, and a built certus (default .build/release/certus). Run from the
repository root:
  python3 scripts/compare_eval_ml4acopf.py [--points 10] [--certus PATH]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, numpy_helper

SHARED = os.path.join("..", "shared", "benchmarks", "ml4acopf2024")


def widen(model):
    """A copy of `model` with every float32 tensor (initializers, Constant values, graph inputs
    and outputs, value infos) in float64."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))
    for n in g.node:
        for a in n.attribute:
            if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float64), a.t.name))
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.DOUBLE
    return m


def boxes(spec):
    lo, hi = {}, {}
    for line in open(spec):
        for op, var, val in re.findall(r"\(\s*(<=|>=)\s+X_(\d+)\s+([-+0-9.eE]+)\s*\)", line):
            (hi if op == "<=" else lo)[int(var)] = float(val)
    n = max(lo) + 1
    return np.array([lo[i] for i in range(n)]), np.array([hi[i] for i in range(n)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--certus", default=os.path.join(".build", "release", "certus"))
    args = ap.parse_args()
    rng = np.random.default_rng(14)
    specs = {b: sorted(glob.glob(os.path.join(SHARED, f"{b}_ieee_prop*.vnnlib"))) for b in ("14", "118", "300")}
    print("| network | points | float32 ort vs float64: max abs / max rel-to-scale | Certus vs float64: max abs / max rel-to-scale | Certus vs float32 ort: max per-output rel (outputs >= 1e-3 scale) |")
    print("|---|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(SHARED, "*linear*.onnx"))):
        name = os.path.basename(path)
        bus = name.split("_")[0]
        model = onnx.load(path)
        s32 = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        s64 = ort.InferenceSession(widen(model).SerializeToString(), providers=["CPUExecutionProvider"])
        iname = s32.get_inputs()[0].name
        shape = s32.get_inputs()[0].shape
        worst = [0.0, 0.0, 0.0, 0.0, 0.0]
        count = 0
        for spec in specs[bus]:
            lo, hi = boxes(spec)
            for _ in range(args.points):
                x = np.clip(rng.uniform(lo, hi), lo, hi).astype(np.float32)
                x = np.minimum(np.maximum(x, lo.astype(np.float32)), hi.astype(np.float32))
                y32 = s32.run(None, {iname: x.reshape(shape)})[0].ravel().astype(np.float64)
                y64 = s64.run(None, {iname: x.astype(np.float64).reshape(shape)})[0].ravel()
                with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                    json.dump([float(v) for v in x], f)
                out = subprocess.run([args.certus, "eval", path, "--input-file", f.name, "--json"],
                                     capture_output=True, text=True, check=True).stdout
                os.unlink(f.name)
                d = json.loads(out)
                yc = np.array(d["outputs"][0]["values"] if "outputs" in d else d["output"], dtype=np.float64).ravel()
                scale = max(np.max(np.abs(y64)), 1e-30)
                worst[0] = max(worst[0], np.max(np.abs(y32 - y64)))
                worst[1] = max(worst[1], np.max(np.abs(y32 - y64)) / scale)
                worst[2] = max(worst[2], np.max(np.abs(yc - y64)))
                worst[3] = max(worst[3], np.max(np.abs(yc - y64)) / scale)
                big = np.abs(y64) >= 1e-3 * scale
                worst[4] = max(worst[4], np.max(np.abs(yc[big] - y32[big]) / np.abs(y64[big])))
                count += 1
        print(f"| {name} | {count} | {worst[0]:.2e} / {worst[1]:.2e} | {worst[2]:.2e} / {worst[3]:.2e} | {worst[4]:.2e} |")


if __name__ == "__main__":
    main()
