import Foundation
import CertusTensor
import CertusGraph
import CertusSpec
import CertusBounds
import CertusVerify

/// The input norm a local Lipschitz constant is measured in. The constant of output j over a
/// region R is max over R of ||grad f_j(x)||_q, q the dual norm (L-inf input: the gradient's
/// L1 norm; L2: L2; L1: L-inf).
public enum LipschitzNorm: String, Sendable, Codable, CaseIterable {
    case inf, l2 = "2", l1 = "1"
}

/// Knobs of `Certus.lipschitz` (one documented root; `certus lipschitz` sets them).
public struct LipschitzSettings: Sendable {
    /// Input norm (default L-inf, the norm of the reference values).
    public var norm: LipschitzNorm = .inf
    /// Model outputs to analyse (default: all).
    public var outputs: [Int]? = nil
    /// Bound method on the Jacobian graph (default alpha-CROWN: CROWN with optimised relaxations).
    public var method: BoundMethod = .alphaCrown
    /// Uniform samples inside the region for the attained lower bound (default 1000), plus the
    /// centre and the box's corners picked by the gradient's signs.
    public var samples: Int = 1000
    /// Projected ascent runs per output on the gradient norm (finite-difference
    /// Hessian-vector products; every iterate's true gradient norm counts), default 20 x 50 steps.
    public var ascentRuns: Int = 20
    /// Steps of each projected ascent run.
    public var ascentSteps: Int = 50
    /// Annealed ascent runs per output on a smoothed surrogate of the network (each kink's
    /// step a logistic whose temperature falls over the run; the true gradient norm is what
    /// counts), from the centre and the best samples; default 2 x 100 steps.
    public var smoothedRuns: Int = 2
    /// Steps of each annealed smoothed-surrogate run.
    public var smoothedSteps: Int = 100
    /// Seed of the sampler (default 0): the same inputs give the same result.
    public var seed: UInt64 = 0
    /// Stop refining at this time (the certified bound reached so far is reported).
    public var deadline: Date? = nil
    /// Wall-clock seconds the search for attained values (sampling, ascent, pattern ascent) may
    /// take after the certified bound of the whole region, within `deadline`. nil (default):
    /// without branching and with a `deadline`, 4 x the bound's own time and at least 1 s
    /// (a plain CROWN bound of mnist-net_256x2 then takes about a second in all, not the time
    /// limit's search share); with branching, or without a deadline, no budget of its own (the
    /// search ends by itself or at its share of the deadline; docs/benchmarks.md, "Lipschitz,
    /// fifth part" and "sixth part").
    public var searchSeconds: Double? = nil
    /// Branch and bound until the certified bound is at most this ratio times the attained lower
    /// bound (overall: the largest over the outputs), or the deadline (needed for branching)
    /// passes; nil: no branching (the bound of the whole region).
    public var targetRatio: Double? = nil
    /// What branch and bound splits (default: the region when it has few free inputs, else the
    /// Jacobian graph's forward pre-activations).
    public var branching: LipschitzBranching = .auto
    /// Called from worker threads with the branch-and-bound progress (nil: silence).
    public var progress: (@Sendable (LipschitzProgress) -> Void)? = nil
    /// The defaults (L-inf input norm, alpha-CROWN, every output, no branching).
    public init() {}
}

/// Bounds on one output's local Lipschitz constant over a region.
public struct LipschitzBound: Sendable, Codable, Equatable {
    /// The model output (index into its flattened output).
    public var output: Int
    /// A gradient norm attained at a point inside the region (a valid lower bound).
    public var lower: Double
    /// The point where `lower` is attained (flattened input).
    public var lowerPoint: [Double]
    /// Certified upper bound (bound propagation on the Clarke Jacobian graph).
    public var upper: Double
    /// The naive bound (product of the layers' operator norms times the activations' largest
    /// slopes), for a chain of layers; nil otherwise.
    public var naive: Double?
}

