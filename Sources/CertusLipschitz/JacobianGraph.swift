import Foundation
import CertusTensor
import CertusGraph

/// A model whose Jacobian graph cannot be built: the node and the reason (an operator without a
/// gradient node is named, never approximated).
package struct JacobianError: Error, CustomStringConvertible, Sendable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// The chain-rule graph of a network's Clarke generalised Jacobian, as a graph of ordinary
/// operators that the bound engine bounds like any network (Shi et al., "Efficiently Computing
/// Local Lipschitz Constants of Neural Networks via Bound Propagation", NeurIPS 2022).
///
/// For a seed vector c over the model's outputs (e_j for output j), reverse-mode
/// differentiation is written out as nodes over the model's own forward graph: an affine node
/// y = J x + b back-propagates an adjoint a as a^T J (a `MatMul` with the constant Jacobian
/// J, out x in, from the operator's own vector-Jacobian products, or the adjoint itself for
/// reshapes); an activation y = f(z) as f'(z) ⊙ a, where f'(z) is the activation's gradient
/// node (`ActivationDerivative`, relaxed as a function of its own and sound for the Clarke
/// set, e.g. [0, 1] for ReLU at 0) and the product is a `Mul` of two variables (McCormick)
/// unless a is still constant; fan-out adjoints add up (`Add`). The input's adjoint is the
/// gradient g = c^T J_f(x) (shape [1, n], n the input size).
///
/// What is bounded: the supremum over the points of the region where f is differentiable of the
/// gradient's norm, which is the Lipschitz constant of f on the (convex) region, and equals the
/// largest norm over the Clarke Jacobian at the region's points except where a kink lies exactly
/// on the region's boundary with its other side outside (a gradient that is no limit of gradients
/// inside). So a gradient node's interval that only touches its kink at one end takes that side's
/// slope (`kinkRange`), which is what lets a branch-and-bound split at the kink fix it.
///
/// The graph's output, for seeds c_1 ... c_m: `.absoluteSum` gives [1, m] with entry q the
/// sum over i of |g_q,i| (`Abs` then a sum per seed), the dual norm of the L-inf input norm;
/// `.gradient` gives the gradients themselves, [1, m * n], block q = g_q.
///
/// Supported: every affine operator with one variable input (Gemm, MatMul, Conv, BatchNorm,
/// reshapes, constant Add/Sub, ...), residual Add/Sub of two variables, and elementwise
/// activations with a gradient node. Anything else (a product of two variables, Softmax, ...)
/// throws `JacobianError` naming the node.
package struct JacobianGraph: @unchecked Sendable {
    package enum Quantity: Sendable { case absoluteSum, gradient }

    /// The graph (input: the model's input; output as `quantity` says).
    package let graph: Graph
    package let quantity: Quantity
    /// The seeds, each with one entry per model output.
    package let seeds: [[Double]]
    /// Input size n.
    package let inputCount: Int
    /// Per seed, the gradient when it is the same at every input (a piecewise-affine... no: an
    /// affine network), else nil.
    package let constantGradients: [[Double]?]
    /// The model as a chain of (affine Jacobian, activation) steps from the input, when it is
    /// one (for the naive bound): each step's Jacobian (out x in, row-major) and the activation
    /// after it (nil: none).
    let chain: [(jacobian: [Double], rows: Int, cols: Int, activation: (any ElementwiseUnary)?)]?

    /// Builds the Jacobian graph of `model`'s first output for `seeds`.
    /// - Throws: `JacobianError` for an operator without a gradient node, a seed of the wrong
    ///   size, or a model whose output does not depend on its input through supported nodes.
    package init(model original: Graph, seeds: [[Double]], quantity: Quantity) throws {
        // GeLU exported as its Erf decomposition is one GeLU node here, as in the bound engine
        // (its x * Phi(x) product has no gradient node of its own; GeLU has one).
        let model = GeluFusion.fuse(original)
        let outN = model.outputCount
        for s in seeds where s.count != outN {
            throw JacobianError("a seed has \(s.count) entries, the model has \(outN) outputs")
        }
        guard !seeds.isEmpty else { throw JacobianError("no output selected") }
        var b = Builder(model: model)
        let n = model.inputCount
        var pieces: [Adjoint] = []
        var constants: [[Double]?] = []
        for (q, seed) in seeds.enumerated() {
            let g = try b.backpropagate(seed: seed, tag: "s\(q)")
            pieces.append(g)
            if case .constant(let v) = g { constants.append(v) } else { constants.append(nil) }
        }
        let ids = pieces.enumerated().map { q, p in b.materialise(p, name: "grad\(q)", count: n) }
        var out: Int
        if quantity == .absoluteSum {
            // Per seed |g| summed ([1, 1]), then the m sums side by side ([1, m]): the wide
            // values stay per seed (a concatenation of the gradients would make every bound
            // pass carry rows of m * n coefficients through a generic operator).
            let ones = b.constant("jacobian/ones", Tensor(shape: [n, 1], repeating: 1))
            let sums = ids.enumerated().map { q, g -> Int in
                let abs = b.add(Abs(), "jacobian/abs\(q)", [g], shape: [1, n])
                return b.add(MatMul(), "jacobian/sum\(q)", [abs, ones], shape: [1, 1])
            }
            out = sums.count == 1 ? sums[0] : b.add(Concat(axis: 1), "jacobian/sums", sums, shape: [1, sums.count])
        } else {
            // The gradients side by side, [1, m * n].
            out = ids.count == 1 ? ids[0] : b.add(Concat(axis: 1), "jacobian/concat", ids, shape: [1, ids.count * n])
        }
        graph = Graph(values: b.values, constants: b.constants, nodes: b.nodes, input: model.input, outputs: [out],
                      metadata: model.metadata)
        self.quantity = quantity
        self.seeds = seeds
        inputCount = n
        constantGradients = constants
        chain = b.chain()
    }
}

