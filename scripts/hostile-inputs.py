#!/usr/bin/env python3
"""Writes the hostile inputs of issue 15 item 6 into a folder and runs `certus` on each under
/usr/bin/time, printing the answer (or refusal), the peak resident memory and the time.
docs/reliability.md, "Adversarial inputs", quotes its output.

    scripts/hostile-inputs.py [--certus PATH] [--out DIR] [--skip-gigabyte]

Needs only Python 3 (the ONNX protobuf is written by hand, no packages). The files are large
(the 1 GiB model above all) and are written to DIR (default /tmp/certus-hostile), never to the
repository; DIR is removed at the end unless --keep is given.
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys


# --- a minimal protobuf writer for the ONNX messages used here --------------------------------

def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def value_info(name, shape):
    dims = b"".join(field_bytes(1, field_varint(1, d)) for d in shape)       # Dimension.dim_value
    tensor_type = field_varint(1, 1) + field_bytes(2, dims)                   # elem_type FLOAT, shape
    return field_bytes(1, name.encode()) + field_bytes(2, field_bytes(1, tensor_type))


def node(op, inputs, output):
    return (b"".join(field_bytes(1, i.encode()) for i in inputs) + field_bytes(2, output.encode())
            + field_bytes(3, output.encode()) + field_bytes(4, op.encode()))


def tensor_header(name, dims, data_type=1):
    return b"".join(field_varint(1, d) for d in dims) + field_varint(2, data_type) + field_bytes(8, name.encode())


def write_model(path, nodes, initializers, input_shape, output):
    """initializers: list of (header bytes, raw data length, raw writer); streamed to the file."""
    with open(path, "wb") as f:
        graph_parts = [b"".join(field_bytes(1, n) for n in nodes), field_bytes(2, b"hostile")]
        init_sizes = []
        for header, raw_len, _ in initializers:
            body_len = len(header) + len(varint(9 << 3 | 2)) + len(varint(raw_len)) + raw_len
            init_sizes.append(body_len)
        tail = field_bytes(11, value_info("x", input_shape)) + field_bytes(12, field_bytes(1, output.encode()))
        graph_len = sum(len(p) for p in graph_parts) + len(tail)
        graph_len += sum(len(varint(5 << 3 | 2)) + len(varint(n)) + n for n in init_sizes)
        f.write(field_varint(1, 8))                                           # ir_version
        f.write(field_bytes(8, field_varint(2, 17)))                          # opset_import version 17
        f.write(varint(7 << 3 | 2) + varint(graph_len))                       # graph
        for p in graph_parts:
            f.write(p)
        for (header, raw_len, writer), n in zip(initializers, init_sizes):
            f.write(varint(5 << 3 | 2) + varint(n) + header + varint(9 << 3 | 2) + varint(raw_len))
            writer(f)
        f.write(tail)


# --- the inputs ----------------------------------------------------------------------------------

def make_inputs(out, gigabyte):
    files = {}
    # A spec with 1,000,000 disjuncts (a flat `or` of output constraints), 14 MB.
    p = os.path.join(out, "million_disjuncts.vnnlib")
    with open(p, "w") as f:
        f.write("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n")
        f.write("(assert (>= X_0 0))(assert (<= X_0 1))(assert (>= X_1 0))(assert (<= X_1 1))\n(assert (or")
        for k in range(1_000_000):
            f.write(" (<= Y_0 %d)" % k)
        f.write("))\n")
    files["spec_million"] = p
    # 1,000,000 disjuncts from 20 two-way `or`s (2^20), 1 KB.
    p = os.path.join(out, "million_by_product.vnnlib")
    with open(p, "w") as f:
        f.write("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n")
        f.write("(assert (>= X_0 0))(assert (<= X_0 1))(assert (>= X_1 0))(assert (<= X_1 1))\n")
        f.write("(assert (or (<= Y_0 0) (<= Y_1 0)))\n" * 20)
    files["spec_product"] = p
    # 100,000 nested parentheses.
    p = os.path.join(out, "deep.vnnlib")
    with open(p, "w") as f:
        f.write("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n")
        f.write("(assert " + "(and " * 100_000 + "(<= Y_0 0)" + ")" * 100_001 + "\n")
    files["spec_deep"] = p
    # A spec on the 2-input, 2-output models below that they can answer.
    p = os.path.join(out, "small.vnnlib")
    with open(p, "w") as f:
        f.write("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n")
        f.write("(assert (>= X_0 0))(assert (<= X_0 1))(assert (>= X_1 0))(assert (<= X_1 1))\n(assert (<= Y_0 -1))\n")
    files["spec_small"] = p
    # A graph of 10,000 nodes: 5,000 (Add, Relu) pairs on a [1, 2] vector.
    nodes, h = [], "x"
    for k in range(5000):
        nodes.append(node("Add", [h, "c"], "a%d" % k))
        nodes.append(node("Relu", ["a%d" % k], "r%d" % k))
        h = "r%d" % k
    c = struct.pack("<2f", 0.001, -0.0005)
    p = os.path.join(out, "nodes_10000.onnx")
    write_model(p, nodes, [(tensor_header("c", [1, 2]), len(c), lambda f: f.write(c))], [1, 2], h)
    files["model_nodes"] = p
    # A model declaring 1 GiB of weights (a [16384, 16384] float tensor) without the data: 100 bytes.
    p = os.path.join(out, "declared_gigabyte.onnx")
    write_model(p, [node("MatMul", ["x", "W"], "y")],
                [(tensor_header("W", [16384, 16384]), 0, lambda f: None)], [1, 16384], "y")
    files["model_declared"] = p
    if gigabyte:
        # 1 GiB of real weights: x [1, 2] -> MatMul W1 [2, 16384] -> Relu -> MatMul W [16384, 16384]
        # -> MatMul W2 [16384, 2] -> y [1, 2]. W is 1 GiB of float32 (every entry 1/16384).
        n = 16384
        w1 = struct.pack("<%df" % (2 * n), *([1.0] * (2 * n)))
        w2 = struct.pack("<%df" % (2 * n), *([1.0 / n] * (2 * n)))
        row = struct.pack("<f", 1.0 / n) * n

        def big(f):
            for _ in range(n):
                f.write(row)
        p = os.path.join(out, "weights_gigabyte.onnx")
        write_model(p, [node("MatMul", ["x", "W1"], "h"), node("Relu", ["h"], "r"), node("MatMul", ["r", "W"], "g"),
                        node("MatMul", ["g", "W2"], "y")],
                    [(tensor_header("W1", [2, n]), len(w1), lambda f: f.write(w1)),
                     (tensor_header("W", [n, n]), 4 * n * n, big),
                     (tensor_header("W2", [n, 2]), len(w2), lambda f: f.write(w2))], [1, 2], "y")
        files["model_gigabyte"] = p
    return files


def run(certus, args):
    cmd = ["/usr/bin/time", "-v", certus] + args
    r = subprocess.run(cmd, capture_output=True, text=True)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", r.stderr)
    lines = [l for l in (r.stdout + r.stderr).splitlines()
             if l.strip() and not l.startswith("Command exited") and not re.match(r"^\s+(Command being timed|User time|System time|Percent|Elapsed|Average|Maximum|Major|Minor|Voluntary|Involuntary|Swaps|File system|Socket|Signals|Page size|Exit status)", l)]
    return r.returncode, int(rss.group(1)) // 1024 if rss else -1, wall.group(1) if wall else "?", lines[:3]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--certus", default=".build/release/certus")
    ap.add_argument("--out", default="/tmp/certus-hostile")
    ap.add_argument("--skip-gigabyte", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    f = make_inputs(a.out, not a.skip_gigabyte)
    checks = [
        ("spec with 1,000,000 disjuncts (flat or)", f["spec_million"],
         ["verify", f["model_nodes"], f["spec_million"], "--timeout", "60"]),
        ("spec with 2^20 disjuncts (20 ors)", f["spec_product"],
         ["verify", f["model_nodes"], f["spec_product"], "--timeout", "60"]),
        ("spec nested 100,000 deep", f["spec_deep"],
         ["verify", f["model_nodes"], f["spec_deep"], "--timeout", "60"]),
        ("graph of 10,000 nodes", f["model_nodes"],
         ["verify", f["model_nodes"], f["spec_small"], "--timeout", "60"]),
        ("1 GiB of weights declared, none stored", f["model_declared"], ["inspect", f["model_declared"]]),
    ]
    if "model_gigabyte" in f:
        checks.append(("1 GiB of weights (16384 x 16384 float32)", f["model_gigabyte"],
                       ["verify", f["model_gigabyte"], f["spec_small"], "--timeout", "120"]))
    for title, path, args in checks:
        code, rss, wall, lines = run(a.certus, args)
        print("%s (%.1f MB file): exit %d, peak RSS %d MiB, %s" % (title, os.path.getsize(path) / 1e6, code, rss, wall))
        for l in lines:
            print("    " + l[:300])
    if not a.keep:
        shutil.rmtree(a.out)


if __name__ == "__main__":
    main()
