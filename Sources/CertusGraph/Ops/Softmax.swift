import Foundation
import CertusTensor

/// Softmax along `axis` (opset >= 13), or over the flattened trailing dimensions from `axis`
/// (opset < 13 semantics).
///
/// Bounds: IBP from monotonicity (each output increases in its own logit and decreases in the
/// others). CROWN bounds the decomposition chosen by `form` (see `Form`), made of operators the
/// engine relaxes, so alpha-CROWN and branch and bound reach it too.
/// An operator that normalises groups of its input's coordinates by one strictly increasing
/// map per group: within a group, y_i - y_j has the sign of x_i - x_j (and is 0 exactly when
/// x_i = x_j), so a property that only compares outputs of one group pairwise, with no offset,
/// holds at exactly the inputs where it holds on the operator's input (`OutputSoftmax`).
package protocol PairwiseOrderPreserving: Operator {
    /// Calls `body(indices)` with the row-major flat indices of every group of a value of
    /// `shape`, group after group.
    func forEachGroup(_ shape: [Int], _ body: ([Int]) -> Void)
}

package struct Softmax: Operator, BoundDecomposition, PairwiseOrderPreserving {
    package static let opType = "Softmax"
    package let axis: Int
    package let legacyCoerce: Bool
    /// How the bound engine decomposes the operator.
    package var form: Form = .differences

    /// The two decompositions of softmax the bound engine can use (issue 14 asks for the tighter,
    /// measured: `SoftmaxBoundTests` compares them on random logits and boxes).
    package enum Form: Sendable {
        /// s_i = 1 / (1 + sum_{j != i} exp(x_j - x_i)): differences of logits (affine, so CROWN
        /// cancels what they share), Exp, a sum and Reciprocal on [1, inf). No product of
        /// variables; n (n - 1) exponentials per group of n. (A group of one is the constant 1,
        /// bounded exactly by IBP.)
        /// (The form of Shi et al., "Robustness Verification for Transformers", ICLR 2020, and of
        /// auto_LiRPA's softmax bound.)
        case differences
        /// s_i = exp(x_i) * (1 / sum_j exp(x_j)): Exp, a sum, Reciprocal, and a McCormick product
        /// of two variables per output. Looser where the logits are correlated.
        case quotient
    }

    package init(axis: Int, legacyCoerce: Bool, form: Form = .differences) {
        self.axis = axis; self.legacyCoerce = legacyCoerce; self.form = form
    }
    package static func make(_ node: NodeContext) throws -> Softmax {
        let rank = node.inputShapes.first?.count ?? 0
        let legacy = node.opset < 13
        let a = try node.int("axis", default: legacy ? 1 : -1)
        return Softmax(axis: try node.axis(a, rank: max(rank, 1)), legacyCoerce: legacy)
    }
    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...1, Self.opType)
        return s[0]
    }
    /// Calls `body(indices)` with the row-major flat indices of every softmax group (the
    /// coordinates normalised together) of a tensor of shape `shape0`, group after group.
    package func forEachGroup(_ shape0: [Int], _ body: ([Int]) -> Void) {
        let shape = shape0.isEmpty ? [1] : shape0
        let (outer, len, inner): (Int, Int, Int) = legacyCoerce
            ? (shape[..<axis].reduce(1, *), shape[axis...].reduce(1, *), 1)
            : (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * len * inner + i
                body((0..<len).map { base + $0 * inner })
            }
        }
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        var x = inputs[0]
        forEachGroup(x.shape) { idx in
            var m = -Double.infinity
            for k in idx { m = max(m, x.data[k]) }
            var sum = 0.0
            for k in idx { let e = Foundation.exp(x.data[k] - m); x.data[k] = e; sum += e }
            for k in idx { x.data[k] /= sum }
        }
        return x
    }

    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        .unsupported("Softmax is bounded through its decomposition (BoundDecomposition); the node itself has no relaxation")
    }

    /// Each output is increasing in its own logit and decreasing in the others.
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        var lo = x[0].lower, hi = x[0].upper
        forEachGroup(lo.shape) { idx in
            let mx = idx.map { x[0].upper.data[$0] }.max() ?? 0
            for k in idx {
                var otherHi = 0.0, otherLo = 0.0
                for j in idx where j != k {
                    otherHi += Foundation.exp(x[0].upper.data[j] - mx)
                    otherLo += Foundation.exp(x[0].lower.data[j] - mx)
                }
                let el = Foundation.exp(x[0].lower.data[k] - mx), eu = Foundation.exp(x[0].upper.data[k] - mx)
                lo.data[k] = el / (el + otherHi)
                hi.data[k] = eu / (eu + otherLo)
            }
        }
        return IntervalTensor(lower: lo, upper: hi)
    }

    /// dx = y * (g - sum(g * y)) within each group.
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        var gx = gradient
        forEachGroup(output.shape) { idx in
            var dot = 0.0
            for k in idx { dot += gradient.data[k] * output.data[k] }
            for k in idx { gx.data[k] = output.data[k] * (gradient.data[k] - dot) }
        }
        return [gx]
    }
}


