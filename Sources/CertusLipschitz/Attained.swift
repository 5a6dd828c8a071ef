import Foundation
import CertusTensor
import CertusGraph
import CertusSpec
import CertusBounds
import CertusVerify

/// An activation evaluated exactly but differentiated through its smoothed derivative
/// (`ClarkeDerivative.smoothedDerivative`): the surrogate model whose gradient steers the
/// search for large gradient norms. Evaluation only (never bounded, never loaded).
struct SmoothedActivation: ElementwiseUnary {
    static let opType = "SmoothedActivation"
    let base: any ClarkeDerivative
    let temperature: Double
    static func make(_ node: NodeContext) throws -> Self { throw node.unsupported("an internal evaluation-only operator") }
    static var representatives: [Self] { [] }
    func apply(_ x: Double) -> Double { base.apply(x) }
    func derivative(_ x: Double, _ y: Double) -> Double { base.smoothedDerivative(x, temperature: temperature) }
    func image(l: Double, u: Double) -> (Double, Double) { base.image(l: l, u: u) }
    func boundKind(constantInputs: [Bool]) -> BoundKind { .unsupported("an evaluation-only surrogate") }
}

extension Lipschitz {
    /// The largest true gradient norm found at points inside the box: its centre, uniform
    /// samples, projected ascent on the norm from the best samples, and an annealed ascent on
    /// a smoothed surrogate. Every value reported is the gradient's exact norm at a point of
    /// the box (a valid lower bound on the local constant).
    static func attained(model: Graph, seed: [Double], box: InputBox, norm: LipschitzNorm, settings: LipschitzSettings,
                         stream: UInt64) throws -> (Double, [Double]) {
        var rng = SplitMix64(seed: settings.seed &+ 0x9E37_79B9_7F4A_7C15 &* (stream + 1))
        let n = box.count
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        func grad(_ x: [Double]) throws -> [Double] { try model.gradient(at: x, outputWeights: seed).dx }
        var best = -1.0, bestX = box.lower
        var pool: [(Double, [Double])] = []
        let centre = (0..<n).map { 0.5 * (box.lower[$0] + box.upper[$0]) }
        func consider(_ point: [Double]) throws -> [Double] {
            // Moved a relative 1e-9 towards the centre: a point on a face may sit exactly on a
            // kink whose other side lies outside the region, where the gradient the model returns
            // (one element of the Clarke set) is no limit of gradients inside the region. The
            // analysis bounds the supremum over points where f is differentiable (the Lipschitz
            // constant of f on the region), so the attained value must come from such a point.
            let x = zip(point, centre).map { $0 + 1e-9 * ($1 - $0) }
            let g = try grad(x)
            let v = dualNorm(g, norm)
            if v.isFinite && v > best { best = v; bestX = x }
            pool.append((v, x))
            return g
        }
        func expired() -> Bool { settings.deadline.map { Date() >= $0 } ?? false }
        let width = (0..<n).map { box.upper[$0] - box.lower[$0] }
        _ = try consider(centre)
        // Uniform points, and (every other sample) points on the box's faces: each coordinate at
        // a random end with probability 1/2, else uniform (maximisers of piecewise-linear
        // networks' gradient norms often sit on faces: several inputs at their bounds).
        // The samples take at most half of the time left (a short search budget, as without
        // branching, still reaches the ascents, which find the large values on ReLU networks).
        let samplesEnd = settings.deadline.map { Date(timeIntervalSinceNow: 0.5 * Swift.max(0, $0.timeIntervalSinceNow)) }
        for k in 0..<settings.samples {
            if expired() || samplesEnd.map({ Date() >= $0 }) == true { break }
            _ = try consider((0..<n).map { i in
                if k % 2 == 1 && uniform() < 0.5 { return uniform() < 0.5 ? box.lower[i] : box.upper[i] }
                return box.lower[i] + (box.upper[i] - box.lower[i]) * uniform()
            })
        }
        /// The ascent direction of ||g||_q at gradient g: the dual-norm subgradient s.
        func direction(_ g: [Double]) -> [Double] {
            switch norm {
            case .inf: return g.map { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
            case .l2: let z = Swift.max(1e-300, dualNorm(g, .l2)); return g.map { $0 / z }
            case .l1:
                let k = g.indices.max { Swift.abs(g[$0]) < Swift.abs(g[$1]) } ?? 0
                return g.indices.map { $0 == k ? (g[k] >= 0 ? 1 : -1) : 0 }
            }
        }
        /// A sign step of `step` times the box's width along `hs`, projected back (nil: no move).
        func signStep(_ x: [Double], _ hs: [Double], _ step: Double) -> [Double]? {
            var moved = false
            let next = (0..<n).map { i -> Double in
                let d = hs[i] > 0 ? 1.0 : (hs[i] < 0 ? -1.0 : 0)
                if d != 0 { moved = true }
                return Swift.min(box.upper[i], Swift.max(box.lower[i], x[i] + step * width[i] * d))
            }
            return moved ? next : nil
        }

        // 1. Annealed ascent on a smoothed surrogate. On piecewise-linear networks the gradient
        // is piecewise constant, so its norm gives no ascent direction; replacing each kink's
        // step by a logistic of temperature t (relative to the typical |pre-activation| of its
        // node at the centre), lowered from 1 to 0.03 over the run, lets the search cross
        // activation boundaries towards patterns with larger gradients. (On mnist-net_256x2 at
        // eps 0.01 this reaches 49.4 where uniform samples stay near 1.)
        let surrogate = SmoothedSurrogate(model: model, centre: centre)
        if let surrogate {
            let starts = [centre] + pool.sorted { $0.0 > $1.0 }.prefix(Swift.max(0, settings.smoothedRuns - 1)).map(\.1)
            for x0 in starts.prefix(settings.smoothedRuns) {
                var x = x0
                let steps = Swift.max(1, settings.smoothedSteps)
                for t in 0..<steps {
                    if expired() { break }
                    let rho = pow(0.03, Double(t) / Double(Swift.max(1, steps - 1)))
                    let smooth = surrogate.graph(relativeTemperature: rho)
                    let g = try smooth.gradient(at: x, outputWeights: seed).dx
                    let s = direction(g)
                    let h = 1e-5 * Swift.max(1e-6, width.max() ?? 1)
                    let gp = try smooth.gradient(at: zip(x, s).map { $0 + h * $1 }, outputWeights: seed).dx
                    let gm = try smooth.gradient(at: zip(x, s).map { $0 - h * $1 }, outputWeights: seed).dx
                    let hs = zip(gp, gm).map { ($0 - $1) / (2 * h) }
                    guard let next = signStep(x, hs, 0.1) else { break }
                    x = next
                    _ = try consider(x)
                }
            }
        }

        // 2. Projected ascent on the true norm from the best points: the gradient of ||g(x)||_q
        // is H(x) s with s the dual-norm subgradient direction; H s by central differences of
        // the gradient.
        pool.sort { $0.0 > $1.0 }
        let starts = pool.prefix(settings.ascentRuns).map(\.1)
        for (runIndex, x0) in starts.enumerated() {
            var x = x0
            var stepIndex = 0
            var step = 0.1
            for _ in 0..<settings.ascentSteps {
                if expired() { break }
                let g = try grad(x)
                let s = direction(g)
                // Step of the finite difference: small (curvature of smooth activations) and
                // large, a share of the box (on piecewise-linear nets the gradient only changes
                // across activation boundaries: a wide difference sees them, acting as a smoothing).
                let scales = [1e-4, 0.3, 0.1, 0.03]
                let h = scales[(stepIndex + runIndex) % scales.count] * Swift.max(1e-6, width.max() ?? 1)
                stepIndex += 1
                let gp = try grad(zip(x, s).map { $0 + h * $1 }), gm = try grad(zip(x, s).map { $0 - h * $1 })
                let hs = zip(gp, gm).map { ($0 - $1) / (2 * h) }
                guard let next = signStep(x, hs, step) else { break }
                x = next
                _ = try consider(x)
                step *= 0.93
            }
        }
        return (Swift.max(0, best), bestX)
    }
}

/// The model with each activation that has a gradient node replaced by its smoothed stand-in
/// (`SmoothedActivation`), at a temperature per node proportional to the median |input| of
/// that node at the centre of the region (nil when the model has no such activation).
struct SmoothedSurrogate {
    let model: Graph
    /// Node index -> (activation, its scale).
    let kinks: [(index: Int, base: any ClarkeDerivative, scale: Double)]

