import CertusTensor

/// A value in the graph: the model input, a constant, or a node's output.
public struct ValueInfo: Sendable {
    public var name: String
    public var shape: [Int]
    public init(name: String, shape: [Int]) { self.name = name; self.shape = shape }
}

/// One computing node. Nodes whose inputs are all constant are folded away at load, so every
/// node here depends (directly or not) on the model input.
public struct Node: Sendable {
    public var name: String
    public var opType: String
    public var op: any Operator
    public var inputs: [Int]
    public var output: Int
    public init(name: String, opType: String, op: any Operator, inputs: [Int], output: Int) {
        self.name = name; self.opType = opType; self.op = op; self.inputs = inputs; self.output = output
    }
}

/// Descriptive facts about the model file, for `certus inspect`.
public struct ModelMetadata: Sendable {
    public var irVersion: Int = 0
    public var opset: Int = 0
    public var producer: String = ""
    /// Op counts in the file, before constant folding.
    public var opCounts: [String: Int] = [:]
    /// Number of scalar parameters (elements of initializers and Constant tensors).
    public var parameterCount: Int = 0
    public init() {}
}

/// The graph IR: a single model input, constants, computing nodes in topological order and
/// one or more outputs. Shapes are known and checked for every value.
public struct Graph: Sendable {
    public var values: [ValueInfo]
    public var constants: [Int: Tensor]
    public var nodes: [Node]
    public var input: Int
    public var outputs: [Int]
    public var metadata: ModelMetadata

    public init(values: [ValueInfo], constants: [Int: Tensor], nodes: [Node], input: Int, outputs: [Int], metadata: ModelMetadata) {
        self.values = values
        self.constants = constants
        self.nodes = nodes
        self.input = input
        self.outputs = outputs
        self.metadata = metadata
    }

    public var inputShape: [Int] { values[input].shape }
    public var inputName: String { values[input].name }
    public var inputCount: Int { inputShape.reduce(1, *) }
    /// Element count of the first output (the one properties speak about).
    public var outputCount: Int { values[outputs[0]].shape.reduce(1, *) }

    /// Runs the model on one input given as the row-major flattening of the input tensor.
    /// Returns every output tensor.
    public func evaluate(_ input: [Double]) throws -> [Tensor] {
        guard input.count == inputCount else {
            throw ModelError(.input, location: "input '\(inputName)'",
                             "expected \(inputCount) values for shape \(inputShape), got \(input.count)")
        }
        var store = [Tensor?](repeating: nil, count: values.count)
        for (id, t) in constants { store[id] = t }
        store[self.input] = Tensor(shape: inputShape, data: input)
        for node in nodes {
            let args = node.inputs.map { store[$0]! }
            do {
                store[node.output] = try node.op.evaluate(args)
            } catch let e as ModelError {
                throw ModelError(e.kind, location: "node '\(node.name)' (\(node.opType))", e.message)
            }
        }
        return outputs.map { store[$0]! }
    }

    /// The flattened first output.
    public func evaluateFirst(_ input: [Double]) throws -> [Double] {
        try evaluate(input)[0].data
    }
}
