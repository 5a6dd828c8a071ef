import Foundation
import CertusGraph
import CertusSpec
import CertusBounds
import CertusVerify

/// How `Lipschitz.analyze` tightens a certified bound by branch and bound.
public enum LipschitzBranching: String, Sendable, Codable, CaseIterable {
    /// No branching: the bound of the whole region (CROWN or alpha-CROWN).
    case none
    /// Input splitting for regions with few free inputs (at most
    /// `VerifierSettings.inputSplitMaxDimension`), neuron splitting otherwise.
    case auto
    /// Split the forward pre-activations of the Jacobian graph (beta-CROWN / GenBaB).
    case neurons = "neuron-split"
    /// Split the region (input coordinates).
    case inputs = "input-split"
}

/// A snapshot of a Lipschitz branch-and-bound run (for a progress line).
public struct LipschitzProgress: Sendable, Equatable {
    /// The output being tightened.
    public var output: Int
    /// The certified upper bound of that output reached so far, and the goal it is branching
    /// towards (target ratio times the largest attained lower bound).
    public var upper: Double
    /// The goal branch and bound is proving (`s <= goal` on every domain).
    public var goal: Double
    /// The branch-and-bound snapshot of the run.
    public var search: BranchAndBoundProgress
}

extension Lipschitz {
    /// Branch and bound on the Jacobian graph (item 4 of the issue; Shi et al. 2022, section 4):
    /// the certified bound of output q is the largest bound over the open domains of a split of
    /// the region (its forward pre-activations, or the input box), and it is driven towards
    /// `goal` = target ratio x the largest attained lower bound. The search is the verifier's
    /// own branch and bound (`BranchAndBoundProver` or `InputSplitProver`) on the property
    /// "s_q(x) >= goal" over the Jacobian graph's output s_q (the gradient's dual norm, or for
    /// the L1 input norm each |g_q,i|): a domain is closed when its bound shows s_q < goal, the
    /// global lower bound of (goal - s_q) over the open domains gives the certified
    /// goal - globalLower, and a counterexample is a point whose true gradient norm (recomputed
    /// on the model, never taken from the search) raises the lower bound and the goal.
    ///
    /// Updates `per` in place (upper bounds only ever decrease, lower bounds only increase) and
    /// returns the number of domains bounded.
    static func branch(model: Graph, box: InputBox, setup: Setup, settings: LipschitzSettings,
                       per: inout [LipschitzBound], progress: (@Sendable (LipschitzProgress) -> Void)?) throws -> Int {
        guard settings.branching != .none, let ratio = settings.targetRatio, ratio >= 1, let deadline = settings.deadline else { return 0 }
        let jac = setup.jacobian
        let m = jac.seeds.count, n = jac.inputCount
        guard jac.quantity == .absoluteSum || settings.norm == .l1 else { return 0 }   // L2: not a linear quantity
        // The splits to try, in turn. auto: a region with few free inputs is split itself (on
        // smooth networks this closes the gap to the attained value within seconds on the zoo);
        // for piecewise-linear networks both kinds are tried, input splits first (they continue
        // where they stopped; neuron splits fix whole activation patterns and restart), then
        // each output keeps to the kind that gained most; a high-dimensional region gets neuron
        // splits only.
        let modes: [Bool]   // true: input splits
        switch settings.branching {
        case .inputs: modes = [true]
        case .neurons: modes = [false]
        default:
            let free = (0..<n).filter { box.upper[$0] > box.lower[$0] }.count
            let piecewiseLinear = model.nodes.allSatisfy { ($0.op as? any ElementwiseRelaxation)?.isPiecewiseLinear ?? true }
            if free <= VerifierSettings().inputSplitMaxDimension { modes = piecewiseLinear ? [true, false] : [true] }
            else { modes = [false] }
        }
        var runsOf = [Int](repeating: 0, count: per.count)
        var stalled = [Int](repeating: 0, count: per.count)
        // Per output and kind of split: the relative drop of the certified bound per second in
        // that kind's last run (nil: not tried yet). After each kind has had one run, an output
        // keeps to the kind that gained most (each run restarts from the whole region, so time
        // spent alternating is lost; mlp_relu_deep at eps 0.0644 closes with neuron splits,
        // norm_mlp_relu at eps 0.282 only with input splits).
        // Input splitting picks up where its last run on the same output and goal stopped.
        let continuations = per.indices.map { _ in InputSplitContinuation() }
        var single: [Int: JacobianGraph] = [:]
        var gainRate = [[Double?]](repeating: [Double?](repeating: nil, count: modes.count), count: per.count)
        var domains = 0
        // Goals raised past points already attained (a counterexample at the attained value
        // itself does not help; the next run of that output asks for a little more).
        var floor = [Double](repeating: 0, count: per.count)
        var runs = 0
        while Date() < deadline && runs < 1000 {
            let overallLower = per.map(\.lower).max() ?? 0
            guard overallLower > 0 else { return domains }
            let base = ratio * overallLower
            // Only the largest upper bound matters for the overall ratio: work on the loosest
            // output (the others are reached when it drops below them).
            let above = per.indices.filter { per[$0].upper > Swift.max(base, floor[$0]) }
            guard let q = above.max(by: { per[$0].upper < per[$1].upper }) else { return domains }
            let goal = Swift.max(base, floor[q])
            let left = deadline.timeIntervalSinceNow
            guard left > 0.05 else { return domains }
            // A share of the time left: the other outputs above the goal may need their turn (and
            // the first of two kinds of split half of it).
            let modeIndex: Int
            if let untried = gainRate[q].firstIndex(where: { $0 == nil }) {
                modeIndex = untried
            } else {
                let rates = gainRate[q].map { $0 ?? 0 }
                let best = rates.max() ?? 0
                // No kind gained: alternate (a longer run may get past a plateau).
                modeIndex = best > 0 ? rates.firstIndex(of: best)! : runsOf[q] % modes.count
            }
            let useInputs = modes[modeIndex]
            // A first try of each kind gets a quarter of the output's share (input splitting loses
            // nothing by it: its next run continues from the domains it left).
            let share = left / Double(above.count) / (modes.count > 1 && gainRate[q][modeIndex] == nil ? 4 : 1)
            let runStart = Date()
            runsOf[q] += 1
            let budget = Deadline(secondsFromNow: share)
            runs += 1
            // The Jacobian graph of this output alone: bounding the others' gradients in every
            // domain would only cost time (half the domains per second with three outputs).
            let own: JacobianGraph
            if m == 1 { own = jac } else if let g = single[q] { own = g } else {
                own = try JacobianGraph(model: model, seeds: [setup.seeds[q]], quantity: jac.quantity)
                single[q] = own
            }
            let property = Property(numInputs: n, numOutputs: own.graph.outputCount,
                                    cases: [PropertyCase(box: box, clauses: clauses(q: 0, m: 1, n: n, goal: goal, quantity: jac.quantity))],
                                    source: "lipschitz output \(per[q].output) >= \(goal)")
            let last = LastProgress()
            let upperNow = per[q].upper, output = per[q].output
            let handler: ProgressHandler = { p in
                last.set(p)
                progress?(LipschitzProgress(output: output, upper: Swift.min(upperNow, goal - Swift.min(0, p.globalLowerBound)),
                                            goal: goal, search: p))
            }
            var vs = VerifierSettings()
            vs.inputSplit.progressInterval = 0.5
            // Neuron splits of a wide region's Jacobian graph (no input splits): re-bound the
            // layers after the first split in every domain (the |g| relaxation needs the
            // gradient's bounds of the domain, not the root's), and branch 16 domains at a time
            // (the search is deep and narrow: a large batch bounds domains that are not the
            // worst, and the one in flight at the deadline is lost). mnist-net_256x2 at eps 0.01,
            // 60 s, under load: certified 100.28 against 100.86 keeping the root's bounds and
            // 100.45 / 100.92 with batches of 8 / 64 (docs/benchmarks.md, "Lipschitz, fifth
            // part"). The few-input zoo regions, where both kinds of split run, lose with them
            // (mlp_relu_deep at eps 0.158: 173.4 against 156.5), so they keep the defaults.
            if !modes.contains(true) {
                vs.reluSplit.reuseRootBounds = false
                vs.reluSplit.batchDomains = 16
            }
            let outcome: ProverOutcome
            var globalLower: Double
            if useInputs {
                outcome = try InputSplitProver(settings: vs, progress: handler, continuation: continuations[q]).prove(graph: own.graph, property: property, deadline: budget)
                let final = last.get()
                globalLower = final?.globalLowerBound ?? -.infinity; domains += final?.bounded ?? 0
            } else {
                let (o, stats) = try BranchAndBoundProver(settings: vs, progress: handler).run(graph: own.graph, property: property, deadline: budget)
                outcome = o
                globalLower = stats.globalLower
                domains += stats.domainsBounded
            }
            switch outcome {
            case .proven:
                // Every domain shows s_q < goal.
                per[q].upper = Swift.min(per[q].upper, goal)
            case .unknown:
                // Closed domains show s_q < goal, open ones s_q <= goal - globalLower.
                if globalLower.isFinite { per[q].upper = Swift.min(per[q].upper, goal - Swift.min(0, globalLower)) }
                // No progress with any kind of split within its share: leave the rest to the
                // other outputs.
                if per[q].upper >= upperNow {
                    stalled[q] += 1
                    if stalled[q] >= modes.count { floor[q] = .infinity }
                } else {
                    stalled[q] = 0
                }
            case .counterexample(let x):
                // A point where the search saw s_q >= goal: its true gradient norm, re-computed
                // on the model, is a lower bound (whatever the search's evaluation said).
                // (Clamped to the box and moved a relative 1e-9 towards its centre, as every attained
                // point: see `attained`.)
                let clamped = zip(x, zip(box.lower, box.upper)).map { v, b -> Double in
                    let c = Swift.min(b.1, Swift.max(b.0, v))
                    return c + 1e-9 * (0.5 * (b.0 + b.1) - c)
                }
                let g = try model.gradient(at: clamped, outputWeights: setup.seeds[q]).dx
                let v = dualNorm(g, settings.norm)
                if v.isFinite, v > per[q].lower { per[q].lower = v; per[q].lowerPoint = clamped }
                floor[q] = Swift.max(goal, v.isFinite ? v : goal) * (1 + 1e-6) + 1e-12
            }
            // A counterexample moves the goal, not the bound: it says nothing about the kind of split.
            if case .counterexample = outcome { continue }
            let seconds = Swift.max(1e-3, Date().timeIntervalSince(runStart))
            gainRate[q][modeIndex] = Swift.max(0, (upperNow - per[q].upper) / Swift.max(1e-300, upperNow)) / seconds
        }
        return domains
    }

