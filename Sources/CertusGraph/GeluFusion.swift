import Foundation
import CertusTensor

/// Recognises GeLU exported as its Erf decomposition, x * 0.5 * (1 + erf(x / sqrt 2)), and
/// replaces the five nodes by one `Gelu` node, so bounds use GeLU's own relaxation.
///
/// The model's constants are float32 roundings (sqrt 2 is 1.41421353816986... there), so the
/// fused node keeps the model's own function exactly: with s the model's erf input scale (1/c
/// for a Div by c, c for a Mul) and h its half, c_h x (1 + erf(s x)) = GeLU(k x) * 2 c_h / k
/// for k = s sqrt 2 (GeLU(z) = z/2 (1 + erf(z / sqrt 2))), so the node becomes Mul(k) -> Gelu ->
/// Mul(2 c_h / k), the scales left out when they are exactly 1. The constant added to erf must
/// be exactly 1.
package enum GeluFusion {
    package static func fuse(_ graph: Graph) -> Graph {
        var g = graph
        var consumers: [Int: [Int]] = [:]
        for (i, n) in g.nodes.enumerated() { for v in n.inputs { consumers[v, default: []].append(i) } }
        var producer: [Int: Int] = [:]
        for (i, n) in g.nodes.enumerated() { producer[n.output] = i }
        func scalar(_ v: Int) -> Double? {
            guard let t = g.constants[v], t.count == 1 else { return nil }
            return t.data[0]
        }
        func near(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) <= 1e-6 * abs(b) } ?? false }
        func other(_ n: Node, _ v: Int) -> Int? { n.inputs.count == 2 ? (n.inputs[0] == v ? n.inputs[1] : n.inputs[0]) : nil }
        func only(_ v: Int) -> Int? { consumers[v].flatMap { $0.count == 1 ? $0[0] : nil } }
        var remove = Set<Int>()
        var replacements: [Int: [Node]] = [:]
        var builder = SubgraphBuilder(values: g.values, constants: g.constants)   // the scales' values
        for (ei, e) in g.nodes.enumerated() where e.op is Erf {
            // t1 = x / sqrt2 (or x * 1/sqrt2)
            guard let di = producer[e.inputs[0]] else { continue }
            let d = g.nodes[di]
            let x: Int, s: Double
            if d.op is Div, d.inputs.count == 2, let c = scalar(d.inputs[1]), near(c, 2.0.squareRoot()) { x = d.inputs[0]; s = 1 / c }
            else if d.op is Mul, d.inputs.count == 2, let c = d.inputs.first(where: { near(scalar($0), 1 / 2.0.squareRoot()) }),
                    let o = other(d, c), let v = scalar(c) { x = o; s = v }
            else { continue }
            guard only(d.output) == ei, let ai = only(e.output), g.nodes[ai].op is Add,
                  let one = other(g.nodes[ai], e.output), scalar(one) == 1 else { continue }
            let a = g.nodes[ai]
            guard let m1i = only(a.output), g.nodes[m1i].op is Mul, let m1o = other(g.nodes[m1i], a.output) else { continue }
            let m1 = g.nodes[m1i]
            var chain = [di, ei, ai, m1i]
            let finalOut: Int, half: Double
            if m1o == x {
                // (x * (1 + erf)) * 0.5
                guard let m2i = only(m1.output), g.nodes[m2i].op is Mul, let h = scalar(other(g.nodes[m2i], m1.output) ?? -1), near(h, 0.5) else { continue }
                chain.append(m2i); finalOut = g.nodes[m2i].output; half = h
            } else if let hi = producer[m1o], g.nodes[hi].op is Mul, g.nodes[hi].inputs.contains(x),
                      let h = scalar(other(g.nodes[hi], x) ?? -1), near(h, 0.5), only(m1o) == m1i {
                // (x * 0.5) * (1 + erf)
                chain.append(hi); finalOut = m1.output; half = h
            } else { continue }
            guard g.values[x].shape == g.values[finalOut].shape else { continue }
            let last = chain.max()!
            remove.formUnion(chain)
            remove.remove(last)
            let name = g.nodes[last].name + " (GeLU from Erf)"
            let shape = g.values[x].shape
            let k = s * 2.0.squareRoot(), outScale = 2 * half / k
            var nodes: [Node] = [], input = x
            if k != 1 {
                let scaled = builder.value("\(name)/k x", shape)
                nodes.append(Node(name: "\(name)/k x", opType: Mul.opType, op: Mul(),
                                  inputs: [x, builder.constant("\(name)/k", Tensor(scalar: k))], output: scaled))
                input = scaled
            }
            let geluOut = outScale != 1 ? builder.value("\(name)/GeLU(k x)", shape) : finalOut
            nodes.append(Node(name: name, opType: Gelu.opType, op: Gelu(), inputs: [input], output: geluOut))
            if outScale != 1 {
                nodes.append(Node(name: "\(name)/rescaled", opType: Mul.opType, op: Mul(),
                                  inputs: [geluOut, builder.constant("\(name)/2 h / k", Tensor(scalar: outScale))], output: finalOut))
            }
            replacements[last] = nodes
        }
        if replacements.isEmpty { return graph }
        g.values = builder.values
        g.constants = builder.constants
        g.nodes = g.nodes.enumerated().flatMap { i, n -> [Node] in remove.contains(i) ? [] : (replacements[i] ?? [n]) }
        return g
    }
}