/// An adjoint: a constant vector (nothing before it depends on the input) or a graph value,
/// flat ([1, size]).
enum Adjoint {
    case constant([Double])
    case value(Int)
}

/// Builds the Jacobian graph's nodes over a copy of the model's.
struct Builder {
    let model: Graph
    var values: [ValueInfo]
    var constants: [Int: Tensor]
    var nodes: [Node]
    /// Values that do not depend on the input (initialisers and what is computed from them).
    var isConstant: [Bool]
    /// Affine Jacobians by node and input position (out x in, row-major), computed once.
    var jacobians: [Int: [Int: [Double]]] = [:]
    /// Gradient nodes f'(z) by forward value z (shared by every seed), flattened.
    var derivatives: [Int: Int] = [:]
    /// The constants holding those Jacobians, by node and input position (shared by every seed,
    /// so that the bound engine's per-weight work is done once).
    var jacobianValues: [Int: [Int: Int]] = [:]

    init(model: Graph) {
        self.model = model
        values = model.values
        constants = model.constants
        nodes = model.nodes
        var c = [Bool](repeating: false, count: model.values.count)
        for v in model.constants.keys { c[v] = true }
        for node in model.nodes where node.inputs.allSatisfy({ c[$0] }) { c[node.output] = true }
        c[model.input] = false
        isConstant = c
    }

    func size(_ v: Int) -> Int { values[v].shape.reduce(1, *) }

    mutating func constant(_ name: String, _ t: Tensor) -> Int {
        values.append(ValueInfo(name: name, shape: t.shape))
        constants[values.count - 1] = t
        return values.count - 1
    }

    mutating func add(_ op: any Operator, _ name: String, _ inputs: [Int], shape: [Int]) -> Int {
        values.append(ValueInfo(name: name, shape: shape))
        let id = values.count - 1
        nodes.append(Node(name: name, opType: type(of: op).opType, op: op, inputs: inputs, output: id))
        return id
    }

    /// A graph value for an adjoint ([1, count]).
    mutating func materialise(_ a: Adjoint, name: String, count: Int) -> Int {
        switch a {
        case .value(let v): return v
        case .constant(let c): return constant(name, Tensor(shape: [1, count], data: c))
        }
    }

