import Foundation
import CertusGraph
// Knobs of the complete provers (ReLU-split branch and bound, MILP), kept in their own file.

/// Settings of `ReluSplitProver` (branch and bound over ReLU splits, with exact LPs at the
/// leaves). Part of `VerifierSettings` as `reluSplit`.
public struct ReluSplitSettings: Sendable, Equatable, Codable {
    /// Largest number of open domains kept in the queue; beyond it the prover stops with
    /// `unknown` (memory guard). Default 200,000 (a domain is a few hundred bytes).
    public var maxDomains: Int = 200_000
    /// Solve the triangle-relaxation LP of a domain (and refute it when its re-checked dual
    /// bound is positive) once it has at most this many unstable ReLUs; 0 solves LPs only at
    /// fully split leaves, where the LP is exact (required for completeness). Default 0.
    public var lpUnstableThreshold: Int = 0
    /// Time limit of one LP solve in seconds (capped by the deadline). Default 20.
    public var lpTimeLimit: Double = 20
    /// Safety margin factor of the dual re-check (`LinearProgram.safeLowerBound`). Default 1e-7.
    public var dualMargin: Double = 1e-7
    /// Evaluate the CROWN minimiser of every bounded domain as a counterexample candidate.
    /// Default true (one forward pass per domain).
    public var checkMinimisers: Bool = true
    /// Restarts of the attack before the bounds and the search when ReLU splitting runs (the
    /// rest of the attack runs afterwards with the remaining time, `finalAttack`). Default 20:
    /// on MNIST-FC a failed 100-restart attack over 9 clauses costs ~15 s that the search needs.
    public var attackRestartsBeforeSearch: Int = 20
    /// Share of the time limit the attack may take before the bounds and the search, when ReLU
    /// splitting runs. Default 0.05: MNIST-FC counterexamples are found in under 0.3 s when they
    /// are found at all, while unsat instances spent 25% of their limit in a failed attack.
    public var attackTimeFractionBeforeSearch: Double = 0.05
    /// Compute alpha-CROWN intermediate bounds once per case (the root) and intersect them into
    /// every domain's bounds (a domain is inside the root box, so they hold there); layers no
    /// split can reach keep them without a new pass. Default true.
    public var rootAlphaBounds: Bool = true
    /// Adam iterations per domain on the spec rows' ReLU slopes and the split constraints'
    /// multipliers (alpha- and beta-CROWN; dense ReLU chains only, others use CROWN). 0 bounds
    /// domains with CROWN alone. Default 20: children gain more from beta than they cost.
    public var betaIterations: Int = 20
    /// Keep the root's intermediate bounds in every domain (only the split neurons' own bounds
    /// are clamped) and let beta-CROWN carry the splits into the final bound, instead of
    /// re-running CROWN for every layer after the first split. Default true: on mnist-net_256x4
    /// prop_4_0.05, 60 s reach 11,113 domains and a global bound of -0.460 this way, 5,217 and
    /// -0.534 with re-bounding.
    public var reuseRootBounds: Bool = true
    /// LP tightening of the root's intermediate bounds: for the ReLU layers after the first,
    /// while the layer has at most `lpTightenMaxUnstable` unstable neurons, minimise and maximise
    /// each unstable neuron's input over the triangle-relaxation LP (GLPK) and keep the dual
    /// re-checked bounds. Spends at most `lpTightenTimeFraction` of the remaining time. Default
    /// 0 (off): see the issue note for the measurements.
    public var lpTightenMaxUnstable: Int = 0
    /// Share of the time budget that LP tightening of intermediate bounds may use.
    public var lpTightenTimeFraction: Double = 0.2
    /// Domains taken from the queue at once; their children are bounded together (one batched
    /// alpha/beta search). Default 64: each weight matrix is
    /// read once per iteration for 128 children (about 2x the domains per second of one at a
    /// time on mnist-net_256x4).
    public var batchDomains: Int = 64
    /// How the neuron to split is chosen (`certus verify --branching`). Default `auto`: BaBSR
    /// on piecewise-linear networks (ReLU, LeakyReLU), BBPS (GenBaB) otherwise.
    public var branching: BranchingHeuristic = .auto
    /// Where smooth activations are split (`certus verify --branch-points`). Default
    /// `optimized`: GenBaB's pre-optimised points (ReLU-like kinks are always split at the kink).
    public var branchPoints: BranchingPointStrategy = .optimized
    /// Smooth neurons whose input interval is narrower than this are not split (their
    /// relaxation is already tight; GenBaB uses 0.01). Piecewise-linear kinks are always split.
    public var minimumSplitWidth: Double = 0.01

