import Foundation
import CertusGraph
import CertusSpec
import CertusBounds
import CertusLP

/// Exact verification of small piecewise-linear networks (ReLU, LeakyReLU) by Tjeng et al.'s
/// big-M MILP (each operator's `piecewiseLinearEncoding` in `.exact` mode, through `NetworkLP`),
/// solved with GLPK's branch and cut (`glp_intopt`, gap 0). Meant as a cross-check of the
/// branch and bound.
///
/// Per case, the activations' input bounds come from CROWN (or alpha-CROWN) over the box;
/// networks with more than `MILPSettings.maxUnstable` unstable neurons are refused (`unknown`).
/// Per clause not already refuted by those bounds, the MILP minimises the clause's largest row
/// (through `t >= row_k` when it has several). A clause is refuted only when GLPK reports a proven optimum
/// (gap 0) above the acceptance margin. The point of every optimum or incumbent not above the
/// margin (a negative objective, or 0 where the clause holds with zero slack) goes through
/// `CounterexampleCheck` (snapped to float32 inside the box) and is returned as a counterexample
/// when it passes (the verifier re-checks it). Anything else (time limit, failure, an optimum
/// inside the margin whose point fails the check) gives `unknown`.
///
/// Soundness note: a MILP optimum is not re-checked by a dual certificate (there is none for a
/// MILP); the margin absorbs GLPK's tolerances, which makes this a cross-check rather than a
/// floating-point-sound proof. `ReluSplitProver` re-checks every LP it trusts.
package struct MILPProver: PropertyProver {
    package var isComplete: Bool { true }
    package var settings: VerifierSettings
    package var name: String { "milp" }

    package init(settings: VerifierSettings = VerifierSettings()) { self.settings = settings }

    /// The result of minimising one clause's largest row.
    package enum ClauseMinimum: Sendable, Equatable {
        /// Proven optimum (gap 0) and the input where it is reached.
        case optimal(Double, x: [Double])
        /// A feasible point with this objective, optimality not proven (time limit).
        case feasible(Double, x: [Double])
        /// No conclusion (refused network, failure, time limit without incumbent).
        case unknown(String)
    }

    /// Minimises every clause of `property.cases[caseIndex]` exactly (MILP over the box).
    /// - Throws: `LPEncodingError` (unsupported operator), bound errors.
    package func minimize(graph: Graph, property: Property, caseIndex: Int, deadline: Deadline) throws -> [ClauseMinimum] {
        try settings.validate()
        let pc = property.cases[caseIndex]
        let engine = BoundEngine(graph: graph)
        var bs = BoundSettings(method: settings.milp.alphaBounds ? .alphaCrown : .crown)
        bs.deadline = Date(timeIntervalSinceNow: deadline.remainingSeconds)
        bs.stopBy = bs.deadline
        let atoms = pc.clauses.flatMap(\.atoms)
        let db: DomainBounds
        do {
            db = try engine.boundDomain(box: pc.box, atoms: atoms, splits: [], settings: bs)
        } catch is InfeasibleDomain {
            return pc.clauses.map { _ in .unknown("infeasible bounds") }
        }
        let net = try NetworkLP(graph: engine.graph, box: pc.box, relus: db.splittable, mode: .milp)
        guard net.unstableCount <= settings.milp.maxUnstable else {
            let why = "\(net.unstableCount) unstable neurons > maxUnstable \(settings.milp.maxUnstable)"
            return pc.clauses.map { _ in .unknown(why) }
        }
        var out: [ClauseMinimum] = []
        var k = 0
        for (cl, clause) in pc.clauses.enumerated() {
            let rows = k..<(k + clause.atoms.count)
            k += clause.atoms.count
            guard !clause.atoms.isEmpty else { out.append(.unknown("empty clause")); continue }
            let lo = rows.map { db.rows[$0].lower }.max()! - 1, hi = rows.map { db.rows[$0].upper }.max()! + 1
            try net.setObjective(clause: clause.atoms, key: cl, lower: lo, upper: hi)
            var options = LPOptions()
            options.timeLimit = deadline.remainingSeconds
            options.mipGap = 0
            let res = net.lp.solve(options: options)
            switch res.status {
            case .optimal:
                if let v = res.objective, let x = net.inputPoint(res) { out.append(.optimal(v, x: x)) } else { out.append(.unknown("no solution")) }
            case .feasible, .timeLimit:
                if let v = res.objective, let x = net.inputPoint(res) { out.append(.feasible(v, x: x)) } else { out.append(.unknown("\(res.status)")) }
            case .infeasible:
                out.append(.unknown("MILP infeasible (not trusted as a proof)"))
            default:
                out.append(.unknown("\(res.status)"))
            }
        }
        return out
    }

    package func prove(graph: Graph, property: Property, deadline: Deadline) throws -> ProverOutcome {
        // A MILP point of case `ci` that passes the counterexample check (nil: it does not, or
        // the model cannot be evaluated there).
        func checked(_ x: [Double], caseIndex ci: Int) -> [Double]? {
            (try? CounterexampleCheck.confirm(graph: graph, property: property, candidate: x, preferredCase: ci,
                                              settings: settings))?.x
        }
        var notes: [String] = []
        var proven = true
        for (ci, pc) in property.cases.enumerated() where !pc.clauses.isEmpty {
            if deadline.hasPassed { return .unknown("milp: time limit") }
            if pc.clauses.contains(where: { $0.atoms.isEmpty }) {
                return .counterexample(zip(pc.box.lower, pc.box.upper).map { ($0 + $1) / 2 })
            }
            // Clauses CROWN already refutes need no MILP.
            let report = try BoundEngine(graph: graph).bound(property: Property(numInputs: property.numInputs, numOutputs: property.numOutputs,
                                                                                cases: [pc], source: property.source))
            if report.verified { continue }
            let mins = try minimize(graph: graph, property: property, caseIndex: ci, deadline: deadline)
            for (cl, m) in mins.enumerated() {
                let refutedByBounds = report.rows.contains { $0.clause == cl && PropertyBoundReport.refutes(lower: $0.lower, upper: $0.upper) }
                if refutedByBounds { continue }
                let margin = { (v: Double) in settings.milp.acceptMarginAbsolute + settings.milp.acceptMarginRelative * abs(v) }
                switch m {
                case .optimal(let v, let x):
                    if v > margin(v) { continue }
                    if let cx = checked(x, caseIndex: ci) { return .counterexample(cx) }
                    proven = false
                    notes.append("case \(ci) clause \(cl): optimum \(v) "
                                 + (v < 0 ? "but its point fails the counterexample check" : "within the margin"))
                case .feasible(let v, let x):
                    if v <= margin(v), let cx = checked(x, caseIndex: ci) { return .counterexample(cx) }
                    proven = false
                    notes.append("case \(ci) clause \(cl): not solved to optimality (incumbent \(v))")
                case .unknown(let why):
                    proven = false
                    notes.append("case \(ci) clause \(cl): \(why)")
                }
            }
        }
        return proven ? .proven : .unknown("milp: " + notes.prefix(3).joined(separator: "; "))
    }
}
