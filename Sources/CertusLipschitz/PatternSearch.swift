import Foundation
import CertusTensor
import CertusGraph
import CertusSpec
import CertusBounds
import CertusLP

/// Coordinate ascent on the activation pattern, for the attained lower bound of piecewise-linear
/// networks (ReLU, LeakyReLU, Abs: one kink at 0 per neuron).
///
/// On such a network the gradient is constant on each activation pattern's linear region, so
/// ascent on the input has nothing to follow; the search moves in pattern space instead. From
/// the pattern at a point of the box it flips one unstable neuron at a time (an activation
/// input whose CROWN interval over the box contains the kink), ranks the flips by the gradient
/// norm of the flipped pattern (`PatternProblem.patternGradient`, exact arithmetic on the
/// pattern, no bound), and asks an LP, best first, for a point of the box inside the flipped
/// pattern's region with the largest margin from every kink (the LP of
/// `PatternProblem.witness`, built once with the neurons' binaries fixed by their bounds). The
/// first flip with a positive margin is taken and the search goes on from it, until no flip
/// gains or the deadline passes (a best-first local search over realisable patterns; the LP is
/// `ExactLipschitz`'s MILP encoding with its binaries fixed, after LipMIP, Jordan and Dimakis 2020).
///
/// What it reports is only ever the true gradient norm of the model at the LP's point
/// (`Graph.gradient`, recomputed, never the pattern's value), so it is a valid lower bound
/// whatever the LP's tolerances. On mnist-net_256x2 at eps 0.01 (output 9) one flip of a
/// second-layer neuron raises the attained 49.42 to 50.03 (docs/benchmarks.md, "Lipschitz,
/// fifth part").
struct PatternAscent {
    let problem: PatternProblem
    /// The LP: the forward encoding, the margin variable, per unstable neuron two margin rows
    /// with big-M terms in its binary (exact once the binary is fixed by its bounds).
    var lp: PatternLP
    let inputs: [Int]
    let margin: Int
    /// Per activation node (index into `problem.graph.nodes`): its neurons.
    let neurons: [Int: [PatternNeuron]]
    /// The unstable neurons (node, position), each with a binary.
    let unstable: [(node: Int, k: Int)]

    /// Builds the LP for `model` over `box` (CROWN bounds of the activation inputs, no LP
    /// tightening). nil when the model is not a piecewise-linear network the exact encoding
    /// accepts, when it has no unstable neuron, or when building fails.
    init?(model: Graph, box: InputBox, deadline: Date?) {
        var s = ExactLipschitzSettings()
        s.deadline = deadline
        s.boundMethod = .crown
        s.lpTightening = false
        s.objectiveCutSamples = 0
        guard let problem = try? PatternProblem(model: model, box: box, settings: s) else { return nil }
        self.problem = problem
        var p = PatternLP()
        guard let built = try? problem.forward(into: &p) else { return nil }
        var reach = 1.0
        for list in built.neurons.values { for nr in list { reach = Swift.max(reach, Swift.abs(nr.lower), Swift.abs(nr.upper)) } }
        guard let mv = try? p.variable(-reach, reach) else { return nil }
        let bigM = 2 * reach + 1
        var unstable: [(Int, Int)] = []
        do {
            for (node, list) in built.neurons.sorted(by: { $0.key < $1.key }) {
                for (k, nr) in list.enumerated() {
                    if let b = nr.binary {
                        unstable.append((node, k))
                        // "active" (z >= margin) when the binary selects the right piece, else
                        // z <= -margin; the other row is loose by bigM.
                        // rightWhenOne: z - m >= -bigM (1 - a), z + m <= bigM a.
                        if nr.rightWhenOne {
                            try p.lp.addConstraint([(nr.z, 1), (mv, -1), (b, -bigM)], lower: -bigM, upper: .infinity)
                            try p.lp.addConstraint([(nr.z, 1), (mv, 1), (b, -bigM)], lower: -.infinity, upper: 0)
                        } else {
                            try p.lp.addConstraint([(nr.z, 1), (mv, -1), (b, bigM)], lower: 0, upper: .infinity)
                            try p.lp.addConstraint([(nr.z, 1), (mv, 1), (b, bigM)], lower: -.infinity, upper: bigM)
                        }
                    } else if nr.upper > nr.lower && (nr.lower == 0 || nr.upper == 0) {
                        // A stable neuron whose interval ends at the kink: keep off it.
                        if nr.lower >= 0 { try p.lp.addConstraint([(nr.z, 1), (mv, -1)], lower: 0, upper: .infinity) }
                        else { try p.lp.addConstraint([(nr.z, 1), (mv, 1)], lower: -.infinity, upper: 0) }
                    }
                }
            }
            try p.lp.setObjective([(mv, 1)], maximize: true)
        } catch { return nil }
        guard !unstable.isEmpty else { return nil }
        lp = p
        inputs = built.inputs
        margin = mv
        neurons = built.neurons
        self.unstable = unstable.map { (node: $0.0, k: $0.1) }
    }

