@_exported import CertusTensor
@_exported import CertusGraph
@_exported import CertusONNX
@_exported import CertusLP
@_exported import CertusSpec
@_exported import CertusBounds
@_exported import CertusVerify
@_exported import CertusLipschitz
@_exported import CertusCheck
import Foundation

/// The front door of the Certus library: verify a property of a neural network, bound its
/// outputs, certify its local Lipschitz constants, or run a `certus check` manifest, each in one
/// call that the command line tool also uses.
///
/// ```swift
/// import Certus
///
/// let result = try Certus.verify(model: .file("Models/mlp_tanh.onnx"),
///                                spec: .robustness(.ball(center: [1.3166, -0.4369, 1.2701, -0.0683], epsilon: 0.0955),
///                                                  label: 0))
/// print(result.status)   // unsat: the argmax stays 0 everywhere in the ball
/// ```
///
/// Every call:
/// * loads what it is given (`Model`, `Spec`, `Region`) and throws `CertusError`, whose message
///   names the file and the line, node or field, for anything it cannot use;
/// * takes a time budget and a `CancellationToken` in its options (the `async` variants also stop
///   when their task is cancelled) and a progress callback where the analysis is long-running;
/// * returns a `Sendable` value that is `Codable` to exactly the JSON the command line prints with
///   `--json` (`VerificationResult`, `PropertyBoundReport`, `LipschitzReport`, `CheckReport`);
/// * runs OpenBLAS on one thread while it works (Certus parallelises above BLAS) and restores the
///   process's BLAS thread count when it returns.
///
/// Non-finite numbers in the JSON forms are the strings `"inf"`, `"-inf"` and `"nan"`:
/// `Certus.jsonEncoder()` and `Certus.jsonDecoder()` are set up for them.
public enum Certus {
    // MARK: verify

    /// Decides whether `spec` holds on `model`: a falsification attack, then the provers that
    /// `options.method` selects (CROWN and alpha-CROWN bound propagation, input splitting, branch
    /// and bound with beta-CROWN / GenBaB, or an exact MILP).
    ///
    /// - Returns: `unsat` when the property is proven, `sat` with a counterexample that was
    ///   re-checked on the model (in Double, and in float32 where the counterexample rules
    ///   say so), `unknown` or `timeout` otherwise; with the time, the deciding stage and a log.
    /// - Throws: `CertusError`: `.model`, `.spec` (the file and line named) or `.unsupported` for
    ///   inputs it cannot use, `.settings`, `.cancelled` when `options.cancellation` was cancelled.
    public static func verify(model: Model, spec: Spec, options: VerifyOptions = VerifyOptions()) throws -> VerificationResult {
        try BLAS.withSingleThread {
            try check(options.cancellation)
            let graph = try model.graph()
            let property = try spec.property(inputs: graph.inputCount, outputs: graph.outputCount)
            let result: VerificationResult = try CertusError.wrapping(model: model.name) {
                var verifier = try Verifier.forMethod(options.method, graph: graph, property: property,
                                                      settings: options.settings, progress: options.progress)
                verifier.cancellation = CancellationToken.either(options.cancellation, options.stop)
                var r = try verifier.verify(graph: graph, property: property)
                if options.stop?.isCancelled == true, r.status == .timeout || r.status == .unknown {
                    r.details.append("stopped on request after " + String(format: "%.2f s", r.timeSeconds) + " (partial result)")
                }
                return r
            }
            try check(options.cancellation)
            return result
        }
    }

    /// `verify` on a thread of its own; cancelling the calling task stops it (then it throws
    /// `CertusError` of kind `.cancelled`).
    public static func verify(model: Model, spec: Spec, options: VerifyOptions = VerifyOptions()) async throws -> VerificationResult {
        var o = options
        let token = o.cancellation ?? CancellationToken()
        o.cancellation = token
        return try await detached(token) { [o] in try verify(model: model, spec: spec, options: o) }
    }

    // MARK: bounds

