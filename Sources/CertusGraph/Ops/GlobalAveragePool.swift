import CertusTensor

/// ONNX `GlobalAveragePool`: the mean over every spatial axis (all axes after batch and channel)
/// of an input of rank >= 3, keeping them as size 1: `[N, C, H, W] -> [N, C, 1, 1]`. Affine (a
/// `LinearReduction` with scale 1 / (H * W)); a zero-size spatial axis is refused at load.
package struct GlobalAveragePool: Operator, LinearReduction {
    package static let opType = "GlobalAveragePool"
    package let axes: [Int]?
    package var keepDims: Bool { true }

    /// Averages over axes `2..<rank`.
    package init(rank: Int) { axes = Array(2..<Swift.max(2, rank)) }

    package static func make(_ node: NodeContext) throws -> GlobalAveragePool {
        guard node.inputShapes.count == 1, let shape = node.inputShapes.first, shape.count >= 3 else {
            throw node.error("GlobalAveragePool takes one input of rank >= 3 (N, C, spatial...), got \(node.inputShapes)", kind: .shape)
        }
        guard shape[2...].allSatisfy({ $0 > 0 }) else { throw node.error("GlobalAveragePool over an empty spatial axis of \(shape)", kind: .shape) }
        return GlobalAveragePool(rank: shape.count)
    }

    package func scale(count: Int) -> Double { 1 / Double(count) }
}