    /// The model's values, each evaluated at zero input where needed (constant inputs as stored).
    func inputTensors(_ node: Node) throws -> [Tensor] {
        try node.inputs.map { v in
            if let c = constants[v] { return c }
            if isConstant[v] { return try constantValue(v) }
            return Tensor(shape: model.values[v].shape, repeating: 0)
        }
    }

    /// A constant-folded value (computed from initialisers only).
    func constantValue(_ v: Int) throws -> Tensor {
        if let c = constants[v] { return c }
        guard let node = model.nodes.first(where: { $0.output == v }) else { throw JacobianError("value '\(values[v].name)' has no producer") }
        return try node.op.evaluate(node.inputs.map { try constantValue($0) })
    }

    /// The Jacobian of affine node `i` with respect to input position `pos` (out x in): the
    /// operator's own (`Operator.affineJacobian`, the coefficients the bound engine propagates).
    mutating func jacobian(node i: Int, position pos: Int) throws -> [Double] {
        if let j = jacobians[i]?[pos] { return j }
        let node = model.nodes[i]
        let inputs = try inputTensors(node)
        let out0 = try node.op.evaluate(inputs)
        let variable = node.inputs.map { !isConstant[$0] }
        let J: [Double]
        do {
            J = try node.op.affineJacobian(inputs, variable: variable, position: pos, output: out0)
        } catch {
            throw JacobianError("node '\(node.name)' (\(node.opType)): no linear map for input \(pos)")
        }
        guard J.allSatisfy(\.isFinite) else { throw JacobianError("node '\(node.name)' (\(node.opType)): its Jacobian is not finite") }
        jacobians[i, default: [:]][pos] = J
        return J
    }

    /// Reverse-mode accumulation of `seed` through the model; returns the input's adjoint.
    mutating func backpropagate(seed: [Double], tag: String) throws -> Adjoint {
        var adj: [Int: Adjoint] = [model.outputs[0]: .constant(seed)]
        for i in model.nodes.indices.reversed() {
            let node = model.nodes[i]
            guard let a = adj[node.output] else { continue }
            let variable = node.inputs.enumerated().filter { !isConstant[$0.element] }
            if variable.isEmpty { continue }
            let kind = node.op.boundKind(constantInputs: node.inputs.map { isConstant[$0] })
            let where_ = "node '\(node.name)' (\(node.opType))"
            switch kind {
            case .affine:
                for (pos, v) in variable {
                    let contribution: Adjoint
                    if node.op.preservesData {
                        contribution = a        // same data, flat
                    } else {
                        let J = try jacobian(node: i, position: pos)
                        let outN = size(node.output), inN = size(v)
                        switch a {
                        case .constant(let c):
                            var r = [Double](repeating: 0, count: inN)
                            for o in 0..<outN where c[o] != 0 { for k in 0..<inN { r[k] += c[o] * J[o * inN + k] } }
                            contribution = .constant(r)
                        case .value(let av):
                            // a^T J as Gemm(a, J^T, transB): J^T (in x out) is stored once per
                            // layer and is itself the product's dense map (`Gemm.affineJacobian`),
                            // shared by every seed without a copy.
                            let w: Int
                            if let known = jacobianValues[i]?[pos] { w = known } else {
                                var T = [Double](repeating: 0, count: inN * outN)
                                for o in 0..<outN { for k in 0..<inN { T[k * outN + o] = J[o * inN + k] } }
                                w = constant("\(node.name)/jacobian\(pos)", Tensor(shape: [inN, outN], data: T))
                                jacobianValues[i, default: [:]][pos] = w
                            }
                            // J is finite (`jacobian`): evaluation need not scan it.
                            let op = Gemm(transB: true, finiteOperands: FiniteOperands(known: [false, true]))
                            contribution = .value(add(op, "\(tag)/\(node.name)/vjp\(pos)", [av, w], shape: [1, inN]))
                        }
                    }
                    try accumulate(&adj, v, contribution, tag: tag)
                }
            case .elementwise:
                guard let op = node.op as? any ElementwiseUnary, variable.count == 1 else {
                    throw JacobianError("\(where_): no gradient node")
                }
                let z = variable[0].element
                let d = try derivative(of: z, op: op, node: node)
                let n = size(z)
                let contribution: Adjoint
                switch a {
                case .constant(let c):
                    let w = constant("\(tag)/\(node.name)/adjoint", Tensor(shape: [1, n], data: c))
                    contribution = .value(add(Mul(), "\(tag)/\(node.name)/vjp", [d, w], shape: [1, n]))
                case .value(let av):
                    contribution = .value(add(Mul(gate: 0), "\(tag)/\(node.name)/vjp", [d, av], shape: [1, n]))
                }
                try accumulate(&adj, z, contribution, tag: tag)
            case .bilinear:
                throw JacobianError("\(where_): no gradient node (a product of two variables)")
            case .unsupported(let why):
                throw JacobianError("\(where_): no gradient node (\(why))")
            }
        }
        return adj[model.input] ?? .constant([Double](repeating: 0, count: model.inputCount))
    }

