import Foundation
import CertusBounds
/// Every knob of the verification pipeline, in one place.
///
/// The defaults are chosen for VNN-COMP-style instances (ACAS Xu, MNIST fully connected): a
/// falsification attack that costs well under a second on those networks when it fails, and
/// finds most violated properties on its first few restarts. Every run with the same settings,
/// model and property does the same work in the same order (the random generator is seeded),
/// so results are reproducible as long as the time limit is not what stopped the run.
public struct VerifierSettings: Sendable, Equatable, Codable {
    // MARK: Time

    /// Wall-clock limit for one `verify` call, in seconds. When it is reached the pipeline stops
    /// and answers `timeout` (unless it already has an answer). Must be positive; values above
    /// ten years are treated as ten years. Default 60 s: a typical per-instance budget.
    public var timeout: Double = 60

    /// Share of `timeout` the attack may use before the provers run, when provers are present
    /// (with no provers the attack may use the whole limit). Default 0.25: falsification is cheap
    /// and usually succeeds early when it succeeds at all; the rest is left for proofs.
    public var attackTimeFraction: Double = 0.25

    /// Resident-memory limit of the process during one `verify` call, in bytes; nil (default):
    /// none. Branch and bound, input splitting and the MILP check it once per batch (at most every
    /// 20 ms, `MemoryBudget`) and stop when it is exceeded; the answer is then `unknown` (no
    /// final attack), never an out-of-memory kill from the searches' queues. Must be positive.
    public var memoryLimit: Double? = nil

    // MARK: Randomness

    /// Seed of the attack's random generator (SplitMix64). Default 0: runs are deterministic
    /// unless a caller asks otherwise (`certus verify --seed N`).
    public var seed: UInt64 = 0

    // MARK: Sampling

    /// Uniformly random points evaluated in each input box before the gradient attack.
    /// Default 256: cheap (one forward pass each) and often enough for easy violations.
    public var randomSamples: Int = 256

    /// Whether to evaluate vertices (corners) of each input box. Piecewise-linear networks often
    /// reach extreme outputs at or near vertices. Default true.
    public var cornerSampling: Bool = true

    /// Boxes with at most this many inputs whose width is non-zero have **all** their vertices
    /// evaluated (2^n points); larger boxes get `cornerSamples` random vertices instead.
    /// Default 10 (1024 vertices at most; ACAS Xu has 5 inputs, 32 vertices).
    public var exhaustiveCornerLimit: Int = 10

    /// Random vertices evaluated per box when it has more than `exhaustiveCornerLimit` free
    /// inputs. Default 64.
    public var cornerSamples: Int = 64

    /// Random points on faces of the box, evaluated per box when it has at most
    /// `exhaustiveCornerLimit` free inputs: each free input is at its lower bound, its upper
    /// bound or uniform in between, with probability 1/3 each. Default 2048 (about 10 ms on ACAS
    /// Xu). Counterexamples of small-input networks often sit on a face of the box, in a region
    /// too thin for uniform points: on ACAS Xu 1_9 property 7, 2 million uniform points hold 2
    /// counterexamples and 2 million face points about 4,400.
    public var faceSamples: Int = 2048

    // MARK: Projected-gradient attack

    /// Restarts of the projected-gradient attack per (box, clause). Restart 0 starts at the box
    /// centre, restart 1 at the best sampled point for the clause, the others at uniformly random
    /// points. Default 100: α,β-CROWN uses 30, but on ACAS Xu most runs end within a few steps
    /// (pinned at a vertex), and 100 restarts find 6 more property-2 violations than 30 while a
    /// failed attack still costs well under a second per clause in a release build.
    public var attackRestarts: Int = 100

    /// Sign-gradient steps per restart. Default 100 (as α,β-CROWN's PGD).
    public var attackSteps: Int = 100

    /// Step size of the first step, as a fraction of each input's box width (per coordinate).
    /// Default 0.125: a quarter of the half-width, α,β-CROWN's ε/4 for an L∞ ball of radius ε.
    public var initialStepFraction: Double = 0.125

    /// Step size of the last step, as a fraction of the box width; the steps in between decay
    /// geometrically from `initialStepFraction`. Default 0.001: fine enough to settle into
    /// narrow violating regions (ACAS Xu property 3/4 counterexamples are small).
    public var finalStepFraction: Double = 0.001

    /// When true, the attack keeps making random restarts after `attackRestarts` until its time
    /// budget is spent (then a failed attack ends in `timeout`). Default false: a failed attack
    /// ends in `unknown` after its fixed amount of work.
    public var attackUntilDeadline: Bool = false

