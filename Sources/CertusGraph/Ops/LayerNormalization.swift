import Foundation
import CertusTensor

/// ONNX `LayerNormalization` (opset 17 on): over the trailing axes from `axis` (default -1),
/// y = (x - mean) / sqrt(var + epsilon) * Scale + B, with mean and var (the biased variance)
/// taken over those axes per leading index. Scale and the optional B broadcast to the
/// normalised shape `x.shape[axis...]` and must be constants (initializers); a computed one is
/// refused at load. Only the first output (Y) may be used; `stash_type` is read and ignored (Certus
/// computes in Double).
///
/// Bounds: IBP by interval arithmetic on each step, intersected with the identity
/// |(x_i - mean) / sqrt(var + eps)| <= sqrt(N - 1) (N normalised elements; from
/// sum_i n_i = 0 and sum_i n_i^2 <= N). CROWN bounds the decomposition (`decomposition`):
/// ReduceMean, Sub, Pow 2, ReduceMean, + epsilon, max(., epsilon) (the same value), Pow -1/2
/// (domain > 0 as epsilon > 0), a
/// McCormick product, the constant scale and shift; alpha-CROWN and branch and bound reach every
/// step (Pow's tangent points, the product's planes). As auto_LiRPA bounds LayerNorm in
/// "Automatic Perturbation Analysis for Scalable Certified Robustness and Beyond" (Xu et al., 2020).
package struct LayerNormalization: Operator, BoundDecomposition {
    package static let opType = "LayerNormalization"
    package static var opsets: ClosedRange<Int> { 17...OperatorRegistry.newestOpset }
    /// The first normalised axis, in 0..<rank.
    package let axis: Int
    package let epsilon: Double

    package init(axis: Int, epsilon: Double) { self.axis = axis; self.epsilon = epsilon }

    package static func make(_ node: NodeContext) throws -> LayerNormalization {
        guard (2...3).contains(node.inputShapes.count), let x = node.inputShapes.first else {
            throw node.error("LayerNormalization takes 2 or 3 inputs (X, Scale, B), got \(node.inputShapes.count)")
        }
        guard !x.isEmpty else { throw node.error("LayerNormalization needs an input of rank >= 1", kind: .shape) }
        let axis = try node.axis(try node.int("axis", default: -1), rank: x.count)
        let epsilon = try node.float("epsilon", default: 1e-5)
        guard epsilon.isFinite, epsilon >= 0 else { throw node.error("epsilon \(epsilon) must be finite and >= 0") }
        for (i, name) in [(1, "Scale"), (2, "B")] where i < node.inputShapes.count {
            guard node.constantInputs.count > i, node.constantInputs[i] != nil else {
                throw node.unsupported("a computed \(name) (input \(i)) is not supported; it must be a constant")
            }
            guard Broadcast.shape(Array(x[axis...]), node.inputShapes[i]) == Array(x[axis...]) else {
                throw node.error("\(name) of shape \(node.inputShapes[i]) does not broadcast to the normalised shape \(Array(x[axis...]))", kind: .shape)
            }
        }
        return LayerNormalization(axis: axis, epsilon: epsilon)
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 2...3, Self.opType)
        guard axis < s[0].count else { throw ModelError(.shape, "LayerNormalization axis \(axis) is out of range for \(s[0])") }
        return s[0]
    }

    /// (groups, group length) of an input of shape `shape`.
    private func layout(_ shape: [Int]) -> (Int, Int) { (shape[..<axis].reduce(1, *), shape[axis...].reduce(1, *)) }

    /// The mean of `data[base ..< base + count]` and r = 1 / sqrt(variance + epsilon) (the
    /// biased variance), as `evaluate` and `backward` use them.
    private func statistics(_ data: [Double], base: Int, count n: Int) -> (mean: Double, r: Double) {
        var mean = 0.0
        for i in 0..<n { mean += data[base + i] }
        mean /= Double(n)
        var variance = 0.0
        for i in 0..<n { let d = data[base + i] - mean; variance += d * d }
        variance /= Double(n)
        return (mean, 1 / (variance + epsilon).squareRoot())
    }

    /// Scale and B as full normalised-shape arrays (B zero when absent).
    private func parameters(_ inputs: [Tensor], normalised: [Int]) -> ([Double], [Double]) {
        let n = normalised.reduce(1, *)
        let scale = Broadcast.indexMap(from: inputs[1].shape, to: normalised).map { inputs[1].data[$0] }
        let bias = inputs.count > 2 ? Broadcast.indexMap(from: inputs[2].shape, to: normalised).map { inputs[2].data[$0] }
                                    : [Double](repeating: 0, count: n)
        return (scale, bias)
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        var y = inputs[0]
        let (groups, n) = layout(y.shape)
        let (scale, bias) = parameters(inputs, normalised: Array(y.shape[axis...]))
        for g in 0..<groups {
            let base = g * n
            let (mean, r) = statistics(y.data, base: base, count: n)
            for i in 0..<n { y.data[base + i] = (y.data[base + i] - mean) * r * scale[i] + bias[i] }
        }
        return y
    }

    /// With n = (x - mean) r, r = 1/sqrt(var + eps) and h = g * Scale:
    /// dx = r (h - mean(h) - n mean(h n)) per group; Scale and B are parameters (nil).
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        let x = inputs[0]
        let (groups, n) = layout(x.shape)
        let (scale, _) = parameters(inputs, normalised: Array(x.shape[axis...]))
        var gx = Tensor(shape: x.shape, repeating: 0)
        var normalised = [Double](repeating: 0, count: n), h = normalised
        for g in 0..<groups {
            let base = g * n
            let (mean, r) = statistics(x.data, base: base, count: n)
            var meanH = 0.0, meanHN = 0.0
            for i in 0..<n {
                normalised[i] = (x.data[base + i] - mean) * r
                h[i] = gradient.data[base + i] * scale[i]
                meanH += h[i]; meanHN += h[i] * normalised[i]
            }
            meanH /= Double(n); meanHN /= Double(n)
            for i in 0..<n { gx.data[base + i] = r * (h[i] - meanH - normalised[i] * meanHN) }
        }
        return [gx] + Array(repeating: nil, count: inputs.count - 1)
    }

    /// Bounded through `decomposition`; the node itself has no relaxation.
    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        .unsupported("LayerNormalization is bounded through its decomposition (BoundDecomposition); the node itself has no relaxation")
    }

    /// Interval arithmetic step by step (see the type's documentation), the normalised value
    /// clipped to [-sqrt(N - 1), sqrt(N - 1)] before the scale and shift.
    /// - Throws: `BoundError` for computed Scale or B, or when epsilon is 0 and the variance can
    ///   be 0 (the output is NaN there).
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        guard x.dropFirst().allSatisfy({ $0.lower == $0.upper }) else {
            throw BoundError("LayerNormalization with a computed Scale or B is not supported")
        }
        let lo = x[0].lower, hi = x[0].upper
        let (groups, n) = layout(lo.shape)
        let (scale, bias) = parameters(x.map(\.lower), normalised: Array(lo.shape[axis...]))
        var outLo = lo, outHi = hi
        let cap = Double(Swift.max(n - 1, 0)).squareRoot() * (1 + 1e-12)
        for g in 0..<groups {
            let base = g * n
            var mLo = 0.0, mHi = 0.0
            for i in 0..<n { mLo += lo.data[base + i]; mHi += hi.data[base + i] }
            mLo /= Double(n); mHi /= Double(n)
            // d_i = x_i - mean = (1 - 1/n) x_i - (1/n) sum_{j != i} x_j: exact per element.
            var dLo = [Double](repeating: 0, count: n), dHi = dLo
            var vLo = 0.0, vHi = 0.0
            for i in 0..<n {
                let xl = lo.data[base + i], xu = hi.data[base + i]
                let others = (mLo * Double(n) - xl) / Double(n), othersHi = (mHi * Double(n) - xu) / Double(n)
                dLo[i] = (1 - 1 / Double(n)) * xl - othersHi
                dHi[i] = (1 - 1 / Double(n)) * xu - others
                let sqHi = Swift.max(dLo[i] * dLo[i], dHi[i] * dHi[i])
                let sqLo = dLo[i] <= 0 && dHi[i] >= 0 ? 0 : Swift.min(dLo[i] * dLo[i], dHi[i] * dHi[i])
                vLo += sqLo; vHi += sqHi
            }
            vLo /= Double(n); vHi /= Double(n)
            // With epsilon 0 the output is 0/0 (NaN) wherever the variance is 0.
            guard vLo + epsilon > 0 else {
                throw BoundError("LayerNormalization with epsilon \(epsilon): the variance can be 0 on this box, where the output is undefined (NaN)")
            }
            let rLo = 1 / (vHi + epsilon).squareRoot()
            let rHi = 1 / (vLo + epsilon).squareRoot()
            for i in 0..<n {
                let corners = [dLo[i] * rLo, dLo[i] * rHi, dHi[i] * rLo, dHi[i] * rHi]
                var nl = corners.min()!, nu = corners.max()!
                if corners.contains(where: \.isNaN) { (nl, nu) = (-.infinity, .infinity) }   // inf * 0: no information
                if n > 1 || epsilon > 0 { nl = Swift.max(nl, -cap); nu = Swift.min(nu, cap) }
                // Outward rounding: the steps above round to nearest.
                nl -= 1e-12 * (1 + Swift.abs(nl)); nu += 1e-12 * (1 + Swift.abs(nu))
                let s = scale[i]
                let a = nl * s + bias[i], b = nu * s + bias[i]
                let pad = 1e-12 * (1 + Swift.abs(a) + Swift.abs(b))
                outLo.data[base + i] = Swift.min(a, b) - pad
                outHi.data[base + i] = Swift.max(a, b) + pad
            }
        }
        return IntervalTensor(lower: outLo, upper: outHi)
    }

    /// mean, centred values, their squares' mean + epsilon, its -1/2 power, the product, then
    /// the constant scale and shift (a Mul and an Add by constants: affine). nil for a constant
    /// input or epsilon 0 (the -1/2 power's domain needs var + epsilon > 0).
    package func decomposition(_ node: Node, shapes: [[Int]], variable: [Bool], builder: inout SubgraphBuilder) -> [Node]? {
        guard variable.first == true, variable.dropFirst().allSatisfy({ !$0 }), epsilon > 0 else { return nil }
        let shape = shapes[0], name = node.name
        let axes = Array(axis..<shape.count)
        let kept = Array(shape[..<axis]) + [Int](repeating: 1, count: shape.count - axis)
        let mean = builder.value("\(name)/mean", kept)
        let me = builder.expanded(mean, from: kept, to: shape, name: "\(name)/mean expanded")
        let d = builder.value("\(name)/centred", shape), sq = builder.value("\(name)/squared", shape)
        let two = builder.constant("\(name)/2", Tensor(scalar: 2)), minusHalf = builder.constant("\(name)/-1/2", Tensor(scalar: -0.5))
        let eps = builder.constant("\(name)/epsilon", Tensor(scalar: epsilon))
        let v = builder.value("\(name)/variance", kept), ve0 = builder.value("\(name)/variance + epsilon", kept)
        let ve = builder.value("\(name)/variance + epsilon >= epsilon", kept)
        let r = builder.value("\(name)/1 / sqrt(variance + epsilon)", kept)
        let re = builder.expanded(r, from: kept, to: shape, name: "\(name)/1 / sqrt(variance + epsilon) expanded")
        let normalised = builder.value("\(name)/normalised", shape)
        var nodes = [Node(name: "\(name)/mean", opType: ReduceMean.opType, op: ReduceMean(axes: axes, keepDims: true), inputs: [node.inputs[0]], output: mean)]
        nodes += me.nodes
        nodes += [
            Node(name: "\(name)/centred", opType: Sub.opType, op: Sub(), inputs: [node.inputs[0], me.id], output: d),
            Node(name: "\(name)/squared", opType: Pow.opType, op: Pow(exponent: 2), inputs: [d, two], output: sq),
            Node(name: "\(name)/variance", opType: ReduceMean.opType, op: ReduceMean(axes: axes, keepDims: true), inputs: [sq], output: v),
            Node(name: "\(name)/variance + epsilon", opType: Add.opType, op: Add(), inputs: [v, eps], output: ve0),
            // max(v + eps, eps) = v + eps, as v >= 0; the maximum (exact in IBP, no rounding
            // guard) keeps the interval above 0 however wide the variance's upper end makes
            // the guard of the sum.
            Node(name: "\(name)/variance + epsilon >= epsilon", opType: Max.opType, op: Max(constant: epsilon), inputs: [ve0, eps], output: ve),
            Node(name: "\(name)/1 / sqrt(variance + epsilon)", opType: Pow.opType, op: Pow(exponent: -0.5), inputs: [ve, minusHalf], output: r),
        ]
        nodes += re.nodes
        nodes.append(Node(name: "\(name)/normalised", opType: Mul.opType, op: Mul(), inputs: [d, re.id], output: normalised))
        let scaled = node.inputs.count > 2 ? builder.value("\(name)/scaled", shape) : node.output
        nodes.append(Node(name: "\(name)/scaled", opType: Mul.opType, op: Mul(), inputs: [normalised, node.inputs[1]], output: scaled))
        if node.inputs.count > 2 {
            nodes.append(Node(name: name, opType: Add.opType, op: Add(), inputs: [scaled, node.inputs[2]], output: node.output))
        }
        return nodes
    }
}

