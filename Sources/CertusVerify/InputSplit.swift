import Foundation
import CertusGraph
import CertusSpec
import CertusBounds

/// A snapshot of a branch-and-bound run, handed to a progress callback.
public struct BranchAndBoundProgress: Sendable, Equatable {
    /// The prover reporting ("input-split").
    public var prover: String
    /// Domains waiting in the queue or being bounded.
    public var open: Int
    /// Domains bounded so far.
    public var bounded: Int
    /// Domains closed: every clause refuted there.
    public var done: Int
    /// The lowest lower bound over the open domains (min over unrefuted clauses of the best row
    /// bound); the property is proven once every domain is closed. `+inf` when none is open.
    public var globalLowerBound: Double
    /// Seconds since the prover started.
    public var elapsed: Double
    /// The deepest domain so far (number of splits from the root).
    public var depth: Int

    /// Creates a snapshot; every field is as documented on its property.
    public init(prover: String, open: Int, bounded: Int, done: Int, globalLowerBound: Double, elapsed: Double, depth: Int = 0) {
        self.prover = prover; self.open = open; self.bounded = bounded; self.done = done
        self.globalLowerBound = globalLowerBound; self.elapsed = elapsed; self.depth = depth
    }
}

/// A progress callback. It is called from worker threads (never two at once), at most once per
/// `InputSplitSettings.progressInterval`, and once at the end.
public typealias ProgressHandler = @Sendable (BranchAndBoundProgress) -> Void

/// Complete verification by input splitting: branch and bound over sub-boxes of each input box.
///
/// Every domain (a sub-box of one case's box, with the clauses not yet refuted there) is bounded
/// with CROWN (`BoundEngine.boundDomain`); all rows of the open clauses come from one backward
/// pass. A domain is closed when each of its clauses has a row whose lower bound refutes it
/// (`PropertyBoundReport.refutes`). Otherwise the domain is split at the midpoint of the input
/// dimension chosen by the branching score (`InputSplitSettings.Branching`) and both halves go
/// back to the queue, worst lower bound first. Domains are checked cheaply for counterexamples
/// (the box centre and, per open row, the corner minimising CROWN's linear lower bound); now and
/// then the worst domains are attacked with a short projected-gradient run.
///
/// `.proven` only when every domain of every case was closed by a sound bound. A bound error or
/// NaN throws (the verifier answers unknown), the deadline or the domain limit gives `.unknown`,
/// and counterexamples are returned as candidates (the verifier re-checks them).
package struct InputSplitProver: PropertyProver {
    package var isComplete: Bool { true }
    /// Verifier settings: `inputSplit` drives the search, the margins and attack knobs are used for
    /// counterexample checks inside the search.
    package var settings: VerifierSettings
    /// Called with progress snapshots (see `ProgressHandler`); nil for silence.
    package var progress: ProgressHandler?

    /// Where a search stopped by its deadline leaves its open domains, and where the next
    /// `prove` on the same property (same boxes and clauses) picks them up instead of starting
    /// again from the whole box. nil: every call starts afresh.
    package var continuation: InputSplitContinuation?

    package init(settings: VerifierSettings = VerifierSettings(), progress: ProgressHandler? = nil,
                 continuation: InputSplitContinuation? = nil) {
        self.settings = settings
        self.progress = progress
        self.continuation = continuation
    }

    package var name: String { "input-split" }

    /// Clips `[lower, upper]` to the bounding box of the points where every row of one clause can
    /// still hold, using each row's linear lower bound `A·x + const <= c·y - d` (valid on the box):
    /// a point with `A·x + const > tol` (> 0) violates that row. Returns nil when the clause cannot
    /// hold anywhere in the box. Rounding is absorbed by `tol` (as in `PropertyBoundReport.refutes`)
    /// and by widening every clipped side outward.
    /// `rows` pairs each row's input coefficients (`DomainBounds.inputCoefficients`) with its bound,
    /// both computed on this box.
    package static func clip(lower: [Double], upper: [Double], rows: [([Double], RowBound)]) -> ([Double], [Double])? {
        var cl = lower, cu = upper
        let n = lower.count
        // Per row: the constant term, recovered from the bound on the original box.
        var consts: [Double] = []
        var tols: [Double] = []
        for (A, row) in rows {
            var minSum = 0.0, scale = 0.0
            for i in 0..<n {
                minSum += A[i] >= 0 ? A[i] * lower[i] : A[i] * upper[i]
                scale += abs(A[i]) * max(abs(lower[i]), abs(upper[i]))
            }
            consts.append(row.lower - minSum)
            tols.append(1e-9 * max(1, abs(row.lower), abs(row.upper), scale))
        }
        for _ in 0..<2 {
            for (r, (A, _)) in rows.enumerated() {
                var lowerNow = consts[r]
                for i in 0..<n { lowerNow += A[i] >= 0 ? A[i] * cl[i] : A[i] * cu[i] }
                guard lowerNow.isFinite else { return (cl, cu) }
                if lowerNow > tols[r] { return nil }
                let slack = tols[r] - lowerNow   // > 0
                for i in 0..<n {
                    let a = A[i]
                    if a > 0 {
                        let w = slack / a
                        let bound = cl[i] + w + 1e-12 * (abs(w) + abs(cl[i]))
                        if bound < cu[i] { cu[i] = bound }
                    } else if a < 0 {
                        let w = slack / -a
                        let bound = cu[i] - w - 1e-12 * (abs(w) + abs(cu[i]))
                        if bound > cl[i] { cl[i] = bound }
                    }
                }
                for i in 0..<n where !(cl[i] <= cu[i]) { return nil }
            }
        }
        return (cl, cu)
    }

    package func prove(graph: Graph, property: Property, deadline: Deadline) throws -> ProverOutcome {
        let search = InputSplitSearch(graph: graph, property: property, settings: settings,
                                      deadline: deadline, progress: progress)
        search.continuation = continuation
        return try search.run()
    }
}

