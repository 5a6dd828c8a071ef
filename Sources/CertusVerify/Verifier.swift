import CertusGraph
import CertusSpec

/// What a prover concluded about a property within its deadline.
public enum ProverOutcome: Sendable, Equatable {
    /// No input in any box satisfies any clause: the property holds. This is the only way the
    /// verifier answers `unsat`, so a prover must return it only with a proof.
    case proven
    /// A candidate counterexample input (flattened). The verifier re-checks it (float32 snapping,
    /// re-evaluation, safety margin) and answers `sat` only if it passes.
    case counterexample([Double])
    /// No conclusion; the text says why (for the log).
    case unknown(String)
}

/// A bound-based (or any other) decision procedure that the verifier runs after the attack.
///
/// The seam for the bounds engine: implement `prove` and pass the prover to `Verifier`.
/// A thrown error counts as `unknown`; so does a counterexample that fails the re-check.
public protocol PropertyProver: Sendable {
    /// Short name, reported as the result's `method` when this prover decides.
    var name: String { get }
    /// Tries to decide `property` on `graph`, stopping by `deadline`.
    func prove(graph: Graph, property: Property, deadline: Deadline) throws -> ProverOutcome
    /// Whether the prover is a complete search (branch and bound, MILP): its `.unknown` means it
    /// ran out of budget, after which the verifier spends the remaining time attacking.
    var isComplete: Bool { get }
}

extension PropertyProver {
    public var isComplete: Bool { false }
}

/// The verification pipeline: validate, attack (falsification), then each prover in turn.
///
/// * `sat` only with a counterexample that passed `CounterexampleCheck` (from the attack or a prover).
/// * `unsat` only from a prover's `.proven`, and only if the attack saw nothing that contradicts
///   it (no point where a clause held in Double, no non-finite model output).
/// * `timeout` when the time limit stopped the pipeline before it finished, `unknown` otherwise.
public struct Verifier: Sendable {
    /// The knobs (time limit, attack, margins).
    public var settings: VerifierSettings
    /// Provers run in order after the attack.
    public var provers: [any PropertyProver]

    public init(settings: VerifierSettings = VerifierSettings(), provers: [any PropertyProver] = []) {
        self.settings = settings
        self.provers = provers
    }

    /// Verifies with the given settings and no provers.
    /// - Throws: `SpecError` (kind `.mismatch`) when the property does not fit the model,
    ///   `SettingsError` for unusable settings. Everything else ends in a result.
    public static func verify(graph: Graph, property: Property, settings: VerifierSettings = VerifierSettings()) throws -> VerificationResult {
        try Verifier(settings: settings).verify(graph: graph, property: property)
    }

    /// Runs the pipeline on `property` over `graph`.
    /// - Throws: `SpecError` (kind `.mismatch`) when the property does not fit the model,
    ///   `SettingsError` for unusable settings. Every other failure (model evaluation error,
    ///   prover error, NaN) gives `unknown` with the reason in `details`.
    public func verify(graph: Graph, property: Property) throws -> VerificationResult {
        try settings.validate()
        try property.validate(modelInputs: graph.inputCount, modelOutputs: graph.outputCount)
        let start = ContinuousClock.now
        let deadline = Deadline(secondsFromNow: settings.timeout)
        var log: [String] = []
        func finish(_ status: VerificationStatus, _ method: String, _ cx: Counterexample? = nil) -> VerificationResult {
            VerificationResult(status: status, counterexample: cx, timeSeconds: secondsSince(start), method: method, details: log)
        }

        // 1. Falsification.
        let attackDeadline = provers.isEmpty ? deadline : deadline.capped(secondsFromNow: settings.timeout * settings.attackTimeFraction)
        let attack = Attack(settings: settings).run(graph: graph, property: property, deadline: attackDeadline)
        log.append(attack.summary)
        if let cx = attack.counterexample { return finish(.sat, "attack", cx) }
        if deadline.hasPassed { return finish(.timeout, "none") }

        // 2. Provers.
        var completeSearchGaveUp = false
        for prover in provers {
            if deadline.hasPassed { return finish(.timeout, "none") }
            let outcome: ProverOutcome
            do {
                outcome = try prover.prove(graph: graph, property: property, deadline: deadline)
            } catch {
                log.append("\(prover.name): error: \(error)")
                continue
            }
            switch outcome {
            case .proven:
                if attack.unconfirmedViolation || attack.sawNonFinite {
                    log.append("\(prover.name): claimed a proof, refused: the attack saw "
                               + (attack.sawNonFinite ? "non-finite model outputs" : "a point where a clause holds"))
                    continue
                }
                if deadline.hasPassed {
                    log.append("\(prover.name): proof arrived after the time limit")
                    return finish(.timeout, "none")
                }
                log.append("\(prover.name): proven")
                return finish(.unsat, prover.name)
            case .counterexample(let x):
                do {
                    if let cx = try CounterexampleCheck.confirm(graph: graph, property: property, candidate: x, settings: settings) {
                        log.append("\(prover.name): counterexample confirmed")
                        return finish(.sat, prover.name, cx)
                    }
                    log.append("\(prover.name): counterexample rejected by the re-check (outside the box, NaN, or clause fails with margin)")
                } catch {
                    log.append("\(prover.name): counterexample could not be evaluated: \(error)")
                }
            case .unknown(let why):
                log.append("\(prover.name): unknown: \(why)")
                if prover.isComplete { completeSearchGaveUp = true }
            }
        }
        if attack.timedOut && provers.isEmpty { return finish(.timeout, "none") }

        // 3. A complete search ran out of budget: attack with the remaining time.
        if completeSearchGaveUp && settings.finalAttack && !deadline.hasPassed {
            var s = settings
            s.seed = settings.seed &+ 0x9E37_79B9
            s.attackUntilDeadline = true
            let again = Attack(settings: s).run(graph: graph, property: property, deadline: deadline)
            log.append("final " + again.summary)
            if let cx = again.counterexample { return finish(.sat, "attack", cx) }
        }
        return finish(deadline.hasPassed ? .timeout : .unknown, "none")
    }
}
