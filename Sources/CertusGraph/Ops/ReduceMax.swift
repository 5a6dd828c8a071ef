import CertusTensor

/// ONNX `ReduceMax` and `ReduceMin` (in ReduceMin.swift): the maximum (minimum) over `axes`,
/// reduced axes kept as size 1 (`keepdims` = 1, the default) or dropped. Axes: an attribute
/// before opset 18, then the optional constant input `axes` (computed axes are refused); no
/// axes reduce every axis unless `noop_with_empty_axes` = 1 (the identity). Negative axes count
/// from the end.
///
/// Bounds: IBP is exact (the extremum of the lower ends and of the upper ends). A reduction
/// whose reduced axes all have size 1 is the identity and bounded as affine; otherwise CROWN,
/// alpha-CROWN and branch and bound bound the decomposition (`decomposition`: a balanced tree
/// of pairwise max(a, b) = a + relu(b - a) over the gathered members).
package protocol ExtremumReduction: AxisReduction {
    /// +1 for ReduceMax, -1 for ReduceMin.
    static var sign: Double { get }
    /// Whether every reduced axis has size 1 (the reduction is a reshape).
    var isIdentity: Bool { get }
    init(axes: [Int]?, keepDims: Bool, isIdentity: Bool)
}

extension ExtremumReduction {
    package static func make(_ node: NodeContext) throws -> Self {
        let (axes, keep) = try reductionParameters(node, inputOpset: 18)
        let shape = node.inputShapes[0]
        if let a = axes, a.contains(where: { shape[$0] == 0 }) {
            throw node.error("\(opType) over an empty axis has no value", kind: .shape)
        }
        return Self(axes: axes, keepDims: keep, isIdentity: (axes ?? []).allSatisfy { shape[$0] == 1 })
    }

    /// NaN propagates, as in onnxruntime.
    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        let x = inputs[0]
        let shape = try outputShape(inputs.map(\.shape))
        guard axes != nil else { return x }
        var out = [Double](repeating: Self.sign > 0 ? -.infinity : .infinity, count: shape.reduce(1, *))
        for (k, t) in outputIndexMap(x.shape).enumerated() {
            let v = x.data[k]
            if v.isNaN || out[t].isNaN { out[t] = .nan } else if Self.sign * (v - out[t]) > 0 { out[t] = v }
        }
        return Tensor(shape: shape, data: out)
    }

    /// The gradient goes to the first element attaining the extremum; `axes` is a parameter.
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        let extra = [Tensor?](repeating: nil, count: inputs.count - 1)
        guard axes != nil else { return [gradient.reshaped(inputs[0].shape)] + extra }
        var g = Tensor(shape: inputs[0].shape, repeating: 0)
        var done = [Bool](repeating: false, count: output.count)
        for (k, t) in outputIndexMap(inputs[0].shape).enumerated() where !done[t] && inputs[0].data[k] == output.data[t] {
            g.data[k] = gradient.data[t]; done[t] = true
        }
        return [g] + extra
    }

    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        guard constantInputs.dropFirst().allSatisfy({ $0 }) else { return .unsupported("\(Self.opType) with computed axes is not supported") }
        return isIdentity ? .affine : .unsupported("\(Self.opType) over more than one element is bounded through its decomposition (BoundDecomposition)")
    }

    /// Monotone in every element: the reduction of both ends (exact).
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        try IntervalAffine.relabel(x) { try evaluate($0) }
    }
}

/// ONNX `ReduceMax` (see `ExtremumReduction`).
package struct ReduceMax: ExtremumReduction {
    package static let opType = "ReduceMax"
    package static let sign = 1.0
    package let axes: [Int]?
    package let keepDims: Bool
    package let isIdentity: Bool
    package init(axes: [Int]?, keepDims: Bool = true, isIdentity: Bool = false) {
        self.axes = axes; self.keepDims = keepDims; self.isIdentity = isIdentity
    }
}

extension ExtremumReduction {
    /// A reduction over more than one element as a balanced tree of pairwise extrema of gathered
    /// members (`SubgraphBuilder.extremum(overGroups:)`: max(a, b) = a + relu(b - a)), so CROWN
    /// relaxes it with ReLU's triangle. nil (kept as is) for the identity or a computed axes input.
    package func decomposition(_ node: Node, shapes: [[Int]], variable: [Bool], builder: inout SubgraphBuilder) -> [Node]? {
        guard axes != nil, !isIdentity, variable.first == true, variable.dropFirst().allSatisfy({ !$0 }),
              let out = try? outputShape(shapes) else { return nil }
        let map = outputIndexMap(shapes[0])
        var groups = [[Int]](repeating: [], count: out.reduce(1, *))
        for (k, t) in map.enumerated() { groups[t].append(k) }
        guard groups.allSatisfy({ !$0.isEmpty }) else { return nil }
        return builder.extremum(overGroups: groups, of: node.inputs[0], inputShape: shapes[0], outShape: out,
                                sign: Self.sign, name: node.name, output: node.output)
    }
}

extension ReduceMax: BoundDecomposition {}
extension ReduceMin: BoundDecomposition {}

extension ExtremumReduction {
    /// A selection of one input element: exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}