/// The result of `Certus.lipschitz` (`LipschitzReport.result`).
public struct LipschitzResult: Sendable, Codable, Equatable {
    /// The input norm (the gradient is measured in its dual norm).
    public var norm: LipschitzNorm
    /// The region: per input coordinate its lower and upper end.
    public var regionLower: [Double]
    /// The upper ends, per input coordinate.
    public var regionUpper: [Double]
    /// One entry per analysed output: attained lower bound, certified upper bound, naive bound.
    public var perOutput: [LipschitzBound]
    /// Over the outputs: the largest lower bound and the largest certified upper bound (the
    /// L_p -> L-inf constant of the output vector).
    public var lower: Double
    /// The largest certified upper bound over the outputs (see `lower`).
    public var upper: Double
    /// The naive bound over the outputs (product of operator norms and derivative bounds), or nil where it is not defined.
    public var naive: Double?
    /// upper / lower (infinity when lower is 0).
    public var ratio: Double { lower > 0 ? upper / lower : .infinity }
    /// Branch-and-bound domains bounded (1 without branching).
    public var domains: Int
    /// Wall-clock seconds of the whole analysis, and of the certified bound alone (the bound
    /// propagation and branching; the rest is the search for the attained lower bound).
    public var timeSeconds: Double
    /// Wall-clock seconds of the certified bound alone (see `timeSeconds`).
    public var boundSeconds: Double
    /// Whether the analysis finished: with a target ratio, whether upper <= ratio x lower was
    /// reached (to a relative 1e-5: goals are raised by 1e-6 past attained values); without,
    /// whether the deadline left the bound pass alone (false: `upper` is the best certified
    /// bound reached so far; it is still a bound).
    public var complete: Bool
    /// The bound method on the Jacobian graph (`crown` or `alpha-crown`), with `+bab` when branching ran.
    public var method: String
}

