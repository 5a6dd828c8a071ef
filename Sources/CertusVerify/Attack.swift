import CertusGraph
import CertusSpec

/// What a falsification attack did and found.
public struct AttackReport: Sendable, Equatable {
    /// A checked counterexample (see `CounterexampleCheck`), or nil.
    public var counterexample: Counterexample?
    /// Whether the attack stopped because its deadline passed.
    public var timedOut: Bool = false
    /// Forward passes (sampling and counterexample confirmation).
    public var evaluations: Int = 0
    /// Gradient evaluations (each is a forward and a backward pass).
    public var gradientSteps: Int = 0
    /// Projected-gradient runs started (over all boxes and clauses).
    public var restarts: Int = 0
    /// The lowest clause loss seen (a clause's loss is the max over its atoms of `c·y - d`;
    /// `<= 0` means the clause holds at that point). `+inf` when nothing was evaluated.
    public var bestLoss: Double = .infinity
    /// Whether some evaluated point had a clause holding in Double (loss <= 0) that could not be
    /// confirmed as a counterexample (margin or float32 snapping). Such a point contradicts any
    /// claimed proof, so the verifier then refuses `unsat`.
    public var unconfirmedViolation: Bool = false
    /// Whether the model produced a NaN or infinite output (or gradient) somewhere in a box.
    public var sawNonFinite: Bool = false
    /// Points where a clause held in Double that the counterexample check rejected.
    public var rejectedCandidates: Int = 0
    /// Why the last rejected point was rejected (nil when none was).
    public var lastRejection: CounterexampleRejection?
    /// Whether the attack stopped because `VerifierSettings.maxRejectedCandidates` points were
    /// rejected: its candidates keep failing the check, so more search is unlikely to help.
    public var stoppedOnRejections: Bool = false
    /// Per case (input box) index, the coordinates whose interval holds no float32 value; only
    /// cases with such coordinates are listed. Their counterexamples use the box's own values
    /// there (`Counterexample.nonFloat32Coordinates`). Found before any evaluation.
    public var nonFloat32Coordinates: [Int: [Int]] = [:]
    /// Clauses left out of the attack because a bound refuted them before it ran (the caller's
    /// `openClauses`); 0 when every clause was attacked.
    public var skippedClauses: Int = 0
    /// The error that stopped the attack (evaluation failure), if any.
    public var error: String?

    /// One-line summary for logs.
    public var summary: String {
        var s = "attack: \(evaluations) evaluations, \(gradientSteps) gradient steps, \(restarts) PGD runs, best loss \(bestLoss)"
        if skippedClauses > 0 { s += "; \(skippedClauses) clause(s) refuted by the bound beforehand, not attacked" }
        if !nonFloat32Coordinates.isEmpty {
            let boxes = nonFloat32Coordinates.keys.sorted().prefix(5).map { ci in
                "box \(ci): " + nonFloat32Coordinates[ci]!.prefix(8).map { "X_\($0)" }.joined(separator: ", ")
            }
            s += "; no float32 value in the box at " + boxes.joined(separator: "; ")
                + (nonFloat32Coordinates.count > 5 ? "; ..." : "") + " (witnesses use the box's own values there)"
        }
        if let cx = counterexample { s += "; counterexample in box \(cx.caseIndex), clause \(cx.clauseIndex)" }
        if timedOut { s += "; stopped at its deadline" }
        if rejectedCandidates > 0 {
            s += "; \(rejectedCandidates) point(s) where a clause held in Double failed the counterexample check"
                + (lastRejection.map { " (last: \($0.rawValue))" } ?? "")
        }
        if stoppedOnRejections { s += "; stopped after \(rejectedCandidates) rejected points" }
        if sawNonFinite { s += "; non-finite outputs seen" }
        if let e = error { s += "; error: \(e)" }
        return s
    }
}

