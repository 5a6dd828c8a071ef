import CertusTensor

/// numpy `matmul`: 1-D operands are promoted (and the added axis removed afterwards), leading
/// batch dimensions broadcast. Infinite or NaN operands follow IEEE 754 as in onnxruntime
/// (`0 * inf` is NaN; see `FiniteOperands`).
package struct MatMul: Operator, AttributeFree {
    package static let opType = "MatMul"
    /// Inputs known finite at construction (see `FiniteOperands`).
    package let finiteOperands: FiniteOperands

    /// An operator that scans both operands for non-finite values at every evaluation.
    package init() { finiteOperands = FiniteOperands() }

    package init(finiteOperands: FiniteOperands) { self.finiteOperands = finiteOperands }

    package static func make(_ node: NodeContext) throws -> MatMul { MatMul(finiteOperands: FiniteOperands(node)) }

    struct Plan {
        var m: Int, k: Int, n: Int
        var batchShape: [Int]
        var outShape: [Int]
        var aBatch: [Int], bBatch: [Int]   // shapes of the batch parts of a and b (padded)
    }

    func plan(_ a0: [Int], _ b0: [Int]) throws -> Plan {
        guard !a0.isEmpty, !b0.isEmpty else {
            throw ModelError(.shape, "MatMul operands must have rank >= 1, got \(a0) and \(b0)")
        }
        let a = a0.count == 1 ? [1] + a0 : a0
        let b = b0.count == 1 ? b0 + [1] : b0
        let m = a[a.count - 2], k = a[a.count - 1], k2 = b[b.count - 2], n = b[b.count - 1]
        guard k == k2 else {
            throw ModelError(.shape, "MatMul inner dimensions differ: shapes \(a0) and \(b0)")
        }
        let aB = Array(a.dropLast(2)), bB = Array(b.dropLast(2))
        guard let batch = Broadcast.shape(aB, bB) else {
            throw ModelError(.shape, "MatMul batch dimensions of \(a0) and \(b0) cannot be broadcast")
        }
        var out = batch
        if a0.count > 1 { out.append(m) }
        if b0.count > 1 { out.append(n) }
        return Plan(m: m, k: k, n: n, batchShape: batch, outShape: out, aBatch: aB, bBatch: bB)
    }

    package func outputShape(_ inputShapes: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(inputShapes, 2...2, Self.opType)
        return try plan(inputShapes[0], inputShapes[1]).outShape
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        let p = try plan(inputs[0].shape, inputs[1].shape)
        let batches = p.batchShape.reduce(1, *)
        let aMap = Broadcast.indexMap(from: p.aBatch, to: p.batchShape)
        let bMap = Broadcast.indexMap(from: p.bBatch, to: p.batchShape)
        let sa = p.m * p.k, sb = p.k * p.n, sc = p.m * p.n
        var out = [Double](repeating: 0, count: batches * sc)
        guard !out.isEmpty, p.k > 0 else { return Tensor(shape: p.outShape, data: out) }
        let plain = !finiteOperands.allFinite(inputs, [0, 1])
        inputs[0].data.withUnsafeBufferPointer { pa in
            inputs[1].data.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    for t in 0..<batches {
                        if plain {
                            BLAS.plainGemm(m: p.m, n: p.n, k: p.k,
                                           a: pa.baseAddress! + aMap[t] * sa, b: pb.baseAddress! + bMap[t] * sb,
                                           c: pc.baseAddress! + t * sc)
                        } else {
                            BLAS.gemm(m: p.m, n: p.n, k: p.k,
                                      a: pa.baseAddress! + aMap[t] * sa, b: pb.baseAddress! + bMap[t] * sb,
                                      c: pc.baseAddress! + t * sc)
                        }
                    }
                }
            }
        }
        return Tensor(shape: p.outShape, data: out)
    }

    /// With A variable and B a constant matrix (rank 1 or 2, shared by every batch of A):
    /// output (t, i, o) depends on A(t, i, k) with coefficient B(k, o), read from the weights
    /// (the default would call `backward` per output).
    package func affineJacobian(_ inputs: [Tensor], variable: [Bool], position: Int, output: Tensor) throws -> [Double] {
        let p = try plan(inputs[0].shape, inputs[1].shape)
        let rows = p.batchShape.reduce(1, *) * p.m
        guard position == 0, variable.count == 2, !variable[1], inputs[1].shape.count <= 2,
              inputs[0].data.count == rows * p.k, output.data.count == rows * p.n else {
            return try genericAffineJacobian(inputs, variable: variable, position: position, output: output)
        }
        let B = inputs[1].data, inN = rows * p.k
        var J = [Double](repeating: 0, count: rows * p.n * inN)
        for r in 0..<rows {
            for o in 0..<p.n {
                let row = (r * p.n + o) * inN + r * p.k
                for t in 0..<p.k { J[row + t] = B[t * p.n + o] }
            }
        }
        return J
    }

    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.contains(true) ? .affine : .unsupported("MatMul of two variable tensors")
    }

    /// Centre and radius: c_A c_B +- (r_A |c_B| or |c_A| r_B). A constant B (the weights) is read
    /// in place: its centre 0.5 (B + B) is B itself at magnitudes up to half the largest double,
    /// so only |B| is made (not a centre and a radius copy of the weights as well: three times
    /// the weights' memory on a large layer).
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        if x[1].lower == x[1].upper, x[1].lower.data.allSatisfy({ Swift.abs($0) <= Double.greatestFiniteMagnitude / 2 }) {
            let (ca, ra) = IntervalAffine.midRadius(x[0])
            let b = x[1].lower
            let center = try evaluate([ca, b])
            return IntervalAffine.combine(center: center, radius: try evaluate([ra, IntervalAffine.abs(b)]))
        }
        let (ca, ra) = IntervalAffine.midRadius(x[0]), (cb, rb) = IntervalAffine.midRadius(x[1])
        let center = try evaluate([ca, cb])
        if x[1].lower == x[1].upper { return IntervalAffine.combine(center: center, radius: try evaluate([ra, IntervalAffine.abs(cb)])) }
        if x[0].lower == x[0].upper { return IntervalAffine.combine(center: center, radius: try evaluate([IntervalAffine.abs(ca), rb])) }
        throw BoundError("MatMul of two variable tensors is not supported")
    }

    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        try backward(inputs, output: output, gradient: gradient, wanted: [true, true])
    }

    /// dA = g B^T and dB = A^T g per batch (broadcast batches summed), each only when wanted
    /// (the gradient of a constant weight is as large as the weight: never made for the bound
    /// engine's rows). The operands are read in place (no copy of a weight per call).
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        let p = try plan(inputs[0].shape, inputs[1].shape)
        let batches = p.batchShape.reduce(1, *)
        let aMap = Broadcast.indexMap(from: p.aBatch, to: p.batchShape)
        let bMap = Broadcast.indexMap(from: p.bBatch, to: p.batchShape)
        let sa = p.m * p.k, sb = p.k * p.n, sc = p.m * p.n
        let wantA = wanted.first ?? true, wantB = wanted.count > 1 ? wanted[1] : true
        var ga = [Double](repeating: 0, count: wantA ? inputs[0].count : 0)
        var gb = [Double](repeating: 0, count: wantB ? inputs[1].count : 0)
        guard p.k > 0, sc > 0 else {
            return [wantA ? Tensor(shape: inputs[0].shape, data: ga) : nil, wantB ? Tensor(shape: inputs[1].shape, data: gb) : nil]
        }
        // A batch slot written once is the product itself (beta = 0); one that broadcast batches
        // share gets each product made apart and added, in batch order.
        let aShared = Set(aMap).count < batches, bShared = Set(bMap).count < batches
        func product(into c: UnsafeMutablePointer<Double>, count: Int, shared: Bool, _ make: (UnsafeMutablePointer<Double>) -> Void) {
            if !shared { make(c); return }
            let part = [Double](unsafeUninitializedCapacity: count) { q, n in make(q.baseAddress!); n = count }
            for i in 0..<count { c[i] += part[i] }
        }
        inputs[0].data.withUnsafeBufferPointer { pa in
            inputs[1].data.withUnsafeBufferPointer { pb in
                gradient.data.withUnsafeBufferPointer { pg in
                    for t in 0..<batches {
                        if wantA {
                            ga.withUnsafeMutableBufferPointer { pga in
                                product(into: pga.baseAddress! + aMap[t] * sa, count: sa, shared: aShared) { c in
                                    BLAS.gemm(transB: true, m: p.m, n: p.k, k: p.n, a: pg.baseAddress! + t * sc,     // g B^T
                                              b: pb.baseAddress! + bMap[t] * sb, c: c)
                                }
                            }
                        }
                        if wantB {
                            gb.withUnsafeMutableBufferPointer { pgb in
                                product(into: pgb.baseAddress! + bMap[t] * sb, count: sb, shared: bShared) { c in
                                    BLAS.gemm(transA: true, m: p.k, n: p.n, k: p.m, a: pa.baseAddress! + aMap[t] * sa, // A^T g
                                              b: pg.baseAddress! + t * sc, c: c)
                                }
                            }
                        }
                    }
                }
            }
        }
        return [wantA ? Tensor(shape: inputs[0].shape, data: ga) : nil, wantB ? Tensor(shape: inputs[1].shape, data: gb) : nil]
    }
}