    /// Certified lower and upper bounds of every row `c . y - d` of `spec`'s unsafe set over its
    /// input box(es), by IBP, CROWN (Zhang et al., NeurIPS 2018) or alpha-CROWN (Xu et al.,
    /// ICLR 2021). A clause is refuted when one of its rows has a positive lower bound; the
    /// property is `verified` when every clause is. The bounds hold for `options.semantics`
    /// (the real-valued network, or its float32 evaluation), which the report states.
    ///
    /// - Returns: the rows in the order `certus bounds` prints them, the property's lower bound,
    ///   whether it is verified, and the time.
    /// - Throws: `CertusError`: `.model`, `.spec`, `.unsupported` (an operator the bounds do not
    ///   handle, the node named), `.cancelled`.
    public static func bounds(model: Model, spec: Spec, options: BoundsOptions = BoundsOptions()) throws -> PropertyBoundReport {
        try BLAS.withSingleThread {
            try check(options.cancellation)
            let graph = try model.graph()
            let property = try spec.property(inputs: graph.inputCount, outputs: graph.outputCount)
            var settings = options.settings
            if let t = options.timeout { settings.deadline = Date(timeIntervalSinceNow: max(0, t)) }
            // The rows are of the model's own outputs, so a final Softmax stays (bounded through its
            // IBP interval); `verify` drops it for argmax properties and bounds the logits.
            let report: PropertyBoundReport = try CertusError.wrapping(model: model.name) {
                try BoundEngine(graph: graph, semantics: options.semantics).bound(property: property, settings: settings)
            }
            try check(options.cancellation)
            return report
        }
    }

    /// `bounds` on a thread of its own; a cancelled task makes it throw `.cancelled` when the pass ends.
    public static func bounds(model: Model, spec: Spec, options: BoundsOptions = BoundsOptions()) async throws -> PropertyBoundReport {
        var o = options
        let token = o.cancellation ?? CancellationToken()
        o.cancellation = token
        return try await detached(token) { [o] in try bounds(model: model, spec: spec, options: o) }
    }

    // MARK: lipschitz

    /// Certified upper bounds on the local Lipschitz constants of `model`'s outputs over `region`
    /// (for each output j, the largest dual norm of grad f_j over the region), by bound
    /// propagation on the Clarke Jacobian graph (Shi et al., "Efficiently Computing Local
    /// Lipschitz Constants of Neural Networks via Bound Propagation", NeurIPS 2022), beside the
    /// largest gradient norm attained at a point of the region (a lower bound) and the naive
    /// bound; with `options.exact`, the exact constant by a MILP as a cross-check.
    ///
    /// - Throws: `CertusError`: `.model`, `.spec` (the region), `.unsupported` (an operator
    ///   without a gradient node, the node named; `exact` with the L2 norm), `.settings`, `.cancelled`.
    public static func lipschitz(model: Model, region: Region, options: LipschitzOptions = LipschitzOptions()) throws -> LipschitzReport {
        try BLAS.withSingleThread {
            try check(options.cancellation)
            guard options.timeout > 0, options.timeout.isFinite else {
                throw CertusError(.settings, "the time budget must be a positive number of seconds, got \(options.timeout)")
            }
            if let r = options.targetRatio, !(r >= 1 && r.isFinite) {
                throw CertusError(.settings, "the target ratio must be a finite number >= 1, got \(r)")
            }
            if options.targetRatio != nil && options.norm == .l2 {
                throw CertusError(.settings, "a target ratio needs the L-inf or L1 input norm: branching bounds a linear quantity, and the gradient's L2 norm is not one")
            }
            if options.exact && options.norm == .l2 {
                throw CertusError(.settings, "the exact constant needs the L-inf or L1 input norm: the exact mode is a MILP, and the L2 norm of the gradient is not linear")
            }
            guard options.method != .ibp else { throw CertusError(.settings, "the Lipschitz bound method must be crown or alpha-crown") }
            let graph = try model.graph()
            let boxes = try region.boxes()
            for b in boxes where b.count != graph.inputCount {
                throw CertusError(.spec, "\(region.source): the region has \(b.count) inputs, the model '\(model.name)' has \(graph.inputCount)", file: region.source)
            }
            if let outputs = options.outputs {
                for j in outputs where j < 0 || j >= graph.outputCount {
                    throw CertusError(.settings, "output \(j) does not exist: the model has \(graph.outputCount) outputs (0..\(graph.outputCount - 1))")
                }
            }
            var s = options.settings
            s.branching = s.targetRatio == nil ? .none : s.branching
            return try CertusError.wrapping(model: model.name) {
                // The exact MILP first (a model it cannot encode is refused at once), then the
                // certified bound, each with the time budget.
                var exact: ExactLipschitzResult? = nil
                if options.exact {
                    var es = ExactLipschitzSettings()
                    es.deadline = Date(timeIntervalSinceNow: options.timeout)
                    exact = try ExactLipschitz.solve(model: graph, boxes: boxes, outputs: s.outputs, norm: s.norm, settings: es)
                    try check(options.cancellation)
                }
                s.deadline = Date(timeIntervalSinceNow: options.timeout)
                let result = try Lipschitz.analyze(model: graph, boxes: boxes, settings: s)
                try check(options.cancellation)
                return LipschitzReport(result: result, exact: exact)
            }
        }
    }

