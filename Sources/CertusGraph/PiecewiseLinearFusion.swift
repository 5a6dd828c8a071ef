import Foundation
import CertusTensor

/// Recognises a one-variable piecewise-linear function exported as a sum of ReLUs,
///
///     u = Unsqueeze(x, -1)              shape(x) + [1]
///     r = Relu(u - t)                   shape(x) + [K], t a constant of K breakpoints
///     y = MatMul(r, m) (+ c)            shape(x), m a constant vector of K slope changes, c a scalar
///
/// and replaces the nodes from the Unsqueeze to the last one by a single `PiecewiseLinear` node
/// x -> y, so bounds treat f(x) = c + Σ_k m_k max(x - t_k, 0) as one function of x (its exact
/// interval image, the hull of its graph) instead of K independent ReLU relaxations. The VNN-COMP
/// ml4acopf power-flow proxies write their Sigmoid, Sin and Cos this way (54 and 55 pieces).
///
/// The match is structural and checked on shapes, not on attributes: the Unsqueeze is any node
/// that only relabels its one variable input (`Operator.preservesData`) into shape(x) + [1];
/// the ReLU is any ReLU-shaped elementwise operator (`ElementwiseRelaxation.isReluShaped`);
/// the difference is a `Sub` of a constant whose shape broadcasts only along the new last axis;
/// every intermediate value has this chain as its only reader. Only the bound engine's copy of
/// the graph is rewritten (`BoundEngine`, under real semantics: the fused node sums in Double
/// in the model's order, and has no float32 error model of its own).
package enum PiecewiseLinearFusion {
    package static func fuse(_ graph: Graph) -> Graph {
        var consumers: [Int: [Int]] = [:]
        for (i, n) in graph.nodes.enumerated() { for v in n.inputs { consumers[v, default: []].append(i) } }
        var producer: [Int: Int] = [:]
        for (i, n) in graph.nodes.enumerated() { producer[n.output] = i }
        func only(_ v: Int) -> Int? { consumers[v].flatMap { $0.count == 1 ? $0[0] : nil } }
        func isOutput(_ v: Int) -> Bool { graph.outputs.contains(v) }
        func finiteConstant(_ v: Int) -> Tensor? {
            guard let t = graph.constants[v], t.data.allSatisfy({ $0.isFinite }) else { return nil }
            return t
        }
        var remove = Set<Int>()
        var replacements: [Int: Node] = [:]
        for (ri, r) in graph.nodes.enumerated() {
            guard let relu = r.op as? any ElementwiseRelaxation, relu.isReluShaped, r.inputs.count == 1,
                  let si = producer[r.inputs[0]], only(r.inputs[0]) == ri, !isOutput(r.inputs[0]) else { continue }
            let s = graph.nodes[si]
            guard s.op is Sub, s.inputs.count == 2, let t = finiteConstant(s.inputs[1]), graph.constants[s.inputs[0]] == nil,
                  let ui = producer[s.inputs[0]], only(s.inputs[0]) == si, !isOutput(s.inputs[0]) else { continue }
            let un = graph.nodes[ui]
            let variableInputs = un.inputs.filter { graph.constants[$0] == nil }
            guard un.op.preservesData, variableInputs.count == 1 else { continue }
            let x = variableInputs[0]
            let xShape = graph.values[x].shape
            let k = t.count
            guard k >= 1, graph.values[un.output].shape == xShape + [1],
                  t.shape.last == k, t.shape.dropLast().allSatisfy({ $0 == 1 }), t.shape.count <= xShape.count + 1,
                  graph.values[s.output].shape == xShape + [k] else { continue }
            // MatMul(r, m) with m a constant vector of K.
            guard let mi = only(r.output), !isOutput(r.output) else { continue }
            let mm = graph.nodes[mi]
            guard mm.op is MatMul, mm.inputs.count == 2, mm.inputs[0] == r.output, let m = finiteConstant(mm.inputs[1]),
                  m.shape == [k], graph.values[mm.output].shape == xShape else { continue }
            // An optional Add of a scalar constant (either order).
            var last = mi, output = mm.output, offset = 0.0
            if !isOutput(mm.output), let ai = only(mm.output), graph.nodes[ai].op is Add, graph.nodes[ai].inputs.count == 2 {
                let a = graph.nodes[ai]
                let other = a.inputs[0] == mm.output ? a.inputs[1] : a.inputs[0]
                if let c = finiteConstant(other), c.count == 1, graph.values[a.output].shape == xShape {
                    last = ai; output = a.output; offset = c.data[0]
                }
            }
            let op = PiecewiseLinear(thresholds: t.data, weights: m.data, offset: offset)
            remove.formUnion([ui, si, ri, mi, last])
            replacements[last] = Node(name: graph.nodes[last].name + " (piecewise linear, \(k) breakpoints)",
                                      opType: PiecewiseLinear.opType, op: op, inputs: [x], output: output)
        }
        if replacements.isEmpty { return graph }
        var g = graph
        g.nodes = graph.nodes.enumerated().compactMap { i, n in
            replacements[i] ?? (remove.contains(i) ? nil : n)
        }
        return g
    }
}