/// Certified local Lipschitz constants (Shi et al., NeurIPS 2022): the Clarke Jacobian as a
/// graph (`JacobianGraph`), bounded by the same engine as the network itself, beside attained
/// lower bounds and the naive bound.
package enum Lipschitz {
    /// Analyses `model` (first output) over `box`.
    /// - Throws: `JacobianError` for a model without gradient nodes (the node named),
    ///   `BoundError` from the engine, or a bad region (empty or not finite, wrong size).
    package static func analyze(model: Graph, box: InputBox, settings: LipschitzSettings = LipschitzSettings()) throws -> LipschitzResult {
        try analyze(model: model, box: box, setup: Setup(model: model, settings: settings), settings: settings)
    }

    /// What every box of one analysis shares: the outputs and their seeds, the Jacobian graph,
    /// its bound engine and the naive bounds (built once per model, not per box).
    struct Setup {
        var outputs: [Int]
        var seeds: [[Double]]
        var jacobian: JacobianGraph
        var engine: BoundEngine
        /// The same Jacobian graph with CROWN's constant default lines for the smooth gradient
        /// nodes (`ActivationDerivative.constantDefault`), for a second CROWN bound of which
        /// the smaller is kept; nil when every gradient node is piecewise constant (its default
        /// is the constant already).
        var constantDefaultEngine: BoundEngine?
        var naive: [Double]?

        init(model: Graph, settings: LipschitzSettings) throws {
            let m = model.outputCount
            outputs = settings.outputs ?? Array(0..<m)
            for j in outputs where j < 0 || j >= m { throw JacobianError("output \(j) does not exist (the model has \(m))") }
            let seeds = outputs.map { j in (0..<m).map { $0 == j ? 1.0 : 0.0 } }
            self.seeds = seeds
            jacobian = try JacobianGraph(model: model, seeds: seeds, quantity: settings.norm == .inf ? .absoluteSum : .gradient)
            engine = BoundEngine(graph: jacobian.graph)
            var alternate = jacobian.graph, smooth = false
            for k in alternate.nodes.indices {
                guard var d = alternate.nodes[k].op as? ActivationDerivative,
                      d.base.derivativeRelaxation(l: -1, u: 1) == nil else { continue }
                d.constantDefault = true
                alternate.nodes[k].op = d
                smooth = true
            }
            constantDefaultEngine = smooth && settings.method == .crown ? BoundEngine(graph: alternate) : nil
            naive = Lipschitz.naiveBounds(jacobian, seeds: seeds, norm: settings.norm)
        }
    }

    static func analyze(model: Graph, box: InputBox, setup: Setup, settings: LipschitzSettings) throws -> LipschitzResult {
        let start = Date()
        let n = model.inputCount
        guard box.count == n else { throw JacobianError("the region has \(box.count) inputs, the model \(n)") }
        guard zip(box.lower, box.upper).allSatisfy({ $0.0 <= $0.1 && $0.0.isFinite && $0.1.isFinite }) else {
            throw JacobianError("the region is empty or not finite")
        }
        // The bound of the whole region and the search for attained values each get a share of
        // the time (alpha-CROWN returns its best bound at its deadline): 80% and the rest without
        // branching, 10% and at most 30% with it (branch and bound has the rest, and starts as
        // soon as the search ends; on mnist-net_256x2 at
        // eps 0.01 the branching gains more from the time than the root's alpha-CROWN does:
        // docs/benchmarks.md, "Lipschitz, fifth part").
        var rootSettings = settings, searchSettings = settings
        if let d = settings.deadline {
            let total = Swift.max(0, d.timeIntervalSince(start))
            let branching = settings.targetRatio != nil
            rootSettings.deadline = start.addingTimeInterval((branching ? 0.1 : 0.8) * total)
            searchSettings.deadline = start.addingTimeInterval((branching ? 0.4 : 1.0) * total)
        }
        var upper = try certifiedUpper(setup.jacobian, engine: setup.engine, box: box, settings: rootSettings)
        if let alternate = setup.constantDefaultEngine {
            // Two sound CROWN bounds (each gradient node's default lines sloped or constant):
            // the smaller holds.
            let other = try certifiedUpper(setup.jacobian, engine: alternate, box: box, settings: rootSettings)
            for q in upper.indices where other[q] < upper[q] { upper[q] = other[q] }
        }
        let boundSeconds = Date().timeIntervalSince(start)
        // The search's own budget (`searchSeconds`), within its share of the deadline.
        let budget = settings.searchSeconds
            ?? (settings.targetRatio == nil && settings.deadline != nil ? Swift.max(1, 4 * boundSeconds) : nil)
        if let budget {
            let end = Date(timeIntervalSinceNow: Swift.max(0, budget))
            searchSettings.deadline = Swift.min(searchSettings.deadline ?? end, end)
        }
        let rootFinished = rootSettings.deadline.map { Date() < $0 } ?? true
        var per: [LipschitzBound] = []
        for (q, j) in setup.outputs.enumerated() {
            // Each output gets an equal share of the search time left (one that finishes early
            // leaves its time to the next): under load, the first outputs must not take it all.
            var mine = searchSettings
            mine.deadline = searchSettings.deadline.map { Date(timeIntervalSinceNow: Swift.max(0, $0.timeIntervalSinceNow) / Double(setup.outputs.count - q)) }
            let (lo, x) = try attained(model: model, seed: setup.seeds[q], box: box, norm: settings.norm, settings: mine, stream: UInt64(j))
            per.append(LipschitzBound(output: j, lower: lo, lowerPoint: x, upper: Swift.max(upper[q], lo), naive: setup.naive?[q]))
            // (upper >= lo always holds for a sound bound; max keeps a rounding tie readable.)
            if upper[q] < lo * (1 - 1e-9) - 1e-12 {
                throw JacobianError("internal error: certified bound \(upper[q]) below the attained gradient norm \(lo) for output \(j)")
            }
        }
        // (The pattern search gets at least 8% of the time limit: it decides the lower bound the
        // overall ratio divides by, and on mnist-net_256x2 ends by itself within about 3 s.)
        let patternDeadline = budget != nil ? searchSettings.deadline : searchSettings.deadline.map { d in
            let total = settings.deadline.map { Swift.max(0, $0.timeIntervalSince(start)) } ?? 0
            return Swift.max(d, Swift.min(settings.deadline ?? d, Date(timeIntervalSinceNow: 0.08 * total)))
        }
        try patternSearch(model: model, box: box, setup: setup, settings: settings, deadline: patternDeadline, per: &per)
        var domains = 1
        if settings.targetRatio != nil {
            domains += try branch(model: model, box: box, setup: setup, settings: settings, per: &per, progress: settings.progress)
            for b in per where b.upper < b.lower * (1 - 1e-9) - 1e-12 {
                throw JacobianError("internal error: certified bound \(b.upper) below the attained gradient norm \(b.lower) for output \(b.output) after branching")
            }
        }
        let lower = per.map(\.lower).max() ?? 0, upperAll = per.map(\.upper).max() ?? 0
        let complete: Bool
        if let r = settings.targetRatio { complete = upperAll <= r * lower * (1 + 1e-5) }
        else { complete = rootFinished }
        return LipschitzResult(norm: settings.norm, regionLower: box.lower, regionUpper: box.upper, perOutput: per,
                               lower: lower, upper: upperAll,
                               naive: per.allSatisfy { $0.naive != nil } ? per.compactMap(\.naive).max() : nil,
                               domains: domains, timeSeconds: Date().timeIntervalSince(start), boundSeconds: boundSeconds,
                               complete: complete, method: settings.method.rawValue + (domains > 1 ? " + branch and bound" : ""))
    }

    /// Coordinate ascent on the activation pattern (`PatternAscent`, piecewise-linear networks
    /// only) from each output's best attained point, raising `per`'s lower bounds (each a true
    /// gradient norm at a point of the box, recomputed on the model). Only the largest lower bound
    /// enters the overall ratio, so the outputs go in decreasing order of their attained value;
    /// the first gets up to half of the time left before `deadline`, the others together at most
    /// a tenth of what it leaves (an equal share each). Each output's ascent ends when no single
    /// flip gains.
    static func patternSearch(model: Graph, box: InputBox, setup: Setup, settings: LipschitzSettings, deadline: Date?,
                              per: inout [LipschitzBound]) throws {
        guard let patterns = PatternAscent(model: model, box: box, deadline: deadline) else { return }
        let order = per.indices.sorted { per[$0].lower > per[$1].lower }
        var othersEnd = deadline
        for (r, q) in order.enumerated() {
            if r == 1, let d = deadline { othersEnd = Date(timeIntervalSinceNow: 0.1 * Swift.max(0, d.timeIntervalSinceNow)) }
            let left = othersEnd.map { Swift.max(0, $0.timeIntervalSinceNow) } ?? .infinity
            if left <= 0 { return }
            let stop = deadline == nil ? nil : Date(timeIntervalSinceNow: left * (r == 0 ? 0.5 : 1 / Double(order.count - r)))
            let seed = setup.seeds[q]
            func trueNorm(_ x: [Double]) throws -> Double {
                dualNorm(try model.gradient(at: x, outputWeights: seed).dx, settings.norm)
            }
            let x0 = per[q].lowerPoint
            guard x0.count == box.count, let v0 = try? trueNorm(x0) else { continue }
            if let (_, x) = patterns.ascend(from: x0, startValue: v0, seed: seed, norm: settings.norm, deadline: stop, trueNorm: trueNorm) {
                // Moved a relative 1e-9 towards the centre and re-evaluated there, as every
                // attained point (see `attained`).
                var xc = x
                for i in 0..<box.count {
                    let mid: Double = 0.5 * (box.lower[i] + box.upper[i])
                    xc[i] += 1e-9 * (mid - x[i])
                }
                let v = try trueNorm(xc)
                if v.isFinite && v > per[q].lower {
                    if per[q].upper < v * (1 - 1e-9) - 1e-12 {
                        throw JacobianError("internal error: certified bound \(per[q].upper) below the attained gradient norm \(v) for output \(per[q].output)")
                    }
                    per[q].lower = v; per[q].lowerPoint = xc
                    per[q].upper = Swift.max(per[q].upper, v)
                }
            }
        }
    }

    /// Analyses `model` over the union of `boxes` (a VNN-LIB region with several input boxes):
    /// per output the largest lower and upper bound over the boxes.
    package static func analyze(model: Graph, boxes: [InputBox], settings: LipschitzSettings = LipschitzSettings()) throws -> LipschitzResult {
        guard let first = boxes.first else { throw JacobianError("the region has no input box") }
        let setup = try Setup(model: model, settings: settings)
        var result = try analyze(model: model, box: first, setup: setup, settings: settings)
        for box in boxes.dropFirst() {
            let r = try analyze(model: model, box: box, setup: setup, settings: settings)
            for k in result.perOutput.indices {
                if r.perOutput[k].lower > result.perOutput[k].lower {
                    result.perOutput[k].lower = r.perOutput[k].lower; result.perOutput[k].lowerPoint = r.perOutput[k].lowerPoint
                }
                result.perOutput[k].upper = Swift.max(result.perOutput[k].upper, r.perOutput[k].upper)
            }
            result.regionLower = zip(result.regionLower, r.regionLower).map { Swift.min($0, $1) }
            result.regionUpper = zip(result.regionUpper, r.regionUpper).map { Swift.max($0, $1) }
            result.lower = Swift.max(result.lower, r.lower); result.upper = Swift.max(result.upper, r.upper)
            result.domains += r.domains; result.timeSeconds += r.timeSeconds; result.boundSeconds += r.boundSeconds
            result.complete = result.complete && r.complete
        }
        return result
    }

    /// Per seed, the certified upper bound of ||g||_q over the box.
    static func certifiedUpper(_ jac: JacobianGraph, engine: BoundEngine, box: InputBox, settings: LipschitzSettings) throws -> [Double] {
        var bs = BoundSettings(method: settings.method)
        bs.deadline = settings.deadline
        let m = jac.seeds.count, n = jac.inputCount
        switch jac.quantity {
        case .absoluteSum:
            let atoms = (0..<m).map { q in LinearAtom(c: (0..<m).map { $0 == q ? 1.0 : 0.0 }, d: 0) }
            // The upper bound of row q is -(lower bound of -s_q): bound the negated rows.
            let neg = atoms.map { LinearAtom(c: $0.c.map { -$0 }, d: 0) }
            let rows = try engine.bound(box: box, atoms: neg, settings: bs)
            return rows.map { r in
                let u = -r.lower
                return u.isNaN ? .infinity : u
            }
        case .gradient:
            var atoms: [LinearAtom] = []
            for k in 0..<(m * n) {
                var c = [Double](repeating: 0, count: m * n); c[k] = 1
                atoms.append(LinearAtom(c: c, d: 0))
            }
            let rows = try engine.bound(box: box, atoms: atoms, settings: bs)
            return (0..<m).map { q in
                let mags = (0..<n).map { i -> Double in
                    let r = rows[q * n + i]
                    let v = Swift.max(Swift.abs(r.lower), Swift.abs(r.upper))
                    return v.isNaN ? .infinity : v
                }
                switch settings.norm {
                case .l2:
                    // sqrt(sum max(l^2, u^2)), rounded up by a relative 1e-12 per operation.
                    let s = mags.reduce(0) { $0 + $1 * $1 } * (1 + 1e-12 * Double(n + 1))
                    return s.squareRoot() * (1 + 1e-15)
                case .l1: return mags.max() ?? 0
                case .inf: return mags.reduce(0, +) * (1 + 1e-12 * Double(n + 1))
                }
            }
        }
    }

    /// The dual norm q of `norm` of a gradient.
    static func dualNorm(_ g: [Double], _ norm: LipschitzNorm) -> Double {
        switch norm {
        case .inf: return g.reduce(0) { $0 + Swift.abs($1) }
        case .l2: return g.reduce(0) { $0 + $1 * $1 }.squareRoot()
        case .l1: return g.map { Swift.abs($0) }.max() ?? 0
        }
    }

    /// The naive bound per seed, for a chain model: ||J_last^T c||_q times, for every earlier
    /// layer, the activation's largest |f'| times the layer's operator norm for the dual norm.
    static func naiveBounds(_ jac: JacobianGraph, seeds: [[Double]], norm: LipschitzNorm) -> [Double]? {
        guard let chain = jac.chain, !chain.isEmpty else { return nil }
        func opNorm(_ J: [Double], rows: Int, cols: Int) -> Double {
            // ||J^T v||_q <= ||.|| ||v||_q.
            var rowSums = [Double](repeating: 0, count: rows), colSums = [Double](repeating: 0, count: cols)
            var frob = 0.0
            for r in 0..<rows { for c in 0..<cols { let a = Swift.abs(J[r * cols + c]); rowSums[r] += a; colSums[c] += a; frob += a * a } }
            switch norm {
            case .inf: return rowSums.max() ?? 0                       // ||J^T||_{1->1} = max row sum of J
            case .l1: return colSums.max() ?? 0                        // ||J^T||_{inf->inf} = max column sum of J
            case .l2: return Swift.min(frob.squareRoot(), ((rowSums.max() ?? 0) * (colSums.max() ?? 0)).squareRoot())
            }
        }
        var slopes: [Double] = []
        for step in chain.dropLast() {
            guard let a = step.activation, let d = ActivationDerivative(base: a) else { return nil }
            let r = d.largestMagnitude
            guard r.isFinite else { return nil }
            slopes.append(r)
        }
        guard chain.last?.activation == nil else { return nil }
        let inner = zip(chain.dropLast(), slopes).reduce(1.0) { $0 * opNorm($1.0.jacobian, rows: $1.0.rows, cols: $1.0.cols) * $1.1 }
        let last = chain.last!
        return seeds.map { c in
            var v = [Double](repeating: 0, count: last.cols)
            for o in 0..<last.rows where c[o] != 0 { for k in 0..<last.cols { v[k] += c[o] * last.jacobian[o * last.cols + k] } }
            return dualNorm(v, norm) * inner
        }
    }
}
