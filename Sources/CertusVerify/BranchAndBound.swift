import Foundation
import CertusGraph
import CertusSpec
import CertusBounds
import CertusLP
import CertusTensor

/// Complete (ReLU) or anytime (general nonlinearities) verification by branch and bound over
/// neuron splits: beta-CROWN's ReLU splitting (Wang et al., NeurIPS 2021) and its
/// generalisation to any activation, GenBaB (Shi et al., "Neural Network Verification with
/// Branch-and-Bound for General Nonlinearities", TACAS 2025). One design serves both.
///
/// A split is (value, neuron, branching point p, side): it narrows the neuron's pre-activation
/// interval to [l, p] or [p, u]. Each operator says whether and where it can be split
/// (`ElementwiseRelaxation.branchingPoint`: ReLU and LeakyReLU at 0, smooth functions anywhere
/// strictly inside, at the midpoint or a pre-optimised point) and rebuilds its relaxation on the
/// narrowed interval; the split constraints enter the bound as beta-CROWN Lagrangian terms,
/// optimised jointly with the relaxation parameters.
///
/// For each property case (input box), a priority queue holds domains (sets of splits), worst
/// lower bound first. Each domain is bounded over the box with its splits (`BoundEngine.boundDomains`),
/// and every row keeps the best of its own and its parent's lower bound (a child's domain is a
/// subset of its parent's). Domains whose clauses are all refuted (`PropertyBoundReport.refutes`)
/// or whose splits are contradictory (`InfeasibleDomain`) are pruned. The worst domain is split on
/// the neuron chosen by the branching heuristic (`BranchingHeuristic`: BaBSR's intercept score,
/// GenBaB's BBPS estimate, or the widest interval).
///
/// A domain where no neuron can be split any more is a leaf. When every splittable node is
/// piecewise linear (`isPiecewiseLinear`: ReLU, LeakyReLU), its LP (GLPK) is exact and decides it:
/// the optimum refutes it only through the dual re-check `LinearProgram.safeLowerBound` (> 0); an
/// infeasible LP is confirmed with an elastic LP whose re-checked minimum slack is > 0. Other
/// leaves stay open (the answer is then `unknown`). The CROWN minimiser of every domain, and the
/// minimiser of every LP solved to optimality and not refuted, are tried as counterexamples
/// (`CounterexampleCheck`, the verifier's check).
///
/// `.proven` only when every domain of every case is refuted by a sound bound; a failed,
/// time-limited or non-optimal LP leaves its domain open and the answer `unknown`; so do the
/// deadline and the domain limit.
package struct BranchAndBoundProver: PropertyProver {
    package var isComplete: Bool { true }
    package var settings: VerifierSettings
    /// Called with progress snapshots (open domains, domains bounded and closed, the global
    /// lower bound), at most once per `inputSplit.progressInterval` and once per case at the end.
    package var progress: ProgressHandler?
    package var name: String { "bab" }

    package init(settings: VerifierSettings = VerifierSettings(), progress: ProgressHandler? = nil) {
        self.settings = settings
        self.progress = progress
    }

    /// Counts of one run, for the log.
    package struct Statistics: Sendable, Equatable {
        package var domainsBounded = 0
        package var refuted = 0
        package var infeasible = 0
        package var branched = 0
        package var lpSolved = 0
        package var lpRefuted = 0
        package var unresolvedLeaves = 0
        package var maxDepth = 0
        /// Min over the open domains (and unresolved leaves) of the domain lower bound when the
        /// run stopped; +inf when every domain was refuted.
        package var globalLower = Double.infinity
        package init() {}
        mutating func merge(_ o: Statistics) {
            domainsBounded += o.domainsBounded; refuted += o.refuted; infeasible += o.infeasible
            branched += o.branched; lpSolved += o.lpSolved; lpRefuted += o.lpRefuted
            unresolvedLeaves += o.unresolvedLeaves; maxDepth = Swift.max(maxDepth, o.maxDepth)
        }
        package var summary: String {
            "\(domainsBounded) domains bounded, \(branched) branched, \(refuted) refuted, \(infeasible) infeasible, "
                + "\(lpSolved) leaf LPs (\(lpRefuted) refuted), \(unresolvedLeaves) unresolved leaves, depth \(maxDepth), "
                + "global lower bound \(globalLower)"
        }
    }

    package func prove(graph: Graph, property: Property, deadline: Deadline) throws -> ProverOutcome {
        try run(graph: graph, property: property, deadline: deadline).outcome
    }

    /// `prove` with the statistics' summary (domains, depth, global lower bound) for the log.
    package func proveWithSummary(graph: Graph, property: Property, deadline: Deadline) throws -> (ProverOutcome, String?) {
        let (outcome, stats) = try run(graph: graph, property: property, deadline: deadline)
        return (outcome, stats.summary)
    }

    /// Runs the search and returns the outcome with its statistics.
    package func run(graph: Graph, property: Property, deadline: Deadline) throws -> (outcome: ProverOutcome, statistics: Statistics) {
        var stats = Statistics()
        try settings.validate()
        let engine = BoundEngine(graph: graph, semantics: settings.semantics)
        var open = false
        var reasons: [String] = []
        for (ci, pc) in property.cases.enumerated() where !pc.clauses.isEmpty {
            if deadline.hasPassed { return (.unknown("bab: time limit; \(stats.summary)"), stats) }
            var search = CaseSearch(prover: self, engine: engine, graph: graph, property: property, caseIndex: ci, deadline: deadline)
            switch try search.run(stats: &stats) {
            case .counterexample(let x): return (.counterexample(x), stats)
            case .proven: continue
            case .open(let why):
                // Keep going while time is left: another case may still give a counterexample.
                open = true
                reasons.append("case \(ci): \(why)")
            }
        }
        if open { return (.unknown("bab: \(reasons.joined(separator: "; ")); \(stats.summary)"), stats) }
        return (.proven, stats)
    }
}