    /// The binaries' values (1: `slope1`'s piece) of the pattern at `x`, by node, for the
    /// unstable neurons (nil when `x` cannot be evaluated).
    func pattern(at x: [Double]) -> [Int: [Double]]? {
        guard let store = try? problem.graph.evaluateAll(x) else { return nil }
        var bits: [Int: [Double]] = [:]
        for (node, list) in neurons {
            guard case .piecewise(_, let v, _, _) = problem.steps[node], let z = store[v], z.count == list.count else { return nil }
            bits[node] = list.indices.map { k in
                let nr = list[k]
                guard nr.binary != nil else { return 0 }
                return (z[k] >= 0) == nr.rightWhenOne ? 1 : 0
            }
        }
        return bits
    }

    /// The slopes of pattern `bits` (stable neurons their fixed slope).
    func slopes(_ bits: [Int: [Double]]) -> [Int: [Double]] {
        var out: [Int: [Double]] = [:]
        for (node, list) in neurons {
            let b = bits[node] ?? []
            out[node] = list.indices.map { k in
                if let s = list[k].fixedSlope { return s }
                return (k < b.count && b[k] > 0.5) ? list[k].slope1 : list[k].slope0
            }
        }
        return out
    }

    /// A point of the box inside the region of pattern `bits` with a positive margin from
    /// every kink, or nil (no such point, or the LP is not solved).
    func witness(_ bits: [Int: [Double]], deadline: Date?) -> [Double]? {
        do {
            for (node, list) in neurons {
                for (k, nr) in list.enumerated() {
                    guard let b = nr.binary else { continue }
                    let v = (bits[node]?[k] ?? 0) > 0.5 ? 1.0 : 0.0
                    try lp.lp.setVariableBounds(b, lower: v, upper: v)
                }
            }
        } catch { return nil }
        let left = deadline.map { $0.timeIntervalSinceNow } ?? 10
        guard left > 0 else { return nil }
        var opts = LPOptions(timeLimit: Swift.min(10, left))
        opts.integer = false
        let res = lp.lp.solve(options: opts)
        guard res.status == .optimal, let m = res.objective, m > 1e-9, res.primal.count > margin else { return nil }
        let box = problem.box
        return inputs.map { Swift.min(box.upper[$0], Swift.max(box.lower[$0], res.primal[$0])) }
    }

    /// Steepest-feasible ascent on the pattern from `start` for `seed`: returns the best true
    /// gradient norm found at an LP point (dual norm `norm`) and that point, or nil when no flip
    /// gained over `startValue`.
    /// - Parameter trueNorm: the model's gradient norm at a point (the caller's own evaluation).
    func ascend(from start: [Double], startValue: Double, seed: [Double], norm: LipschitzNorm, deadline: Date?,
                trueNorm: ([Double]) throws -> Double) -> (Double, [Double])? {
        func expired() -> Bool { deadline.map { Date() >= $0 } ?? false }
        guard var bits = pattern(at: start) else { return nil }
        var best = startValue
        var found: (Double, [Double])? = nil
        var improved = true
        while improved && !expired() {
            improved = false
            // Rank every single flip by the flipped pattern's gradient norm.
            var ranked: [(value: Double, node: Int, k: Int)] = []
            for u in unstable {
                if expired() { return found }
                var b = bits
                b[u.node]![u.k] = 1 - b[u.node]![u.k]
                guard let g = try? problem.patternGradient(seed: seed, slopes: slopes(b)) else { continue }
                let v = Lipschitz.dualNorm(g, norm)
                if v.isFinite && v > best * (1 + 1e-9) { ranked.append((v, u.node, u.k)) }
            }
            ranked.sort { $0.value > $1.value }
            for r in ranked {
                if expired() { return found }
                var b = bits
                b[r.node]![r.k] = 1 - b[r.node]![r.k]
                guard let x = witness(b, deadline: deadline), let v = try? trueNorm(x), v.isFinite else { continue }
                // The true norm at the LP's point decides (a point off the pattern's region, by
                // the LP's tolerances, simply counts for what it is).
                if v > best * (1 + 1e-9) {
                    best = v
                    found = (v, x)
                    bits = pattern(at: x) ?? b
                    improved = true
                    break
                }
            }
        }
        return found
    }
}


