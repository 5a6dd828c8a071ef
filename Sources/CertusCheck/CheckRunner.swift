import Foundation
import CertusTensor
import CertusGraph
import CertusONNX
import CertusSpec
import CertusBounds
import CertusVerify
import CertusLipschitz

/// Knobs of a `CheckRunner` run (`certus check` sets them from its flags).
public struct CheckOptions: Sendable, Equatable {
    /// Entries run at once, each on its own worker thread. Default: one per core this process
    /// may use (its affinity mask). Results do not depend on it (see `CheckRunner`).
    public var jobs: Int = max(1, BLAS.usableProcessors)
    /// What undecided entries count as (both `fail` by default).
    public var policies = CheckPolicies()
    /// Run only the entries with at least one of these tags (nil: all entries).
    public var tags: [String]? = nil
    /// Time limit of entries that set none, neither themselves nor in the manifest's defaults.
    public var defaultTimeout: Double = 60

    /// The defaults above.
    public init() {}
}

/// A problem with the options of a run (not with the manifest).
public struct CheckOptionsError: Error, CustomStringConvertible, Sendable {
    /// What is wrong (the whole description).
    public var message: String
    /// Creates an error with its message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// Progress of a run, reported after every entry that starts or finishes.
public struct CheckProgress: Sendable {
    /// Entries selected.
    public var total: Int
    /// Entries finished so far.
    public var finished: Int
    /// Names of the entries running now, in manifest order.
    public var running: [String]
    /// The entry that just finished, if this report is about one finishing.
    public var justFinished: CheckEntryResult?
}

/// Runs the entries of a `Manifest` with the Certus library and collects a `CheckReport`.
///
/// Entries run on `options.jobs` worker threads, each entry on its own: an error in one (a
/// missing model, an unsupported operator, a spec that does not fit) becomes that entry's
/// `error` result and the others go on. Results are ordered by entry, never by completion.
///
/// **Determinism.** Every entry's computation is seeded (the attack's seed 0, the Lipschitz
/// sampler's seed 0) and independent of the other entries and of `jobs`; input splitting runs
/// on one worker per entry (`InputSplitSettings.workers = 1`: its two-worker default shares a
/// queue, so the order of domains, and so which counterexample is found, would depend on
/// timing), and `bound(k)` entries bound on one thread (alpha-CROWN's row groups follow the
/// thread count, so this also makes the bound independent of the machine's cores). So the same
/// manifest gives the same statuses, messages and printed bounds at any `jobs`, run after run,
/// unless an entry reaches its time limit (what a method has done by then depends on the
/// machine's speed and load): give entries time limits well above their running time. The
/// verifier's own strategy (CROWN, alpha-CROWN and branch and bound pick their thread counts
/// from the machine's cores) is deterministic on one machine.
public struct CheckRunner: Sendable {
    /// The manifest whose entries run.
    public var manifest: Manifest
    /// The options.
    public var options: CheckOptions

    /// A runner for `manifest`.
    /// - Throws: `CheckOptionsError` for `jobs < 1`, a non-positive default timeout, or `tags`
    ///   that no entry has (a typo there must not turn into an empty, passing run).
    public init(manifest: Manifest, options: CheckOptions = CheckOptions()) throws {
        guard options.jobs >= 1 else { throw CheckOptionsError("jobs must be at least 1, got \(options.jobs)") }
        guard options.defaultTimeout.isFinite, options.defaultTimeout > 0 else {
            throw CheckOptionsError("the default timeout must be a positive number of seconds, got \(options.defaultTimeout)")
        }
        self.manifest = manifest
        self.options = options
        if let tags = options.tags {
            guard !tags.isEmpty else { throw CheckOptionsError("the tag selection is empty") }
            let all = Set(manifest.entries.indices.flatMap { self.tags(of: $0) })
            let missing = tags.filter { !all.contains($0) }
            if !missing.isEmpty {
                throw CheckOptionsError("no entry of \(manifest.path.isEmpty ? "the manifest" : manifest.path) has the tag(s) "
                                        + missing.joined(separator: ", ") + "; tags in the manifest: "
                                        + (all.isEmpty ? "none" : all.sorted().joined(separator: ", ")))
            }
        }
    }

    /// Tags of entry `index`: its own, then the defaults' (without repeats).
    public func tags(of index: Int) -> [String] {
        var out: [String] = []
        for t in (manifest.entries[index].tags ?? []) + (manifest.defaults?.tags ?? []) where !out.contains(t) { out.append(t) }
        return out
    }