    /// The attack stops (without a counterexample) after this many points where a clause held in
    /// Double but the counterexample check rejected them (margin, float32 replay), so a search whose
    /// candidates keep failing the check ends with `unknown` and the reason in the log instead of
    /// running to the time limit (also with `attackUntilDeadline`). A real violation deep enough to
    /// clear the margin is confirmed at its first hit, so the limit only ends searches that keep
    /// finding points on the edge of the unsafe set. Default 10,000.
    public var maxRejectedCandidates: Int = 10_000

    /// Before the attack, when the property has at least this many clauses (counted over all its
    /// cases) and provers are configured, one CROWN pass per case bounds every row (within half the
    /// attack's time share) and the attack skips the clauses it refutes . CROWN costs about
    /// one backward pass per layer for all rows together, while a failed attack costs
    /// `attackRestarts` projected-gradient runs per clause: on a tiny linear model with 5,000
    /// disjuncts, 50,000 PGD runs (14 s) against a CROWN pass of about a millisecond. Clauses the
    /// bound leaves open are attacked exactly as before, so `sat` detection is unchanged; a bound
    /// that fails (unsupported operator, NaN) leaves every clause to the attack. Default 32.
    public var boundBeforeAttackClauses: Int = 32

    /// When a complete prover (input or ReLU splitting, MILP) ends without an answer and time
    /// remains, attack again (another seed) until the time limit: a property the search could
    /// neither prove nor refute in its budget may still fall to more restarts. Default true.
    public var finalAttack: Bool = true

    // MARK: Semantics

    /// Which arithmetic the answer holds for (`certus verify --semantics`; `NumericSemantics`).
    /// `.real` (default): the network as a real-valued function of real inputs. `.float32`: the
    /// network as onnxruntime evaluates it in float32, on the float32 inputs of the box: every
    /// bound carries each operator's float32 rounding (`Float32Rounding`), the paths that cannot
    /// (exact LP leaves, LP tightening, MILP) are off, and a counterexample must violate the
    /// property in the float32 evaluation. See docs/reliability.md, "Semantics and rounding".
    public var semantics: NumericSemantics = .real

    // MARK: Counterexample acceptance

    /// Absolute part of the safety margin. A counterexample is accepted only when, at the
    /// float32-snapped input and with the model evaluated in Double there, every atom of the
    /// clause has `c·y - d <= -(safetyMarginAbsolute + safetyMarginRelative * (|d| + Σ|c_i y_i|))`,
    /// or holds with zero slack (the equality rule of the counterexample check: also in the float32
    /// evaluation, or within `witnessTolerance` in the float32 replay of non-float32 coordinates).
    /// The margin covers the difference between our Double evaluation and a float32 replay
    /// (onnxruntime in VNN-COMP), which grows with the size of the terms. Default 1e-6.
    public var safetyMarginAbsolute: Double = 1e-6

    /// Relative part of the safety margin (see `safetyMarginAbsolute`). Default 1e-5: about
    /// 100 float32 ulps of the terms, far above the float32-vs-Double drift of these networks
    /// (the zoo README measures 1.5e-5 absolute on outputs of size ~1-10).
    public var safetyMarginRelative: Double = 1e-5

    /// Tolerance of the float32 replay of counterexamples whose input has coordinates that are
    /// not float32 values (no float32 lies in the box there): the rounded input must lie within this
    /// distance of the box and every atom of the clause must hold within it, `c·y - d <= tolerance`,
    /// in the float32 evaluation (the counterexample check). Default 1e-4: the VNN-COMP checker's
    /// tolerance on both (it replays with onnxruntime in float32).
    public var witnessTolerance: Double = 1e-4

    // MARK: Complete verification

    /// Input-splitting branch and bound (`--method input-split`): batch size, workers, branching
    /// score, domain limit, in-search attacks, progress interval. See `InputSplitSettings`.
    public var inputSplit = InputSplitSettings()

    /// `auto` strategy: input splitting is chosen when the input has at most this many
    /// coordinates with non-zero width (alpha-beta-CROWN's rule: input dimension <= 20).
    /// Default 20.
    public var inputSplitMaxDimension: Int = 20
    // MARK: Complete provers (CompleteSettings.swift)

    /// Knobs of `ReluSplitProver`.
    public var reluSplit = ReluSplitSettings()
    /// Knobs of `MILPProver`.
    public var milp = MILPSettings()

    /// The defaults described on each property.
    public init() {}

    /// The safety margin an atom `c·y <= d` must clear at output `y` (see `safetyMarginAbsolute`).
    public func safetyMargin(c: [Double], d: Double, y: [Double]) -> Double {
        var scale = abs(d)
        for i in 0..<min(c.count, y.count) { scale += abs(c[i] * y[i]) }
        return safetyMarginAbsolute + safetyMarginRelative * scale
    }

