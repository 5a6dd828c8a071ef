import CertusTensor

/// Which inputs of a product operator (Gemm, MatMul, Conv) are constants known to hold only
/// finite values, so that evaluation need not scan them before choosing between BLAS (every
/// operand finite: fast, but BLAS may skip zero entries) and `BLAS.plainGemm` (an infinity or
/// NaN among the operands: every product formed, so `0 * inf` is NaN as in onnxruntime).
///
/// Decided once when the operator is built from its node (`make`). The flags describe the
/// constants the node had then: an operator evaluated with other values at a flagged position
/// must be built anew (or with `FiniteOperands()`, which scans every operand).
package struct FiniteOperands: Sendable, Equatable {
    /// `known[i]`: input `i` was a constant with only finite values at construction.
    package var known: [Bool]

    /// No input known finite: every operand is scanned at evaluation.
    package init(known: [Bool] = []) { self.known = known }

    /// From a node's constant inputs: true where the input is a constant and all its values are finite.
    package init(_ node: NodeContext) {
        known = node.constantInputs.map { t in t.map { BLAS.allFinite($0.data) } ?? false }
    }

    /// Whether `inputs[i]` is finite for every `i` in `positions` (missing inputs count as
    /// finite): inputs known finite without a scan, the others by `BLAS.allFinite`.
    package func allFinite(_ inputs: [Tensor], _ positions: [Int]) -> Bool {
        positions.allSatisfy { i in
            i >= inputs.count || (i < known.count && known[i]) || BLAS.allFinite(inputs[i].data)
        }
    }
}