    /// Indices of the entries selected by `options.tags`, in manifest order.
    public var selected: [Int] {
        guard let want = options.tags else { return Array(manifest.entries.indices) }
        return manifest.entries.indices.filter { tags(of: $0).contains(where: want.contains) }
    }

    /// Runs the selected entries on `options.jobs` workers.
    /// - Parameters:
    ///   - execute: runs one entry (by index) and returns its result; default `runEntry`, in
    ///     this process. A caller can run entries elsewhere (a child process, to survive a
    ///     crash) and hand back the result; its outcome is recomputed with the policies.
    ///   - progress: called (never two calls at once) when an entry starts and when it ends.
    public func run(execute: (@Sendable (Int) -> CheckEntryResult)? = nil,
                    progress: (@Sendable (CheckProgress) -> Void)? = nil) -> CheckReport {
        let start = ContinuousClock.now
        let indices = selected
        let state = WorkState(count: indices.count)
        let names = manifest.entries.map { $0.name ?? "" }
        let run: @Sendable (Int) -> CheckEntryResult = execute ?? { self.runEntry(at: $0) }
        let policies = options.policies
        @Sendable func worker() {
            while let k = state.take() {
                let index = indices[k]
                state.update { running, _, finished in
                    running.insert(index)
                    progress?(CheckProgress(total: indices.count, finished: finished,
                                            running: running.sorted().map { names[$0] }, justFinished: nil))
                }
                var r = run(index)
                r.index = index
                r.outcome = policies.outcome(for: r.status)
                state.update { running, results, finished in
                    running.remove(index)
                    results[k] = r
                    finished += 1
                    progress?(CheckProgress(total: indices.count, finished: finished,
                                            running: running.sorted().map { names[$0] }, justFinished: r))
                }
            }
        }
        let workers = min(options.jobs, max(1, indices.count))
        if workers == 1 {
            worker()
        } else {
            let group = DispatchGroup()
            for _ in 0..<workers {
                group.enter()
                let t = Thread { worker(); group.leave() }
                t.stackSize = 16 << 20
                t.start()
            }
            group.wait()
        }
        let results = state.results.enumerated().map { k, r in
            r ?? { var e = self.blankResult(at: indices[k]); e.message = "internal error: the entry was not run"; return e }()
        }
        return CheckReport(suite: manifest.suiteName, manifest: manifest.path, selectedTags: options.tags,
                           policies: options.policies, results: results, timeSeconds: seconds(since: start))
    }

    /// The result of entry `index` before it runs: its identity, method and time limit.
    public func blankResult(at index: Int) -> CheckEntryResult {
        let e = manifest.entries[index]
        return CheckEntryResult(index: index, name: e.name ?? e.defaultName(index: index), tags: tags(of: index),
                                model: e.model, spec: e.spec.summary, expect: e.expect.description,
                                method: method(of: e), timeLimit: timeLimit(of: e))
    }

    func method(of e: ManifestEntry) -> String { e.method ?? manifest.defaults?.method ?? e.expect.methods[0] }
    func timeLimit(of e: ManifestEntry) -> Double { e.timeout ?? manifest.defaults?.timeout ?? options.defaultTimeout }

    /// Runs entry `index` in this process. Never throws: a problem with the entry's files or
    /// an error from the library becomes status `error` with the message. OpenBLAS runs on one
    /// thread meanwhile, and the process's thread count is restored afterwards.
    public func runEntry(at index: Int) -> CheckEntryResult {
        BLAS.beginSingleThread(); defer { BLAS.endSingleThread() }   // restored afterwards (BLAS.withSingleThread)
        let start = ContinuousClock.now
        var r = blankResult(at: index)
        let e = manifest.entries[index]
        do {
            switch e.expect.kind {
            case .verify: try runVerify(e, &r)
            case .bound: try runBound(e, &r)
            case .lipschitz: try runLipschitz(e, &r)
            }
        } catch {
            r.status = .error
            // Every per-entry error names the manifest line and the entry (a model or spec file's
            // own error names only that file).
            let here = VisibleText.escaped(place(e))
            let text = CheckRunner.describe(error)
            r.message = text.hasPrefix(here) ? text : here + ": " + text
        }
        r.timeSeconds = seconds(since: start)
        r.outcome = options.policies.outcome(for: r.status)
        return r
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case is ModelError, is SpecError, is BoundError, is JacobianError, is SettingsError, is EntryError, is LPEncodingError:
            return VisibleText.escaped("\(error)")
        default:
            return VisibleText.escaped("internal error: \(error) (a bug in Certus; please report it with the manifest and its files)")
        }
    }