    /// Checks that every value is usable (finite, in range).
    /// - Throws: `SettingsError` naming the setting and the problem.
    public func validate() throws {
        func fail(_ name: String, _ why: String) -> SettingsError { SettingsError(setting: name, message: why) }
        guard timeout.isFinite || timeout == .infinity, timeout > 0 else { throw fail("timeout", "must be a positive number of seconds, got \(timeout)") }
        guard attackTimeFraction > 0, attackTimeFraction <= 1 else { throw fail("attackTimeFraction", "must be in (0, 1], got \(attackTimeFraction)") }
        if let m = memoryLimit { guard m.isFinite, m > 0 else { throw fail("memoryLimit", "must be a positive number of bytes, got \(m)") } }
        guard randomSamples >= 0 else { throw fail("randomSamples", "must be >= 0, got \(randomSamples)") }
        guard exhaustiveCornerLimit >= 0, exhaustiveCornerLimit <= 24 else { throw fail("exhaustiveCornerLimit", "must be in 0...24, got \(exhaustiveCornerLimit)") }
        guard faceSamples >= 0 else { throw fail("faceSamples", "must be >= 0, got \(faceSamples)") }
        guard cornerSamples >= 0 else { throw fail("cornerSamples", "must be >= 0, got \(cornerSamples)") }
        guard attackRestarts >= 0 else { throw fail("attackRestarts", "must be >= 0, got \(attackRestarts)") }
        guard attackSteps >= 0 else { throw fail("attackSteps", "must be >= 0, got \(attackSteps)") }
        guard initialStepFraction.isFinite, initialStepFraction > 0 else { throw fail("initialStepFraction", "must be positive, got \(initialStepFraction)") }
        guard finalStepFraction.isFinite, finalStepFraction > 0 else { throw fail("finalStepFraction", "must be positive, got \(finalStepFraction)") }
        guard safetyMarginAbsolute.isFinite, safetyMarginAbsolute >= 0 else { throw fail("safetyMarginAbsolute", "must be >= 0, got \(safetyMarginAbsolute)") }
        guard safetyMarginRelative.isFinite, safetyMarginRelative >= 0 else { throw fail("safetyMarginRelative", "must be >= 0, got \(safetyMarginRelative)") }
        guard witnessTolerance.isFinite, witnessTolerance >= 0 else { throw fail("witnessTolerance", "must be >= 0, got \(witnessTolerance)") }
        guard maxRejectedCandidates >= 1 else { throw fail("maxRejectedCandidates", "must be >= 1, got \(maxRejectedCandidates)") }
        guard boundBeforeAttackClauses >= 0 else { throw fail("boundBeforeAttackClauses", "must be >= 0, got \(boundBeforeAttackClauses)") }
        guard inputSplitMaxDimension >= 0 else { throw fail("inputSplitMaxDimension", "must be >= 0, got \(inputSplitMaxDimension)") }
        try inputSplit.validate()
        try reluSplit.validate()
        try milp.validate()
    }
}

/// A setting with an unusable value.
public struct SettingsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The setting's name (the `VerifierSettings` property).
    public var setting: String
    /// What is wrong with it.
    public var message: String
    /// An error about `setting` (its CLI or settings name), with `message` saying what is wrong.
    public init(setting: String, message: String) { self.setting = setting; self.message = message }
    public var description: String { "setting \(setting): \(message)" }
}

/// Knobs of input-splitting branch and bound (`--method input-split`), nested in `VerifierSettings`.
///
/// Defaults were tuned on ACAS Xu (5 inputs, 6x50 ReLU layers) on a 2-core machine; see
/// `docs/benchmarks.md`, "Complete verification: input splitting (issue 5)".
public struct InputSplitSettings: Sendable, Equatable, Codable {
    /// How the dimension to split is chosen.
    public enum Branching: String, Sendable, Equatable, Codable, CaseIterable {
        /// alpha-beta-CROWN's "sb" score: for input i, the max over open rows s of
        /// `max(|A_si|, sbCoefficientFloor * max_j |A_sj|) * (u_i - l_i)/2 + sbMarginWeight * lb_s`,
        /// where A is CROWN's lower-bound coefficient on the input: the dimension whose width
        /// costs the most.
        case sb
        /// The widest dimension relative to the case's box (plain bisection; a baseline).
        case widest
        /// The widest dimension in absolute units (alpha-beta-CROWN's `naive`, its ACAS Xu setting).
        case naive
    }

    /// The branching score. Default `sb`: on ACAS Xu it needs several times fewer domains than
    /// bisecting the widest side.
    public var branching: Branching = .sb

