import Foundation
import CertusGraph
import CertusSpec

/// A problem with an instance list or expected-answers CSV: file, 1-based line, message.
package struct InstanceListError: Error, CustomStringConvertible, Equatable, Sendable {
    package var file: String
    package var line: Int?
    package var message: String
    package init(file: String, line: Int?, message: String) { self.file = file; self.line = line; self.message = message }
    package var description: String { line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)" }
}

/// One row of an instance list (`onnx,vnnlib,timeout`).
public struct BatchInstance: Equatable, Sendable {
    /// The model path as written in the CSV.
    public var onnx: String
    /// The spec path as written in the CSV.
    public var vnnlib: String
    /// The instance's time limit in seconds, as written.
    public var timeout: Double
    /// The model path resolved against the CSV's folder.
    public var onnxPath: String
    /// The spec path resolved against the CSV's folder.
    public var vnnlibPath: String
    /// 1-based line in the CSV.
    public var line: Int

    /// Creates an instance; every field is as documented on its property.
    public init(onnx: String, vnnlib: String, timeout: Double, onnxPath: String, vnnlibPath: String, line: Int) {
        self.onnx = onnx; self.vnnlib = vnnlib; self.timeout = timeout
        self.onnxPath = onnxPath; self.vnnlibPath = vnnlibPath; self.line = line
    }
}

/// Readers for VNN-COMP instance lists and expected-answer tables.
package enum InstanceList {
    /// Splits CSV text into (line number, fields) for non-blank lines; fields are trimmed.
    /// (The files hold plain paths and words: no quoting.)
    static func rows(_ text: String) -> [(line: Int, fields: [String])] {
        var out: [(Int, [String])] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            out.append((i + 1, line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }))
        }
        return out
    }

    static func resolve(_ path: String, base: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: base).appendingPathComponent(path).standardized.path
    }

    static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InstanceListError(file: path, line: nil, message: "cannot read file (no such file or not readable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InstanceListError(file: path, line: nil, message: "not UTF-8 text")
        }
        return text
    }

    /// Parses `onnx,vnnlib,timeout` rows. A first row whose timeout field is not a number is a
    /// header and skipped; blank lines are ignored; relative paths are resolved against
    /// `baseDirectory`.
    /// - Throws: `InstanceListError` with the line number for a wrong field count, an empty path
    ///   or a timeout that is not a positive number, and when there is no instance at all.
    package static func parse(text: String, source: String, baseDirectory: String) throws -> [BatchInstance] {
        var out: [BatchInstance] = []
        for (k, row) in rows(text).enumerated() {
            let f = row.fields
            if k == 0, f.count == 3, Double(f[2]) == nil, f[2].lowercased() == "timeout" || f[0].lowercased() == "onnx" { continue }
            guard f.count == 3 else {
                throw InstanceListError(file: source, line: row.line, message: "expected 3 fields onnx,vnnlib,timeout, found \(f.count)")
            }
            guard !f[0].isEmpty, !f[1].isEmpty else {
                throw InstanceListError(file: source, line: row.line, message: "empty model or spec path")
            }
            guard let t = Double(f[2]), t.isFinite, t > 0 else {
                throw InstanceListError(file: source, line: row.line, message: "timeout '\(f[2])' is not a positive number of seconds")
            }
            out.append(BatchInstance(onnx: f[0], vnnlib: f[1], timeout: t,
                                     onnxPath: resolve(f[0], base: baseDirectory),
                                     vnnlibPath: resolve(f[1], base: baseDirectory), line: row.line))
        }
        if out.isEmpty { throw InstanceListError(file: source, line: nil, message: "no instances") }
        return out
    }

    /// Loads an instance list; paths are relative to the CSV's folder.
    package static func load(path: String) throws -> [BatchInstance] {
        try parse(text: read(path), source: path, baseDirectory: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }
}

/// Expected answers (`onnx,vnnlib,expected`, expected ∈ sat/unsat/unknown), keyed by the two
/// paths as written (the instance list and this table must spell them the same way).
public struct ExpectedAnswers: Equatable, Sendable {
    /// `"onnx,vnnlib"` → expected status.
    public var answers: [String: VerificationStatus]

    /// A table from `"onnx,vnnlib"` keys (spelled as in the instance list) to expected answers.
    public init(answers: [String: VerificationStatus]) { self.answers = answers }

    static func key(_ onnx: String, _ vnnlib: String) -> String { onnx + "," + vnnlib }

    /// The expected answer for an instance, if listed.
    public func expected(for instance: BatchInstance) -> VerificationStatus? {
        answers[ExpectedAnswers.key(instance.onnx, instance.vnnlib)]
    }