    init?(model: Graph, centre: [Double]) {
        guard let store = try? model.evaluateAll(centre) else { return nil }
        var kinks: [(Int, any ClarkeDerivative, Double)] = []
        for (i, node) in model.nodes.enumerated() {
            guard let base = node.op as? any ClarkeDerivative, node.inputs.count == 1, let z = store[node.inputs[0]] else { continue }
            let mags = z.map { Swift.abs($0) }.filter(\.isFinite).sorted()
            let median = mags.isEmpty ? 1 : mags[mags.count / 2]
            kinks.append((i, base, median > 0 ? median : Swift.max(1e-6, mags.last ?? 1)))
        }
        guard !kinks.isEmpty else { return nil }
        self.model = model
        self.kinks = kinks.map { (index: $0.0, base: $0.1, scale: $0.2) }
    }

    /// The surrogate with temperature `rho` times each node's scale.
    func graph(relativeTemperature rho: Double) -> Graph {
        var nodes = model.nodes
        for k in kinks {
            let old = nodes[k.index]
            nodes[k.index] = Node(name: old.name, opType: SmoothedActivation.opType,
                                  op: SmoothedActivation(base: k.base, temperature: rho * k.scale), inputs: old.inputs, output: old.output)
        }
        return Graph(values: model.values, constants: model.constants, nodes: nodes, input: model.input, outputs: model.outputs,
                     metadata: model.metadata)
    }
}