/// The open domains of an input-splitting search that its deadline stopped, kept for the next
/// search of the same property (`InputSplitProver.continuation`). Sound to resume: a domain leaves
/// the search only when a sound bound closes it (or clipping removes a part where no clause can
/// hold), so the saved domains cover every point of the boxes not yet shown safe. Used by the
/// Lipschitz branch and bound, which returns to an output after working on others.
package final class InputSplitContinuation: @unchecked Sendable {
    /// The property the domains belong to.
    var property: Property?
    /// The open domains with their priorities (lower bounds inherited from their parents).
    var domains: [InputDomain] = []
    package init() {}
    /// Open domains held for the next search.
    package var count: Int { domains.count }
}

// MARK: - Domains and the queue

/// One branch-and-bound domain: a sub-box of case `caseIndex`, the clauses still open there, and
/// (once bounded) its priority.
struct InputDomain {
    var caseIndex: Int
    var lower: [Double]
    var upper: [Double]
    /// Indices (into the case's clauses) not yet refuted on an ancestor.
    var openClauses: [Int]
    /// Priority: the parent's lower bound (min over open clauses of the best row bound).
    var priority: Double
    var depth: Int
    /// The lowest clause loss (max over a clause's atoms of c·y - d, min over open clauses) seen at
    /// a point checked in this domain or its parent: where the in-search attack looks first.
    var bestLoss: Double = .infinity
}

/// Why the search stopped without a proof.
enum SearchStop: Equatable {
    case counterexample([Double])
    case timeout
    case domainLimit
    /// `VerifierSettings.memoryLimit` exceeded (`MemoryBudget`).
    case memoryLimit
    case unsplittable
    case failed(String)
}

/// The state shared by the workers, behind one lock.
final class SearchState: @unchecked Sendable {
    let lock = NSLock()
    var heap = DomainQueue<InputDomain>()
    var busy = 0
    var inFlightMin: [Int: Double] = [:]
    var bounded = 0
    var done = 0
    var stop: SearchStop? = nil
    var lastReport: ContinuousClock.Instant
    var lastAttack = 0
    var attacks = 0
    var boundSeconds = 0.0
    var checkSeconds = 0.0
    var maxDepth = 0
    let started: ContinuousClock.Instant

    init() {
        started = ContinuousClock.now
        lastReport = started
    }

    var globalLower: Double {
        var m = heap.minPriority
        for v in inFlightMin.values { m = Swift.min(m, v) }
        return m
    }

    var openCount: Int { heap.count + inFlightMin.count }
}

// MARK: - The search

final class InputSplitSearch: @unchecked Sendable {
    let graph: Graph
    let property: Property
    let settings: VerifierSettings
    let options: InputSplitSettings
    let deadline: Deadline
    let progress: ProgressHandler?
    let state = SearchState()
    /// Open domains to start from (when they belong to this property) and to leave behind on a timeout.
    var continuation: InputSplitContinuation?
    /// Per case, the atoms of every clause flattened, and per clause the range of its atoms.
    let clauseRanges: [[Range<Int>]]

