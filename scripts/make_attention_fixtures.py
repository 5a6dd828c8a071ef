#!/usr/bin/env python3
"""Builds the Transformer-operator fixtures of Tests/Fixtures/ops/attention and their onnxruntime
outputs (issue 14): LayerNormalization, Softmax, Div by a computed divisor, and a one-block
Transformer encoder.

Single-operator models are float32 with one input x and one output y: h = x * 1.7, then the
operator under test on h. Covered:
  LayerNormalization (opset 17, axis -1 with Scale and B; axis 1 of a rank-3 input without B,
  epsilon 1e-3), Softmax (opset 13 along the last axis; opset 13 along axis 0; opset 11 with
  axis 1 of a rank-3 input, which coerces the trailing axes into one), Div (a computed dividend
  over a computed, broadcast, positive divisor ReduceMean(h^2) + 0.5; a constant over a computed
  divisor).
transformer_block: a one-block Transformer encoder (pre-norm): x [4, 8] (4 tokens of width 8)
-> LayerNorm -> Q, K, V (MatMul) -> Q K^T / sqrt(8) -> Softmax -> . V -> MatMul -> + x ->
LayerNorm -> MatMul -> GeLU (the Erf form PyTorch exports) -> MatMul -> + residual -> y [4, 8].
vit_tiny is a tiny Vision Transformer (opset 20: patch-embedding Conv, class token, position
embedding, two-head attention through Reshape/Transpose and batched MatMuls of variables, a Gelu
node, the class token's LayerNorm and a Gemm head; 8x8 single-channel input, 3 logits).
transformer_w64_t16 is the same block with width 64, 16 tokens and an MLP of width 128 (the
issue's timing target: CROWN bounds in under 10 s); its references are written too.

For each model NAME.onnx, NAME.eval_ref.json holds {"model", "onnxruntime", "cases": [{"input",
"output"}]}: 9 inputs (row-major, float32 values written as the float64 they widen to; scales
1, 0.1 and 10) and onnxruntime's output, flattened.

Requires: pip install onnx onnxruntime numpy. Run from the repository root:
  python3 scripts/make_attention_fixtures.py
"""
import os

import numpy as np
from onnx import helper

from fixture_common import finish, floats, ints, require_repo_root, scaled_model as model, write

OUT = os.path.join("Tests", "Fixtures", "ops", "attention")
rng = np.random.default_rng(20261201)


def transformer(name, tokens, width, hidden):
    n = helper.make_node
    w = lambda k, shape, s: floats(k, rng.normal(0, s / np.sqrt(shape[0]), size=shape).astype(np.float32))
    inits = [
        floats("g1", rng.uniform(0.5, 1.5, size=(width,)).astype(np.float32)),
        floats("b1", rng.normal(0, 0.1, size=(width,)).astype(np.float32)),
        w("Wq", (width, width), 1.0), w("Wk", (width, width), 1.0), w("Wv", (width, width), 1.0),
        w("Wo", (width, width), 1.0),
        floats("scale", np.float32(1 / np.sqrt(width))),
        floats("g2", rng.uniform(0.5, 1.5, size=(width,)).astype(np.float32)),
        floats("b2", rng.normal(0, 0.1, size=(width,)).astype(np.float32)),
        w("W1", (width, hidden), 1.0), floats("c1", rng.normal(0, 0.1, size=(hidden,)).astype(np.float32)),
        w("W2", (hidden, width), 1.0), floats("c2", rng.normal(0, 0.1, size=(width,)).astype(np.float32)),
        floats("sqrt2", np.float32(np.sqrt(2))), floats("one", np.float32(1)), floats("half", np.float32(0.5)),
    ]
    nodes = [
        n("LayerNormalization", ["x", "g1", "b1"], ["ln1"], name="ln1", axis=-1, epsilon=1e-5),
        n("MatMul", ["ln1", "Wq"], ["q"], name="q"), n("MatMul", ["ln1", "Wk"], ["k"], name="k"),
        n("MatMul", ["ln1", "Wv"], ["v"], name="v"),
        n("Transpose", ["k"], ["kt"], name="kt", perm=[1, 0]),
        n("MatMul", ["q", "kt"], ["qk"], name="qk"), n("Mul", ["qk", "scale"], ["scores"], name="scores"),
        n("Softmax", ["scores"], ["attn"], name="softmax", axis=-1),
        n("MatMul", ["attn", "v"], ["ctx"], name="context"), n("MatMul", ["ctx", "Wo"], ["o"], name="o"),
        n("Add", ["o", "x"], ["r1"], name="residual1"),
        n("LayerNormalization", ["r1", "g2", "b2"], ["ln2"], name="ln2", axis=-1, epsilon=1e-5),
        n("MatMul", ["ln2", "W1"], ["m1"], name="mlp1"), n("Add", ["m1", "c1"], ["z"], name="mlp1_bias"),
        # GeLU as PyTorch exports it: 0.5 z (1 + erf(z / sqrt 2)).
        n("Div", ["z", "sqrt2"], ["zs"], name="gelu_div"), n("Erf", ["zs"], ["e"], name="gelu_erf"),
        n("Add", ["e", "one"], ["e1"], name="gelu_add"), n("Mul", ["z", "e1"], ["ze"], name="gelu_mul"),
        n("Mul", ["ze", "half"], ["gelu"], name="gelu_half"),
        n("MatMul", ["gelu", "W2"], ["m2"], name="mlp2"), n("Add", ["m2", "c2"], ["m2b"], name="mlp2_bias"),
        n("Add", ["m2b", "r1"], ["y"], name="residual2"),
    ]
    return finish(name, 17, nodes, [tokens, width], inits, "y")