/// One domain of the search.
private struct Domain {
    var splits: [NeuronSplit]
    /// Lower bound of every atom of the case (indexed like `CaseSearch.atoms`); -inf before bounding.
    var lower: [Double]
    var upper: [Double]
    /// Clauses not yet refuted.
    var openClauses: [Int]
    /// min over open clauses of max over the clause's rows of the lower bound.
    var worst: Double
    /// The neuron to split next and where, or nil at a leaf (nothing left to split).
    var branch: (value: Int, index: Int, point: Double)?
}

private enum CaseResult { case proven, counterexample([Double]), open(String) }
private enum BoundResult { case pruned, counterexample([Double]), domain(Domain), unresolved(Domain) }

private struct CaseSearch {
    let prover: BranchAndBoundProver
    let engine: BoundEngine
    let graph: Graph
    let property: Property
    let caseIndex: Int
    let deadline: Deadline
    let box: InputBox
    let clauses: [Clause]
    /// Every atom of the case, clause after clause, and the atom range of each clause.
    let atoms: [LinearAtom]
    let clauseRows: [Range<Int>]
    /// Whether every splittable node is piecewise linear (then fully split leaves have exact LPs).
    let piecewiseLinear: Bool
    /// The branching heuristic (`BranchingHeuristic.auto` resolved for this network).
    let heuristic: BranchingHeuristic
    /// alpha-CROWN bounds of the case's box, shared by every domain (nil: not computed).
    var root: IntermediateBounds? = nil
    var settings: VerifierSettings { prover.settings }

