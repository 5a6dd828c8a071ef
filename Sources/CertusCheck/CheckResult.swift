import Foundation
import CertusVerify

/// What came of one entry.
public enum CheckStatus: String, Codable, Sendable, CaseIterable {
    /// The expectation was established (a proof, a checked counterexample, a certified bound).
    case pass
    /// The expectation was contradicted: a counterexample to `holds`, a proof against
    /// `violated`, an attained Lipschitz constant above the limit, a certified bound short of it.
    case fail
    /// The entry could not be run: a missing or bad model or spec file, a region that does not
    /// fit the model, an unsupported operator. The message names the file and the place.
    case error
    /// Undecided within the method's reach (no proof and no counterexample; a Lipschitz bound
    /// between the attained and the certified value).
    case unknown
    /// Undecided when the entry's time limit was reached.
    case timeout
}

/// How an entry counts for the run, after the `unknown` and `timeout` policies.
public enum CheckOutcome: String, Codable, Sendable {
    /// Counts as passed.
    case pass
    /// Fails the run.
    case fail
    /// Undecided, and the policy for its status is `warn`: reported, does not fail the run.
    case warn
}

/// What to do with an undecided entry (`--unknown`, `--timeout-policy`).
public enum CheckPolicy: String, Codable, Sendable, CaseIterable {
    /// The entry fails the run (default: a CI gate must not pass on a property it did not check).
    case fail
    /// The entry is reported as a warning (JUnit `<skipped>`) and does not fail the run.
    case warn
}

/// The result of one manifest entry: `Codable` to the JSON report, `Sendable` across workers.
public struct CheckEntryResult: Codable, Sendable, Equatable {
    /// Position of the entry in the manifest (0-based); reports are ordered by it.
    public var index: Int
    /// The entry's name (the JUnit testcase name).
    public var name: String
    /// The entry's tags, then the defaults' tags.
    public var tags: [String]
    /// The model path as written in the manifest.
    public var model: String
    /// The spec file as written, or a summary of the inline region.
    public var spec: String
    /// The expectation, in its text form.
    public var expect: String
    /// What came of the entry.
    public var status: CheckStatus
    /// How it counts after the policies.
    public var outcome: CheckOutcome
    /// For `holds`/`violated`: the verifier's answer (sat, unsat, unknown, timeout).
    public var answer: VerificationStatus?
    /// For `holds`/`violated`: the checked counterexample when the answer is `sat`.
    public var counterexample: Counterexample?
    /// The certified value compared with the limit: the row's lower bound (`bound(k) >= v`),
    /// its upper bound (`bound(k) <= v`), or the certified Lipschitz upper bound.
    public var bound: Double?
    /// For `lipschitz`: the largest gradient norm attained at a point of the region (a lower
    /// bound on the constant).
    public var attained: Double?
    /// The method used (the entry's, the default's, or the expectation's default).
    public var method: String
    /// For `holds`/`violated`: the stage that decided ("attack", "crown", "input-split", ...,
    /// or "none").
    public var decidedBy: String?
    /// The entry's time limit, seconds.
    public var timeLimit: Double
    /// Wall-clock seconds spent on the entry (loading included).
    public var timeSeconds: Double
    /// One line saying what happened (no times in it: the same inputs give the same text).
    public var message: String
    /// The library's log for the entry (may hold times).
    public var details: [String]

    enum CodingKeys: String, CodingKey {
        case index, name, tags, model, spec, expect, status, outcome, answer, counterexample, bound, attained
        case method, decidedBy = "decided_by", timeLimit = "time_limit_s", timeSeconds = "time_s", message, details
    }

    /// A result before the entry ran (status `error`, no message yet).
    public init(index: Int, name: String, tags: [String], model: String, spec: String, expect: String,
                method: String, timeLimit: Double) {
        self.index = index; self.name = name; self.tags = tags; self.model = model; self.spec = spec
        self.expect = expect; self.status = .error; self.outcome = .fail; self.method = method
        self.timeLimit = timeLimit; self.timeSeconds = 0; self.message = ""; self.details = []
    }
}

/// Counts over a run.
public struct CheckSummary: Codable, Sendable, Equatable {
    /// Entries in the report, and how many ended with each status.
    public var total = 0, pass = 0, fail = 0, error = 0, unknown = 0, timeout = 0
    /// Entries whose outcome is `warn`.
    public var warnings = 0

    /// Counts `results`.
    public init(results: [CheckEntryResult]) {
        total = results.count
        for r in results {
            switch r.status {
            case .pass: pass += 1
            case .fail: fail += 1
            case .error: error += 1
            case .unknown: unknown += 1
            case .timeout: timeout += 1
            }
            if r.outcome == .warn { warnings += 1 }
        }
    }
}

/// The policies a run used.
public struct CheckPolicies: Codable, Sendable, Equatable {
    /// For entries whose status is `unknown`.
    public var unknown: CheckPolicy
    /// For entries whose status is `timeout`.
    public var timeout: CheckPolicy