    /// The clauses of "the quantity of seed q is at least goal" on the Jacobian graph's output:
    /// s_q >= goal (L-inf input: one atom -s_q <= -goal), or for the gradient itself (L1 input,
    /// quantity max_i |g_q,i|) g_q,i >= goal or -g_q,i >= goal for some i.
    static func clauses(q: Int, m: Int, n: Int, goal: Double, quantity: JacobianGraph.Quantity) -> [Clause] {
        switch quantity {
        case .absoluteSum:
            var c = [Double](repeating: 0, count: m); c[q] = -1
            return [Clause(atoms: [LinearAtom(c: c, d: -goal)])]
        case .gradient:
            var out: [Clause] = []
            for i in 0..<n {
                for sign in [-1.0, 1.0] {
                    var c = [Double](repeating: 0, count: m * n); c[q * n + i] = sign
                    out.append(Clause(atoms: [LinearAtom(c: c, d: -goal)]))
                }
            }
            return out
        }
    }
}

/// The last progress snapshot of a run (written from worker threads).
final class LastProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var value: BranchAndBoundProgress? = nil
    func set(_ p: BranchAndBoundProgress) { lock.lock(); value = p; lock.unlock() }
    func get() -> BranchAndBoundProgress? { lock.lock(); defer { lock.unlock() }; return value }
}
