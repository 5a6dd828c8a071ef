import Foundation
import CertusGraph
import CertusSpec
import CertusBounds
import CertusLP

/// Exact verification of small piecewise-linear networks (ReLU, LeakyReLU) by Tjeng et al.'s
/// big-M MILP (each operator's `piecewiseLinearEncoding` in `.exact` mode, through `NetworkLP`),
/// solved with GLPK's branch and cut (`glp_intopt`, gap 0), every refutation backed by a
/// certificate checked independently of GLPK (`MILPCertificate`).
///
/// Per case, the activations' input bounds come from CROWN (or alpha-CROWN) over the box;
/// networks with more than `MILPSettings.maxUnstable` unstable neurons are refused (`unknown`).
/// Per clause not already refuted by those bounds, the MILP minimises the clause's largest row
/// (through `t >= row_k` when it has several). GLPK's answer is only a claim: a proven optimum
/// (gap 0) above the acceptance margin, or an infeasible MILP, is then re-proven by
/// `MILPCertificate.search` (branch and bound over the binaries with GLPK's optimal pattern as
/// the hint, every leaf an LP with a re-checked dual bound `> 0` or an elastic LP with a
/// re-checked positive slack); the clause counts as refuted only when that certificate is
/// established. The point of every optimum or incumbent not above the margin (a negative
/// objective, or 0 where the clause holds with zero slack), and of a leaf that contradicts the
/// claim, goes through `CounterexampleCheck` (snapped to float32 inside the box) and is returned
/// as a counterexample when it passes (the verifier re-checks it). Anything else (time limit,
/// failure, a certificate not established, an optimum inside the margin whose point fails the
/// check) gives `unknown`.
package struct MILPProver: PropertyProver {
    package var isComplete: Bool { true }
    package var settings: VerifierSettings
    package var name: String { "milp" }

    /// Test hook: applied to GLPK's answer for every clause before it is judged (fault
    /// injection; a tampered claim must be caught by the certificate). Nil in production.
    package var tamper: (@Sendable (ClauseMinimum) -> ClauseMinimum)?

    package init(settings: VerifierSettings = VerifierSettings()) { self.settings = settings }

    /// The result of minimising one clause's largest row.
    package enum ClauseMinimum: Sendable, Equatable {
        /// Proven optimum (gap 0) and the input where it is reached.
        case optimal(Double, x: [Double])
        /// A feasible point with this objective, optimality not proven (time limit).
        case feasible(Double, x: [Double])
        /// GLPK reports no integer-feasible point: a claim of refutation, like an optimum above
        /// the margin (with certificates, it counts only once certified).
        case infeasible
        /// No conclusion (refused network, failure, time limit without incumbent).
        case unknown(String)
    }

    /// A clause's MILP answer and, when it claims a refutation (optimum above the acceptance
    /// margin, or an infeasible MILP), the certificate search's outcome (nil otherwise).
    package struct CertifiedMinimum: Sendable {
        /// GLPK's answer (after the `tamper` hook, if any).
        package var minimum: ClauseMinimum
        /// `MILPCertificate.search` on the claim, or nil when nothing was claimed.
        package var certificate: MILPCertificate.Outcome?
    }

    /// Whether `v` is above the acceptance margin (`MILPSettings.acceptMarginAbsolute` and
    /// `acceptMarginRelative`): only such an optimum is taken as a claim of refutation.
    package func aboveMargin(_ v: Double) -> Bool {
        v > settings.milp.acceptMarginAbsolute + settings.milp.acceptMarginRelative * abs(v)
    }

    /// Minimises every clause of `property.cases[caseIndex]` exactly (MILP over the box), without
    /// certificates (GLPK's answers as they are).
    /// - Throws: `LPEncodingError` (unsupported operator), bound errors.
    package func minimize(graph: Graph, property: Property, caseIndex: Int, deadline: Deadline) throws -> [ClauseMinimum] {
        try minimizeAndCertify(graph: graph, property: property, caseIndex: caseIndex, deadline: deadline, certify: false).map(\.minimum)
    }

    /// Minimises every clause of `property.cases[caseIndex]` exactly (MILP over the box) and, when
    /// `certify`, searches a certificate (`MILPCertificate`) for every claimed refutation.
    /// - Parameter tamper: test hook applied to GLPK's answer before it is judged (fault
    ///   injection: a tampered claim must be caught by the certificate); nil in production.
    /// - Throws: `LPEncodingError` (unsupported operator), bound errors.
    package func minimizeAndCertify(graph: Graph, property: Property, caseIndex: Int, deadline: Deadline, certify: Bool = true,
                                    tamper: (@Sendable (ClauseMinimum) -> ClauseMinimum)? = nil) throws -> [CertifiedMinimum] {
        try settings.validate()
        try MILPProver.requireRealSemantics(settings)
        let pc = property.cases[caseIndex]
        let engine = BoundEngine(graph: graph)
        var bs = BoundSettings(method: settings.milp.alphaBounds ? .alphaCrown : .crown)
        bs.deadline = Date(timeIntervalSinceNow: deadline.remainingSeconds)
        bs.stop(with: deadline)
        let atoms = pc.clauses.flatMap(\.atoms)
        let db: DomainBounds
        do {
            db = try engine.boundDomain(box: pc.box, atoms: atoms, splits: [], settings: bs)
        } catch is InfeasibleDomain {
            return pc.clauses.map { _ in CertifiedMinimum(minimum: .unknown("infeasible bounds")) }
        }
        let net = try NetworkLP(graph: engine.graph, box: pc.box, relus: db.splittable, mode: .milp)
        if deadline.memoryExceeded() {
            let why = deadline.memory?.message ?? "memory limit reached"
            return pc.clauses.map { _ in CertifiedMinimum(minimum: .unknown(why)) }
        }
        guard net.unstableCount <= settings.milp.maxUnstable else {
            let why = "\(net.unstableCount) unstable neurons > maxUnstable \(settings.milp.maxUnstable)"
            return pc.clauses.map { _ in CertifiedMinimum(minimum: .unknown(why)) }
        }
        var out: [CertifiedMinimum] = []
        var k = 0
        for (cl, clause) in pc.clauses.enumerated() {
            let rows = k..<(k + clause.atoms.count)
            k += clause.atoms.count
            guard !clause.atoms.isEmpty else { out.append(CertifiedMinimum(minimum: .unknown("empty clause"))); continue }
            let lo = rows.map { db.rows[$0].lower }.max()! - 1, hi = rows.map { db.rows[$0].upper }.max()! + 1
            try net.setObjective(clause: clause.atoms, key: cl, lower: lo, upper: hi)
            var options = LPOptions()
            options.timeLimit = deadline.remainingSeconds
            options.mipGap = 0
            options.shouldStop = deadline.stopCheck
            let res = net.lp.solve(options: options)
            var m: ClauseMinimum
            switch res.status {
            case .optimal:
                if let v = res.objective, let x = net.inputPoint(res) { m = .optimal(v, x: x) } else { m = .unknown("no solution") }
            case .feasible, .timeLimit:
                if let v = res.objective, let x = net.inputPoint(res) { m = .feasible(v, x: x) } else { m = .unknown("\(res.status)") }
            case .infeasible:
                m = .infeasible
            default:
                m = .unknown("\(res.status)")
            }
            if let tamper { m = tamper(m) }
            let claimed: Bool
            switch m {
            case .optimal(let v, _): claimed = aboveMargin(v)
            case .infeasible: claimed = true
            default: claimed = false
            }
            var certificate: MILPCertificate.Outcome?
            if certify && claimed {
                // GLPK's optimal pattern (when it gave one) orders the certificate's search.
                let hint = res.primal.count == net.lp.variableCount ? net.binaryVariables.map { res.primal[$0] } : []
                certificate = MILPCertificate.search(
                    net: net,
                    elastic: { try NetworkLP(graph: engine.graph, box: pc.box, relus: db.splittable, mode: .milp, elastic: true) },
                    hint: hint, dualMargin: settings.reluSplit.dualMargin, nodeLimit: settings.milp.certificateNodes,
                    lpTimeLimit: settings.reluSplit.lpTimeLimit, deadline: deadline)
            }
            out.append(CertifiedMinimum(minimum: m, certificate: certificate))
        }
        return out
    }

    package func prove(graph: Graph, property: Property, deadline: Deadline) throws -> ProverOutcome {
        try proveWithSummary(graph: graph, property: property, deadline: deadline).0
    }

    /// `prove` with a summary of the certificates for the log: clauses certified, their LPs and
    /// leaves, and the least certified lower bound.
    package func proveWithSummary(graph: Graph, property: Property, deadline: Deadline) throws -> (ProverOutcome, String?) {
        try MILPProver.requireRealSemantics(settings)
        var certified = 0, certificateLPs = 0, certificateLeaves = 0
        var least = Double.infinity
        var summary: String {
            "\(certified) clauses certified (\(certificateLPs) certificate LPs, \(certificateLeaves) leaves, least bound \(least))"
        }
        // A MILP point of case `ci` that passes the counterexample check (nil: it does not, or
        // the model cannot be evaluated there).
        func checked(_ x: [Double], caseIndex ci: Int) -> [Double]? {
            (try? CounterexampleCheck.confirm(graph: graph, property: property, candidate: x, preferredCase: ci,
                                              settings: settings))?.x
        }
        var notes: [String] = []
        var proven = true
        for (ci, pc) in property.cases.enumerated() where !pc.clauses.isEmpty {
            if deadline.hasPassed { return (.unknown("milp: time limit"), summary) }
            if pc.clauses.contains(where: { $0.atoms.isEmpty }) {
                return (.counterexample(zip(pc.box.lower, pc.box.upper).map { ($0 + $1) / 2 }), nil)
            }
            // Clauses CROWN already refutes need no MILP.
            let report = try BoundEngine(graph: graph).bound(property: Property(numInputs: property.numInputs, numOutputs: property.numOutputs,
                                                                                cases: [pc], source: property.source))
            if report.verified { continue }
            let mins = try minimizeAndCertify(graph: graph, property: property, caseIndex: ci, deadline: deadline, tamper: tamper)
            for (cl, cm) in mins.enumerated() {
                let refutedByBounds = report.rows.contains { $0.clause == cl && PropertyBoundReport.refutes(lower: $0.lower, upper: $0.upper) }
                if refutedByBounds { continue }
                // A claimed refutation counts only with its certificate.
                switch cm.certificate {
                case .certified(let lower, let leaves, let lps)?:
                    certified += 1; certificateLPs += lps; certificateLeaves += leaves; least = min(least, lower)
                    continue
                case .contradicted(let v, let x)?:
                    if let cx = checked(x, caseIndex: ci) { return (.counterexample(cx), nil) }
                    proven = false
                    notes.append("case \(ci) clause \(cl): the certificate search found value \(v), contradicting the MILP")
                    continue
                case .failed(let why)?:
                    proven = false
                    notes.append("case \(ci) clause \(cl): no certificate (\(why))")
                    continue
                case nil: break
                }
                switch cm.minimum {
                case .optimal(let v, let x):
                    if let cx = checked(x, caseIndex: ci) { return (.counterexample(cx), nil) }
                    proven = false
                    notes.append("case \(ci) clause \(cl): optimum \(v) "
                                 + (v < 0 ? "but its point fails the counterexample check" : "within the margin"))
                case .feasible(let v, let x):
                    if !aboveMargin(v), let cx = checked(x, caseIndex: ci) { return (.counterexample(cx), nil) }
                    proven = false
                    notes.append("case \(ci) clause \(cl): not solved to optimality (incumbent \(v))")
                case .infeasible:
                    proven = false
                    notes.append("case \(ci) clause \(cl): MILP infeasible without a certificate")
                case .unknown(let why):
                    proven = false
                    notes.append("case \(ci) clause \(cl): \(why)")
                }
            }
        }
        return (proven ? .proven : .unknown("milp: " + notes.prefix(3).joined(separator: "; ")), summary)
    }
}

extension MILPProver {
    /// The MILP encodes the real-valued network exactly and has no float32 error terms: under
    /// `--semantics float32` the prover refuses to run (the verifier logs the error; the answer
    /// is `unknown` unless the attack finds a counterexample).
    /// - Throws: `BoundError` naming the option when `settings.semantics` is not `.real`.
    static func requireRealSemantics(_ settings: VerifierSettings) throws {
        guard settings.semantics == .real else {
            throw BoundError("--method milp is not available under --semantics float32 (the MILP encodes the real-valued network); use bab, input-split, crown or alpha-crown")
        }
    }
}