    /// Both `fail` by default.
    public init(unknown: CheckPolicy = .fail, timeout: CheckPolicy = .fail) {
        self.unknown = unknown; self.timeout = timeout
    }

    /// How an entry with `status` counts.
    public func outcome(for status: CheckStatus) -> CheckOutcome {
        switch status {
        case .pass: return .pass
        case .fail, .error: return .fail
        case .unknown: return unknown == .warn ? .warn : .fail
        case .timeout: return timeout == .warn ? .warn : .fail
        }
    }
}

/// The exit codes of `certus check` (`CheckReport.exitCode`). A run stopped by SIGINT or
/// SIGTERM ends with 128 + the signal (130, 143), and its report's `exitCode` says so.
public enum CheckExitCode {
    /// Every selected entry passed (undecided ones only under a `warn` policy).
    public static let passed: Int32 = 0
    /// Some expectation was contradicted (status `fail`). Takes precedence over 3 and 2.
    public static let failed: Int32 = 1
    /// No contradiction and no error, but some entry was undecided (`unknown` or `timeout`)
    /// under the `fail` policy.
    public static let undecided: Int32 = 2
    /// Some entry could not be run (status `error`: a bad or missing file), and none failed;
    /// also a manifest that cannot be read at all (then nothing runs).
    public static let error: Int32 = 3
}

/// The whole run: one result per selected entry, in manifest order.
public struct CheckReport: Codable, Sendable, Equatable {
    /// The suite name (`Manifest.suiteName`).
    public var suite: String
    /// The manifest file as given.
    public var manifest: String
    /// The `--tags` selection, when there was one.
    public var selectedTags: [String]?
    /// The policies used.
    public var policies: CheckPolicies
    /// One result per selected entry, ordered by `index` (never by completion).
    public var results: [CheckEntryResult]
    /// Counts.
    public var summary: CheckSummary
    /// The exit code of `certus check` for this run (`CheckExitCode`).
    public var exitCode: Int32
    /// Wall-clock seconds of the whole run.
    public var timeSeconds: Double
    /// Why nothing ran: the manifest could not be read (then `results` is empty, `exitCode` is 3
    /// and the JUnit report holds one `<error>` testcase naming the problem); nil for a run.
    public var error: CheckReportError?

    enum CodingKeys: String, CodingKey {
        case suite, manifest, selectedTags = "selected_tags", policies, results, summary, exitCode = "exit_code", timeSeconds = "time_s", error
    }

    /// A report over `results` (sorted by index here), with its summary and exit code.
    public init(suite: String, manifest: String, selectedTags: [String]?, policies: CheckPolicies,
                results: [CheckEntryResult], timeSeconds: Double) {
        self.suite = suite; self.manifest = manifest; self.selectedTags = selectedTags; self.policies = policies
        self.results = results.sorted { $0.index < $1.index }
        self.summary = CheckSummary(results: self.results)
        self.timeSeconds = timeSeconds
        let s = summary
        if s.fail > 0 { exitCode = CheckExitCode.failed }
        else if s.error > 0 { exitCode = CheckExitCode.error }
        else if self.results.contains(where: { $0.outcome == .fail }) { exitCode = CheckExitCode.undecided }
        else { exitCode = CheckExitCode.passed }
    }

    /// The report of a run that could not start because the manifest at `manifest` could not
    /// be read (`message`: the whole error, with its file, line and field): no results, exit
    /// code 3, and `error` set. `certus check --junit/--json` writes it so that a CI job never
    /// shows an earlier run's reports as this one's.
    public static func manifestProblem(manifest: String, message: String, policies: CheckPolicies = CheckPolicies(),
                                       selectedTags: [String]? = nil) -> CheckReport {
        let base = URL(fileURLWithPath: manifest).deletingPathExtension().lastPathComponent
        var r = CheckReport(suite: base.isEmpty ? "certus-check" : base, manifest: manifest, selectedTags: selectedTags,
                            policies: policies, results: [], timeSeconds: 0)
        r.error = CheckReportError(kind: "manifest", message: message)
        r.exitCode = CheckExitCode.error
        return r
    }

    /// Whether the run passed (exit code 0).
    public var passed: Bool { exitCode == CheckExitCode.passed }

    /// The report with what legitimately differs between two runs of the same manifest cleared:
    /// every time, and the library's free-form `details` logs (they quote times). Two runs of
    /// the same manifest, at any `--jobs`, give equal `comparable` reports unless an entry
    /// reached its time limit.
    public var comparable: CheckReport {
        var r = self
        r.timeSeconds = 0
        for k in r.results.indices { r.results[k].timeSeconds = 0; r.results[k].details = [] }
        return r
    }
}

/// Why a `certus check` run did not run its entries (`CheckReport.error`).
public struct CheckReportError: Codable, Sendable, Equatable {
    /// What failed: "manifest" (the manifest could not be read or is invalid).
    public var kind: String
    /// The whole message, with the file, line and field when there are.
    public var message: String

    /// Creates an error.
    public init(kind: String, message: String) { self.kind = kind; self.message = message }
}