    init(prover: ReluSplitProver, engine: BoundEngine, graph: Graph, property: Property, caseIndex: Int, deadline: Deadline) {
        self.prover = prover; self.engine = engine; self.graph = graph; self.property = property
        self.caseIndex = caseIndex; self.deadline = deadline
        let pc = property.cases[caseIndex]
        box = pc.box
        clauses = pc.clauses
        var atoms: [LinearAtom] = [], ranges: [Range<Int>] = []
        for c in pc.clauses { ranges.append(atoms.count..<(atoms.count + c.atoms.count)); atoms += c.atoms }
        self.atoms = atoms
        clauseRows = ranges
        piecewiseLinear = engine.isPiecewiseLinear
        heuristic = prover.settings.reluSplit.branching == .auto ? (piecewiseLinear ? .babsr : .bbps) : prover.settings.reluSplit.branching
    }

    mutating func run(stats: inout BranchAndBoundProver.Statistics) throws -> CaseResult {
        // An empty clause holds everywhere: any point of the box is a counterexample.
        if let empty = clauses.firstIndex(where: { $0.atoms.isEmpty }) {
            _ = empty
            return .counterexample(zip(box.lower, box.upper).map { ($0 + $1) / 2 })
        }
        let n = atoms.count
        if settings.reluSplit.rootAlphaBounds {
            var bs = BoundSettings(method: .alphaCrown)
            bs.deadline = Date(timeIntervalSinceNow: deadline.remainingSeconds * 0.25)
            bs.stop(with: deadline)
            root = try? engine.rootBounds(box: box, settings: bs)
            if settings.reluSplit.lpTightenMaxUnstable > 0, root != nil { tightenRootByLP(stats: &stats) }
        }
        let root = Domain(splits: [], lower: .init(repeating: -.infinity, count: n), upper: .init(repeating: .infinity, count: n),
                          openClauses: Array(clauses.indices), worst: -.infinity, branch: nil)
        var heap = DomainQueue<Domain>()
        var leafLower = Double.infinity
        var leafReasons: [String] = []
        func record(_ u: Domain) {
            stats.unresolvedLeaves += 1
            leafLower = Swift.min(leafLower, u.worst)
            if leafReasons.count < 3 {
                leafReasons.append(deadline.hasPassed ? "domain at depth \(u.splits.count) stopped by the time limit"
                                   : piecewiseLinear ? "domain at depth \(u.splits.count) unresolved by its LP"
                                   : "domain at depth \(u.splits.count) has nothing left to split")
            }
        }
        switch try bound(root, stats: &stats) {
        case .pruned: return .proven
        case .counterexample(let x): return .counterexample(x)
        case .domain(let d): heap.push(d, priority: d.worst)
        case .unresolved(let u): record(u)
        }
        func globalLower() -> Double { Swift.min(heap.minPriority, leafLower) }
        defer { stats.globalLower = Swift.min(stats.globalLower, globalLower()) }
        let started = ContinuousClock.now
        var lastReport = started
        func report(force: Bool) {
            guard let progress = prover.progress else { return }
            let now = ContinuousClock.now
            guard force || lastReport.duration(to: now) >= .milliseconds(Int64(settings.inputSplit.progressInterval * 1000)) else { return }
            lastReport = now
            progress(BranchAndBoundProgress(prover: "bab", open: heap.count, bounded: stats.domainsBounded,
                                            done: stats.refuted + stats.infeasible, globalLowerBound: globalLower(),
                                            elapsed: secondsSince(started), depth: stats.maxDepth))
        }
        defer { report(force: true) }
        while !heap.isEmpty {
            report(force: false)
            if deadline.hasPassed { return .open("time limit with \(heap.count) open domains") }
            // A batch of the worst domains; their children are bounded together.
            var parents: [Domain] = []
            while parents.count < settings.reluSplit.batchDomains, let d = heap.pop() {
                if d.branch != nil { parents.append(d) }
            }
            if parents.isEmpty { continue }
            var children: [Domain] = []
            for d in parents {
                let b = d.branch!
                for above in [true, false] {
                    var child = d
                    child.splits.append(NeuronSplit(value: b.value, index: b.index, point: b.point, above: above))
                    children.append(child)
                }
                stats.maxDepth = Swift.max(stats.maxDepth, d.splits.count + 1)
            }
            stats.branched += parents.count
            let bounded = boundAll(children)
            // Finish the children on the cores (checks, branching choice, leaf LPs).
            let me = self
            let results = concurrentResults(children.count) { t in
                var st = BranchAndBoundProver.Statistics()
                let r = try me.finish(children[t], bounded[t], stats: &st)
                return (r, st)
            }
            for t in children.indices {
                let (r, st) = try results[t].get()
                stats.merge(st)
                switch r {
                case .pruned: continue
                case .counterexample(let x): return .counterexample(x)
                case .domain(let c): heap.push(c, priority: c.worst)
                case .unresolved(let u): record(u)
                }
            }
            if heap.count > settings.reluSplit.maxDomains {
                return .open("more than \(settings.reluSplit.maxDomains) open domains")
            }
            if deadline.memoryExceeded() {
                return .open("\(deadline.memory?.message ?? "memory limit reached") with \(heap.count) open domains")
            }
        }
        if leafLower < .infinity { return .open(leafReasons.joined(separator: ", ")) }
        return .proven
    }