    init(graph: Graph, property: Property, settings: VerifierSettings, deadline: Deadline, progress: ProgressHandler?) {
        self.graph = graph
        self.property = property
        self.settings = settings
        self.options = settings.inputSplit
        self.deadline = deadline
        self.progress = progress
        clauseRanges = property.cases.map { pc in
            var start = 0
            return pc.clauses.map { c in defer { start += c.atoms.count }; return start..<(start + c.atoms.count) }
        }
    }

    func run() throws -> ProverOutcome {
        try options.validate()
        if let c = continuation, c.property == property, !c.domains.isEmpty {
            for d in c.domains { state.heap.push(d, priority: d.priority) }
        } else {
            try pushRootDomains()
            if case .counterexample(let x)? = state.stop { return .counterexample(x) }
        }
        continuation?.domains = []
        continuation?.property = nil
        let workers = max(1, options.workers)
        if workers == 1 {
            worker(0)
        } else {
            DispatchQueue.concurrentPerform(iterations: workers) { w in self.worker(w) }
        }
        report(force: true)
        let st = state
        let summary = "\(st.bounded) domains bounded, \(st.done) closed, \(st.heap.count) open, "
            + "global lower bound \(st.globalLower), \(st.attacks) sub-box attacks, max depth \(st.maxDepth), "
            + String(format: "bounding %.2f s, checks %.2f s, ", st.boundSeconds, st.checkSeconds)
            + String(format: "%.2f s", secondsSince(st.started))
        if st.stop == .timeout, let c = continuation {
            // Every domain not closed is in the queue: the workers put back what they had not
            // bounded when the deadline stopped them.
            c.domains = st.heap.domains
            c.property = property
        }
        switch st.stop {
        case nil:
            return .proven
        case .counterexample(let x):
            return .counterexample(x)
        case .timeout:
            return .unknown("timeout: " + summary)
        case .domainLimit:
            return .unknown("domain limit \(options.maxDomains) reached: " + summary)
        case .memoryLimit:
            return .unknown("\(deadline.memory?.message ?? "memory limit reached"): " + summary)
        case .unsplittable:
            return .unknown("a domain cannot be split further (float resolution): " + summary)
        case .failed(let why):
            throw BoundError("input-split: \(why) (\(summary))")
        }
    }

    /// The whole box of every case with clauses; an empty clause (no atoms) holds everywhere, so
    /// any point of its box is a counterexample (set as the stop reason).
    private func pushRootDomains() throws {
        for (ci, pc) in property.cases.enumerated() {
            if pc.clauses.isEmpty { continue }
            if pc.clauses.contains(where: { $0.atoms.isEmpty }) {
                state.stop = .counterexample(zip(pc.box.lower, pc.box.upper).map { ($0 + $1) / 2 })
                return
            }
            state.heap.push(InputDomain(caseIndex: ci, lower: pc.box.lower, upper: pc.box.upper,
                                        openClauses: Array(pc.clauses.indices), priority: -.infinity, depth: 0),
                            priority: -.infinity)
        }
    }

    /// Sets the stop reason (the first one wins).
    private func halt(_ why: SearchStop) {
        state.lock.lock()
        if state.stop == nil { state.stop = why }
        state.lock.unlock()
    }

    func report(force: Bool = false) {
        guard let progress else { return }
        state.lock.lock()
        let now = ContinuousClock.now
        let due = force || state.lastReport.duration(to: now) >= .milliseconds(Int64(options.progressInterval * 1000))
        var snapshot: BranchAndBoundProgress? = nil
        if due {
            state.lastReport = now
            snapshot = BranchAndBoundProgress(prover: "input-split", open: state.openCount, bounded: state.bounded,
                                              done: state.done, globalLowerBound: state.globalLower,
                                              elapsed: secondsSince(state.started))
        }
        // Call while holding the lock so reports never overlap (the callback must be quick).
        if let snapshot { progress(snapshot) }
        state.lock.unlock()
    }