    /// The defaults.
    public init() {}

    func validate() throws {
        func fail(_ name: String, _ why: String) -> SettingsError { SettingsError(setting: "reluSplit." + name, message: why) }
        guard attackTimeFractionBeforeSearch > 0, attackTimeFractionBeforeSearch <= 1 else {
            throw fail("attackTimeFractionBeforeSearch", "must be in (0, 1], got \(attackTimeFractionBeforeSearch)")
        }
        guard attackRestartsBeforeSearch >= 0 else { throw fail("attackRestartsBeforeSearch", "must be >= 0, got \(attackRestartsBeforeSearch)") }
        guard maxDomains >= 1 else { throw fail("maxDomains", "must be >= 1, got \(maxDomains)") }
        guard batchDomains >= 1 else { throw fail("batchDomains", "must be >= 1, got \(batchDomains)") }
        guard betaIterations >= 0 else { throw fail("betaIterations", "must be >= 0, got \(betaIterations)") }
        guard lpUnstableThreshold >= 0 else { throw fail("lpUnstableThreshold", "must be >= 0, got \(lpUnstableThreshold)") }
        guard lpTimeLimit > 0, !lpTimeLimit.isNaN else { throw fail("lpTimeLimit", "must be positive, got \(lpTimeLimit)") }
        guard dualMargin >= 0, dualMargin.isFinite else { throw fail("dualMargin", "must be >= 0, got \(dualMargin)") }
    }
}

/// Settings of `MILPProver` (Tjeng et al.'s big-M MILP solved exactly with GLPK). Part of
/// `VerifierSettings` as `milp`.
public struct MILPSettings: Sendable, Equatable, Codable {
    /// Networks whose number of unstable ReLUs (under the CROWN bounds of the box) exceeds this
    /// are refused with `unknown`: GLPK's branch and cut is exponential in it. Default 150.
    public var maxUnstable: Int = 150
    /// Use alpha-CROWN (instead of CROWN) intermediate bounds: fewer binaries, smaller big-M.
    /// Default false.
    public var alphaBounds: Bool = false
    /// A clause counts as refuted only when the MILP optimum (solved to gap 0) exceeds
    /// `acceptMarginAbsolute + acceptMarginRelative · |optimum|`: GLPK's tolerances
    /// (feasibility 1e-7, integrality 1e-5) make its optimum an approximation. Defaults 1e-6, 1e-6.
    public var acceptMarginAbsolute: Double = 1e-6
    /// Relative part of that margin (times the magnitude of the bound).
    public var acceptMarginRelative: Double = 1e-6
    /// Most LPs the certificate of one clause may solve (`MILPCertificate`: branch and bound over
    /// the binaries, every leaf refuted by a re-checked dual bound); beyond it the clause stays
    /// `unknown`. The re-check uses `ReluSplitSettings.dualMargin` and `lpTimeLimit`. Default 100,000.
    public var certificateNodes: Int = 100_000

    /// The defaults.
    public init() {}

    func validate() throws {
        func fail(_ name: String, _ why: String) -> SettingsError { SettingsError(setting: "milp." + name, message: why) }
        guard maxUnstable >= 0 else { throw fail("maxUnstable", "must be >= 0, got \(maxUnstable)") }
        guard acceptMarginAbsolute >= 0, acceptMarginAbsolute.isFinite else { throw fail("acceptMarginAbsolute", "must be >= 0") }
        guard acceptMarginRelative >= 0, acceptMarginRelative.isFinite else { throw fail("acceptMarginRelative", "must be >= 0") }
        guard certificateNodes >= 1 else { throw fail("certificateNodes", "must be >= 1, got \(certificateNodes)") }
    }
}
