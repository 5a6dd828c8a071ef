import CertusBounds

/// The answer to "is the property violated?", in VNN-COMP words.
public enum VerificationStatus: String, Sendable, Codable, CaseIterable {
    /// A counterexample exists (and is attached, checked): the property is violated.
    case sat
    /// Proven: no input in any box satisfies any clause. The property holds.
    case unsat
    /// No answer; the pipeline ran to completion (or failed) without one.
    case unknown
    /// No answer within the time limit.
    case timeout

    /// The `certus verify` exit code: 0 unsat, 1 sat, 2 unknown or timeout.
    public var exitCode: Int32 {
        switch self {
        case .unsat: return 0
        case .sat: return 1
        case .unknown, .timeout: return 2
        }
    }
}

/// What `Certus.verify` (and `certus verify`) found.
public struct VerificationResult: Sendable, Codable, Equatable {
    /// The answer.
    public var status: VerificationStatus
    /// The checked counterexample when `status == .sat`, else nil.
    public var counterexample: Counterexample?
    /// Wall-clock seconds spent in `verify`.
    public var timeSeconds: Double
    /// The stage that decided: "attack", a prover's name, or "none".
    public var method: String
    /// Free-form log of what each stage did, one line per event.
    public var details: [String]
    /// What the attack before the provers did (work counters, rejected points); nil when the
    /// pipeline stopped before it. Not part of the JSON form (its summary is in `details`).
    public var attack: AttackReport? = nil
    /// The arithmetic the answer holds for (`VerifierSettings.semantics`): `unsat` under
    /// `.float32` says nothing about the real-valued network, and the other way round.
    public var semantics: NumericSemantics = .real

    enum CodingKeys: String, CodingKey { case status, counterexample, timeSeconds = "time_s", method, details, semantics }

    /// Decodes the JSON form; a result without `semantics` (written before it existed) is `real`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        status = try c.decode(VerificationStatus.self, forKey: .status)
        counterexample = try c.decodeIfPresent(Counterexample.self, forKey: .counterexample)
        timeSeconds = try c.decode(Double.self, forKey: .timeSeconds)
        method = try c.decode(String.self, forKey: .method)
        details = try c.decode([String].self, forKey: .details)
        semantics = try c.decodeIfPresent(NumericSemantics.self, forKey: .semantics) ?? .real
    }

    /// Creates a result; every field is as documented on its property.
    public init(status: VerificationStatus, counterexample: Counterexample? = nil, timeSeconds: Double, method: String, details: [String] = []) {
        self.status = status; self.counterexample = counterexample; self.timeSeconds = timeSeconds
        self.method = method; self.details = details
    }

    /// The VNN-COMP result text: the status word on the first line, then for `sat` the
    /// counterexample `((X_0 v) ... (Y_0 v) ...)`.
    public var resultText: String {
        var s = status.rawValue + "\n"
        if status == .sat, let cx = counterexample { s += cx.witness }
        return s
    }
}