    /// LP tightening of the root bounds, layer by layer (later layers use the tightened earlier
    /// ones). Each new bound comes from `safeLowerBound` of an optimal solve (a failed or
    /// time-limited LP changes nothing).
    mutating func tightenRootByLP(stats: inout BranchAndBoundProver.Statistics) {
        guard var tight = root else { return }
        let budget = Date(timeIntervalSinceNow: deadline.remainingSeconds * settings.reluSplit.lpTightenTimeFraction)
        // The LP encodes the real-valued network: no float32 error terms (off under float32).
        guard piecewiseLinear, engine.semantics == .real else { return }
        for node in engine.splittableNodes.dropFirst() {
            guard Date() < budget else { break }
            guard let db = try? engine.boundDomain(box: box, atoms: [], splits: [], settings: BoundSettings(method: .crown), root: tight),
                  let info = db.splittable.first(where: { $0.node == node }) else { break }
            let open = info.lower.indices.filter { info.lower[$0] < 0 && info.upper[$0] > 0 }
            guard !open.isEmpty, open.count <= settings.reluSplit.lpTightenMaxUnstable,
                  let net = try? NetworkLP(graph: engine.graph, box: box, relus: db.splittable),
                  let zs = net.reluInputVariables[node] else { continue }
            var options = LPOptions()
            options.shouldStop = deadline.stopCheck
            for j in open {
                for sign in [1.0, -1.0] {
                    guard Date() < budget else { break }
                    options.timeLimit = max(0.01, min(settings.reluSplit.lpTimeLimit, budget.timeIntervalSinceNow))
                    guard (try? net.lp.setObjective([(zs[j], sign)])) != nil else { continue }
                    let res = net.lp.solve(options: options)
                    stats.lpSolved += 1
                    guard res.status == .optimal else { continue }
                    let safe = net.lp.safeLowerBound(rowDuals: res.rowDuals, relativeMargin: settings.reluSplit.dualMargin)
                    guard safe.isFinite else { continue }
                    if sign > 0 { tight.tighten(value: info.value, index: j, lower: safe, upper: .infinity) }
                    else { tight.tighten(value: info.value, index: j, lower: -.infinity, upper: -safe) }
                }
            }
        }
        root = tight
    }

    /// The settings domains are bounded with: CROWN on the root domain, alpha/beta-CROWN on the
    /// spec rows of split domains.
    func domainSettings(split: Bool) -> BoundSettings {
        var bs = BoundSettings(method: settings.reluSplit.betaIterations > 0 && split ? .alphaCrown : .crown)
        bs.alphaIntermediateIterations = 0
        bs.alphaIterations = settings.reluSplit.betaIterations
        bs.reuseKnownBounds = settings.reluSplit.reuseRootBounds && root != nil
        bs.deadline = Date(timeIntervalSinceNow: deadline.remainingSeconds)
        bs.stop(with: deadline)
        bs.relaxedValues = heuristic == .bbps
        return bs
    }