extension LayerNormalization: Float32InputErrorBound {
    /// The whole kernel's model, from the inputs' intervals (`float32ErrorBound`).
    package var float32ModelCoversDecomposition: Bool { true }
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .fromInputs }

    /// onnxruntime's CPU kernel in float32 (stash_type 1): per group of n, mu = sum(x) / n,
    /// Q = sum(x^2) / n, V = Q - mu^2, D = sqrt(V + epsilon), y = (x - mu) / D * scale + b, each
    /// operation rounded (u = 2^-24, gamma_m = m u / (1 - m u), any summation order). With A the
    /// group's largest |x|, |x - mu| <= 2A, and V_lo a lower bound of the exact variance over
    /// the intervals (the mean of the squared gaps between each [l_k, u_k] and the range of the
    /// mean; exact at a point):
    ///
    /// * |mu' - mu| <= e_mu = gamma_{n+1} A, |Q' - Q| <= e_Q = gamma_{n+2} A^2,
    ///   |mu'^2 - mu^2| <= e_M = e_mu (2A + e_mu) + u (A + e_mu)^2,
    ///   |V' - V| <= e_V = e_Q + e_M + u (A^2 + e_Q + (A + e_mu)^2) (the cancellation of
    ///   E[x^2] - E[x]^2);
    /// * V' + epsilon rounds to (V + epsilon)(1 + theta), |theta| <= theta_m = e_V (1 + u) /
    ///   (V_lo + epsilon) + u; when theta_m > 1/4 the computed variance may vanish (the kernel
    ///   may give NaN) and the bound is infinite;
    /// * D' = D (1 + rho), |rho| <= rho_m = theta_m + u (1 + theta_m), D >= D_lo = sqrt(V_lo + epsilon);
    /// * x - mu' is within e_t = e_mu (1 + u) + 2 u A of x - mu; the exact normalised value z
    ///   has |z| <= z_m = min(2A / D_lo, sqrt n), and the computed one (a division, or a
    ///   reciprocal and a product: gamma_2) is within e_z = (e_t / D_lo + z_m rho_m + gamma_2
    ///   (z_m + e_t / D_lo)) / (1 - rho_m) of it;
    /// * the scale and the shift: e = |s| e_z (1 + gamma_2) + gamma_2 (|s| z_m + |b|), with |s|
    ///   and |b| the largest over the scale and shift.
    ///
    /// Kernels that accumulate in double round less and are covered too.
    package func float32ErrorBound(_ inputs: [IntervalTensor]) -> [Double] {
        guard let x = inputs.first, axis < x.shape.count else { return [] }
        let (groups, n) = layout(x.shape)
        let u = Float32Rounding.unitRoundoff, g2 = Float32Rounding.gamma(2)
        let eps = Double(Float(epsilon))
        func largest(_ t: IntervalTensor?) -> Double {
            guard let t else { return 0 }
            var m = 0.0
            for k in 0..<t.lower.count { m = Swift.max(m, Swift.abs(t.lower.data[k]), Swift.abs(t.upper.data[k])) }
            return m
        }
        // Scale and shift broadcast over the normalised shape: their largest magnitudes bound
        // every element's.
        let s = largest(inputs.count > 1 ? inputs[1] : nil), b = largest(inputs.count > 2 ? inputs[2] : nil)
        var out = [Double](repeating: .infinity, count: x.lower.count)
        for g in 0..<groups {
            let range = (g * n)..<((g + 1) * n)
            var a = 0.0, sumL = 0.0, sumU = 0.0
            for k in range {
                a = Swift.max(a, Swift.abs(x.lower.data[k]), Swift.abs(x.upper.data[k]))
                sumL += x.lower.data[k]; sumU += x.upper.data[k]
            }
            // The mean lies in [muL, muU] (widened for the Double sums), each x_k in its interval.
            let slack = 1e-12 * Double(n) * a
            let muL = sumL / Double(n) - slack, muU = sumU / Double(n) + slack
            var gaps = 0.0
            for k in range {
                let gap = Swift.max(0, x.lower.data[k] - muU, muL - x.upper.data[k])
                gaps += gap * gap
            }
            let vLo = Swift.max(0, gaps / Double(n) * (1 - 1e-12))
            let eMu = Float32Rounding.gamma(n + 1) * a, eQ = Float32Rounding.gamma(n + 2) * a * a
            let eM = eMu * (2 * a + eMu) + u * (a + eMu) * (a + eMu)
            let eV = eQ + eM + u * (a * a + eQ + (a + eMu) * (a + eMu))
            let theta = eV * (1 + u) / (vLo + eps) + u
            guard vLo + eps > 0, theta.isFinite, theta <= 0.25 else { continue }
            let rho = theta + u * (1 + theta)
            let dLo = (vLo + eps).squareRoot()
            let eT = eMu * (1 + u) + 2 * u * a
            let zM = Swift.min(2 * a / dLo, Double(n).squareRoot())
            let eZ = (eT / dLo + zM * rho + g2 * (zM + eT / dLo)) / (1 - rho)
            let e = (s * eZ * (1 + g2) + g2 * (s * zM + b)) * (1 + 1e-9)
            for k in range { out[k] = e.isFinite ? e : .infinity }
        }
        return out
    }
}
