import CertusTensor

/// An operator whose output depends only on the shapes of its inputs, never on their values.
///
/// Every shape in the graph IR is static, so such a node is a constant even when its input is
/// computed from the model input: the graph builder folds it at load (with `value(inputShapes:)`),
/// and with it every constant computation downstream (the `Shape -> Gather -> Unsqueeze ->
/// Concat -> Reshape` pattern of `x.view(x.size(0), -1)` exports).
package protocol ShapeFunction: Operator {
    /// The output for inputs of these shapes.
    func value(inputShapes: [[Int]]) throws -> Tensor
}

/// ONNX `Shape`: the input's shape as a 1-D tensor of integers, optionally the slice
/// `start..<end` of its dimensions (opset 15; negative values count from the end, both are
/// clamped to `0...rank`). Output shape `[max(0, end - start)]`.
///
/// A symbolic graph-input dimension is taken as 1 at load (one input at a time), so `Shape`
/// reports 1 there, as onnxruntime does for a batch of one.
package struct Shape: Operator, ShapeFunction {
    package static let opType = "Shape"
    package let start: Int
    package let end: Int?

    package init(start: Int = 0, end: Int? = nil) {
        self.start = start
        self.end = end
    }

    package static func make(_ node: NodeContext) throws -> Shape {
        let start = try node.int("start", default: 0)
        let end: Int? = node.attributes["end"] == nil ? nil : try node.int("end")
        return Shape(start: start, end: end)
    }

    /// The dimension range selected for an input of rank `rank`.
    func range(rank: Int) -> Range<Int> {
        func clamp(_ v: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + rank : v, 0), rank) }
        let s = clamp(start), e = clamp(end ?? rank)
        return s..<Swift.max(s, e)
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...1, Self.opType)
        return [range(rank: s[0].count).count]
    }

    package func value(inputShapes s: [[Int]]) throws -> Tensor {
        try ShapeCheck.count(s, 1...1, Self.opType)
        let dims = s[0][range(rank: s[0].count)].map(Double.init)
        return Tensor(shape: [dims.count], data: dims)
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor { try value(inputShapes: inputs.map(\.shape)) }

    /// The output does not depend on the input's values: a zero gradient.
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        [Tensor(shape: inputs[0].shape, repeating: 0)]
    }

    /// A constant: affine with a zero linear part (the offset `evaluate` at 0 is the shape).
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }

    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        IntervalTensor(constant: try value(inputShapes: x.map(\.shape)))
    }
}