    /// f'(z) of activation `op`, flat [1, n] (one node per forward value).
    mutating func derivative(of z: Int, op: any ElementwiseUnary, node: Node) throws -> Int {
        if let d = derivatives[z] { return d }
        guard let grad = ActivationDerivative(base: op) else {
            throw JacobianError("node '\(node.name)' (\(node.opType)): no gradient node for this activation")
        }
        var zin = z
        if values[z].shape.count != 2 || values[z].shape[0] != 1 {
            zin = add(Flatten(axis: 0), "\(node.name)/flat", [z], shape: [1, size(z)])
        }
        let d = add(grad, "\(node.name)/derivative", [zin], shape: [1, size(z)])
        derivatives[z] = d
        return d
    }

    mutating func accumulate(_ adj: inout [Int: Adjoint], _ v: Int, _ c: Adjoint, tag: String) throws {
        guard let old = adj[v] else { adj[v] = c; return }
        let n = size(v)
        switch (old, c) {
        case (.constant(let x), .constant(let y)):
            adj[v] = .constant(zip(x, y).map { $0 + $1 })
        case (.value(let x), .constant(let y)), (.constant(let y), .value(let x)):
            let w = constant("\(tag)/\(values[v].name)/fanin", Tensor(shape: [1, n], data: y))
            adj[v] = .value(add(Add(), "\(tag)/\(values[v].name)/sum", [x, w], shape: [1, n]))
        case (.value(let x), .value(let y)):
            adj[v] = .value(add(Add(), "\(tag)/\(values[v].name)/sum", [x, y], shape: [1, n]))
        }
    }

    /// The model as alternating affine Jacobians and activations from the input, when it is a
    /// chain (each node's only variable input is the previous node's output), else nil.
    mutating func chain() -> [(jacobian: [Double], rows: Int, cols: Int, activation: (any ElementwiseUnary)?)]? {
        var steps: [(jacobian: [Double], rows: Int, cols: Int, activation: (any ElementwiseUnary)?)] = []
        var cur = model.input
        for (i, node) in model.nodes.enumerated() {
            let variable = node.inputs.enumerated().filter { !isConstant[$0.element] }
            if variable.isEmpty { continue }
            guard variable.count == 1, variable[0].element == cur else { return nil }
            let kind = node.op.boundKind(constantInputs: node.inputs.map { isConstant[$0] })
            switch kind {
            case .affine:
                if node.op.preservesData { break }
                guard let J = try? jacobian(node: i, position: variable[0].offset) else { return nil }
                steps.append((J, size(node.output), size(cur), nil))
            case .elementwise:
                guard let op = node.op as? any ElementwiseUnary, !steps.isEmpty, steps[steps.count - 1].activation == nil else { return nil }
                steps[steps.count - 1].activation = op
            default:
                return nil
            }
            cur = node.output
        }
        return cur == model.outputs[0] ? steps : nil
    }
}