    /// `lipschitz` on a thread of its own; a cancelled task makes it throw `.cancelled` at its next check.
    public static func lipschitz(model: Model, region: Region, options: LipschitzOptions = LipschitzOptions()) async throws -> LipschitzReport {
        var o = options
        let token = o.cancellation ?? CancellationToken()
        o.cancellation = token
        return try await detached(token) { [o] in try lipschitz(model: model, region: region, options: o) }
    }

    // MARK: check

    /// Reads and checks a `certus check` manifest (YAML or JSON; paths in it resolve against its
    /// folder).
    /// - Throws: `CertusError` of kind `.manifest` naming the file, line, column and field.
    public static func manifest(_ path: String) throws -> Manifest {
        try CertusError.wrapping { try Manifest.load(path: path) }
    }

    /// A runner for `manifest` (its entries, the policies, the tag selection), for callers that
    /// run entries themselves (`CheckRunner.run(execute:progress:)`, `runEntry(at:)`).
    /// - Parameters:
    ///   - manifest: the manifest, from `manifest(_:)` or built in code.
    ///   - options: jobs, policies, the tag selection and the default time limit.
    /// - Throws: `CertusError` of kind `.settings` for `jobs < 1` or tags that no entry has.
    public static func checkRunner(_ manifest: Manifest, options: CheckOptions = CheckOptions()) throws -> CheckRunner {
        try CertusError.wrapping { try CheckRunner(manifest: manifest, options: options) }
    }

    /// Runs every selected entry of the manifest at `path` in this process, on `options.jobs`
    /// worker threads, and returns the report (`exitCode`, `junitXML()`, `jsonData()`, `table()`).
    /// An entry whose files cannot be used is that entry's `error`; the others still run. The
    /// command line runs each entry in a child process instead, so that a crash is one entry's.
    /// - Parameters:
    ///   - path: the manifest file.
    ///   - options: jobs, policies for undecided entries, the tag selection, the default time limit.
    ///   - progress: called when an entry starts and when it ends (never two at once).
    /// - Throws: `CertusError` for a bad manifest (`.manifest`) or options (`.settings`).
    public static func check(manifest path: String, options: CheckOptions = CheckOptions(),
                             progress: (@Sendable (CheckProgress) -> Void)? = nil) throws -> CheckReport {
        let runner = try checkRunner(try manifest(path), options: options)
        return BLAS.withSingleThread { runner.run(progress: progress) }
    }

    // MARK: run (VNN-COMP instance lists)

    /// Reads a VNN-COMP instance list (`onnx,vnnlib,timeout` rows; header optional; paths relative
    /// to the CSV's folder).
    /// - Throws: `CertusError` of kind `.spec` naming the file and line.
    public static func instances(_ path: String) throws -> [BatchInstance] {
        try CertusError.wrapping { try InstanceList.load(path: path) }
    }

    /// Reads expected answers (`onnx,vnnlib,expected` rows, expected `sat`, `unsat` or `unknown`).
    /// - Throws: `CertusError` of kind `.spec` naming the file and line.
    public static func expectedAnswers(_ path: String) throws -> ExpectedAnswers {
        try CertusError.wrapping { try ExpectedAnswers.load(path: path) }
    }