/// Falsification: looks for an input in one of the property's boxes whose output satisfies one
/// clause, by vertex, face (`faceSamples`) and random sampling, then a projected sign-gradient
/// attack (PGD) with restarts. Every candidate is confirmed by `CounterexampleCheck` (float32 snapping, Double
/// re-evaluation, safety margin or zero slack in both Double and float32, float32 replay of
/// coordinates that hold no float32) before it is reported. Coordinates whose interval holds no
/// float32 are found before any evaluation (`AttackReport.nonFloat32Coordinates`); the attack
/// stops after `maxRejectedCandidates` rejected points instead of searching on to its deadline.
///
/// Per (box, clause) the attack minimises the clause loss `max_k (c_k·y - d_k)`, stepping on the
/// gradient of the worst atom: `x ← proj_box(x - α_t·width ⊙ sign(∇))`, with `α_t` decaying
/// geometrically from `initialStepFraction` to `finalStepFraction`. Restart 0 starts at the box
/// centre, restart 1 at the best sampled point for that clause, later ones at random points.
/// Clauses are tried in order of their best sampled loss. A box that is a single point (every
/// coordinate pinned) is evaluated once, at that point. The whole attack is deterministic for
/// a given seed; the deadline is checked before every model evaluation.
package struct Attack: Sendable {
    /// The knobs used (sampling counts, restarts, steps, step sizes, seed, margins).
    package var settings: VerifierSettings

    package init(settings: VerifierSettings = VerifierSettings()) { self.settings = settings }

    /// Runs the attack on every case (box) and clause of `property`, or, with `openClauses`
    /// (`openClauses[case][clause]`, shaped like the property), only on the clauses marked true
    /// (sampling losses and gradient runs; a confirmed point may still satisfy any clause).
    /// Never throws: evaluation errors are recorded in `AttackReport.error`.
    package func run(graph: Graph, property: Property, deadline: Deadline, openClauses: [[Bool]]? = nil) -> AttackReport {
        var run = AttackRun(graph: graph, property: property, settings: settings, deadline: deadline, openClauses: openClauses)
        do {
            try run.execute()
        } catch is StopAttack {
            // Found, out of time: already recorded.
        } catch {
            run.report.error = "\(error)"
        }
        return run.report
    }
}

/// Thrown inside the attack to unwind when it is finished (found or out of time).
private struct StopAttack: Error {}

private struct AttackRun {
    let graph: Graph
    let property: Property
    let settings: VerifierSettings
    let deadline: Deadline
    var rng: SplitMix64
    var report = AttackReport()
    /// Best sampled point and loss per [case][clause].
    var bestSample: [[(loss: Double, x: [Double])?]]
    /// Clause indices attacked per case (all, or those marked open by the caller).
    let attacked: [[Int]]

    init(graph: Graph, property: Property, settings: VerifierSettings, deadline: Deadline, openClauses: [[Bool]]?) {
        self.graph = graph
        self.property = property
        self.settings = settings
        self.deadline = deadline
        self.rng = SplitMix64(seed: settings.seed)
        self.bestSample = property.cases.map { [(loss: Double, x: [Double])?](repeating: nil, count: $0.clauses.count) }
        self.attacked = property.cases.indices.map { ci in
            property.cases[ci].clauses.indices.filter { li in
                guard let open = openClauses, ci < open.count, li < open[ci].count else { return true }
                return open[ci][li]
            }
        }
        report.skippedClauses = property.cases.reduce(0) { $0 + $1.clauses.count } - attacked.reduce(0) { $0 + $1.count }
    }

    /// Cases that can hold a counterexample: a non-empty box and at least one attacked clause.
    var activeCases: [Int] {
        property.cases.indices.filter { ci in
            let pc = property.cases[ci]
            return !attacked[ci].isEmpty && pc.box.count == property.numInputs
                && zip(pc.box.lower, pc.box.upper).allSatisfy { $0.0.isFinite && $0.1.isFinite && $0.0 <= $0.1 }
        }
    }

    mutating func checkTime() throws {
        if deadline.hasPassed { report.timedOut = true; throw StopAttack() }
    }