    /// Bounds of several domains at once (`BoundEngine.boundDomains`).
    func boundAll(_ domains: [Domain]) -> [Result<DomainBounds, Error>] {
        let items = domains.map { d in (atoms: d.openClauses.flatMap { Array(clauseRows[$0]) }.map { atoms[$0] }, splits: d.splits) }
        return engine.boundDomains(box: box, domains: items, settings: domainSettings(split: true), root: root)
    }

    /// Bounds a domain (its parent's bounds in `d.lower`), prunes it or picks its branching neuron.
    func bound(_ parent: Domain, stats: inout BranchAndBoundProver.Statistics) throws -> BoundResult {
        let rows = parent.openClauses.flatMap { Array(clauseRows[$0]) }
        let db = Result { try engine.boundDomain(box: box, atoms: rows.map { atoms[$0] }, splits: parent.splits,
                                                 settings: domainSettings(split: !parent.splits.isEmpty), root: root) }
        return try finish(parent, db, stats: &stats)
    }

    /// Prunes a bounded domain or picks its branching neuron.
    func finish(_ parent: Domain, _ bounded: Result<DomainBounds, Error>, stats: inout BranchAndBoundProver.Statistics) throws -> BoundResult {
        let rows = parent.openClauses.flatMap { Array(clauseRows[$0]) }
        let db: DomainBounds
        do {
            db = try bounded.get()
        } catch is InfeasibleDomain {
            stats.infeasible += 1
            return .pruned
        } catch where deadline.hasPassed {
            // The time limit stopped this domain's bound (`BoundSettings.stopBy`): it stays open
            // with the bound it inherited (an unresolved leaf keeps the search from `proven`).
            return .unresolved(parent)
        }
        stats.domainsBounded += 1
        var d = parent
        for (k, r) in rows.enumerated() {
            d.lower[r] = Swift.max(d.lower[r], db.rows[k].lower)
            d.upper[r] = Swift.min(d.upper[r], db.rows[k].upper)
        }
        d.openClauses = parent.openClauses.filter { cl in
            !clauseRows[cl].contains { PropertyBoundReport.refutes(lower: d.lower[$0], upper: d.upper[$0]) }
        }
        if d.openClauses.isEmpty { stats.refuted += 1; return .pruned }
        // The best row of every open clause, and the worst clause.
        var bestRow: [Int: Int] = [:]
        d.worst = .infinity
        var worstClause = d.openClauses[0]
        for cl in d.openClauses {
            let r = clauseRows[cl].max { d.lower[$0] < d.lower[$1] }!
            bestRow[cl] = r
            if d.lower[r] < d.worst { d.worst = d.lower[r]; worstClause = cl }
        }
        // Counterexample candidate: the CROWN minimiser of the worst clause's best row.
        if settings.reluSplit.checkMinimisers, let k = rows.firstIndex(of: bestRow[worstClause]!), k < db.inputCoefficients.count {
            let a = db.inputCoefficients[k]
            let x = (0..<box.count).map { a[$0] >= 0 ? box.lower[$0] : box.upper[$0] }
            if let cx = try? CounterexampleCheck.confirm(graph: graph, property: property, candidate: x, settings: settings) {
                return .counterexample(cx.x)
            }
        }
        // Branching: the heuristic's score summed over the open clauses' best rows.
        let rowPos = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($1, $0) })
        let lambdaRows = d.openClauses.compactMap { rowPos[bestRow[$0]!] }
        let best = BranchingChoice.choose(db.splittable, products: db.products, rows: lambdaRows, heuristic: heuristic,
                                          points: settings.reluSplit.branchPoints,
                                          minimumWidth: settings.reluSplit.minimumSplitWidth)
        d.branch = best
        // Nothing left to split: on a piecewise-linear network the LP is exact and decides the
        // domain; with few unstable neurons the triangle LP may refute it (optional). Other
        // networks' leaves stay open, and so do all leaves under --semantics float32 (the LP
        // encodes the real-valued network, without the float32 error terms).
        guard piecewiseLinear, engine.semantics == .real else {
            return best == nil ? .unresolved(d) : .domain(d)
        }
        let unstable = db.splittable.reduce(0) { n, r in n + zip(r.lower, r.upper).filter { $0.0 < 0 && $0.1 > 0 }.count }
        if best == nil || unstable <= settings.reluSplit.lpUnstableThreshold {
            // An LP that cannot be built or solved leaves the domain open (never an answer).
            let byLP: BoundResult
            do { byLP = try decideByLP(d, db: db, stats: &stats) } catch { byLP = .unresolved(d) }
            switch byLP {
            case .pruned: return .pruned
            case .counterexample(let x): return .counterexample(x)
            case .domain(let u), .unresolved(let u):
                if best == nil { return .unresolved(u) }
                var keep = d
                keep.openClauses = u.openClauses
                return .domain(keep)
            }
        }
        return .domain(d)
    }

    /// Solves the domain's LP (exact when no ReLU is unstable) for every open clause; a clause
    /// is refuted only by a positive re-checked dual bound.
    func decideByLP(_ d: Domain, db: DomainBounds, stats: inout BranchAndBoundProver.Statistics) throws -> BoundResult {
        let net = try NetworkLP(graph: engine.graph, box: box, relus: db.splittable)
        var remaining = d
        var options = LPOptions()
        options.shouldStop = deadline.stopCheck
        for cl in d.openClauses {
            options.timeLimit = Swift.min(settings.reluSplit.lpTimeLimit, deadline.remainingSeconds)
            if options.timeLimit <= 0 { return .domain(remaining) }
            let r = clauseRows[cl]
            let lo = r.map { d.lower[$0] }.max()! - 1, hi = r.map { d.upper[$0] }.max()! + 1
            try net.setObjective(clause: r.map { atoms[$0] }, key: cl, lower: lo, upper: hi)
            let res = net.lp.solve(options: options)
            stats.lpSolved += 1
            switch res.status {
            case .optimal:
                let safe = net.lp.safeLowerBound(rowDuals: res.rowDuals, relativeMargin: settings.reluSplit.dualMargin)
                if safe > 0 {
                    remaining.openClauses.removeAll { $0 == cl }
                    continue
                }
                // The minimiser (of the network itself when no ReLU is unstable), even at objective
                // 0 or above: snapped to float32 it may reach the minimum with zero slack.
                if let x = net.inputPoint(res),
                   let cx = try? CounterexampleCheck.confirm(graph: graph, property: property, candidate: x,
                                                             preferredCase: caseIndex, settings: settings) {
                    return .counterexample(cx.x)
                }
                return .domain(remaining)
            case .infeasible:
                // Confirm emptiness soundly: the elastic LP's minimum slack must be > 0.
                if try elasticRefutes(db: db, options: options, stats: &stats) {
                    stats.infeasible += 1
                    return .pruned
                }
                return .domain(remaining)
            default:
                return .domain(remaining)
            }
        }
        stats.lpRefuted += 1
        stats.refuted += 1
        return .pruned
    }

    func elasticRefutes(db: DomainBounds, options: LPOptions, stats: inout BranchAndBoundProver.Statistics) throws -> Bool {
        let net = try NetworkLP(graph: engine.graph, box: box, relus: db.splittable, elastic: true)
        try net.setSlackObjective()
        let res = net.lp.solve(options: options)
        stats.lpSolved += 1
        guard res.status == .optimal else { return false }
        return net.lp.safeLowerBound(rowDuals: res.rowDuals, relativeMargin: settings.reluSplit.dualMargin) > 0
    }
}

/// `ReluSplitProver` is the branch-and-bound prover (ReLU splitting is its special case).
package typealias ReluSplitProver = BranchAndBoundProver