def vit(name):
    """A tiny Vision Transformer: x [1, 1, 8, 8] -> Conv 4x4 stride 4 (patch embedding, width 8)
    -> [1, 4, 8] tokens -> a class token concatenated in front -> + position embedding -> one
    pre-norm block with two attention heads (Reshape/Transpose to [1, 2, 5, 4], batched MatMul
    of variables) and a GeLU MLP -> the class token (Gather) -> LayerNorm -> Gemm -> 3 logits."""
    n = helper.make_node
    w = lambda k, shape, s: floats(k, rng.normal(0, s / np.sqrt(shape[0]), size=shape).astype(np.float32))
    d, heads, tokens = 8, 2, 5
    inits = [
        floats("Wp", rng.normal(0, 0.25, size=(d, 1, 4, 4)).astype(np.float32)), floats("bp", rng.normal(0, 0.1, size=(d,)).astype(np.float32)),
        ints("s_tokens", [1, d, 4]), floats("cls", rng.normal(0, 1, size=(1, 1, d)).astype(np.float32)),
        floats("pos", rng.normal(0, 0.5, size=(1, tokens, d)).astype(np.float32)),
        floats("g1", rng.uniform(0.5, 1.5, size=(d,)).astype(np.float32)), floats("b1", rng.normal(0, 0.1, size=(d,)).astype(np.float32)),
        w("Wq", (d, d), 1.0), w("Wk", (d, d), 1.0), w("Wv", (d, d), 1.0), w("Wo", (d, d), 1.0),
        ints("s_heads", [1, tokens, heads, d // heads]), ints("s_merge", [1, tokens, d]),
        floats("scale", np.float32(1 / np.sqrt(d // heads))),
        floats("g2", rng.uniform(0.5, 1.5, size=(d,)).astype(np.float32)), floats("b2", rng.normal(0, 0.1, size=(d,)).astype(np.float32)),
        w("W1", (d, 16), 1.0), w("W2", (16, d), 1.0),
        ints("first", [0]),
        floats("g3", rng.uniform(0.5, 1.5, size=(d,)).astype(np.float32)), floats("b3", rng.normal(0, 0.1, size=(d,)).astype(np.float32)),
        floats("Wh", rng.normal(0, 0.5, size=(3, d)).astype(np.float32)), floats("bh", rng.normal(0, 0.1, size=(3,)).astype(np.float32)),
    ]
    nodes = [
        n("Conv", ["x", "Wp", "bp"], ["p"], name="patch_embed", kernel_shape=[4, 4], strides=[4, 4]),
        n("Reshape", ["p", "s_tokens"], ["p3"], name="patches"), n("Transpose", ["p3"], ["pt"], name="tokens", perm=[0, 2, 1]),
        n("Concat", ["cls", "pt"], ["t0"], name="with_cls", axis=1), n("Add", ["t0", "pos"], ["t"], name="pos_embed"),
        n("LayerNormalization", ["t", "g1", "b1"], ["l1"], name="ln1", axis=-1),
        n("MatMul", ["l1", "Wq"], ["q"], name="q"), n("MatMul", ["l1", "Wk"], ["k"], name="k"), n("MatMul", ["l1", "Wv"], ["v"], name="v"),
        n("Reshape", ["q", "s_heads"], ["qh0"], name="q_heads"), n("Transpose", ["qh0"], ["qh"], name="q_t", perm=[0, 2, 1, 3]),
        n("Reshape", ["k", "s_heads"], ["kh0"], name="k_heads"), n("Transpose", ["kh0"], ["kt"], name="k_t", perm=[0, 2, 3, 1]),
        n("Reshape", ["v", "s_heads"], ["vh0"], name="v_heads"), n("Transpose", ["vh0"], ["vh"], name="v_t", perm=[0, 2, 1, 3]),
        n("MatMul", ["qh", "kt"], ["qk"], name="scores"), n("Mul", ["qk", "scale"], ["sc"], name="scaled"),
        n("Softmax", ["sc"], ["attn"], name="softmax", axis=-1),
        n("MatMul", ["attn", "vh"], ["ctx"], name="context"), n("Transpose", ["ctx"], ["ctx_t"], name="merge_t", perm=[0, 2, 1, 3]),
        n("Reshape", ["ctx_t", "s_merge"], ["ctx_m"], name="merge"), n("MatMul", ["ctx_m", "Wo"], ["o"], name="o"),
        n("Add", ["o", "t"], ["r1"], name="residual1"),
        n("LayerNormalization", ["r1", "g2", "b2"], ["l2"], name="ln2", axis=-1),
        n("MatMul", ["l2", "W1"], ["h1"], name="mlp1"), n("Gelu", ["h1"], ["g"], name="gelu"),
        n("MatMul", ["g", "W2"], ["h2"], name="mlp2"), n("Add", ["h2", "r1"], ["r2"], name="residual2"),
        n("Gather", ["r2", "first"], ["c0"], name="cls_token", axis=1),
        n("Reshape", ["c0", "s_cls"], ["c"], name="cls_flat"),
        n("LayerNormalization", ["c", "g3", "b3"], ["l3"], name="ln3", axis=-1),
        n("Gemm", ["l3", "Wh", "bh"], ["y"], name="head", transB=1),
    ]
    inits.append(ints("s_cls", [1, d]))
    return finish(name, 20, nodes, [1, 1, 8, 8], inits, "y")


def fixtures():
    n = helper.make_node
    yield model("layernorm_opset17", 17, [2, 6], [n("LayerNormalization", ["h", "g", "b"], ["y"], name="ln", axis=-1)],
                [floats("g", rng.uniform(-1.5, 1.5, size=(6,)).astype(np.float32)),
                 floats("b", rng.normal(0, 0.5, size=(6,)).astype(np.float32))])
    yield model("layernorm_opset17_axis1", 17, [2, 3, 4],
                [n("LayerNormalization", ["h", "g"], ["y"], name="ln", axis=1, epsilon=1e-3)],
                [floats("g", rng.uniform(0.5, 1.5, size=(3, 4)).astype(np.float32))])
    yield model("softmax_opset13", 13, [2, 5], [n("Softmax", ["h"], ["y"], name="softmax", axis=-1)], [])
    yield model("softmax_opset13_axis0", 13, [3, 4], [n("Softmax", ["h"], ["y"], name="softmax", axis=0)], [])
    yield model("softmax_opset11_coerce", 11, [2, 3, 4], [n("Softmax", ["h"], ["y"], name="softmax", axis=1)], [])
    yield model("div_opset13_vars", 13, [2, 4],
                [n("Mul", ["h", "h"], ["hh"], name="square"),
                 n("ReduceMean", ["hh"], ["m"], name="mean", axes=[1], keepdims=1),
                 n("Add", ["m", "half"], ["d"], name="divisor"),
                 n("Div", ["h", "d"], ["y"], name="div")], [floats("half", 0.5)])
    yield model("div_opset13_constant_dividend", 13, [2, 4],
                [n("Abs", ["h"], ["a"], name="abs"), n("Add", ["a", "one"], ["d"], name="divisor"),
                 n("Div", ["k", "d"], ["y"], name="div")],
                [floats("one", 1.0), floats("k", rng.normal(0, 1, size=(2, 4)).astype(np.float32))])
    yield transformer("transformer_block", 4, 8, 16)
    yield transformer("transformer_w64_t16", 16, 64, 128)
    yield vit("vit_tiny")


def main():
    require_repo_root()
    write(fixtures(), OUT, rng, require_finite=True)


if __name__ == "__main__":
    main()