    static func clauseLoss(_ clause: Clause, _ y: [Double]) -> (loss: Double, worst: Int) {
        guard !clause.atoms.isEmpty else { return (-.infinity, -1) }
        var best = -Double.infinity, worst = 0
        for (k, atom) in clause.atoms.enumerated() {
            let s = atom.slack(y) ?? .nan
            if s.isNaN { return (.nan, k) }
            if s > best { best = s; worst = k }
        }
        return (best, worst)
    }

    /// Confirms a point where a clause of case `ci` holds in Double; stops the attack when confirmed.
    mutating func tryConfirm(_ x: [Double], caseIndex ci: Int) throws {
        try checkTime()
        report.evaluations += 1
        var why: CounterexampleRejection? = nil
        if let cx = try CounterexampleCheck.confirm(graph: graph, property: property, candidate: x,
                                                    preferredCase: ci, settings: settings, rejection: &why) {
            report.counterexample = cx
            report.unconfirmedViolation = false
            throw StopAttack()
        }
        report.unconfirmedViolation = true
        report.rejectedCandidates += 1
        report.lastRejection = why
        if report.rejectedCandidates >= settings.maxRejectedCandidates {
            report.stoppedOnRejections = true
            throw StopAttack()
        }
    }

    /// Evaluates one sample point of case `ci`, records per-clause bests, confirms violations.
    mutating func sample(_ x: [Double], caseIndex ci: Int) throws {
        try checkTime()
        report.evaluations += 1
        // Under --semantics float32 a point counts by its float32 evaluation at the float32
        // point the check will judge (violations that exist only through rounding).
        let x = settings.semantics == .float32 ? CounterexampleCheck.witnessPoint(x, in: property.cases[ci].box)?.x ?? x : x
        let y = settings.semantics == .float32 ? try graph.evaluateFirstFloat32(x) : try graph.evaluateFirst(x)
        guard y.allSatisfy({ $0.isFinite }) else { report.sawNonFinite = true; return }
        var violated = false
        for li in attacked[ci] {
            let (loss, _) = AttackRun.clauseLoss(property.cases[ci].clauses[li], y)
            guard !loss.isNaN else { continue }
            report.bestLoss = min(report.bestLoss, loss)
            if bestSample[ci][li] == nil || loss < bestSample[ci][li]!.loss { bestSample[ci][li] = (loss, x) }
            if loss <= 0 { violated = true }
        }
        if violated { try tryConfirm(x, caseIndex: ci) }
    }

    mutating func execute() throws {
        let cases = activeCases
        for ci in cases {
            let coords = CounterexampleCheck.nonFloat32Coordinates(of: property.cases[ci].box)
            if !coords.isEmpty { report.nonFloat32Coordinates[ci] = coords }
        }
        // A box that is a single point (every coordinate pinned, e.g. epsilon 0) has nothing to
        // search: its centre is evaluated once and it takes no further samples or gradient runs.
        let searched = cases.filter { ci in
            let box = property.cases[ci].box
            return box.lower.indices.contains { box.upper[$0] > box.lower[$0] }
        }
        // Stage 1: centre, vertices, random points.
        for ci in cases {
            let box = property.cases[ci].box
            try sample(center(box), caseIndex: ci)
            guard searched.contains(ci) else { continue }
            if settings.cornerSampling {
                let free = box.lower.indices.filter { box.upper[$0] > box.lower[$0] }
                if free.count <= settings.exhaustiveCornerLimit {
                    for mask in 0..<(1 << free.count) {
                        var x = box.lower
                        for (bit, i) in free.enumerated() where mask & (1 << bit) != 0 { x[i] = box.upper[i] }
                        try sample(x, caseIndex: ci)
                    }
                    for _ in 0..<settings.faceSamples {
                        var x = randomPoint(box)
                        for i in free {
                            switch rng.next() % 3 {
                            case 0: x[i] = box.lower[i]
                            case 1: x[i] = box.upper[i]
                            default: break
                            }
                        }
                        try sample(x, caseIndex: ci)
                    }
                } else {
                    for _ in 0..<settings.cornerSamples {
                        var x = box.lower
                        for i in free where rng.nextBool() { x[i] = box.upper[i] }
                        try sample(x, caseIndex: ci)
                    }
                }
            }
            for _ in 0..<settings.randomSamples { try sample(randomPoint(box), caseIndex: ci) }
        }
        // Stage 2: projected-gradient restarts, interleaved over boxes and clauses.
        let order: [Int: [Int]] = Dictionary(uniqueKeysWithValues: searched.map { ci in
            let clauses = attacked[ci].filter { !property.cases[ci].clauses[$0].atoms.isEmpty }
            return (ci, clauses.sorted { (bestSample[ci][$0]?.loss ?? .infinity) < (bestSample[ci][$1]?.loss ?? .infinity) })
        })
        var r = 0
        while !searched.isEmpty && (r < settings.attackRestarts || (settings.attackUntilDeadline && settings.attackSteps > 0)) {
            try checkTime()
            for ci in searched {
                let box = property.cases[ci].box
                for li in order[ci] ?? [] {
                    let start: [Double]
                    switch r {
                    case 0: start = center(box)
                    case 1: start = bestSample[ci][li]?.x ?? randomPoint(box)
                    default: start = randomPoint(box)
                    }
                    try pgd(caseIndex: ci, clauseIndex: li, start: start)
                }
            }
            r += 1
        }
    }