/// Y = alpha * op(A) * op(B) + beta * C, with A and B 2-D and C broadcast to the result.
/// Infinite or NaN operands follow IEEE 754 as in onnxruntime (`0 * inf` is NaN; see `FiniteOperands`).
package struct Gemm: Operator {
    package static let opType = "Gemm"
    package let alpha: Double, beta: Double
    package let transA: Bool, transB: Bool
    /// Inputs known finite at construction (see `FiniteOperands`).
    package let finiteOperands: FiniteOperands

    package init(alpha: Double = 1, beta: Double = 1, transA: Bool = false, transB: Bool = false,
                finiteOperands: FiniteOperands = FiniteOperands()) {
        self.alpha = alpha; self.beta = beta; self.transA = transA; self.transB = transB
        self.finiteOperands = finiteOperands
    }

    package static func make(_ node: NodeContext) throws -> Gemm {
        Gemm(alpha: try node.float("alpha", default: 1), beta: try node.float("beta", default: 1),
             transA: try node.int("transA", default: 0) != 0, transB: try node.int("transB", default: 0) != 0,
             finiteOperands: FiniteOperands(node))
    }

    /// (m, k, n) of the product, checking the inner dimensions agree.
    func dims(_ a: [Int], _ b: [Int]) throws -> (Int, Int, Int) {
        guard a.count == 2, b.count == 2 else {
            throw ModelError(.shape, "Gemm needs 2-D A and B, got shapes \(a) and \(b)")
        }
        let (m, k) = transA ? (a[1], a[0]) : (a[0], a[1])
        let (k2, n) = transB ? (b[1], b[0]) : (b[0], b[1])
        guard k == k2 else {
            throw ModelError(.shape, "Gemm inner dimensions differ: A is \(a)\(transA ? " (transposed)" : ""), B is \(b)\(transB ? " (transposed)" : "")")
        }
        return (m, k, n)
    }

    package func outputShape(_ inputShapes: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(inputShapes, 2...3, Self.opType)
        let (m, _, n) = try dims(inputShapes[0], inputShapes[1])
        if inputShapes.count == 3 {
            guard let s = Broadcast.shape(inputShapes[2], [m, n]), s == [m, n] else {
                throw ModelError(.shape, "Gemm bias C of shape \(inputShapes[2]) does not broadcast to [\(m), \(n)]")
            }
        }
        return [m, n]
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        let (m, k, n) = try dims(inputs[0].shape, inputs[1].shape)
        let plain = !finiteOperands.allFinite(inputs, [0, 1])
        var y = BLAS.matmul(inputs[0].data, inputs[1].data, m: m, n: n, k: k, transA: transA, transB: transB, plain: plain)
        if alpha != 1 { for i in 0..<y.count { y[i] *= alpha } }
        if inputs.count == 3 {
            let map = Broadcast.indexMap(from: inputs[2].shape, to: [m, n])
            let c = inputs[2].data
            for i in 0..<y.count { y[i] += beta * c[map[i]] }
        }
        return Tensor(shape: [m, n], data: y)
    }

    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.count >= 2 && (constantInputs[0] || constantInputs[1]) && (constantInputs.count < 3 || constantInputs[2])
            ? .affine : .unsupported("Gemm of two variable matrices")
    }

    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        let constA = x[0].lower == x[0].upper, constB = x[1].lower == x[1].upper
        if constB || constA {
            // Centre through the map, radius through |map| (alpha's sign absorbed by abs).
            // A constant B (the weights) is read in place: its centre 0.5 (B + B) is B itself at
            // magnitudes up to half the largest double, and its radius (zero) is not used; only
            // |B| is made (not two more copies of the weights).
            let inPlace = constB && x[1].lower.data.allSatisfy { Swift.abs($0) <= Double.greatestFiniteMagnitude / 2 }
            let (ca, ra) = IntervalAffine.midRadius(x[0])
            let (cb, rb) = inPlace ? (x[1].lower, x[1].lower) : IntervalAffine.midRadius(x[1])
            let center = try evaluate([ca, cb] + x.dropFirst(2).map(\.lower))
            let absOp = Gemm(alpha: Swift.abs(alpha), beta: 0, transA: transA, transB: transB, finiteOperands: finiteOperands)
            let radius = constB ? try absOp.evaluate([ra, IntervalAffine.abs(cb)]) : try absOp.evaluate([IntervalAffine.abs(ca), rb])
            return IntervalAffine.combine(center: center, radius: radius)
        }
        throw BoundError("Gemm of two variable matrices is not supported")
    }

    /// With A variable and B constant: output (i, o) depends on op(A)(i, t) with coefficient
    /// alpha * op(B)(t, o), read from the weights (the default would call `backward` per output).
    package func affineJacobian(_ inputs: [Tensor], variable: [Bool], position: Int, output: Tensor) throws -> [Double] {
        guard position == 0, variable.count >= 2, !variable[1] else {
            return try genericAffineJacobian(inputs, variable: variable, position: position, output: output)
        }
        let (m, k, n) = try dims(inputs[0].shape, inputs[1].shape)
        let B = inputs[1].data, inN = m * k
        if m == 1 && transB {
            // One row of A and B stored n x k: J is B itself (times alpha).
            return alpha == 1 ? B : B.map { alpha * $0 }
        }
        var J = [Double](repeating: 0, count: m * n * inN)
        for i in 0..<m {
            for o in 0..<n {
                let row = (i * n + o) * inN
                for t in 0..<k {
                    let a = transA ? t * m + i : i * k + t            // op(A)(i, t) in A's storage
                    J[row + a] = alpha * (transB ? B[o * k + t] : B[t * n + o])
                }
            }
        }
        return J
    }

    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        try backward(inputs, output: output, gradient: gradient, wanted: inputs.map { _ in true })
    }

    /// The gradients of the wanted inputs only (a weight's is as large as the weight).
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        let (m, k, n) = try dims(inputs[0].shape, inputs[1].shape)
        let g = gradient.data
        func want(_ i: Int) -> Bool { i < wanted.count ? wanted[i] : true }
        // op(A) = A or A^T (m x k); op(B) (k x n). dop(A) = g op(B)^T, dop(B) = op(A)^T g.
        var ga = !want(0) ? [] : transA
            ? BLAS.matmul(inputs[1].data, g, m: k, n: m, k: n, transA: transB, transB: true)     // (g op(B)^T)^T = op(B) g^T
            : BLAS.matmul(g, inputs[1].data, m: m, n: k, k: n, transA: false, transB: !transB)
        var gb = !want(1) ? [] : transB
            ? BLAS.matmul(g, inputs[0].data, m: n, n: k, k: m, transA: true, transB: transA)      // (op(A)^T g)^T = g^T op(A)
            : BLAS.matmul(inputs[0].data, g, m: k, n: n, k: m, transA: !transA, transB: false)
        if alpha != 1 {
            for i in 0..<ga.count { ga[i] *= alpha }
            for i in 0..<gb.count { gb[i] *= alpha }
        }
        var grads: [Tensor?] = [want(0) ? Tensor(shape: inputs[0].shape, data: ga) : nil,
                                want(1) ? Tensor(shape: inputs[1].shape, data: gb) : nil]
        if inputs.count == 3 {
            var gc = Tensor(shape: inputs[2].shape, repeating: 0)
            let map = Broadcast.indexMap(from: inputs[2].shape, to: [m, n])
            for i in 0..<g.count { gc.data[map[i]] += beta * g[i] }
            grads.append(gc)
        }
        return grads
    }
}

extension Gemm {
    /// Each output alpha (sum_k a_k b_k) + beta c: a dot product of K terms (K roundings per
    /// term in any summation order, products included), the scaling by alpha, the product
    /// beta c and the final addition: K + 3.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding {
        guard let a = inputShapes.first, a.count == 2 else { return .unmodelled("Gemm input shape is not 2-D") }
        return .sums(roundings: (transA ? a[0] : a[1]) + 3)
    }
}
