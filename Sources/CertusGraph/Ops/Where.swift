import CertusTensor

/// ONNX `Where(condition, X, Y)` with a constant condition: element-wise X where the condition is
/// nonzero and Y elsewhere, all three broadcast together. With the condition fixed each output is
/// an element of X or of Y, so the map is affine in (X, Y) (a selection, exact IBP) and either or
/// both of X and Y may be computed.
///
/// Errors (at load, naming the node): a computed condition (a data-dependent choice), shapes that
/// do not broadcast.
package struct Where: Operator {
    package static let opType = "Where"
    package static var opsets: ClosedRange<Int> { 9...OperatorRegistry.newestOpset }
    package let condition: Tensor

    package init(condition: Tensor) { self.condition = condition }

    package static func make(_ node: NodeContext) throws -> Where {
        guard node.inputShapes.count == 3 else { throw node.error("Where takes 3 inputs (condition, X, Y), got \(node.inputShapes.count)") }
        let c = try node.constantInput(0, what: "the condition")
        let s = node.inputShapes
        guard let xy = Broadcast.shape(s[1], s[2]), Broadcast.shape(s[0], xy) != nil else {
            throw node.error("Where shapes \(s[0]), \(s[1]) and \(s[2]) cannot be broadcast together", kind: .shape)
        }
        return Where(condition: c)
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 3...3, Self.opType)
        guard s[0] == condition.shape else { throw ModelError(.shape, "Where condition has shape \(s[0]), built for \(condition.shape)") }
        return try ShapeCheck.broadcast(s[0], try ShapeCheck.broadcast(s[1], s[2]))
    }

    /// Per output element: (take X, flat index in X, flat index in Y).
    func selection(_ shapes: [[Int]]) throws -> (out: [Int], pick: [Bool], x: [Int], y: [Int]) {
        let out = try outputShape(shapes)
        let c = Broadcast.indexMap(from: shapes[0], to: out)
        return (out, c.map { condition.data[$0] != 0 }, Broadcast.indexMap(from: shapes[1], to: out), Broadcast.indexMap(from: shapes[2], to: out))
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        let s = try selection(inputs.map(\.shape))
        return Tensor(shape: s.out, data: s.pick.indices.map { s.pick[$0] ? inputs[1].data[s.x[$0]] : inputs[2].data[s.y[$0]] })
    }

    /// The gradient goes to the selected operand (summed over broadcast copies); the condition is a parameter.
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        let s = try selection(inputs.map(\.shape))
        var gx = Tensor(shape: inputs[1].shape, repeating: 0), gy = Tensor(shape: inputs[2].shape, repeating: 0)
        for k in s.pick.indices {
            if s.pick[k] { gx.data[s.x[k]] += gradient.data[k] } else { gy.data[s.y[k]] += gradient.data[k] }
        }
        return [nil, gx, gy]
    }

    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.first == true ? .affine : .unsupported("Where with a computed condition is not supported")
    }

    /// The selection of both ends: exact.
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        IntervalTensor(lower: try evaluate([condition, x[1].lower, x[2].lower]), upper: try evaluate([condition, x[1].upper, x[2].upper]))
    }
}
