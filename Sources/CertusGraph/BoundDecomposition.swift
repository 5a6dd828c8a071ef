import CertusTensor

/// Where a node is added to a graph by `BoundDecomposition`: new values and constants.
package struct SubgraphBuilder {
    package var values: [ValueInfo]
    package var constants: [Int: Tensor]
    /// A new intermediate value of `shape`; returns its id.
    package mutating func value(_ name: String, _ shape: [Int]) -> Int {
        values.append(ValueInfo(name: name, shape: shape))
        return values.count - 1
    }
    /// A new constant value; returns its id.
    package mutating func constant(_ name: String, _ tensor: Tensor) -> Int {
        let id = value(name, tensor.shape)
        constants[id] = tensor
        return id
    }
}

/// An operator that the bound engine bounds, for some inputs being variable, as an equivalent
/// subgraph of operators it relaxes (MatMul of two variable matrices: elementwise products and
/// a sum). Evaluation keeps the operator itself; only the bound engine's copy of the graph is
/// rewritten (`BoundDecompositions.expand`), and the subgraph computes the same function.
package protocol BoundDecomposition: Operator {
    /// The nodes, in order, that compute `node.output` from `node.inputs` (`variable[i]`: input i
    /// is not a constant; `shapes[i]` its shape), with new values made through `builder`; nil
    /// to keep the node as it is.
    func decomposition(_ node: Node, shapes: [[Int]], variable: [Bool], builder: inout SubgraphBuilder) -> [Node]?
    /// Whether the operator's float32 error model (`Operator.float32Rounding`) is of its whole
    /// kernel, as a runtime computes it (Softmax): the decomposition's nodes then compute the
    /// exact function of the node's float32 inputs, and the model's error enters once, at the
    /// decomposition's output (`BoundEngine.float32Models`). Default false: the pieces' own
    /// models apply, each to its piece.
    var float32ModelCoversDecomposition: Bool { get }
}

extension BoundDecomposition {
    package var float32ModelCoversDecomposition: Bool { false }
}

package enum BoundDecompositions {
    /// `graph` with every node whose operator gives a decomposition replaced by it (the same
    /// graph when none does).
    package static func expand(_ graph: Graph) -> Graph {
        var builder = SubgraphBuilder(values: graph.values, constants: graph.constants)
        var nodes: [Node] = []
        var changed = false
        for n in graph.nodes {
            if let d = n.op as? any BoundDecomposition {
                let variable = n.inputs.map { graph.constants[$0] == nil }
                let shapes = n.inputs.map { graph.values[$0].shape }
                if let sub = d.decomposition(n, shapes: shapes, variable: variable, builder: &builder) {
                    nodes += sub
                    changed = true
                    continue
                }
            }
            nodes.append(n)
        }
        guard changed else { return graph }
        var g = graph
        g.values = builder.values
        g.constants = builder.constants
        g.nodes = nodes
        return g
    }
}

// Building blocks shared by the decompositions (each operator's file says what it builds).
extension SubgraphBuilder {
    /// `id` (of shape `shape`) broadcast to `full` by an Expand node; no node when the shapes agree.
    package mutating func expanded(_ id: Int, from shape: [Int], to full: [Int], name: String) -> (nodes: [Node], id: Int) {
        guard shape != full else { return ([], id) }
        let target = constant("\(name)/shape", Tensor(shape: [full.count], data: full.map(Double.init)))
        let out = value(name, full)
        return ([Node(name: name, opType: Expand.opType, op: Expand(shape: full), inputs: [id, target], output: out)], out)
    }

    /// max(a, b) (`sign` +1) as a + relu(b - a), or min(a, b) (`sign` -1) as a - relu(a - b), for
    /// `a` and `b` of shape `shape`: a ReLU of a difference, so CROWN's triangle relaxation, its
    /// alpha parameter and ReLU branching (at the tie a = b) all apply. Writes to `output` when given.
    package mutating func extremum(_ a: Int, _ b: Int, sign: Double, shape: [Int], name: String, output: Int? = nil) -> (nodes: [Node], id: Int) {
        let d = value("\(name)/difference", shape), r = value("\(name)/relu", shape)
        let out = output ?? value(name, shape)
        let (p, q) = sign > 0 ? (b, a) : (a, b)
        return ([
            Node(name: "\(name)/difference", opType: Sub.opType, op: Sub(), inputs: [p, q], output: d),
            Node(name: "\(name)/relu", opType: Relu.opType, op: Relu(), inputs: [d], output: r),
            sign > 0 ? Node(name: name, opType: Add.opType, op: Add(), inputs: [a, r], output: out)
                     : Node(name: name, opType: Sub.opType, op: Sub(), inputs: [a, r], output: out),
        ], out)
    }

    /// The extremum of several values of shape `shape` (at least one), as a balanced tree of
    /// pairwise `extremum`s (depth log2 of the count); the last node writes `output`.
    package mutating func extremum(of ids: [Int], sign: Double, shape: [Int], name: String, output: Int) -> [Node] {
        precondition(!ids.isEmpty)
        var level = ids, nodes: [Node] = [], depth = 0
        while level.count > 1 {
            var next: [Int] = []
            for k in stride(from: 0, to: level.count - 1, by: 2) {
                let last = level.count == 2
                let (sub, id) = extremum(level[k], level[k + 1], sign: sign, shape: shape,
                                         name: last ? name : "\(name)/\(depth).\(k / 2)", output: last ? output : nil)
                nodes += sub
                next.append(id)
            }
            if level.count % 2 == 1 { next.append(level[level.count - 1]) }
            level = next
            depth += 1
        }
        if nodes.isEmpty {   // one value: copy it into `output`
            nodes.append(Node(name: name, opType: Identity.opType, op: Identity(), inputs: [ids[0]], output: output))
        }
        return nodes
    }

    /// The extremum over groups of elements of `input` (shape `inputShape`): output element t
    /// (row-major in `outShape`) is the max (`sign` +1) or min over the flat indices `groups[t]`
    /// (each non-empty). The input is flattened, each member position g becomes a Gather of the
    /// g-th index of every group (a shorter group repeats its last index, which leaves its
    /// extremum unchanged), and the gathered tensors meet in `extremum(of:)`.
    package mutating func extremum(overGroups groups: [[Int]], of input: Int, inputShape: [Int], outShape: [Int],
                                   sign: Double, name: String, output: Int) -> [Node] {
        let n = inputShape.reduce(1, *)
        let flat = value("\(name)/flat", [n])
        var nodes = [Node(name: "\(name)/flatten", opType: Reshape.opType, op: Reshape(target: [n], allowZero: false), inputs: [input], output: flat)]
        let members = groups.map(\.count).max() ?? 0
        var picked: [Int] = []
        for g in 0..<members {
            let indices = groups.map { $0[Swift.min(g, $0.count - 1)] }
            let idx = constant("\(name)/indices \(g)", Tensor(shape: outShape, data: indices.map(Double.init)))
            let out = value("\(name)/member \(g)", outShape)
            nodes.append(Node(name: "\(name)/member \(g)", opType: Gather.opType,
                              op: Gather(axis: 0, indices: indices, indicesShape: outShape), inputs: [flat, idx], output: out))
            picked.append(out)
        }
        return nodes + extremum(of: picked, sign: sign, shape: outShape, name: name, output: output)
    }
}
