import Foundation
import CertusLP

/// A certificate, checked independently of GLPK's MILP answer, that a clause's minimum over a
/// piecewise-linear network is positive (the clause is refuted).
///
/// GLPK's branch and cut (`glp_intopt`) reports an optimum but no certificate: a MILP has no
/// dual. A MILP optimum over one activation pattern does not prove anything about the other
/// patterns, so the certificate is a branch-and-bound tree over the MILP's binaries (one per
/// unstable neuron, Tjeng et al.'s big-M encoding): every node fixes some binaries to 0 or 1
/// (the bounds of the binary variables) and solves the LP relaxation of the rest; every leaf is
///
/// - an LP optimum whose **dual re-check** (`LinearProgram.safeLowerBound`, weak duality
///   recomputed in Swift with a rounding margin from any dual vector, so a wrong GLPK answer
///   can only make it lower) is `> 0`, or
/// - an infeasible LP confirmed by the elastic LP of the same pattern (`NetworkLP` with
///   `elastic: true`, the same binaries fixed), whose re-checked minimal slack is `> 0`.
///
/// Why this is a proof: for every input `x` of the box, the network's values with each binary at
/// its neuron's true phase are a feasible point of the MILP (the neuron bounds are sound), hence
/// of the LP relaxation of the leaf whose fixings agree with that pattern (the root's children
/// split `{0, 1}` of one binary, so the leaves cover every pattern). A positive re-checked bound
/// on each leaf therefore bounds the clause's objective below by a positive number at every `x`.
/// Nothing GLPK reports except the dual vectors enters a bound, and those are only used as
/// *some* vector. The MILP's optimal pattern (`hint`) only orders the search (its side of
/// each branch first), so a wrong optimum is met early.
///
/// Branching: the free binary whose LP value is the most fractional. An LP minimiser with every
/// binary integral is a point of the network for that pattern (up to GLPK's tolerances): if its
/// objective is not positive the claim is wrong (`contradicted`, the point is a counterexample
/// candidate); if it is positive but the re-checked bound is not, branching cannot help and the
/// certificate fails. A failed, time-limited or non-optimal LP, the node limit or the deadline
/// also make it fail: the caller then answers `unknown`, never `unsat`.
package enum MILPCertificate {
    /// The outcome of a certificate search.
    package enum Outcome: Sendable, Equatable {
        /// Every leaf refuted by a re-checked bound. `lowerBound` is the least leaf bound (a
        /// rigorous lower bound on the clause's objective, `> 0`; `+inf` when every leaf is
        /// empty), `leaves` the number of leaves, `lps` the LPs solved.
        case certified(lowerBound: Double, leaves: Int, lps: Int)
        /// An LP minimiser with integral binaries and objective `value <= 0`: the network reaches
        /// (up to GLPK's tolerances) a non-positive value at input `x`, contradicting a claim of
        /// refutation.
        case contradicted(value: Double, x: [Double])
        /// No certificate (why).
        case failed(String)
    }

    /// Searches for a certificate that `net`'s objective (already set, minimised; e.g.
    /// `NetworkLP.setObjective(clause:key:lower:upper:)`) is positive at every point of the MILP.
    /// - Parameters:
    ///   - net: a `.milp`-mode `NetworkLP` (not elastic). Its binaries' bounds are changed during
    ///     the search and restored to `[0, 1]` at the end.
    ///   - elastic: builds the elastic `.milp`-mode `NetworkLP` of the same graph, box and bounds
    ///     (called at most once, at the first infeasible node).
    ///   - hint: a value per binary (e.g. GLPK's optimal pattern), or empty; only orders the search.
    ///   - dualMargin: the relative margin of `safeLowerBound` (> 0 recommended, e.g. 1e-7).
    ///   - nodeLimit: the most LPs solved before giving up.
    ///   - lpTimeLimit: seconds per LP (capped by the deadline).
    ///   - deadline: stops the search (then `.failed`).
    package static func search(net: NetworkLP, elastic: () throws -> NetworkLP, hint: [Double] = [],
                               dualMargin: Double, nodeLimit: Int, lpTimeLimit: Double,
                               deadline: Deadline) -> Outcome {
        let binaries = net.binaryVariables
        let k = binaries.count
        let lp = net.lp
        defer { for b in binaries { try? lp.setVariableBounds(b, lower: 0, upper: 1) } }
        var elasticNet: NetworkLP?
        // DFS over fixings (-1 free, 0, 1): at most k + 1 nodes are on the stack.
        var stack: [[Int8]] = [[Int8](repeating: -1, count: k)]
        var lps = 0, leaves = 0
        var least = Double.infinity
        var options = LPOptions()
        options.integer = false
        options.shouldStop = deadline.stopCheck
        func fix(_ problem: LinearProgram, _ vars: [Int], _ f: [Int8]) throws {
            for (i, b) in vars.enumerated() {
                let lo: Double = f[i] == 1 ? 1 : 0, hi: Double = f[i] == 0 ? 0 : 1
                try problem.setVariableBounds(b, lower: lo, upper: hi)
            }
        }
        while let f = stack.popLast() {
            if deadline.hasPassed { return .failed("time limit after \(lps) LPs") }
            guard lps < nodeLimit else { return .failed("node limit \(nodeLimit) reached") }
            options.timeLimit = min(lpTimeLimit, deadline.remainingSeconds)
            do { try fix(lp, binaries, f) } catch { return .failed("fixing binaries: \(error)") }
            let res = lp.solve(options: options)
            lps += 1
            switch res.status {
            case .optimal:
                let safe = lp.safeLowerBound(rowDuals: res.rowDuals, relativeMargin: dualMargin)
                if safe > 0 {
                    leaves += 1
                    least = min(least, safe)
                    continue
                }
                guard res.primal.count == lp.variableCount, let value = res.objective else {
                    return .failed("LP optimum without a point")
                }
                var best: (i: Int, score: Double)?
                for i in 0..<k where f[i] < 0 {
                    let v = res.primal[binaries[i]]
                    let score = min(abs(v), abs(1 - v))
                    if best == nil || score > best!.score { best = (i, score) }
                }
                if best == nil || best!.score <= 1e-6 {
                    // Integral: the LP minimiser is a network point for this pattern.
                    if value <= 0, let x = net.inputPoint(res) { return .contradicted(value: value, x: x) }
                    return .failed("a leaf's LP optimum \(value) has re-checked bound \(safe) <= 0")
                }
                let i = best!.i
                // The hint's side last on the stack, so it is searched first.
                let first: Int8 = i < hint.count && hint[i] > 0.5 ? 1 : 0
                var a = f, b = f
                a[i] = 1 - first
                b[i] = first
                stack.append(a)
                stack.append(b)
            case .infeasible:
                // Confirm emptiness: the elastic LP of the same pattern has a positive minimal slack.
                do {
                    if elasticNet == nil {
                        let e = try elastic()
                        guard e.binaryVariables.count == k else { return .failed("the elastic LP has other binaries") }
                        try e.setSlackObjective()
                        elasticNet = e
                    }
                    let e = elasticNet!
                    try fix(e.lp, e.binaryVariables, f)
                    let r = e.lp.solve(options: options)
                    lps += 1
                    guard r.status == .optimal,
                          e.lp.safeLowerBound(rowDuals: r.rowDuals, relativeMargin: dualMargin) > 0 else {
                        return .failed("an infeasible leaf is not confirmed by its elastic LP (\(r.status))")
                    }
                    leaves += 1
                } catch {
                    return .failed("elastic LP: \(error)")
                }
            default:
                return .failed("LP \(res.status) after \(lps) LPs")
            }
        }
        return .certified(lowerBound: least, leaves: leaves, lps: lps)
    }
}
