import CertusTensor
/// The operators Certus supports, by ONNX op type. Adding an operator means adding its file
/// under `Ops/` and its type here.
package enum OperatorRegistry {
    package static let all: [any Operator.Type] = [
        Gemm.self, MatMul.self, Add.self, Sub.self, Mul.self, Div.self, Neg.self,
        Relu.self, LeakyRelu.self, Abs.self, Sigmoid.self, Tanh.self, Gelu.self, Erf.self, Sin.self, Cos.self,
        Conv.self, BatchNormalization.self, AveragePool.self,
        Flatten.self, Reshape.self, Transpose.self, Squeeze.self, Unsqueeze.self, Concat.self, Shape.self, Gather.self,
        Identity.self, Constant.self, Softmax.self, LayerNormalization.self,
        Dropout.self, SliceOperator.self, Expand.self, Tile.self, Pad.self, Split.self, ReduceSum.self, ReduceMean.self,
        GlobalAveragePool.self, ConstantOfShape.self, Cast.self, Where.self, RangeOperator.self,
        Equal.self, Less.self, Greater.self, LessOrEqual.self, GreaterOrEqual.self, Not.self,
        Exp.self, Log.self, Sqrt.self, Reciprocal.self, Pow.self,
        Clip.self, Max.self, Min.self, Floor.self, Sign.self, ReduceMax.self, ReduceMin.self, MaxPool.self,
    ]

    /// The newest ONNX opset whose operator definitions the loader reads (attributes that moved
    /// to inputs, changed defaults). Models of a newer opset still load; an operator whose newer
    /// definition Certus does not know is refused by its own `make`.
    package static let newestOpset = 22

    static let byName: [String: any Operator.Type] = Dictionary(uniqueKeysWithValues: all.map { ($0.opType, $0) })

    /// The supported op types, sorted, for error messages and `certus inspect`.
    package static var supportedOpTypes: [String] { all.map { $0.opType }.sorted() }

    /// Whether `opType` (of the default ONNX domain) has an operator here.
    package static func isSupported(_ opType: String) -> Bool { byName[opType] != nil }

    /// Every supported operator with the opsets it is implemented for, sorted by op type
    /// (`certus supports`; the VNN-LIB 2.0 solver interface asks solvers for this list).
    package static var supportedOperators: [(opType: String, opsets: ClosedRange<Int>)] {
        all.map { ($0.opType, $0.opsets) }.sorted { $0.opType < $1.opType }
    }

    /// Builds the operator for `node`, or throws naming the unsupported op and listing the supported ones.
    /// The operator type registered for `opType`, if any.
    package static func type(of opType: String) -> (any Operator.Type)? { byName[opType] }

    package static func make(_ node: NodeContext) throws -> any Operator {
        guard let type = byName[node.opType] else {
            throw ModelError(.unsupportedOperator, location: node.location,
                             "unsupported operator '\(node.opType)'; supported operators: \(supportedOpTypes.joined(separator: ", "))")
        }
        return try type.make(node)
    }

    /// One error naming every unsupported operator of a model at once, so that a user sees the
    /// whole list instead of fixing one operator to meet the next.
    ///
    /// `nodes` are (node name, op type) pairs in file order; op types are listed in order of first
    /// appearance, each with its node count and up to `shownNames` node names, e.g.
    /// `unsupported operators: 'Slice' (3 nodes: '/Slice', '/Slice_1', '/Slice_2'), 'Dropout' (1 node: 'dropout')`.
    /// With a single unsupported node the error's location is that node. Returns nil for no nodes.
    package static func unsupportedError(_ nodes: [(name: String, opType: String)], shownNames: Int = 5) -> ModelError? {
        guard !nodes.isEmpty else { return nil }
        var order: [String] = []
        var names: [String: [String]] = [:]
        for n in nodes {
            if names[n.opType] == nil { order.append(n.opType) }
            names[n.opType, default: []].append(n.name)
        }
        let parts = order.map { op -> String in
            let list = names[op]!
            var shown = list.prefix(shownNames).map { "'\($0)'" }
            if list.count > shownNames { shown.append("...") }
            return "'\(op)' (\(list.count) node\(list.count == 1 ? "" : "s"): \(shown.joined(separator: ", ")))"
        }
        let location = nodes.count == 1 ? "node '\(nodes[0].name)' (\(nodes[0].opType))" : nil
        return ModelError(.unsupportedOperator, location: location,
                          "unsupported operator\(order.count == 1 ? "" : "s"): \(parts.joined(separator: ", ")); supported operators: \(supportedOpTypes.joined(separator: ", "))")
    }
}

extension Operator {
    /// The ONNX opsets this implementation reads (default: 1 to `OperatorRegistry.newestOpset`).
    /// An operator introduced later, or whose older definitions differ, overrides it.
    package static var opsets: ClosedRange<Int> { 1...OperatorRegistry.newestOpset }
    /// No default for an omitted optional input in the middle.
    package static func omittedInput(at position: Int, inputShapes: [[Int]?]) -> Tensor? { nil }
}