    /// One worker: its own bound engine, popping batches until the queue is empty and nobody is busy.
    func worker(_ id: Int) {
        let engine = BoundEngine(graph: graph, semantics: settings.semantics)
        var stats = WorkerStats()
        defer {
            state.lock.lock()
            state.boundSeconds += stats.bound
            state.checkSeconds += stats.check
            state.maxDepth = max(state.maxDepth, stats.maxDepth)
            state.lock.unlock()
        }
        var bs = BoundSettings(method: options.alphaIterations > 0 ? .alphaCrown : .crown)
        bs.alphaIntermediateIterations = 0
        bs.alphaIterations = options.alphaIterations
        bs.threads = 1          // the workers use the cores
        bs.deadline = nil
        while true {
            // Take a batch.
            var batch: [InputDomain] = []
            state.lock.lock()
            while true {
                if state.stop != nil { state.lock.unlock(); return }
                if !state.heap.isEmpty { break }
                if state.busy == 0 { state.lock.unlock(); return }
                // Others are working and may push children: wait a little.
                state.lock.unlock()
                usleep(200)
                state.lock.lock()
            }
            while batch.count < options.batchSize, let d = state.heap.pop() { batch.append(d) }
            state.busy += 1
            state.inFlightMin[id] = batch.map(\.priority).min() ?? .infinity
            state.lock.unlock()

            if deadline.hasPassed { halt(.timeout); finishBatch(id, children: batch, closed: 0, bounded: 0); return }
            var children: [InputDomain] = []
            var closed = 0
            var boundedHere = 0
            var stopped = false
            for (k, d) in batch.enumerated() {
                if k > 0 && deadline.hasPassed {
                    halt(.timeout)
                    stopped = true
                    children.append(contentsOf: batch[k...])   // not bounded: still open
                    break
                }
                do {
                    switch try process(d, engine: engine, settings: bs, stats: &stats) {
                    case .closed: closed += 1
                    case .split(let a, let b): children.append(a); children.append(b)
                    case .stop(let why): halt(why); stopped = true
                    }
                } catch {
                    halt(.failed("\(error)"))
                    stopped = true
                }
                boundedHere += 1
                if stopped { break }
            }
            finishBatch(id, children: children, closed: closed, bounded: boundedHere)
            if stopped { return }
            report()
            maybeAttack()
        }
    }

    private func finishBatch(_ id: Int, children: [InputDomain], closed: Int, bounded: Int) {
        state.lock.lock()
        for c in children { state.heap.push(c, priority: c.priority) }
        state.busy -= 1
        state.inFlightMin[id] = nil
        state.done += closed
        state.bounded += bounded
        if state.stop == nil && state.heap.count > options.maxDomains { state.stop = .domainLimit }
        if state.stop == nil && deadline.memoryExceeded() { state.stop = .memoryLimit }
        state.lock.unlock()
    }

    enum Step {
        case closed
        case split(InputDomain, InputDomain)
        case stop(SearchStop)
    }

    struct WorkerStats {
        var bound = 0.0, check = 0.0, maxDepth = 0
    }