    /// Parses the table; a header row (`onnx,vnnlib,expected`) is optional, blank lines are ignored.
    /// - Throws: `InstanceListError` with the line for a wrong field count, an unknown answer word,
    ///   or an instance listed twice with different answers.
    public static func parse(text: String, source: String) throws -> ExpectedAnswers {
        var answers: [String: VerificationStatus] = [:]
        for (k, row) in InstanceList.rows(text).enumerated() {
            let f = row.fields
            if k == 0, f.count == 3, f[2].lowercased() == "expected" { continue }
            guard f.count == 3 else {
                throw InstanceListError(file: source, line: row.line, message: "expected 3 fields onnx,vnnlib,expected, found \(f.count)")
            }
            let word = f[2].lowercased()
            guard let st = VerificationStatus(rawValue: word), st != .timeout else {
                throw InstanceListError(file: source, line: row.line, message: "expected answer '\(f[2])' is not sat, unsat or unknown")
            }
            let key = ExpectedAnswers.key(f[0], f[1])
            if let old = answers[key], old != st {
                throw InstanceListError(file: source, line: row.line, message: "\(f[0]) \(f[1]) is listed again with a different answer")
            }
            answers[key] = st
        }
        return ExpectedAnswers(answers: answers)
    }

    /// Loads the table at `path`.
    public static func load(path: String) throws -> ExpectedAnswers {
        try parse(text: InstanceList.read(path), source: path)
    }
}

/// How an answer compares with the expected one.
public enum Verdict: String, Codable, Sendable {
    /// Same definite answer as expected.
    case correct
    /// The opposite definite answer (sat vs unsat): a soundness bug or a wrong expectation.
    case wrong
    /// Expected sat or unsat; we answered unknown or timeout.
    case unsolved
    /// No definite expectation (missing, or `unknown`).
    case unchecked
}

/// The outcome of one instance of a batch run.
public struct BatchRecord: Codable, Equatable, Sendable {
    /// The model path as written in the instance list.
    public var onnx: String
    /// The spec path as written in the instance list.
    public var vnnlib: String
    /// Certus's answer.
    public var status: VerificationStatus
    /// Wall-clock seconds for the instance (loading included).
    public var timeSeconds: Double
    /// The time limit used (the row's timeout times the scale).
    public var timeLimit: Double
    /// The stage that decided ("attack", a prover, or "none").
    public var method: String
    /// The expected answer, when one was given.
    public var expected: VerificationStatus?
    /// The answer compared with the expectation.
    public var verdict: Verdict
    /// Set when the instance could not be run (unreadable model or spec, mismatch).
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case onnx, vnnlib, status, timeSeconds = "time_s", timeLimit = "time_limit_s", method, expected, verdict, error
    }

    /// Creates a record; every field is as documented on its property.
    public init(onnx: String, vnnlib: String, status: VerificationStatus, timeSeconds: Double, timeLimit: Double,
                method: String, expected: VerificationStatus?, verdict: Verdict, error: String? = nil) {
        self.onnx = onnx; self.vnnlib = vnnlib; self.status = status; self.timeSeconds = timeSeconds
        self.timeLimit = timeLimit; self.method = method; self.expected = expected; self.verdict = verdict; self.error = error
    }

    /// Compares an answer with an expectation.
    public static func verdict(status: VerificationStatus, expected: VerificationStatus?) -> Verdict {
        guard let e = expected, e == .sat || e == .unsat else { return .unchecked }
        switch status {
        case e: return .correct
        case .sat, .unsat: return .wrong
        case .unknown, .timeout: return .unsolved
        }
    }
}

/// Totals over a batch run.
public struct BatchSummary: Codable, Equatable, Sendable {
    /// Instances run.
    public var instances = 0
    /// Answers by status.
    public var sat = 0, unsat = 0, unknown = 0, timeout = 0
    /// Instances that could not be run (bad input); counted as unknown too.
    public var errors = 0
    /// Verdicts against the expected answers (see `Verdict`).
    public var correct = 0, wrong = 0, unsolved = 0, unchecked = 0
    /// Sum of the instances' wall-clock seconds.
    public var totalTime = 0.0
    /// Median wall-clock seconds per instance.
    public var medianTime = 0.0

    enum CodingKeys: String, CodingKey {
        case instances, sat, unsat, unknown, timeout, errors, correct, wrong, unsolved, unchecked
        case totalTime = "total_time_s", medianTime = "median_time_s"
    }

    /// The totals of `records`.
    public init(records: [BatchRecord]) {
        instances = records.count
        for r in records {
            switch r.status {
            case .sat: sat += 1
            case .unsat: unsat += 1
            case .unknown: unknown += 1
            case .timeout: timeout += 1
            }
            switch r.verdict {
            case .correct: correct += 1
            case .wrong: wrong += 1
            case .unsolved: unsolved += 1
            case .unchecked: unchecked += 1
            }
            if r.error != nil { errors += 1 }
            totalTime += r.timeSeconds
        }
        let times = records.map(\.timeSeconds).sorted()
        if !times.isEmpty {
            let m = times.count / 2
            medianTime = times.count % 2 == 1 ? times[m] : (times[m - 1] + times[m]) / 2
        }
    }
}

