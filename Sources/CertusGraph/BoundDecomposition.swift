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