    /// Bounds one domain, clips it, checks cheap counterexample candidates, and closes or splits it.
    func process(_ d: InputDomain, engine: BoundEngine, settings bs: BoundSettings, stats: inout WorkerStats) throws -> Step {
        var d = d
        if engine.semantics == .float32 {
            // Only float32 inputs count: the domain shrunk to them (split points are not float32
            // values), so that clipping works on the box the engine bounded; none: closed.
            guard let (lo, hi) = BoundEngine.float32Box(lower: d.lower, upper: d.upper) else { return .closed }
            (d.lower, d.upper) = (lo, hi)
        }
        let pc = property.cases[d.caseIndex]
        var atoms: [LinearAtom] = []
        var rowClause: [Int] = []   // per bounded row, its position in d.openClauses
        for (k, cl) in d.openClauses.enumerated() {
            for a in pc.clauses[cl].atoms { atoms.append(a); rowClause.append(k) }
        }
        stats.maxDepth = max(stats.maxDepth, d.depth)
        let t0 = ContinuousClock.now
        let db = try engine.boundDomain(box: InputBox(lower: d.lower, upper: d.upper), atoms: atoms, splits: [], settings: bs)
        stats.bound += secondsSince(t0)
        guard db.rows.count == atoms.count else { throw BoundError("bound engine returned \(db.rows.count) rows for \(atoms.count)") }
        // Which clauses stay open, and the domain's lower bound.
        var clauseBest = [Double](repeating: -.infinity, count: d.openClauses.count)
        var refuted = [Bool](repeating: false, count: d.openClauses.count)
        for (r, row) in db.rows.enumerated() {
            guard !row.lower.isNaN, !row.upper.isNaN else { throw BoundError("a bound is NaN") }
            let k = rowClause[r]
            clauseBest[k] = max(clauseBest[k], row.lower)
            if PropertyBoundReport.refutes(lower: row.lower, upper: row.upper) { refuted[k] = true }
        }
        var stillOpen = d.openClauses.indices.filter { !refuted[$0] }
        if stillOpen.isEmpty { return .closed }
        let haveCoefficients = db.inputCoefficients.count == atoms.count && db.coefficientRows.count == atoms.count

        // Clip the box to the part where some open clause can still hold (Clip-and-Verify).
        var lo = d.lower, hi = d.upper
        if options.clipping && haveCoefficients {
            var hullLo = [Double](repeating: .infinity, count: lo.count)
            var hullHi = [Double](repeating: -.infinity, count: lo.count)
            var open: [Int] = []
            for k in stillOpen {
                let rows = rowClause.indices.filter { rowClause[$0] == k }
                if let (cl, cu) = InputSplitProver.clip(lower: d.lower, upper: d.upper, rows: rows.map { (db.inputCoefficients[$0], db.coefficientRows[$0]) }) {
                    open.append(k)
                    for i in lo.indices { hullLo[i] = min(hullLo[i], cl[i]); hullHi[i] = max(hullHi[i], cu[i]) }
                }
            }
            if open.isEmpty { return .closed }
            stillOpen = open
            lo = hullLo; hi = hullHi
        }
        let lowerBound = stillOpen.map { clauseBest[$0] }.min()!

        // Cheap counterexample candidates: the centre and the CROWN-minimising corners.
        var bestLoss = Double.infinity
        if options.leafChecks {
            let t1 = ContinuousClock.now
            defer { stats.check += secondsSince(t1) }
            var candidates: [[Double]] = [zip(lo, hi).map { ($0 + $1) / 2 }]
            if haveCoefficients {
                for r in rowClause.indices where stillOpen.contains(rowClause[r]) {
                    let A = db.inputCoefficients[r]
                    candidates.append(lo.indices.map { A[$0] >= 0 ? lo[$0] : hi[$0] })
                }
            }
            for x in candidates {
                let (hit, loss) = try check(x, caseIndex: d.caseIndex, clauses: stillOpen.map { d.openClauses[$0] }, engine: engine)
                if let hit { return .stop(.counterexample(hit)) }
                bestLoss = min(bestLoss, loss)
            }
        }

        // Branch.
        let clipped = InputDomain(caseIndex: d.caseIndex, lower: lo, upper: hi, openClauses: d.openClauses,
                                  priority: d.priority, depth: d.depth)
        guard let dim = chooseDimension(clipped, db: db, rowClause: rowClause, stillOpen: stillOpen) else {
            return .stop(.unsplittable)
        }
        let mid = lo[dim] + (hi[dim] - lo[dim]) / 2
        // The children's priority: the best lower bound known for them. Their parent's (`d.priority`,
        // computed on a box that contains them, over a superset of their open clauses) holds too,
        // and CROWN on a sub-box is not always tighter, so the larger of the two: the global lower
        // bound (the smallest priority left) then never falls as the search goes on.
        var a = InputDomain(caseIndex: d.caseIndex, lower: lo, upper: hi, openClauses: stillOpen.map { d.openClauses[$0] },
                            priority: Swift.max(lowerBound, d.priority), depth: d.depth + 1, bestLoss: bestLoss)
        var b = a
        a.upper[dim] = mid
        b.lower[dim] = mid
        return .split(a, b)
    }

    /// The dimension to split, or nil when no dimension can be halved in floating point.
    func chooseDimension(_ d: InputDomain, db: DomainBounds, rowClause: [Int], stillOpen: [Int]) -> Int? {
        let n = d.lower.count
        let splittable = (0..<n).filter { i in
            let mid = d.lower[i] + (d.upper[i] - d.lower[i]) / 2
            return mid > d.lower[i] && mid < d.upper[i]
        }
        guard !splittable.isEmpty else { return nil }
        let openSet = Set(stillOpen)
        var score = [Double](repeating: -.infinity, count: n)
        switch options.branching {
        case .naive:
            for i in splittable { score[i] = d.upper[i] - d.lower[i] }
        case .widest:
            // Relative to the case's box, so dimensions with different units compare fairly.
            let box = property.cases[d.caseIndex].box
            for i in splittable {
                let full = box.upper[i] - box.lower[i]
                score[i] = full > 0 ? (d.upper[i] - d.lower[i]) / full : 0
            }
        case .sb:
            guard db.inputCoefficients.count == rowClause.count else {
                return splittable.max { (d.upper[$0] - d.lower[$0]) < (d.upper[$1] - d.lower[$1]) }
            }
            for r in rowClause.indices where openSet.contains(rowClause[r]) {
                let A = db.inputCoefficients[r]
                // The floor is relative to the row's largest coefficient: a dimension whose linear
                // coefficient is small can still carry most of the relaxation's looseness.
                var amax = 0.0
                for i in splittable { amax = max(amax, abs(A[i])) }
                let floor = max(options.sbCoefficientFloor * amax, 1e-12)
                for i in splittable {
                    let v = max(abs(A[i]), floor) * (d.upper[i] - d.lower[i]) / 2 + options.sbMarginWeight * db.rows[r].lower
                    score[i] = max(score[i], v)
                }
            }
        }
        var best = splittable[0]
        for i in splittable where score[i] > score[best] { best = i }
        return best
    }

