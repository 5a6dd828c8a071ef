/// The operators Certus supports, by ONNX op type. Adding an operator means adding its file
/// under `Ops/` and its type here.
public enum OperatorRegistry {
    public static let all: [any Operator.Type] = [
        Gemm.self, MatMul.self, Add.self, Sub.self, Mul.self, Div.self, Neg.self,
        Relu.self, LeakyRelu.self, Abs.self, Sigmoid.self, Tanh.self, Gelu.self, Erf.self, Sin.self, Cos.self,
        Conv.self, BatchNormalization.self, AveragePool.self,
        Flatten.self, Reshape.self, Transpose.self, Squeeze.self, Unsqueeze.self, Concat.self, Shape.self, Gather.self,
        Identity.self, Constant.self, Softmax.self,
    ]

    static let byName: [String: any Operator.Type] = Dictionary(uniqueKeysWithValues: all.map { ($0.opType, $0) })

    /// The supported op types, sorted, for error messages and `certus inspect`.
    public static var supportedOpTypes: [String] { all.map { $0.opType }.sorted() }

    /// Builds the operator for `node`, or throws naming the unsupported op and listing the supported ones.
    public static func make(_ node: NodeContext) throws -> any Operator {
        guard let type = byName[node.opType] else {
            throw ModelError(.unsupportedOperator, location: node.location,
                             "unsupported operator '\(node.opType)'; supported operators: \(supportedOpTypes.joined(separator: ", "))")
        }
        return try type.make(node)
    }
}
