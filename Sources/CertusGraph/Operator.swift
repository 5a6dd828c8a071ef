import CertusTensor

/// One ONNX operator with all of its semantics.
///
/// Each supported operator is one type in one file under `Ops/`. Today an operator knows how to
/// build itself from an ONNX node (checking attributes and input shapes), its output shape, and
/// its exact evaluation in `Double`. Each later analysis (interval bounds, linear relaxation,
/// LP encoding, derivative) is one more requirement on this protocol, implemented beside the
/// evaluation in the same file.
package protocol Operator: Sendable {
    /// The ONNX `op_type` this operator implements.
    static var opType: String { get }

    /// The ONNX opsets this implementation reads, for `certus supports` (a default of 1 to
    /// `OperatorRegistry.newestOpset` is given).
    static var opsets: ClosedRange<Int> { get }

    /// Builds the operator from a node. Throws a `ModelError` naming the node when an attribute
    /// is unsupported or inconsistent.
    static func make(_ node: NodeContext) throws -> Self

    /// The output shape for the given input shapes (all present inputs, in order). Throws a
    /// `.shape` error when the shapes do not fit the operator.
    func outputShape(_ inputShapes: [[Int]]) throws -> [Int]

    /// Exact evaluation in `Double`. Inputs have the shapes that `outputShape` accepted.
    func evaluate(_ inputs: [Tensor]) throws -> Tensor

    /// Vector-Jacobian product: given the inputs, the output and dL/d(output), returns
    /// dL/d(input) for each input. An entry may be nil only for an input the operator treats as
    /// a parameter (weights, shapes); the graph refuses a nil gradient for a non-constant input.
    /// At a kink (ReLU at 0) any element of the Clarke generalized gradient may be returned.
    func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?]

    /// `backward` for the inputs with `wanted[i]` true only (`wanted` has one entry per input);
    /// the others' entries may be nil. Callers that need the gradient of the variable inputs
    /// alone (the bound engine's generic affine step, `genericAffineJacobian`, the graph's
    /// gradient) ask this, so that an operator whose parameter gradient is as large as its
    /// weights (MatMul, Gemm: a k x n matrix per call) does not make it. Default: `backward`.
    func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor, wanted: [Bool]) throws -> [Tensor?]

    /// Interval bound propagation: an interval containing every output for inputs in the given
    /// intervals (constants come as degenerate intervals).
    func interval(_ inputs: [IntervalTensor]) throws -> IntervalTensor

    /// How a linear-relaxation engine treats this operator when `constantInputs[i]` tells
    /// which inputs are constant.
    func boundKind(constantInputs: [Bool]) -> BoundKind

    /// For an operator the engine treats as `.affine`: its linear part as sparse terms
    /// (`SparseLinearMap`), given the inputs with constants at their values and variable ones
    /// (`variable[i]`) at zero; nil (the default) when it has no cheap sparse form, and the
    /// engine calls `backward` per row instead.
    func sparseLinearMap(_ inputs: [Tensor], variable: [Bool]) throws -> SparseLinearMap?

    /// Whether the output is the first input's data unchanged, in the same row-major order
    /// (Reshape, Flatten, Squeeze, Unsqueeze, Identity): analyses pass values, bounds and
    /// coefficients through it as they are. Default false; `ShapeOnly` operators and Identity
    /// say true.
    var preservesData: Bool { get }

    /// For an operator the engine treats as `.affine`: its Jacobian with respect to the
    /// variable input `position`, an (output count) x (that input's count) row-major matrix,
    /// given the inputs as for `sparseLinearMap` and `output`, the operator at those inputs
    /// (its offset f(0)). The default (`genericAffineJacobian`) reads `sparseLinearMap` or
    /// calls `backward` once per output; dense layers give their weights directly.
    func affineJacobian(_ inputs: [Tensor], variable: [Bool], position: Int, output: Tensor) throws -> [Double]

    /// The value an omitted optional input takes when a later input is present (ONNX writes an
    /// empty name for it, as in `Clip(x, "", max)`), given the shapes of the node's inputs (nil
    /// for omitted ones): the constant the ONNX specification's default means, or nil (the
    /// default) when the operator cannot do without it, and the model is refused.
    static func omittedInput(at position: Int, inputShapes: [[Int]?]) -> Tensor?

    /// How far onnxruntime's float32 evaluation of this node may lie from its exact result on
    /// the same float32 inputs (`--semantics float32`; `Float32Rounding`), given the shapes of
    /// its inputs and which of them are constant. Default: `.unmodelled` (float32 semantics
    /// refuses to bound through it); copies are `.exact`.
    func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding
}

extension Operator {
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor, wanted: [Bool]) throws -> [Tensor?] {
        try backward(inputs, output: output, gradient: gradient)
    }
}

/// An attribute value of an ONNX node, independent of the protobuf types.
package enum AttributeValue: Sendable, Equatable {
    case int(Int)
    case float(Double)
    case string(String)
    case ints([Int])
    case floats([Double])
    case strings([String])
    case tensor(Tensor)
    case unsupported(String)
}