extension Softmax {
    /// The decomposition given by `form` (opset < 13 coercion: the input is reshaped to
    /// [outer, inner] first and the result reshaped back). nil for a constant input.
    package func decomposition(_ node: Node, shapes: [[Int]], variable: [Bool], builder: inout SubgraphBuilder) -> [Node]? {
        guard variable.first == true, !shapes[0].isEmpty,
              (legacyCoerce ? shapes[0][axis...].reduce(1, *) : shapes[0][axis]) > 1 else { return nil }
        let shape = shapes[0], name = node.name
        if legacyCoerce && axis < shape.count - 1 {
            let flat = [shape[..<axis].reduce(1, *), shape[axis...].reduce(1, *)]
            let x = builder.value("\(name)/coerced", flat), y = builder.value("\(name)/coerced softmax", flat)
            return [Node(name: "\(name)/coerce", opType: Reshape.opType, op: Reshape(target: flat, allowZero: false), inputs: [node.inputs[0]], output: x)]
                + groupDecomposition(x, shape: flat, axis: 1, name: name, output: y, builder: &builder)
                + [Node(name: "\(name)/restore", opType: Reshape.opType, op: Reshape(target: shape, allowZero: false), inputs: [y], output: node.output)]
        }
        return groupDecomposition(node.inputs[0], shape: shape, axis: axis, name: name, output: node.output, builder: &builder)
    }

    /// Softmax of `x` (shape `shape`) along `axis` as `form` says, writing `output`.
    private func groupDecomposition(_ x: Int, shape: [Int], axis a: Int, name: String, output: Int, builder: inout SubgraphBuilder) -> [Node] {
        let n = shape[a]
        switch form {
        case .differences:
            // d[.., i, k, ..] = x_j - x_i for the n - 1 indices j != i (j = k, or k + 1 from i
            // on), gathered from the flattened input; s_i = 1 + sum_j exp(d), so that IBP
            // sees s_i >= 1 even where exp underflows.
            guard n > 1 else { return [] }
            let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
            let full = Array(shape[..<a]) + [n, n - 1] + Array(shape[(a + 1)...])
            var own: [Int] = [], other: [Int] = []
            own.reserveCapacity(outer * n * (n - 1) * inner); other.reserveCapacity(own.capacity)
            for o in 0..<outer {
                for i in 0..<n {
                    for k in 0..<(n - 1) {
                        let j = k < i ? k : k + 1
                        for t in 0..<inner {
                            own.append((o * n + i) * inner + t)
                            other.append((o * n + j) * inner + t)
                        }
                    }
                }
            }
            let total = shape.reduce(1, *)
            let flat = builder.value("\(name)/flat", [total])
            let iIdx = builder.constant("\(name)/indices of x_i", Tensor(shape: full, data: own.map(Double.init)))
            let jIdx = builder.constant("\(name)/indices of x_j", Tensor(shape: full, data: other.map(Double.init)))
            let xi = builder.value("\(name)/x_i", full), xj = builder.value("\(name)/x_j", full)
            let d = builder.value("\(name)/x_j - x_i", full), e = builder.value("\(name)/exp(x_j - x_i)", full)
            let s0 = builder.value("\(name)/sum_{j != i} exp(x_j - x_i)", shape), s1 = builder.value("\(name)/sum_j exp(x_j - x_i)", shape)
            let s = builder.value("\(name)/sum_j exp(x_j - x_i) >= 1", shape)
            let one = builder.constant("\(name)/1", Tensor(scalar: 1))
            return [
                Node(name: "\(name)/flatten", opType: Reshape.opType, op: Reshape(target: [total], allowZero: false), inputs: [x], output: flat),
                Node(name: "\(name)/x_i", opType: Gather.opType, op: Gather(axis: 0, indices: own, indicesShape: full), inputs: [flat, iIdx], output: xi),
                Node(name: "\(name)/x_j", opType: Gather.opType, op: Gather(axis: 0, indices: other, indicesShape: full), inputs: [flat, jIdx], output: xj),
                Node(name: "\(name)/x_j - x_i", opType: Sub.opType, op: Sub(), inputs: [xj, xi], output: d),
                Node(name: "\(name)/exp(x_j - x_i)", opType: Exp.opType, op: Exp(), inputs: [d], output: e),
                Node(name: "\(name)/sum_{j != i} exp(x_j - x_i)", opType: ReduceSum.opType, op: ReduceSum(axes: [a + 1], keepDims: false), inputs: [e], output: s0),
                Node(name: "\(name)/sum_j exp(x_j - x_i)", opType: Add.opType, op: Add(), inputs: [s0, one], output: s1),
                // max(s, 1) = s; the maximum (exact in IBP) keeps s >= 1 however wide the sum's
                // upper end makes its rounding guard.
                Node(name: "\(name)/sum_j exp(x_j - x_i) >= 1", opType: Max.opType, op: Max(constant: 1), inputs: [s1, one], output: s),
                Node(name: name, opType: Reciprocal.opType, op: Reciprocal(), inputs: [s], output: output),
            ]
        case .quotient:
            var kept = shape; kept[a] = 1
            let e = builder.value("\(name)/exp", shape), s = builder.value("\(name)/sum exp", kept)
            let r = builder.value("\(name)/1 / sum exp", kept)
            let er = builder.expanded(r, from: kept, to: shape, name: "\(name)/1 / sum exp expanded")
            return [Node(name: "\(name)/exp", opType: Exp.opType, op: Exp(), inputs: [x], output: e),
                    Node(name: "\(name)/sum exp", opType: ReduceSum.opType, op: ReduceSum(axes: [a], keepDims: true), inputs: [e], output: s),
                    Node(name: "\(name)/1 / sum exp", opType: Reciprocal.opType, op: Reciprocal(), inputs: [s], output: r)]
                + er.nodes
                + [Node(name: name, opType: Mul.opType, op: Mul(), inputs: [e, er.id], output: output)]
        }
    }
}

