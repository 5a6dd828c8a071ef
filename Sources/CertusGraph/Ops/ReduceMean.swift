import CertusTensor

/// ONNX `ReduceMean`: the mean over `axes` (attribute before opset 18, constant input from 18;
/// see `LinearReduction` for keepdims and noop_with_empty_axes). Affine. A mean over zero
/// elements is refused at load (it is NaN).
package struct ReduceMean: Operator, LinearReduction {
    package static let opType = "ReduceMean"
    package let axes: [Int]?
    package let keepDims: Bool

    package init(axes: [Int]?, keepDims: Bool = true) { self.axes = axes; self.keepDims = keepDims }

    package static func make(_ node: NodeContext) throws -> ReduceMean {
        let p = try reductionParameters(node, inputOpset: 18)
        if let axes = p.axes, let shape = node.inputShapes.first, axes.contains(where: { shape[$0] == 0 }) {
            throw node.error("ReduceMean over an empty axis of \(shape) is undefined", kind: .shape)
        }
        return ReduceMean(axes: p.axes, keepDims: p.keepDims)
    }

    package func scale(count: Int) -> Double { 1 / Double(count) }
}