    /// Verifies every instance in order (each model loaded once), with each row's time limit x
    /// `options.timeoutScale`. An instance whose files cannot be used gets a record with its
    /// `error`; nothing is thrown.
    /// - Parameters:
    ///   - instances: the instances, from `instances(_:)` or built in code.
    ///   - expected: expected answers; each record then says whether its answer is correct.
    ///   - options: the method, the knobs and the time scale.
    ///   - events: called when an instance starts, with its search progress, and when it finishes.
    /// - Returns: one record per instance and their summary (counts, correct/wrong, times); once
    ///   `options.stop` is cancelled the running instance ends as `timeout` and the instances not
    ///   started yet are left out.
    public static func run(_ instances: [BatchInstance], expected: ExpectedAnswers? = nil, options: BatchOptions = BatchOptions(),
                           events: (@Sendable (BatchEvent) -> Void)? = nil) -> (records: [BatchRecord], summary: BatchSummary) {
        BLAS.withSingleThread {
            func makeRunner() -> BatchRunner {
                let runner = BatchRunner(settings: options.settings, timeoutScale: options.timeoutScale)
                runner.method = options.method
                runner.cancellation = options.stop
                runner.stallAfterLoading = options.stallAfterLoading
                return runner
            }
            var runner = makeRunner()
            var records: [BatchRecord] = []
            for (k, inst) in instances.enumerated() {
                if options.stop?.isCancelled == true { break }
                events?(.started(index: k, instance: inst))
                if let events {
                    runner.progress = { @Sendable p in events(.search(index: k, progress: p)) }
                }
                let want = expected?.expected(for: inst)
                let start = k == 0 ? options.firstStart ?? .now : .now
                runner.nextStart = start
                let r: BatchRecord
                if let execute = options.execute {
                    r = execute(k, inst, want)
                } else if let grace = options.watchdogGrace {
                    let limit = inst.timeout * options.timeoutScale
                    if let done = watched(runner, inst, want, start: start, limit: limit, grace: grace, stop: options.stop) {
                        r = done
                    } else {
                        // The abandoned thread keeps its runner; the next instances get a new one.
                        r = BatchRecord(onnx: inst.onnx, vnnlib: inst.vnnlib, status: .timeout, timeSeconds: seconds(since: start),
                                        timeLimit: limit, method: "watchdog", expected: want,
                                        verdict: BatchRecord.verdict(status: .timeout, expected: want))
                        runner = makeRunner()
                    }
                } else {
                    r = runner.run(inst, expected: want)
                }
                records.append(r)
                events?(.finished(index: k, record: r))
            }
            return (records, BatchSummary(records: records))
        }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = (ContinuousClock.now - start).components
        return Double(d.seconds) + Double(d.attoseconds) * 1e-18
    }

    /// Runs one instance on a thread of its own (16 MiB stack, as Certus's workers) and waits
    /// until `grace` seconds after its time limit, counted from `start`; nil when it has not
    /// returned by then (its stop token is then cancelled, so it ends at its next check).
    static func watched(_ runner: BatchRunner, _ inst: BatchInstance, _ want: VerificationStatus?, start: ContinuousClock.Instant,
                        limit: Double, grace: Double, stop: CancellationToken?) -> BatchRecord? {
        final class Slot: @unchecked Sendable {
            let done = DispatchSemaphore(value: 0)
            var record: BatchRecord? = nil
        }
        let own = CancellationToken()
        runner.cancellation = CancellationToken.either(stop, own)
        let slot = Slot()
        let t = Thread {
            slot.record = runner.run(inst, expected: want)
            slot.done.signal()
        }
        t.stackSize = 16 << 20
        t.start()
        let left = Swift.max(0, limit + grace - seconds(since: start))
        if slot.done.wait(timeout: .now() + left) == .timedOut {
            own.cancel()
            return nil
        }
        return slot.record
    }

    // MARK: JSON

    /// The encoder of the command line's JSON: sorted keys, optionally pretty, non-finite numbers
    /// as the strings "inf", "-inf" and "nan".
    public static func jsonEncoder(pretty: Bool = true) -> JSONEncoder {
        let enc = JSONEncoder()
        enc.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return enc
    }

    /// A decoder for that JSON (reads "inf", "-inf" and "nan" back as numbers).
    public static func jsonDecoder() -> JSONDecoder {
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return dec
    }

    // MARK: helpers

    static func check(_ token: CancellationToken?) throws {
        if token?.isCancelled == true { throw CertusError.cancelled }
    }

    /// Runs `body` on a thread with a 16 MiB stack (as Certus's own workers), cancelling `token`
    /// when the calling task is cancelled.
    static func detached<T: Sendable>(_ token: CancellationToken, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        if Task.isCancelled { throw CertusError.cancelled }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
                let t = Thread { c.resume(with: Result { try body() }) }
                t.stackSize = 16 << 20
                t.start()
            }
        } onCancel: {
            token.cancel()
        }
    }
}