extension Softmax {
    /// The whole kernel's model (`float32ModelCoversDecomposition`: the decomposition computes the
    /// exact softmax of the float32 inputs, and this error enters once at its output).
    package var float32ModelCoversDecomposition: Bool { true }

    /// The float32 error of softmax over groups of n, as runtimes compute it (onnxruntime's
    /// MLAS: m = max_j x_j, e_j = expf(x_j - m), S = sum_j e_j in any order, y_i = e_i / S or
    /// e_i * (1 / S)), bounded per output by a relative term of the output and an absolute one
    /// (`Float32Rounding.ulps`). With u = 2^-24, expf within relative kappa = 4 ulps = 2^-21
    /// plus alpha = 2^-22 absolute (`Float32Rounding.transcendental`), and d_j = m - x_j >= 0:
    ///
    /// * x_j - m is rounded once: exp of it is e^{-d_j} (1 + rho), |rho| <= e^{u d_j} - 1
    ///   <= 1.0001 u d_j (d_j <= 88 before expf underflows), and d e^{-d} <= 1/e, so each
    ///   computed e_j is off by at most kappa e^{-d_j} + c, c = alpha + 1.0001 u (1 + kappa) / e;
    /// * S >= 1 exactly (the maximum's term is e^0), the computed sum is off by at most
    ///   kappa S + n c before its n - 1 roundings (gamma_{n-1}, any order; Higham eq. 3.5):
    ///   |S' - S| <= eps S with eps = kappa + gamma_{n-1} (1 + kappa) + n c (1 + gamma_{n-1});
    /// * then |e_i' / S' - y_i| <= (y_i (kappa + eps) + c) / (1 - eps), and the final division
    ///   (or reciprocal and product: gamma_2) adds gamma_2 of itself and of y_i.
    ///
    /// Hence e <= k 2^-23 Y + a with k 2^-23 = (kappa + eps)(1 + gamma_2) / (1 - eps) + gamma_2
    /// and a = c (1 + gamma_2) / (1 - eps), Y the largest output magnitude. Unmodelled when eps
    /// reaches 1/4 (groups of about 10^5 or more), and for kernels that do not subtract the
    /// maximum (not covered: their S may be far below 1).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding {
        guard let shape = inputShapes.first else { return .unmodelled("Softmax without an input") }
        let s = shape.isEmpty ? [1] : shape
        guard axis < s.count else { return .unmodelled("Softmax axis \(axis) outside the input's rank") }
        let n = legacyCoerce ? s[axis...].reduce(1, *) : s[axis]
        let u = Float32Rounding.unitRoundoff, kappa = 4 * 0x1p-23, alpha = 0x1p-22
        let c = alpha + 1.0001 * u * (1 + kappa) / M_E
        let gSum = Float32Rounding.gamma(Swift.max(0, n - 1)), g2 = Float32Rounding.gamma(2)
        let eps = kappa + gSum * (1 + kappa) + Double(n) * c * (1 + gSum)
        guard eps.isFinite, eps < 0.25 else {
            return .unmodelled("Softmax over \(n) elements: beyond its float32 error model (groups below about 10^5)")
        }
        let relative = (kappa + eps) * (1 + g2) / (1 - eps) + g2
        return .ulps(relative / 0x1p-23 * (1 + 1e-9), absolute: c * (1 + g2) / (1 - eps) * (1 + 1e-9))
    }
}