    // MARK: Loading an entry's inputs

    /// Where entry `e` is in the manifest, for messages about its inline fields.
    func place(_ e: ManifestEntry) -> String {
        var s = manifest.path.isEmpty ? "manifest" : manifest.path
        if let p = e.position { s += ":\(p.line)" }
        return s + " (entry '\(e.name ?? "")')"
    }

    func loadModel(_ e: ManifestEntry) throws -> Graph {
        let path = manifest.resolve(e.model)
        guard FileManager.default.fileExists(atPath: path) else {
            throw EntryError("\(place(e)): the model file '\(e.model)' does not exist (looked for \(path))")
        }
        return try ModelFile.load(path)
    }

    func resolvedSpecFile(_ e: ManifestEntry, _ f: String) throws -> String {
        let path = manifest.resolve(f)
        guard FileManager.default.fileExists(atPath: path) else {
            throw EntryError("\(place(e)): the spec file '\(f)' does not exist (looked for \(path))")
        }
        return path
    }

    /// The inline region's box (a ball clipped as in a JSON robustness spec, or the box).
    func box(_ e: ManifestEntry, _ s: InlineSpec) throws -> InputBox {
        if let b = s.box { return InputBox(lower: b.lower, upper: b.upper) }
        let center = try centerValues(e, s)
        let clip = s.clip.map { $0[0]...$0[1] }
        return try RobustnessSpec(center: center, epsilon: s.epsilon ?? 0, label: s.label ?? 0, clip: clip, source: place(e)).box()
    }

