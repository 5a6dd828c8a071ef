import CertusTensor

// The comparisons Equal, Less, Greater, LessOrEqual, GreaterOrEqual and the logical Not, on
// constants only. Their outputs (0 or 1) are piecewise constant in the inputs, with no useful
// relaxation, so `make` refuses a computed input; on constants (initializers, Constant nodes,
// folded shape arithmetic such as `Shape -> Equal -> Where`) the node is folded at load.

/// A comparison of two broadcast tensors, 1 where it holds and 0 elsewhere (NaN compares false).
package protocol ConstantComparison: Operator {
    init()
    func holds(_ a: Double, _ b: Double) -> Bool
}

extension ConstantComparison {
    package static func make(_ node: NodeContext) throws -> Self {
        guard node.inputShapes.count == 2 else { throw node.error("\(opType) takes 2 inputs, got \(node.inputShapes.count)") }
        guard node.constantInputs.allSatisfy({ $0 != nil }) else {
            throw node.unsupported("\(opType) of a computed value is piecewise constant; only constants are supported")
        }
        return Self()
    }
    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 2...2, Self.opType)
        return try ShapeCheck.broadcast(s[0], s[1])
    }
    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        try Broadcast.apply(inputs[0], inputs[1]) { holds($0, $1) ? 1 : 0 }
    }
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] { [nil, nil] }
    /// Constant by construction; a computed input has no relaxation.
    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.allSatisfy { $0 } ? .affine : .unsupported("\(Self.opType) of a computed value")
    }
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        guard x.allSatisfy({ $0.lower.data == $0.upper.data }) else { throw BoundError("\(Self.opType) of a non-constant value") }
        return IntervalTensor(constant: try evaluate(x.map(\.lower)))
    }
}

package struct Equal: ConstantComparison {
    package static let opType = "Equal"
    package init() {}
    package func holds(_ a: Double, _ b: Double) -> Bool { a == b }
}

package struct Less: ConstantComparison {
    package static let opType = "Less"
    package init() {}
    package func holds(_ a: Double, _ b: Double) -> Bool { a < b }
}

package struct Greater: ConstantComparison {
    package static let opType = "Greater"
    package init() {}
    package func holds(_ a: Double, _ b: Double) -> Bool { a > b }
}

package struct LessOrEqual: ConstantComparison {
    package static let opType = "LessOrEqual"
    package static var opsets: ClosedRange<Int> { 12...OperatorRegistry.newestOpset }
    package init() {}
    package func holds(_ a: Double, _ b: Double) -> Bool { a <= b }
}

package struct GreaterOrEqual: ConstantComparison {
    package static let opType = "GreaterOrEqual"
    package static var opsets: ClosedRange<Int> { 12...OperatorRegistry.newestOpset }
    package init() {}
    package func holds(_ a: Double, _ b: Double) -> Bool { a >= b }
}

/// ONNX `Not` of a constant boolean tensor (nonzero is true).
package struct Not: Operator {
    package static let opType = "Not"
    package init() {}
    package static func make(_ node: NodeContext) throws -> Not {
        guard node.inputShapes.count == 1 else { throw node.error("Not takes 1 input, got \(node.inputShapes.count)") }
        guard node.constantInputs.first ?? nil != nil else {
            throw node.unsupported("Not of a computed value is piecewise constant; only constants are supported")
        }
        return Not()
    }
    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...1, Self.opType)
        return s[0]
    }
    package func evaluate(_ inputs: [Tensor]) throws -> Tensor { inputs[0].reshapedMap { $0 != 0 ? 0 : 1 } }
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] { [nil] }
    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.allSatisfy { $0 } ? .affine : .unsupported("Not of a computed value")
    }
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        guard x[0].lower.data == x[0].upper.data else { throw BoundError("Not of a non-constant value") }
        return IntervalTensor(constant: try evaluate([x[0].lower]))
    }
}