extension MatMul: BoundDecomposition {
    /// A product of two variable matrices (attention's Q K^T and softmax(.) V) as operators the
    /// engine relaxes: A [..., m, k] is unsqueezed to [..., m, k, 1] and B [..., k, n] to
    /// [..., 1, k, n], both are expanded to [..., m, k, n] (batch dimensions broadcast), multiplied
    /// elementwise (McCormick planes per product, each operand splittable in branch and bound),
    /// and summed over k. nil (kept as is) when an operand is constant or has rank below 2.
    package func decomposition(_ node: Node, shapes: [[Int]], variable: [Bool], builder: inout SubgraphBuilder) -> [Node]? {
        guard variable.count == 2, variable[0], variable[1], shapes[0].count >= 2, shapes[1].count >= 2 else { return nil }
        let a = shapes[0], b = shapes[1]
        let m = a[a.count - 2], k = a[a.count - 1], n = b[b.count - 1]
        guard b[b.count - 2] == k, let batch = try? ShapeCheck.broadcast(Array(a.dropLast(2)), Array(b.dropLast(2))) else { return nil }
        let full = batch + [m, k, n]
        let name = node.name
        let aShape = Array(a.dropLast(2)) + [m, k, 1], bShape = Array(b.dropLast(2)) + [1, k, n]
        let au = builder.value("\(name)/a [.., m, k, 1]", aShape)
        let bu = builder.value("\(name)/b [.., 1, k, n]", bShape)
        let ae = builder.expanded(au, from: aShape, to: full, name: "\(name)/expand a")
        let be = builder.expanded(bu, from: bShape, to: full, name: "\(name)/expand b")
        let p = builder.value("\(name)/products", full)
        return [
            Node(name: "\(name)/unsqueeze a", opType: Unsqueeze.opType, op: Unsqueeze(axes: [a.count]), inputs: [node.inputs[0]], output: au),
            Node(name: "\(name)/unsqueeze b", opType: Unsqueeze.opType, op: Unsqueeze(axes: [b.count - 2]), inputs: [node.inputs[1]], output: bu),
        ] + ae.nodes + be.nodes + [
            Node(name: "\(name)/products", opType: Mul.opType, op: Mul(), inputs: [ae.id, be.id], output: p),
            Node(name: "\(name)/sum over k", opType: ReduceSum.opType, op: ReduceSum(axes: [full.count - 2], keepDims: false),
                 inputs: [p], output: node.output),
        ]
    }
}


extension MatMul {
    /// Each output a dot product of K terms (the first input's last dimension): K roundings per
    /// term in any summation order, the product included.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding {
        guard let a = inputShapes.first, let k = a.last else { return .unmodelled("MatMul without a first input") }
        return .sums(roundings: k)
    }
}
