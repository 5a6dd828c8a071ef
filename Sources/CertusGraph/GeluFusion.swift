import Foundation
import CertusTensor

/// Recognises GeLU exported as its Erf decomposition, x * 0.5 * (1 + erf(x / sqrt 2)), and
/// replaces the five nodes by one `Gelu` node, so bounds use GeLU's own relaxation.
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
        var replacements: [Int: Node] = [:]
        for (ei, e) in g.nodes.enumerated() where e.op is Erf {
            // t1 = x / sqrt2 (or x * 1/sqrt2)
            guard let di = producer[e.inputs[0]] else { continue }
            let d = g.nodes[di]
            let x: Int
            if d.op is Div, d.inputs.count == 2, near(scalar(d.inputs[1]), 2.0.squareRoot()) { x = d.inputs[0] }
            else if d.op is Mul, d.inputs.count == 2, let c = d.inputs.first(where: { near(scalar($0), 1 / 2.0.squareRoot()) }), let o = other(d, c) { x = o }
            else { continue }
            guard only(d.output) == ei, let ai = only(e.output), g.nodes[ai].op is Add,
                  let one = other(g.nodes[ai], e.output), near(scalar(one), 1) else { continue }
            let a = g.nodes[ai]
            guard let m1i = only(a.output), g.nodes[m1i].op is Mul, let m1o = other(g.nodes[m1i], a.output) else { continue }
            let m1 = g.nodes[m1i]
            var chain = [di, ei, ai, m1i]
            let finalOut: Int
            if m1o == x {
                // (x * (1 + erf)) * 0.5
                guard let m2i = only(m1.output), g.nodes[m2i].op is Mul, near(scalar(other(g.nodes[m2i], m1.output) ?? -1), 0.5) else { continue }
                chain.append(m2i); finalOut = g.nodes[m2i].output
            } else if let hi = producer[m1o], g.nodes[hi].op is Mul, g.nodes[hi].inputs.contains(x),
                      near(scalar(other(g.nodes[hi], x) ?? -1), 0.5), only(m1o) == m1i {
                // (x * 0.5) * (1 + erf)
                chain.append(hi); finalOut = m1.output
            } else { continue }
            guard g.values[x].shape == g.values[finalOut].shape else { continue }
            let last = chain.max()!
            remove.formUnion(chain)
            remove.remove(last)
            replacements[last] = Node(name: g.nodes[last].name + " (GeLU from Erf)", opType: Gelu.opType, op: Gelu(), inputs: [x], output: finalOut)
        }
        if replacements.isEmpty { return graph }
        g.nodes = g.nodes.enumerated().compactMap { i, n in remove.contains(i) ? nil : (replacements[i] ?? n) }
        return g
    }
}
