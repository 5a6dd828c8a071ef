import CertusTensor

// The comparisons Equal, Less, Greater, LessOrEqual, GreaterOrEqual and the logical Not, on
// constants only. Their outputs (0 or 1) are piecewise constant in the inputs, with no useful
// relaxation, so `make` refuses a computed input; on constants (initializers, Constant nodes,
// folded shape arithmetic such as `Shape -> Equal -> Where`) the node is folded at load.

/// A comparison of two broadcast tensors, 1 where it holds and 0 elsewhere (NaN compares false).
public protocol ConstantComparison: Operator {
    init()
    func holds(_ a: Double, _ b: Double) -> Bool
}

extension ConstantComparison {
    public static func make(_ node: NodeContext) throws -> Self {
        guard node.inputShapes.count == 2 else { throw node.error("\(opType) takes 2 inputs, got \(node.inputShapes.count)") }
        guard node.constantInputs.allSatisfy({ $0 != nil }) else {
            throw node.unsupported("\(opType) of a computed value is piecewise constant; only constants are supported")
        }
        return Self()
    }
    public func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 2...2, Self.opType)
        return try ShapeCheck.broadcast(s[0], s[1])
    }
    public func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        try Broadcast.apply(inputs[0], inputs[1]) { holds($0, $1) ? 1 : 0 }
    }
    public func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] { [nil, nil] }
    /// Constant by construction; a computed input has no relaxation.
    public func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.allSatisfy { $0 } ? .affine : .unsupported("\(Self.opType) of a computed value")
    }
    public func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        guard x.allSatisfy({ $0.lower.data == $0.upper.data }) else { throw BoundError("\(Self.opType) of a non-constant value") }
        return IntervalTensor(constant: try evaluate(x.map(\.lower)))
    }
}

public struct Equal: ConstantComparison {
    public static let opType = "Equal"
    public init() {}
    public func holds(_ a: Double, _ b: Double) -> Bool { a == b }
}

public struct Less: ConstantComparison {
    public static let opType = "Less"
    public init() {}
    public func holds(_ a: Double, _ b: Double) -> Bool { a < b }
}

public struct Greater: ConstantComparison {
    public static let opType = "Greater"
    public init() {}
    public func holds(_ a: Double, _ b: Double) -> Bool { a > b }
}

public struct LessOrEqual: ConstantComparison {
    public static let opType = "LessOrEqual"
    public static var opsets: ClosedRange<Int> { 12...OperatorRegistry.newestOpset }
    public init() {}
    public func holds(_ a: Double, _ b: Double) -> Bool { a <= b }
}

public struct GreaterOrEqual: ConstantComparison {
    public static let opType = "GreaterOrEqual"
    public static var opsets: ClosedRange<Int> { 12...OperatorRegistry.newestOpset }
    public init() {}
    public func holds(_ a: Double, _ b: Double) -> Bool { a >= b }
}

/// ONNX `Not` of a constant boolean tensor (nonzero is true).
public struct Not: Operator {
    public static let opType = "Not"
    public init() {}
    public static func make(_ node: NodeContext) throws -> Not {
        guard node.inputShapes.count == 1 else { throw node.error("Not takes 1 input, got \(node.inputShapes.count)") }
        guard node.constantInputs.first ?? nil != nil else {
            throw node.unsupported("Not of a computed value is piecewise constant; only constants are supported")
        }
        return Not()
    }
    public func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...1, Self.opType)
        return s[0]
    }
    public func evaluate(_ inputs: [Tensor]) throws -> Tensor { inputs[0].reshapedMap { $0 != 0 ? 0 : 1 } }
    public func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] { [nil] }
    public func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.allSatisfy { $0 } ? .affine : .unsupported("Not of a computed value")
    }
    public func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        guard x[0].lower.data == x[0].upper.data else { throw BoundError("Not of a non-constant value") }
        return IntervalTensor(constant: try evaluate([x[0].lower]))
    }
}