    /// Evaluates the model at `x` snapped to float32 inside the case's box; returns that point when
    /// it passes `CounterexampleCheck` (the verifier re-checks it again), and the lowest loss there
    /// over `clauses` (max over the clause's atoms of c·y - d).
    func check(_ x: [Double], caseIndex: Int, clauses: [Int], engine: BoundEngine? = nil) throws -> ([Double]?, Double) {
        let pc = property.cases[caseIndex]
        // Screen at the point the check would judge (snapped to float32 inside the case's box), so
        // a minimum reached only at one float32 value is seen; with the fast chain evaluation when
        // there is one (a hit is confirmed below by the model's own evaluation).
        let x = CounterexampleCheck.witnessPoint(x, in: pc.box)?.x ?? x
        // Under --semantics float32 the check judges the float32 evaluation, so screen with it.
        let y = settings.semantics == .float32 ? try graph.evaluateFirstFloat32(x)
            : try engine?.evaluateChain(x) ?? graph.evaluateFirst(x)
        guard y.allSatisfy(\.isFinite) else { return (nil, .infinity) }
        var loss = Double.infinity
        for k in clauses {
            var l = -Double.infinity
            for a in pc.clauses[k].atoms { l = max(l, a.slack(y) ?? .infinity) }
            loss = min(loss, l)
        }
        guard loss <= 0 || pc.clauses.contains(where: { $0.isSatisfied(by: y) }) else { return (nil, loss) }
        if let cx = try CounterexampleCheck.confirm(graph: graph, property: property, candidate: x,
                                                    preferredCase: caseIndex, settings: settings) {
            return (cx.x, loss)
        }
        return (nil, loss)
    }

    /// Every `attackEvery` bounded domains, one worker runs a short projected-gradient attack on
    /// the worst open domains (sub-boxes make the attack far more effective than on the full box).
    func maybeAttack() {
        guard options.attackEvery > 0, options.attackDomains > 0 else { return }
        state.lock.lock()
        guard state.stop == nil, state.bounded - state.lastAttack >= options.attackEvery else { state.lock.unlock(); return }
        state.lastAttack = state.bounded
        // Peek at the most promising domains without removing them: half by the lowest loss seen
        // at a checked point, half by the lowest lower bound.
        var candidates = state.heap.domains   // a copy (sorted outside the lock)
        state.attacks += 1
        state.lock.unlock()
        var picked: [InputDomain] = []
        let byLoss = options.attackDomains - options.attackDomains / 2
        if !candidates.isEmpty {
            candidates.sort { $0.bestLoss < $1.bestLoss }
            picked += candidates.prefix(byLoss)
            candidates.removeFirst(min(byLoss, candidates.count))
            candidates.sort { $0.priority < $1.priority }
            picked += candidates.prefix(options.attackDomains - picked.count)
        }
        let worst = picked
        var s = settings
        s.attackRestarts = options.attackRestarts
        s.randomSamples = 16
        s.cornerSampling = false
        let cases = worst.map { d in
            PropertyCase(box: InputBox(lower: d.lower, upper: d.upper),
                         clauses: d.openClauses.map { property.cases[d.caseIndex].clauses[$0] })
        }
        guard !cases.isEmpty else { return }
        let sub = Property(numInputs: property.numInputs, numOutputs: property.numOutputs, cases: cases, source: property.source)
        let r = Attack(settings: s).run(graph: graph, property: sub, deadline: deadline)
        if let cx = r.counterexample { halt(.counterexample(cx.x)) }
    }
}
