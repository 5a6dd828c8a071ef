import CertusTensor

/// A value in the graph: the model input, a constant, or a node's output.
package struct ValueInfo: Sendable {
    package var name: String
    package var shape: [Int]
    package init(name: String, shape: [Int]) { self.name = name; self.shape = shape }
}

/// One computing node. Nodes whose inputs are all constant are folded away at load, so every
/// node here depends (directly or not) on the model input.
package struct Node: Sendable {
    package var name: String
    package var opType: String
    package var op: any Operator
    package var inputs: [Int]
    package var output: Int
    package init(name: String, opType: String, op: any Operator, inputs: [Int], output: Int) {
        self.name = name; self.opType = opType; self.op = op; self.inputs = inputs; self.output = output
    }
}

/// Descriptive facts about the model file, for `certus inspect`.
package struct ModelMetadata: Sendable {
    package var irVersion: Int = 0
    package var opset: Int = 0
    package var producer: String = ""
    /// Op counts in the file, before constant folding.
    package var opCounts: [String: Int] = [:]
    /// Number of scalar parameters (elements of initializers and Constant tensors).
    package var parameterCount: Int = 0
    package init() {}
}

/// The graph IR: a single model input, constants, computing nodes in topological order and
/// one or more outputs. Shapes are known and checked for every value.
package struct Graph: Sendable {
    package var values: [ValueInfo]
    package var constants: [Int: Tensor]
    package var nodes: [Node]
    package var input: Int
    package var outputs: [Int]
    package var metadata: ModelMetadata

    package init(values: [ValueInfo], constants: [Int: Tensor], nodes: [Node], input: Int, outputs: [Int], metadata: ModelMetadata) {
        self.values = values
        self.constants = constants
        self.nodes = nodes
        self.input = input
        self.outputs = outputs
        self.metadata = metadata
    }

    package var inputShape: [Int] { values[input].shape }
    package var inputName: String { values[input].name }
    package var inputCount: Int { inputShape.reduce(1, *) }
    /// Element count of the first output (the one properties speak about).
    package var outputCount: Int { values[outputs[0]].shape.reduce(1, *) }

    /// Runs the model on one input given as the row-major flattening of the input tensor.
    /// Returns every output tensor.
    package func evaluate(_ input: [Double]) throws -> [Tensor] {
        guard input.count == inputCount else {
            throw ModelError(.input, location: "input '\(inputName)'",
                             "expected \(inputCount) values for shape \(inputShape), got \(input.count)")
        }
        let store = try forward(input)
        return outputs.map { store[$0]! }
    }

    /// Every value of the graph for one (length-checked) input. With `roundingToFloat32`, the
    /// input and every node's output are rounded to the nearest float32 (see `evaluateFirstFloat32`).
    func forward(_ input: [Double], roundingToFloat32: Bool = false) throws -> [Tensor?] {
        func rounded(_ t: Tensor) -> Tensor {
            guard roundingToFloat32 else { return t }
            var r = t
            for i in r.data.indices { r.data[i] = Double(Float(r.data[i])) }
            return r
        }
        var store = [Tensor?](repeating: nil, count: values.count)
        for (id, t) in constants { store[id] = t }
        store[self.input] = rounded(Tensor(shape: inputShape, data: input))
        for node in nodes {
            do {
                store[node.output] = rounded(try node.op.evaluate(node.inputs.map { store[$0]! }))
            } catch let e as ModelError {
                throw ModelError(e.kind, location: "node '\(node.name)' (\(node.opType))", e.message)
            }
        }
        return store
    }

    /// Every value of the graph at one input, flattened, by value id (hidden activations
    /// included; constants too).
    package func evaluateAll(_ input: [Double]) throws -> [Int: [Double]] {
        guard input.count == inputCount else {
            throw ModelError(.input, location: "input '\(inputName)'",
                             "expected \(inputCount) values for shape \(inputShape), got \(input.count)")
        }
        var out: [Int: [Double]] = [:]
        for (id, t) in try forward(input).enumerated() { if let t { out[id] = t.data } }
        return out
    }

    /// The flattened first output.
    package func evaluateFirst(_ input: [Double]) throws -> [Double] {
        try evaluate(input)[0].data
    }

    /// The flattened first output evaluated as a float32 runtime would store it: the input and
    /// every operator's output are rounded to the nearest float32 (values beyond the float32 range
    /// become infinite). Constants are used as stored (a float32 model's weights already are
    /// float32 values; integer shape and index tensors must stay exact). Each operator computes in
    /// Double from its operands, so this is float32 storage with exactly rounded operators; a
    /// runtime that accumulates sums in float32 can differ from it by the accumulation's rounding.
    /// - Throws: `ModelError` (kind `.input`) when `input` has the wrong length, or an operator's error.
    package func evaluateFirstFloat32(_ input: [Double]) throws -> [Double] {
        guard input.count == inputCount else {
            throw ModelError(.input, location: "input '\(inputName)'",
                             "expected \(inputCount) values for shape \(inputShape), got \(input.count)")
        }
        return try forward(input, roundingToFloat32: true)[outputs[0]]!.data
    }
}

extension Graph {
    /// Evaluates the model at `x` and returns the first output `y` together with
    /// d(w · y)/dx, computed by reverse mode through every operator's `backward`.
    package func gradient(at x: [Double], outputWeights w: [Double]) throws -> (y: [Double], dx: [Double]) {
        guard x.count == inputCount else {
            throw ModelError(.input, location: "input '\(inputName)'", "expected \(inputCount) values for shape \(inputShape), got \(x.count)")
        }
        guard w.count == outputCount else {
            throw ModelError(.input, "output weights have \(w.count) entries, the output has \(outputCount)")
        }
        let store = try forward(x)
        let out = outputs[0]
        var grads = [Tensor?](repeating: nil, count: values.count)
        grads[out] = Tensor(shape: values[out].shape, data: w)
        for node in nodes.reversed() {
            guard let g = grads[node.output] else { continue }
            let inputsNeeded = node.inputs.map { constants[$0] == nil }
            let local = try node.op.backward(node.inputs.map { store[$0]! }, output: store[node.output]!, gradient: g,
                                             wanted: inputsNeeded)
            for (k, id) in node.inputs.enumerated() where inputsNeeded[k] {
                guard k < local.count, let gk = local[k] else {
                    throw ModelError(.unsupportedFeature, location: "node '\(node.name)' (\(node.opType))",
                                     "gradient with respect to input \(k) is not supported (it must be a constant)")
                }
                if var acc = grads[id] {
                    for i in 0..<acc.data.count { acc.data[i] += gk.data[i] }
                    grads[id] = acc
                } else {
                    grads[id] = gk
                }
            }
        }
        let y = store[out]!.data
        return (y, grads[input]?.data ?? [Double](repeating: 0, count: x.count))
    }
}
