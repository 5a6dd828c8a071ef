import CertusTensor

/// ONNX `ReduceSum`: the sum over `axes` (attribute before opset 13, constant input from 13;
/// see `LinearReduction` for keepdims and noop_with_empty_axes). Affine.
public struct ReduceSum: Operator, LinearReduction {
    public static let opType = "ReduceSum"
    public let axes: [Int]?
    public let keepDims: Bool

    public init(axes: [Int]?, keepDims: Bool = true) { self.axes = axes; self.keepDims = keepDims }

    public static func make(_ node: NodeContext) throws -> ReduceSum {
        let p = try reductionParameters(node, inputOpset: 13)
        return ReduceSum(axes: p.axes, keepDims: p.keepDims)
    }

    public func scale(count: Int) -> Double { 1 }
}
