import CertusTensor

/// ONNX `Expand` (opset 8): broadcasts `data` to the constant `shape` (numpy-style two-way
/// broadcasting: the output shape is the broadcast of `data.shape` and `shape`, so a 1 in
/// `shape` keeps the data's dimension). Each output element is an element of `data`: an
/// `IndexMapping` (affine, exact IBP).
///
/// Errors (at load, naming the node): a computed shape, shapes that do not broadcast.
package struct Expand: Operator, IndexMapping {
    package static let opType = "Expand"
    package static var opsets: ClosedRange<Int> { 8...OperatorRegistry.newestOpset }
    package let shape: [Int]

    package init(shape: [Int]) { self.shape = shape }

    package static func make(_ node: NodeContext) throws -> Expand {
        guard node.inputShapes.count == 2 else { throw node.error("Expand takes 2 inputs (input, shape), got \(node.inputShapes.count)") }
        let shape = try node.constantInts(1, what: "the target shape")
        guard shape.allSatisfy({ $0 >= 0 }) else { throw node.error("Expand target shape \(shape) has a negative dimension", kind: .shape) }
        guard Broadcast.shape(node.inputShapes[0], shape) != nil else {
            throw node.error("input shape \(node.inputShapes[0]) and target shape \(shape) cannot be broadcast together", kind: .shape)
        }
        return Expand(shape: shape)
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 2...2, Self.opType)
        return try ShapeCheck.broadcast(s[0], shape)
    }

    package func sourceIndices(inputShape: [Int]) throws -> [Int] {
        Broadcast.indexMap(from: inputShape, to: try ShapeCheck.broadcast(inputShape, shape))
    }
}
