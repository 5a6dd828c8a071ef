import CertusTensor

/// ONNX `ConstantOfShape` (opset 9): a tensor of the shape given by its constant input, every
/// element the one-element `value` attribute (default 0). The shape is usually computed by
/// `Shape`, which is static and folded, so the node is folded to a constant at load.
///
/// Errors (at load, naming the node): a computed (non-constant) shape, a negative dimension, a
/// `value` that is not one element.
package struct ConstantOfShape: Operator {
    package static let opType = "ConstantOfShape"
    package static var opsets: ClosedRange<Int> { 9...OperatorRegistry.newestOpset }
    package let shape: [Int]
    package let value: Double

    package init(shape: [Int], value: Double) { self.shape = shape; self.value = value }

    package static func make(_ node: NodeContext) throws -> ConstantOfShape {
        guard node.inputShapes.count == 1 else { throw node.error("ConstantOfShape takes 1 input (shape), got \(node.inputShapes.count)") }
        let shape = try node.constantInts(0, what: "the shape")
        guard shape.allSatisfy({ $0 >= 0 }) else { throw node.error("ConstantOfShape shape \(shape) has a negative dimension", kind: .shape) }
        var value = 0.0
        switch node.attributes["value"] {
        case nil: break
        case .tensor(let t)?:
            guard t.count == 1 else { throw node.error("ConstantOfShape 'value' must hold one element, got \(t.count)") }
            value = t.data[0]
        default: throw node.error("ConstantOfShape 'value' must be a one-element tensor")
        }
        return ConstantOfShape(shape: shape, value: value)
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...1, Self.opType)
        return shape
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor { Tensor(shape: shape, repeating: value) }

    /// The shape input is a parameter (constant by construction).
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] { [nil] }

    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }

    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        IntervalTensor(constant: Tensor(shape: shape, repeating: value))
    }
}
