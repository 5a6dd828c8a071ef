import Foundation
import CertusTensor
import CertusGraph
import CertusSpec
import CertusBounds

/// What a prover concluded about a property within its deadline.
package enum ProverOutcome: Sendable, Equatable {
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
package protocol PropertyProver: Sendable {
    /// Short name, reported as the result's `method` when this prover decides.
    var name: String { get }
    /// Tries to decide `property` on `graph`, stopping by `deadline`. The verifier may hand over a
    /// graph equivalent for this property rather than the model it was given (the logits, for a
    /// final Softmax whose outputs the property compares pairwise: `OutputSoftmax`); it re-checks
    /// counterexamples on the model it was given.
    func prove(graph: Graph, property: Property, deadline: Deadline) throws -> ProverOutcome
    /// `prove` with a one-line summary of the work done (domains, depth, bound) for the log,
    /// or nil. Default: `prove` and no summary.
    func proveWithSummary(graph: Graph, property: Property, deadline: Deadline) throws -> (ProverOutcome, String?)
    /// Whether the prover is a complete search (branch and bound, MILP): its `.unknown` means it
    /// ran out of budget, after which the verifier spends the remaining time attacking.
    var isComplete: Bool { get }
}

extension PropertyProver {
    package var isComplete: Bool { false }
    package func proveWithSummary(graph: Graph, property: Property, deadline: Deadline) throws -> (ProverOutcome, String?) {
        (try prove(graph: graph, property: property, deadline: deadline), nil)
    }
}

/// The verification pipeline: validate, a CROWN pass for properties with many clauses
/// (`clausesLeftByBound`), attack (falsification) on the clauses left open, then each prover in turn.
/// The CROWN pass and the provers work on `OutputSoftmax.graphForBounds` (the model without a
/// final Softmax that the property does not need), computed once; the attack and every
/// counterexample check use the model as given.
///
/// * `sat` only with a counterexample that passed `CounterexampleCheck` (from the attack or a prover).
/// * `unsat` only from a prover's `.proven`, and only if the attack saw nothing that contradicts
///   it (no point where a clause held in Double, no non-finite model output).
/// * `timeout` when the time limit stopped the pipeline before it finished, `unknown` otherwise.
package struct Verifier: Sendable {
    /// The knobs (time limit, attack, margins).
    package var settings: VerifierSettings
    /// Provers run in order after the attack.
    package var provers: [any PropertyProver]
    /// Cancelling this token stops the pipeline at its next check, as if the time limit had
    /// passed (the result is then `timeout`); nil: only the time limit stops it.
    package var cancellation: CancellationToken? = nil

    package init(settings: VerifierSettings = VerifierSettings(), provers: [any PropertyProver] = []) {
        self.settings = settings
        self.provers = provers
    }

    /// Verifies with the given settings and no provers.
    /// - Throws: `SpecError` (kind `.mismatch`) when the property does not fit the model,
    ///   `SettingsError` for unusable settings. Everything else ends in a result.
    package static func verify(graph: Graph, property: Property, settings: VerifierSettings = VerifierSettings()) throws -> VerificationResult {
        try Verifier(settings: settings).verify(graph: graph, property: property)
    }

    /// Runs the pipeline on `property` over `graph`.
    /// - Throws: `SpecError` (kind `.mismatch`) when the property does not fit the model,
    ///   `SettingsError` for unusable settings. Every other failure (model evaluation error,
    ///   prover error, NaN) gives `unknown` with the reason in `details`.
    package func verify(graph: Graph, property given: Property) throws -> VerificationResult {
        BLAS.beginSingleThread(); defer { BLAS.endSingleThread() }   // see BLAS.withSingleThread
        try settings.validate()
        try given.validate(modelInputs: graph.inputCount, modelOutputs: graph.outputCount)
        let start = ContinuousClock.now
        // --semantics float32: only the float32 inputs of each box (`Verifier.float32Property`).
        let (property, semanticsNote) = settings.semantics == .float32 ? Verifier.float32Property(given) : (given, nil)
        var deadline = Deadline(secondsFromNow: settings.timeout, cancellation: cancellation)
        deadline.memory = settings.memoryLimit.map { MemoryBudget(limitBytes: $0) }
        var log: [String] = []
        var attackReport: AttackReport? = nil
        func finish(_ status: VerificationStatus, _ method: String, _ cx: Counterexample? = nil) -> VerificationResult {
            var r = VerificationResult(status: status, counterexample: cx, timeSeconds: secondsSince(start), method: method, details: log)
            r.attack = attackReport
            r.semantics = settings.semantics
            return r
        }
        if let semanticsNote { log.append(semanticsNote) }
        // Every box held no float32 input (under float32 semantics): nothing can violate. A
        // property without boxes to begin with proves nothing and finds nothing (below).
        if property.cases.isEmpty && !given.cases.isEmpty { return finish(.unsat, "float32-box") }

        // 0. The graph to bound: without a final Softmax when the property compares its outputs
        // pairwise (equivalent there, and needing no Softmax relaxation).
        var boundGraph = graph
        // Not under float32: Softmax's rounding can tie or swap outputs whose logits differ, so
        // comparing the logits is no longer equivalent (and Softmax has no float32 model).
        if !provers.isEmpty && settings.semantics == .real {
            let (g, note) = OutputSoftmax.graphForBounds(graph, property: property)
            boundGraph = g
            if let note { log.append(note) }
        }

        // 1. Many clauses: a cheap bound first, so the attack spends its runs on the clauses it leaves open.
        let attackDeadline = provers.isEmpty ? deadline : deadline.capped(secondsFromNow: settings.timeout * settings.attackTimeFraction)
        var openClauses: [[Bool]]? = nil
        if !provers.isEmpty, property.cases.reduce(0, { $0 + $1.clauses.count }) >= settings.boundBeforeAttackClauses {
            // At most half the attack's share, so a slow bound still leaves time to attack.
            let boundDeadline = attackDeadline.capped(secondsFromNow: settings.timeout * settings.attackTimeFraction / 2)
            let (open, note) = Verifier.clausesLeftByBound(graph: boundGraph, property: property, deadline: boundDeadline,
                                                           semantics: settings.semantics)
            openClauses = open
            log.append(note)
        }

        // 2. Falsification.
        let attack = Attack(settings: settings).run(graph: graph, property: property, deadline: attackDeadline,
                                                    openClauses: openClauses)
        attackReport = attack
        log.append(attack.summary)
        if let cx = attack.counterexample { return finish(.sat, "attack", cx) }
        if deadline.hasPassed { return finish(.timeout, "none") }

        // 3. Provers.
        var completeSearchGaveUp = false
        for prover in provers {
            if deadline.hasPassed { return finish(.timeout, "none") }
            let outcome: ProverOutcome
            var summary: String? = nil
            do {
                (outcome, summary) = try prover.proveWithSummary(graph: boundGraph, property: property, deadline: deadline)
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
                log.append("\(prover.name): proven" + (summary.map { "; " + $0 } ?? ""))
                return finish(.unsat, prover.name)
            case .counterexample(let x):
                do {
                    // On the model as given (the prover may have searched the bound graph).
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
        // A search stopped by the memory limit: unknown, without the final attack.
        if let memory = deadline.memory, memory.isTripped {
            log.append(memory.message)
            return finish(.unknown, "none")
        }

        // 4. A complete search ran out of budget: attack with the remaining time.
        if completeSearchGaveUp && settings.finalAttack && !deadline.hasPassed {
            var s = settings
            s.seed = settings.seed &+ 0x9E37_79B9
            s.attackUntilDeadline = true
            let again = Attack(settings: s).run(graph: graph, property: property, deadline: deadline, openClauses: openClauses)
            log.append("final " + again.summary)
            if let cx = again.counterexample { return finish(.sat, "attack", cx) }
        }
        return finish(deadline.hasPassed ? .timeout : .unknown, "none")
    }
}

extension Verifier {
    /// The clauses a CROWN pass leaves open, `open[case][clause]` (false = refuted: some atom's
    /// lower bound of `c·y - d` over the case's box is positive, by `PropertyBoundReport.refutes`,
    /// the test `BoundProver` uses), with a log line. A refuted clause holds nowhere in its box, so
    /// leaving it out of the attack loses no counterexample. Cases are bounded one after another
    /// until `deadline`; a case not reached, or whose bound fails (unsupported operator, NaN),
    /// keeps every clause open. `open` is nil when no case could be bounded.
    package static func clausesLeftByBound(graph: Graph, property: Property, deadline: Deadline,
                                           semantics: NumericSemantics = .real) -> (open: [[Bool]]?, note: String) {
        let start = ContinuousClock.now
        let engine = BoundEngine(graph: graph, semantics: semantics)
        var open = property.cases.map { [Bool](repeating: true, count: $0.clauses.count) }
        var bounded = 0
        var failure: String? = nil
        for (ci, pc) in property.cases.enumerated() where !pc.clauses.isEmpty {
            if deadline.hasPassed { failure = failure ?? "time share used up"; break }
            var s = BoundSettings(method: .crown)
            s.deadline = Date(timeIntervalSinceNow: max(0, deadline.remainingSeconds))
            s.stop(with: deadline)
            let atoms = pc.clauses.flatMap(\.atoms)
            guard !atoms.isEmpty else { continue }
            let rows: [RowBound]
            do { rows = try engine.bound(box: pc.box, atoms: atoms, settings: s) } catch {
                failure = failure ?? "\(error)"
                continue
            }
            guard rows.count == atoms.count else { failure = failure ?? "row count mismatch"; continue }
            bounded += 1
            var k = 0
            for (li, clause) in pc.clauses.enumerated() {
                for _ in clause.atoms {
                    if PropertyBoundReport.refutes(lower: rows[k].lower, upper: rows[k].upper) { open[ci][li] = false }
                    k += 1
                }
            }
        }
        let total = open.reduce(0) { $0 + $1.count }, left = open.reduce(0) { $0 + $1.filter { $0 }.count }
        var note = "crown before the attack: \(total - left) of \(total) clauses refuted, \(left) left to attack ("
            + String(format: "%.3f s", secondsSince(start)) + ")"
        if let failure { note += "; some cases not bounded: \(failure)" }
        return (bounded > 0 ? open : nil, note)
    }
}

extension Verifier {
    /// `property` with every case's box shrunk to the float32 values inside it (each lower end
    /// rounded up to a float32, each upper end down; `BoundEngine.float32Box`), the inputs a
    /// float32 runtime can take; cases whose box holds no float32 value in some coordinate are
    /// dropped (no float32 input lies there, so they cannot be violated). With a log line when
    /// a box changed. An empty result means the property holds for every float32 input.
    package static func float32Property(_ property: Property) -> (Property, String?) {
        var out = property
        var shrunk = 0, dropped = 0
        out.cases = property.cases.compactMap { pc in
            guard let (lo, hi) = BoundEngine.float32Box(lower: pc.box.lower, upper: pc.box.upper) else { dropped += 1; return nil }
            if lo != pc.box.lower || hi != pc.box.upper { shrunk += 1 }
            var c = pc
            c.box = InputBox(lower: lo, upper: hi)
            return c
        }
        guard shrunk + dropped > 0 else { return (out, nil) }
        return (out, "semantics float32: \(shrunk) box(es) shrunk to their float32 values, \(dropped) without a float32 value dropped")
    }
}
