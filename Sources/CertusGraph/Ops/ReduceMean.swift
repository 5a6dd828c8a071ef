import CertusTensor

/// ONNX `ReduceMean`: the mean over `axes` (attribute before opset 18, constant input from 18;
/// see `LinearReduction` for keepdims and noop_with_empty_axes). Affine. A mean over zero
/// elements is refused at load (it is NaN).
public struct ReduceMean: Operator, LinearReduction {
    public static let opType = "ReduceMean"
    public let axes: [Int]?
    public let keepDims: Bool

    public init(axes: [Int]?, keepDims: Bool = true) { self.axes = axes; self.keepDims = keepDims }

    public static func make(_ node: NodeContext) throws -> ReduceMean {
        let p = try reductionParameters(node, inputOpset: 18)
        if let axes = p.axes, let shape = node.inputShapes.first, axes.contains(where: { shape[$0] == 0 }) {
            throw node.error("ReduceMean over an empty axis of \(shape) is undefined", kind: .shape)
        }
        return ReduceMean(axes: p.axes, keepDims: p.keepDims)
    }

    public func scale(count: Int) -> Double { 1 / Double(count) }
}
