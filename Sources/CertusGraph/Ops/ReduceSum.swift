import CertusTensor

/// ONNX `ReduceSum`: the sum over `axes` (attribute before opset 13, constant input from 13;
/// see `LinearReduction` for keepdims and noop_with_empty_axes). Affine.
package struct ReduceSum: Operator, LinearReduction {
    package static let opType = "ReduceSum"
    package let axes: [Int]?
    package let keepDims: Bool

    package init(axes: [Int]?, keepDims: Bool = true) { self.axes = axes; self.keepDims = keepDims }

    package static func make(_ node: NodeContext) throws -> ReduceSum {
        let p = try reductionParameters(node, inputOpset: 13)
        return ReduceSum(axes: p.axes, keepDims: p.keepDims)
    }

    package func scale(count: Int) -> Double { 1 }
}
