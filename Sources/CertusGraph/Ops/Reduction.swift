import CertusTensor

/// Reductions over axes (`AxisReduction`): the linear ones ReduceSum and ReduceMean
/// (`LinearReduction`, below) and ReduceMax/ReduceMin (`ExtremumReduction`, ReduceMax.swift). The
/// linear reductions: `y = scale * sum over axes of x`, with the
/// reduced axes kept as size 1 (`keepdims` = 1, the default) or dropped. Affine with nonnegative
/// coefficients, so the interval image is the reduction of both ends (IBP exact up to rounding,
/// which the bound engine widens) and the engine treats it as `.affine`.
///
/// Axes: an attribute before the opset where they became an input (13 for ReduceSum, 18 for
/// ReduceMean), then the optional constant input `axes`. No axes reduce every axis, unless
/// `noop_with_empty_axes` = 1, which makes the node the identity. Negative axes count from the end.
package protocol AxisReduction: Operator {
    /// Reduced axes, normalised and sorted; nil for the identity (`noop_with_empty_axes`).
    var axes: [Int]? { get }
    var keepDims: Bool { get }
}

/// The linear ones (ReduceSum, ReduceMean, GlobalAveragePool).
package protocol LinearReduction: AxisReduction {
    /// The factor applied to the sum for `count` reduced elements (1 or 1/count).
    func scale(count: Int) -> Double
}

extension AxisReduction {
    /// Reads axes (attribute before `inputOpset`, input from it), keepdims and noop_with_empty_axes.
    static func reductionParameters(_ node: NodeContext, inputOpset: Int) throws -> (axes: [Int]?, keepDims: Bool) {
        guard let shape = node.inputShapes.first else { throw node.error("\(opType) needs a data input") }
        let raw: [Int]
        if node.opset < inputOpset {
            guard node.inputShapes.count == 1 else {
                throw node.error("\(opType) takes axes as an input only from opset \(inputOpset); this model has opset \(node.opset)")
            }
            raw = try node.ints("axes") ?? []
        } else {
            raw = node.inputShapes.count > 1 ? try node.constantInts(1, what: "axes") : []
        }
        let keep = try node.int("keepdims", default: 1) != 0
        if raw.isEmpty {
            if node.opset >= inputOpset, try node.int("noop_with_empty_axes", default: 0) != 0 { return (nil, keep) }
            return (Array(0..<shape.count), keep)
        }
        return (try node.distinctAxes(raw, rank: shape.count).sorted(), keep)
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...2, Self.opType)
        guard let axes else { return s[0] }
        guard axes.allSatisfy({ $0 < s[0].count }) else { throw ModelError(.shape, "\(Self.opType) axes \(axes) do not fit input \(s[0])") }
        var out: [Int] = []
        for (d, n) in s[0].enumerated() {
            if axes.contains(d) { if keepDims { out.append(1) } } else { out.append(n) }
        }
        return out
    }

    /// For each input element (row-major), the flat index of its output element.
    func outputIndexMap(_ shape: [Int]) -> [Int] {
        let reduced = Set(axes ?? [])
        let kept = shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
        // The output in keepdims layout has the same row-major order as without.
        return Broadcast.indexMap(from: kept, to: shape)
    }
}

extension LinearReduction {
    /// For each input element (row-major), the flat index of the output element it adds to, and
    /// the number of elements per output.
    func targets(_ shape: [Int]) throws -> (map: [Int], count: Int) {
        let reduced = Set(axes ?? [])
        let count = shape.enumerated().filter { reduced.contains($0.offset) }.map(\.element).reduce(1, *)
        return (outputIndexMap(shape), count)
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        let x = inputs[0]
        let shape = try outputShape(inputs.map(\.shape))
        guard axes != nil else { return x }
        let (map, count) = try targets(x.shape)
        var out = [Double](repeating: 0, count: shape.reduce(1, *))
        for (k, t) in map.enumerated() { out[t] += x.data[k] }
        let c = scale(count: count)
        if c != 1 { for i in out.indices { out[i] *= c } }
        return Tensor(shape: shape, data: out)
    }

    /// Each input element receives its output's gradient times the scale; `axes` is a parameter.
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        let extra = [Tensor?](repeating: nil, count: inputs.count - 1)
        guard axes != nil else { return [gradient.reshaped(inputs[0].shape)] + extra }
        let (map, count) = try targets(inputs[0].shape)
        let c = scale(count: count)
        return [Tensor(shape: inputs[0].shape, data: map.map { gradient.data[$0] * c })] + extra
    }

    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.dropFirst().allSatisfy { $0 } ? .affine : .unsupported("\(Self.opType) with computed axes is not supported")
    }

    /// Each input element adds to one output element with the reduction's scale.
    package func sparseLinearMap(_ inputs: [Tensor], variable: [Bool]) throws -> SparseLinearMap? {
        let n = inputs[0].count
        let extra = [SparseLinearMap.Terms?](repeating: nil, count: inputs.count - 1)
        guard axes != nil else {
            return SparseLinearMap(inputs: [SparseLinearMap.Terms(copying: Array(0..<n))] + extra)
        }
        let (map, count) = try targets(inputs[0].shape)
        let c = scale(count: count)
        return SparseLinearMap(inputs: [SparseLinearMap.Terms(output: map, input: Array(0..<n),
                                                              coefficient: [Double](repeating: c, count: n))] + extra)
    }

    /// Nonnegative coefficients: the reduction of the lower and of the upper ends.
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        try IntervalAffine.relabel(x) { try evaluate($0) }
    }
}

extension LinearReduction {
    /// A sum over the reduced elements (n roundings per term in any order) and, for a mean, a
    /// division or a multiplication by a rounded 1/n (2 more); the identity when `axes` is nil.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding {
        guard let axes else { return .exact }
        guard let shape = inputShapes.first else { return .unmodelled("\(Self.opType) without an input") }
        let n = axes.filter { $0 < shape.count }.map { shape[$0] }.reduce(1, *)
        return .sums(roundings: n + (scale(count: n) == 1 ? 0 : 2))
    }
}