/// Everything an operator may look at while it is built: attributes, input shapes and the values
/// of inputs that are constant (initializers, `Constant` nodes, or folded subgraphs).
package struct NodeContext: Sendable {
    package let name: String
    package let opType: String
    package let opset: Int
    package let attributes: [String: AttributeValue]
    package let inputShapes: [[Int]]
    package let constantInputs: [Tensor?]
    /// How many outputs the node declares (ONNX `Split` without split sizes divides into this many).
    package let outputCount: Int

    package init(name: String, opType: String, opset: Int, attributes: [String: AttributeValue],
                inputShapes: [[Int]], constantInputs: [Tensor?]) {
        self.init(name: name, opType: opType, opset: opset, attributes: attributes,
                  inputShapes: inputShapes, constantInputs: constantInputs, outputCount: 1)
    }

    package init(name: String, opType: String, opset: Int, attributes: [String: AttributeValue],
                inputShapes: [[Int]], constantInputs: [Tensor?], outputCount: Int) {
        self.name = name
        self.opType = opType
        self.opset = opset
        self.attributes = attributes
        self.inputShapes = inputShapes
        self.constantInputs = constantInputs
        self.outputCount = outputCount
    }

    /// Where errors about this node point.
    package var location: String { "node '\(name)' (\(opType))" }

    package func error(_ message: String, kind: ModelError.Kind = .invalidModel) -> ModelError {
        ModelError(kind, location: location, message)
    }

    package func unsupported(_ message: String) -> ModelError {
        ModelError(.unsupportedFeature, location: location, message)
    }

    package func int(_ key: String, default value: Int? = nil) throws -> Int {
        switch attributes[key] {
        case .int(let v): return v
        case nil:
            if let value { return value }
            throw error("missing required attribute '\(key)'")
        default: throw error("attribute '\(key)' must be an integer")
        }
    }

    package func float(_ key: String, default value: Double) throws -> Double {
        switch attributes[key] {
        case .float(let v): return v
        case .int(let v): return Double(v)
        case nil: return value
        default: throw error("attribute '\(key)' must be a float")
        }
    }

    package func ints(_ key: String) throws -> [Int]? {
        switch attributes[key] {
        case .ints(let v): return v
        case nil: return nil
        default: throw error("attribute '\(key)' must be a list of integers")
        }
    }

    package func string(_ key: String, default value: String) throws -> String {
        switch attributes[key] {
        case .string(let v): return v
        case nil: return value
        default: throw error("attribute '\(key)' must be a string")
        }
    }

    /// The value of input `i`, which must be constant (for example Reshape's target shape).
    package func constantInput(_ i: Int, what: String) throws -> Tensor {
        guard i < constantInputs.count, let t = constantInputs[i] else {
            throw unsupported("\(what) (input \(i)) must be a constant; computed values are not supported")
        }
        return t
    }

    /// Integer list from a constant input, checking every entry is an exact integer.
    package func constantInts(_ i: Int, what: String) throws -> [Int] {
        let t = try constantInput(i, what: what)
        return try t.data.map { v in
            guard v.isFinite, v == v.rounded(), abs(v) < 9.0e15 else { throw error("\(what) holds non-integer value \(v)") }
            return Int(v)
        }
    }

    /// Normalises a possibly negative axis against `rank`.
    package func axis(_ a: Int, rank: Int, what: String = "axis") throws -> Int {
        let r = a < 0 ? a + rank : a
        guard r >= 0, r < rank else {
            throw error("\(what) \(a) is out of range for rank \(rank)", kind: .shape)
        }
        return r
    }
}

/// Shape-checking helpers shared by operators.
package enum ShapeCheck {
    package static func count(_ shapes: [[Int]], _ range: ClosedRange<Int>, _ op: String) throws {
        guard range.contains(shapes.count) else {
            throw ModelError(.invalidModel, "\(op) takes \(range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)") inputs, got \(shapes.count)")
        }
    }

    /// The number of elements of `shape` (the product of its dimensions, 1 for a scalar).
    /// - Throws: `ModelError` (`.shape`) naming `op` when a dimension is negative or the
    ///   product overflows `Int`: shapes read from a file (a Reshape target, an Expand shape)
    ///   can hold any 64-bit values, and a plain product would trap.
    package static func elementCount(_ shape: [Int], _ op: String) throws -> Int {
        var n = 1
        for d in shape {
            guard d >= 0 else { throw ModelError(.shape, "\(op) shape \(shape) has a negative dimension") }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else { throw ModelError(.shape, "\(op) shape \(shape) has more elements than a 64-bit count holds") }
            n = p
        }
        return n
    }

    package static func broadcast(_ a: [Int], _ b: [Int]) throws -> [Int] {
        guard let s = Broadcast.shape(a, b) else {
            throw ModelError(.shape, "input shapes \(a) and \(b) cannot be broadcast together")
        }
        return s
    }
}