    func centerValues(_ e: ManifestEntry, _ s: InlineSpec) throws -> [Double] {
        switch s.center {
        case .values(let v)?: return v
        case .file(let f)?:
            let path = manifest.resolve(f)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw EntryError("\(place(e)): cannot read the centre file '\(f)' (looked for \(path))")
            }
            let tree: TreeNode
            do { tree = try JSONTree.parse(String(decoding: data, as: UTF8.self)) } catch let err as TreeSyntaxError {
                throw EntryError("\(path)\(err.position.map { ":\($0.line):\($0.column)" } ?? ""): \(err.message) (a centre file holds a JSON array of numbers)")
            }
            var out: [Double] = []
            func flatten(_ n: TreeNode) throws {
                switch n {
                case .sequence(let items, _): for i in items { try flatten(i) }
                case .scalar(let t, .number, let p):
                    guard let v = Double(t), v.isFinite else { throw EntryError("\(path):\(p.line):\(p.column): not a finite number") }
                    out.append(v)
                default:
                    throw EntryError("\(path):\(n.position.line):\(n.position.column): expected a number, got \(n.kindDescription) (a centre file holds a JSON array of numbers)")
                }
            }
            guard case .sequence = tree else { throw EntryError("\(path): expected a JSON array of numbers, got \(tree.kindDescription)") }
            try flatten(tree)
            if out.isEmpty { throw EntryError("\(path): the centre is empty") }
            return out
        case nil:
            throw EntryError("\(place(e)): the region has no centre")
        }
    }

    /// The entry's property (its unsafe set), fitted to `graph`.
    func property(_ e: ManifestEntry, graph: Graph) throws -> Property {
        let p: Property
        switch e.spec {
        case .file(let f):
            p = try PropertyLoader.load(path: try resolvedSpecFile(e, f), numOutputs: graph.outputCount)
        case .inline(let s):
            guard let label = s.label else { throw EntryError("\(place(e)): the region has no label, so no output property") }
            if s.box == nil {
                let clip = s.clip.map { $0[0]...$0[1] }
                p = try RobustnessSpec(center: try centerValues(e, s), epsilon: s.epsilon ?? 0, label: label, clip: clip,
                                       source: place(e)).property(numOutputs: graph.outputCount)
            } else {
                // The same clauses as a robustness spec, over the box.
                let b = try box(e, s)
                var q = try RobustnessSpec(center: b.lower, epsilon: 0, label: label, source: place(e)).property(numOutputs: graph.outputCount)
                q.cases[0].box = b
                p = q
            }
        }
        try p.validate(modelInputs: graph.inputCount, modelOutputs: graph.outputCount)
        return p
    }

    // MARK: The three kinds

    func runVerify(_ e: ManifestEntry, _ r: inout CheckEntryResult) throws {
        let graph = try loadModel(e)
        let property = try property(e, graph: graph)
        guard let method = VerificationMethod(rawValue: r.method) else { throw EntryError("unknown method '\(r.method)'") }
        var s = VerifierSettings()
        s.timeout = r.timeLimit
        s.inputSplit.workers = 1    // one queue order: deterministic (see the type's documentation)
        let result = try Verifier.forMethod(method, graph: graph, property: property, settings: s)
            .verify(graph: graph, property: property)
        r.answer = result.status
        r.decidedBy = result.method
        r.details = result.details
        r.counterexample = result.counterexample
        let cx = result.counterexample.map { c in
            "counterexample x = \(CheckRunner.list(c.x)) gives y = \(CheckRunner.list(c.y)) (box \(c.caseIndex), clause \(c.clauseIndex))"
        } ?? "counterexample"
        switch (e.expect, result.status) {
        case (.holds, .unsat):
            r.status = .pass; r.message = "holds: proven by \(result.method)"
        case (.holds, .sat):
            r.status = .fail; r.message = "violated: \(cx)"
        case (.violated, .sat):
            r.status = .pass; r.message = "violated as expected: \(cx)"
        case (.violated, .unsat):
            r.status = .fail; r.message = "holds (proven by \(result.method)), but 'violated' was expected"
        case (_, .timeout):
            r.status = .timeout; r.message = "no answer within the time limit of \(Expectation.format(r.timeLimit)) s (method \(r.method))"
        default:
            r.status = .unknown; r.message = "undecided: no counterexample found and no proof by method \(r.method)"
        }
    }

    func runBound(_ e: ManifestEntry, _ r: inout CheckEntryResult) throws {
        guard case let .bound(row, relation, value) = e.expect else { return }
        let graph = try loadModel(e)
        let box: InputBox
        let atom: LinearAtom
        var rowText: String
        if case .inline(let s) = e.spec, s.label == nil {
            // No output property: row j is output y_j.
            box = try self.box(e, s)
            guard box.count == graph.inputCount else {
                throw EntryError("\(place(e)): the region has \(box.count) inputs, the model '\(e.model)' has \(graph.inputCount)")
            }
            guard row < graph.outputCount else {
                throw EntryError("\(place(e)): bound(\(row)) does not exist: the region has no label, so the rows are the model's \(graph.outputCount) outputs (0..\(graph.outputCount - 1))")
            }
            atom = LinearAtom(c: (0..<graph.outputCount).map { $0 == row ? 1 : 0 }, d: 0)
            rowText = "y_\(row)"
        } else {
            let p = try property(e, graph: graph)
            let rows = p.rows
            guard row < rows.count else {
                throw EntryError("\(place(e)): bound(\(row)) does not exist: the property has \(rows.count) rows (0..\(rows.count - 1), numbered as `certus bounds` prints them)")
            }
            box = p.cases[rows[row].caseIndex].box
            atom = rows[row].atom
            rowText = CheckRunner.rowText(atom)
        }
        guard let method = BoundMethod(rawValue: r.method) else { throw EntryError("unknown method '\(r.method)'") }
        var bs = BoundSettings(method: method)
        bs.threads = 1          // row groups independent of the machine (see the type's documentation)
        let deadline = Date(timeIntervalSinceNow: r.timeLimit)
        bs.deadline = deadline
        let b = try BoundEngine(graph: graph).bound(box: box, atoms: [atom], settings: bs)
        guard let rb = b.first else { throw EntryError("\(place(e)): the bound engine returned no row") }
        let timedOut = Date() >= deadline
        r.details = ["row \(row): \(rowText); certified lower \(Expectation.format(rb.lower)), upper \(Expectation.format(rb.upper)) (\(method.rawValue))"]
        let v = relation == .atLeast ? rb.lower : rb.upper
        r.bound = v
        let holds = relation == .atLeast ? v >= value : v <= value
        let side = relation == .atLeast ? "lower" : "upper"
        if holds {
            r.status = .pass
            r.message = "certified \(side) bound of row \(row) (\(rowText)): \(Expectation.format(v)) \(relation.rawValue) \(Expectation.format(value))"
        } else if timedOut {
            r.status = .timeout
            r.message = "time limit reached; certified \(side) bound of row \(row) so far: \(Expectation.format(v)), not \(relation.rawValue) \(Expectation.format(value))"
        } else {
            r.status = .fail
            r.message = "certified \(side) bound of row \(row) (\(rowText)) is \(Expectation.format(v)), not \(relation.rawValue) \(Expectation.format(value)) (\(method.rawValue))"
        }
    }

    func runLipschitz(_ e: ManifestEntry, _ r: inout CheckEntryResult) throws {
        guard case let .lipschitz(limit, norm) = e.expect else { return }
        let graph = try loadModel(e)
        let boxes: [InputBox]
        switch e.spec {
        case .file(let f): boxes = try LipschitzRegion.load(path: try resolvedSpecFile(e, f))
        case .inline(let s): boxes = [try box(e, s)]
        }
        for b in boxes where b.count != graph.inputCount {
            throw EntryError("\(place(e)): the region has \(b.count) inputs, the model '\(e.model)' has \(graph.inputCount)")
        }
        guard let method = BoundMethod(rawValue: r.method) else { throw EntryError("unknown method '\(r.method)'") }
        var s = LipschitzSettings()
        s.norm = norm
        s.method = method
        s.deadline = Date(timeIntervalSinceNow: r.timeLimit)
        let res: LipschitzResult
        do { res = try Lipschitz.analyze(model: graph, boxes: boxes, settings: s) } catch let err as JacobianError {
            throw EntryError("\(manifest.resolve(e.model)): \(err.message)")
        }
        r.bound = res.upper
        r.attained = res.lower
        r.details = res.perOutput.map {
            "output \($0.output): attained \(Expectation.format($0.lower)), certified \(Expectation.format($0.upper))"
                + ($0.naive.map { ", naive \(Expectation.format($0))" } ?? "")
        }
        let what = "L-\(norm.rawValue) Lipschitz constant"
        if res.upper <= limit {
            r.status = .pass
            r.message = "certified \(what) <= \(Expectation.format(res.upper)) <= \(Expectation.format(limit)) (attained \(Expectation.format(res.lower)))"
        } else if res.lower > limit {
            let at = res.perOutput.max { $0.lower < $1.lower }.map { " at x = \(CheckRunner.list($0.lowerPoint)) (output \($0.output))" } ?? ""
            r.status = .fail
            r.message = "a gradient norm of \(Expectation.format(res.lower)) > \(Expectation.format(limit)) is attained\(at)"
        } else if !res.complete {
            r.status = .timeout
            r.message = "time limit reached: certified \(Expectation.format(res.upper)) > \(Expectation.format(limit)) >= attained \(Expectation.format(res.lower))"
        } else {
            r.status = .unknown
            r.message = "undecided: certified \(Expectation.format(res.upper)) > \(Expectation.format(limit)) >= attained \(Expectation.format(res.lower)) (\(method.rawValue))"
        }
    }

    static func list(_ v: [Double]) -> String { "[" + v.map(Expectation.format).joined(separator: ", ") + "]" }

    /// `c · y - d` as text: "y_0 - y_2", "2 y_1 - y_0 - 0.5".
    static func rowText(_ a: LinearAtom) -> String {
        var s = ""
        for (i, c) in a.c.enumerated() where c != 0 {
            let mag = abs(c) == 1 ? "" : Expectation.format(abs(c)) + " "
            s += s.isEmpty ? (c < 0 ? "-" : "") + mag + "y_\(i)" : (c < 0 ? " - " : " + ") + mag + "y_\(i)"
        }
        if s.isEmpty { s = "0" }
        if a.d != 0 { s += (a.d > 0 ? " - " : " + ") + Expectation.format(abs(a.d)) }
        return s
    }
}

/// A problem with one entry's inputs found by the runner (a missing file, a row that does not
/// exist), with the manifest line and the entry named.
public struct EntryError: Error, CustomStringConvertible, Sendable {
    /// What is wrong (the whole description).
    public var message: String
    /// Creates an error with its message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// The workers' shared state, behind one lock.
private final class WorkState: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int
    private var running = Set<Int>()
    private var finished = 0
    private(set) var results: [CheckEntryResult?]

    init(count: Int) { self.count = count; results = Array(repeating: nil, count: count) }

    func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }

    func update(_ body: (inout Set<Int>, inout [CheckEntryResult?], inout Int) -> Void) {
        lock.lock(); defer { lock.unlock() }
        body(&running, &results, &finished)
    }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