    /// Floor on |A_si| in the sb score, as a fraction of the row's largest |A_sj|, so a dimension
    /// with a small linear coefficient still counts by its width (its range can carry most of the
    /// relaxation's looseness, which the coefficients do not show). alpha-beta-CROWN uses an
    /// absolute 1e-3; on ACAS Xu that leaves wide dimensions unsplit for ever (4_9 prop_1: no
    /// proof in 30 s), while 0.1 relative proves it in about 1 s. 1 gives the naive order.
    /// Default 0.1.
    public var sbCoefficientFloor: Double = 0.1

    /// Weight of the row's lower bound in the sb score (alpha-beta-CROWN's
    /// `sb_margin_weight`). Default 0: the score ranks dimensions within one domain, where
    /// the row term only picks which row's coefficients count.
    public var sbMarginWeight: Double = 0

    /// Domains a worker takes from the queue at once (the bound engine bounds them one after
    /// another; batching keeps lock traffic low). Default 8.
    public var batchSize: Int = 8

    /// Worker threads, each with its own bound engine, sharing one queue. Default 2 (this
    /// project's machines have two cores).
    public var workers: Int = 2

    /// The search gives up (unknown) when more than this many domains are open, to bound
    /// memory (a 5-input domain costs about 200 bytes). Default 2,000,000.
    public var maxDomains: Int = 2_000_000

    /// Shrink each domain to the bounding box of the points where an open clause can still hold,
    /// using CROWN's linear lower bound of each row on the input (Clip-and-Verify, as
    /// alpha-beta-CROWN on ACAS Xu). Sound: the removed points provably violate a row of every
    /// open clause. Default true.
    public var clipping: Bool = true
    /// Adam iterations of alpha-CROWN on the spec rows' ReLU slopes per domain (intermediate
    /// bounds stay CROWN's; the search runs in Float on dense ReLU chains and the bound is
    /// evaluated in Double); 0 bounds domains with CROWN alone. Default 10: ACAS Xu 3_3 prop_2
    /// goes from a timeout (116 s) to 17 s and 4_2 prop_2 from 25 s to 12 s (5: 43 s, 20: 21 s).
    public var alphaIterations: Int = 10

    /// Evaluate the model at each split domain's centre and at the corner minimising each open
    /// row's CROWN bound, looking for a counterexample. Default true (cheap next to bounding).
    public var leafChecks: Bool = true

    /// Run a short projected-gradient attack on the worst open domains after every this many
    /// bounded domains; 0 disables it. Default 2000.
    public var attackEvery: Int = 2000

    /// How many of the worst open domains each in-search attack covers. Default 4.
    public var attackDomains: Int = 4

    /// Projected-gradient restarts per domain and clause in an in-search attack. Default 2.
    public var attackRestarts: Int = 2

    /// When a strategy runs input splitting (`--method auto` or `input-split`), the attack before the search
    /// makes at most this many projected-gradient restarts. Default 10: on ACAS Xu a failed
    /// 100-restart attack costs about 1 s, more than most proofs, while the search finds the
    /// counterexamples the missing restarts would have found.
    public var attackRestartsBeforeSearch: Int = 10

    /// Minimum seconds between two progress reports. Default 0.2 (at most 5 per second).
    public var progressInterval: Double = 0.2

    /// The defaults described on each property.
    public init() {}

    /// Checks that every value is usable.
    /// - Throws: `SettingsError` naming the setting.
    public func validate() throws {
        func fail(_ name: String, _ why: String) -> SettingsError { SettingsError(setting: "inputSplit." + name, message: why) }
        guard alphaIterations >= 0 else { throw fail("alphaIterations", "must be >= 0, got \(alphaIterations)") }
        guard sbCoefficientFloor.isFinite, sbCoefficientFloor >= 0 else { throw fail("sbCoefficientFloor", "must be >= 0, got \(sbCoefficientFloor)") }
        guard sbMarginWeight.isFinite else { throw fail("sbMarginWeight", "must be finite, got \(sbMarginWeight)") }
        guard batchSize >= 1 else { throw fail("batchSize", "must be >= 1, got \(batchSize)") }
        guard workers >= 1, workers <= 64 else { throw fail("workers", "must be in 1...64, got \(workers)") }
        guard maxDomains >= 1 else { throw fail("maxDomains", "must be >= 1, got \(maxDomains)") }
        guard attackEvery >= 0 else { throw fail("attackEvery", "must be >= 0, got \(attackEvery)") }
        guard attackDomains >= 0 else { throw fail("attackDomains", "must be >= 0, got \(attackDomains)") }
        guard attackRestarts >= 0 else { throw fail("attackRestarts", "must be >= 0, got \(attackRestarts)") }
        guard attackRestartsBeforeSearch >= 0 else { throw fail("attackRestartsBeforeSearch", "must be >= 0, got \(attackRestartsBeforeSearch)") }
        guard progressInterval.isFinite, progressInterval >= 0 else { throw fail("progressInterval", "must be >= 0, got \(progressInterval)") }
    }
}