    func center(_ box: InputBox) -> [Double] {
        zip(box.lower, box.upper).map { l, u in min(max(l + (u - l) / 2, l), u) }
    }

    mutating func randomPoint(_ box: InputBox) -> [Double] {
        var x = box.lower
        for i in x.indices { x[i] = rng.uniform(box.lower[i], box.upper[i]) }
        return x
    }

    /// One projected sign-gradient run on clause `li` of case `ci` from `start`.
    ///
    /// ReLU networks have flat regions (a whole layer inactive) where the gradient is zero;
    /// ACAS Xu has large ones next to its counterexamples. A step that lands in such a region
    /// is undone and the step size halved (backtracking), so the run approaches the edge of
    /// the flat region instead of stalling in it.
    mutating func pgd(caseIndex ci: Int, clauseIndex li: Int, start: [Double]) throws {
        let box = property.cases[ci].box
        let clause = property.cases[ci].clauses[li]
        let steps = settings.attackSteps
        report.restarts += 1
        var x = start
        var worst = 0
        var previous: (x: [Double], g: [Double])? = nil
        var shrink = 1.0
        let ratio = settings.finalStepFraction / settings.initialStepFraction
        for t in 0...steps {
            try checkTime()
            report.gradientSteps += 1
            var (y, g) = try graph.gradient(at: x, outputWeights: clause.atoms[worst].c)
            guard y.allSatisfy({ $0.isFinite }) else { report.sawNonFinite = true; return }
            let (loss, k) = AttackRun.clauseLoss(clause, y)
            guard !loss.isNaN else { report.sawNonFinite = true; return }
            report.bestLoss = min(report.bestLoss, loss)
            if loss <= 0 { try tryConfirm(x, caseIndex: ci) }
            if t == steps { break }
            if k != worst {
                worst = k
                try checkTime()
                report.gradientSteps += 1
                (y, g) = try graph.gradient(at: x, outputWeights: clause.atoms[worst].c)
            }
            guard g.allSatisfy({ $0.isFinite }) else { report.sawNonFinite = true; return }
            if g.allSatisfy({ $0 == 0 }) {
                // Flat region: go back to the last point with a gradient and take smaller steps.
                guard let p = previous else { return }
                x = p.x
                g = p.g
                shrink *= 0.5
            } else {
                previous = (x, g)
            }
            let fraction = shrink * (steps > 1
                ? settings.initialStepFraction * pow(ratio, Double(t) / Double(steps - 1))
                : settings.initialStepFraction)
            var moved = false
            for i in 0..<x.count where g[i] != 0 {
                let width = box.upper[i] - box.lower[i]
                guard width > 0 else { continue }
                let nx = min(max(x[i] - (g[i] > 0 ? 1 : -1) * fraction * width, box.lower[i]), box.upper[i])
                if nx != x[i] { x[i] = nx; moved = true }
            }
            if !moved { return }   // pinned at a vertex (or steps below resolution): this run is done
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