/// Runs a list of instances one after another, loading each model once.
package final class BatchRunner {
    /// Settings for every instance; `timeout` is replaced by the row's timeout times `timeoutScale`.
    package var settings: VerifierSettings
    /// Factor applied to each row's timeout (e.g. 0.05 for a quick pass).
    package var timeoutScale: Double
    /// Provers handed to every `Verifier` (when `method` is nil).
    package var provers: [any PropertyProver]
    /// When set, each instance runs `Verifier.forMethod(method, ...)` (strategy selection)
    /// instead of a verifier with `provers`.
    package var method: VerificationMethod? = nil
    /// Progress callback for branch-and-bound provers chosen by `method`.
    package var progress: ProgressHandler? = nil
    /// Cancelling it ends the running instance as its time limit would (`Verifier.cancellation`).
    package var cancellation: CancellationToken? = nil
    /// Where the next instance's time limit counts from (nil: the instance's own start, before
    /// its model is loaded); used once, then cleared. A `certus run` child sets its process's
    /// start, so that the runtime's start-up counts too.
    package var nextStart: ContinuousClock.Instant? = nil
    /// Test hook (`CERTUS_TEST_STALL_SECONDS`, read by the command line): seconds to sleep after
    /// loading, without any stop check, as a long load or GLPK call would (the watchdog's test).
    package var stallAfterLoading: Double? = nil
    /// Loads a model from a path (`ModelFile.load` in the Certus module).
    package let loadModel: (String) throws -> Graph
    private var cache: [String: Graph] = [:]

    package init(settings: VerifierSettings = VerifierSettings(), timeoutScale: Double = 1,
                provers: [any PropertyProver] = [], loadModel: @escaping (String) throws -> Graph) {
        self.settings = settings
        self.timeoutScale = timeoutScale
        self.provers = provers
        self.loadModel = loadModel
    }

    /// The model at `path`, loaded once per runner.
    package func model(at path: String) throws -> Graph {
        if let g = cache[path] { return g }
        let g = try loadModel(path)
        cache[path] = g
        return g
    }

    /// Runs one instance. Bad input (unreadable model or spec, mismatch) is recorded in the
    /// record's `error` with status `unknown`; nothing is thrown.
    /// The time limit counts from the instance's start (`nextStart`, else the call), model and
    /// spec loading included, as VNN-COMP counts it: the search gets what is left after loading.
    package func run(_ instance: BatchInstance, expected: VerificationStatus?) -> BatchRecord {
        let start = nextStart ?? ContinuousClock.now
        nextStart = nil
        var s = settings
        s.timeout = instance.timeout * timeoutScale
        let limit = s.timeout
        do {
            let graph = try model(at: instance.onnxPath)
            let property = try PropertyLoader.load(path: instance.vnnlibPath, numOutputs: graph.outputCount)
            if let stall = stallAfterLoading, stall > 0 { usleep(UInt32(Swift.min(stall, 60) * 1e6)) }
            s.timeout = Swift.max(1e-3, limit - secondsSince(start))
            var verifier = try method.map { try Verifier.forMethod($0, graph: graph, property: property, settings: s, progress: progress) }
                ?? Verifier(settings: s, provers: provers)
            verifier.cancellation = cancellation
            let result = try verifier.verify(graph: graph, property: property)
            return BatchRecord(onnx: instance.onnx, vnnlib: instance.vnnlib, status: result.status,
                               timeSeconds: secondsSince(start), timeLimit: limit, method: result.method,
                               expected: expected, verdict: BatchRecord.verdict(status: result.status, expected: expected))
        } catch {
            return BatchRecord(onnx: instance.onnx, vnnlib: instance.vnnlib, status: .unknown,
                               timeSeconds: secondsSince(start), timeLimit: limit, method: "none",
                               expected: expected, verdict: BatchRecord.verdict(status: .unknown, expected: expected),
                               error: "\(error)")
        }
    }

    /// Runs every instance in order, calling `progress(index, total, record)` after each
    /// (index is 1-based); returns the records and their summary.
    package func run(_ instances: [BatchInstance], expected: ExpectedAnswers? = nil,
                    progress: (Int, Int, BatchRecord) -> Void = { _, _, _ in }) -> (records: [BatchRecord], summary: BatchSummary) {
        var records: [BatchRecord] = []
        for (i, inst) in instances.enumerated() {
            let r = run(inst, expected: expected?.expected(for: inst))
            records.append(r)
            progress(i + 1, instances.count, r)
        }
        return (records, BatchSummary(records: records))
    }
}
