// Value types of the CertusLP API: variables, options, statuses, results and errors.
//
// Conventions used throughout the module:
// - Variable (column) and constraint (row) indices are 0-based, in the order they were added.
//   The GLPK 1-based indices never appear in the public API.
// - Infinite bounds are written as `-Double.infinity` / `+Double.infinity`.
// - Building a problem (`addVariable`, `addConstraint`, `setObjective`, `setVariableBounds`, ...)
//   throws `LPError` on invalid input; solving never throws and reports problems as
//   `LPStatus.failed`.
// - Every finite number handed to GLPK is at most `LinearProgram.maxMagnitude` (1e60) in
//   magnitude, and every non-zero constraint coefficient at least
//   `LinearProgram.minCoefficientMagnitude` (1e-60): GLPK aborts the process on its own
//   arithmetic failures (see `LinearProgram.maxMagnitude`), so larger or smaller numbers are
//   refused with `LPError.Kind.outOfRange` before any GLPK call.

/// One decision variable (a GLPK column) as stored by `LinearProgram`.
package struct LPVariable: Equatable, Sendable {
    /// Lower bound; `-Double.infinity` when the variable is unbounded below.
    package var lower: Double
    /// Upper bound; `+Double.infinity` when the variable is unbounded above.
    package var upper: Double
    /// Whether the variable must take an integer value in a MILP solve.
    /// For integer variables the stored bounds are the rounded-inward (integral) ones.
    package var isInteger: Bool
    /// Optional symbolic name (at most 255 UTF-8 bytes, no control characters).
    package var name: String?

    /// Creates a variable description; validation happens when it is added to a `LinearProgram`.
    package init(lower: Double, upper: Double, isInteger: Bool = false, name: String? = nil) {
        self.lower = lower
        self.upper = upper
        self.isInteger = isInteger
        self.name = name
    }
}

/// One linear constraint (a GLPK row) `lower <= sum(coefficient * x[index]) <= upper`.
package struct LPConstraint: Sendable {
    /// The non-zero terms `(variableIndex, coefficient)`, merged (no duplicate indices) and
    /// sorted by variable index.
    package var terms: [(Int, Double)]
    /// Lower bound of the row activity; `-Double.infinity` when absent.
    package var lower: Double
    /// Upper bound of the row activity; `+Double.infinity` when absent.
    package var upper: Double
    /// Optional symbolic name.
    package var name: String?
}

/// Options for `LinearProgram.solve(options:)`. Every default is chosen for the use in
/// branch-and-bound verification: small to medium LPs solved many times, where a wrong
/// "optimal" is much worse than a reported failure.
package struct LPOptions: Sendable {
    /// Wall-clock limit in seconds for one `solve` call, covering all retries
    /// (passed to GLPK as `tm_lim` in milliseconds, reduced by the time already used).
    /// Default 10: a single LP in the search must never stall the whole run; the caller can
    /// treat `.timeLimit` as "unknown". Must be `>= 0` and not NaN; `.infinity` means no limit.
    package var timeLimit: Double
    /// Start with GLPK's dual simplex (`GLP_DUALP`: dual simplex, falling back to primal).
    /// Default `true`: after a bound change (branching) the previous optimal basis stays dual
    /// feasible, so the dual simplex warm-starts well (nnenum's pattern). `false` uses
    /// the primal simplex first.
    package var useDual: Bool
    /// How many extra attempts after a failed or inconclusive simplex run: the first retry
    /// rebuilds the basis with `glp_adv_basis`, later ones start from `glp_std_basis` with the
    /// primal simplex. Default 2, i.e. up to three attempts in total. Must be `>= 0`.
    package var retries: Int
    /// Use GLPK's LP presolver in the simplex solve. Default `false`: the presolver ignores the
    /// current basis, so it would defeat warm starts in bound-tightening loops; the
    /// retry logic already copes with hard instances. (MILP solves never use GLPK's MIP
    /// presolver, see `integer`.)
    package var presolve: Bool
    /// When the problem has integer variables, solve it as a MILP: the LP relaxation by the
    /// simplex (with the retries above), then branch and cut (`glp_intopt`) from that optimal
    /// basis. Default `true`. Set to `false` to solve the LP relaxation instead (integrality is
    /// then ignored). GLPK's MIP presolver is never used: in GLPK 5.0 it fails internal
    /// assertions, which abort the process, on valid problems (`npp_implied_upper`/`_lower`:
    /// `q->lb < q->ub` in npp3.c: 20 of 8,000 random MILPs with 2 to 13 rows and columns and
    /// coefficients and bounds between 1e-6 and 1e6 in magnitude, none of the same MILPs
    /// without it; scripts/glpk-probe.c).
    package var integer: Bool
    /// Relative MIP gap at which `glp_intopt` may stop (`mip_gap`). Default 0: the MILP is
    /// used as an exact cross-check, so it must be solved to proven optimality. With a positive
    /// gap an early stop is reported as `.feasible`, never as `.optimal`. Must be `>= 0`.
    package var mipGap: Double
    /// Scale the problem (`glp_scale_prob` with `GLP_SF_AUTO`) before the simplex.
    /// Default `true`: network LPs mix weights and bounds of very different magnitudes.
    package var scale: Bool
    /// Maximal primal violation accepted when re-checking a reported solution on the Swift
    /// side, relative to `max(1, |bound|, sum |a_ij x_j|)` per row and `max(1, |bound|)` per
    /// variable (integrality of integer variables is checked with the same tolerance, at
    /// least 1e-5, GLPK's `tol_int`). Default 1e-6. A solution failing the check is
    /// retried and finally reported as `.failed`, never as `.optimal`.
    package var feasibilityTolerance: Double
    /// Polled during the solve (nil, the default: never): once it returns true the solve ends
    /// with `.timeLimit` (a MILP keeps its incumbent, as at the time limit). The simplex then
    /// runs in slices of at most `stopPollInterval` (`tm_lim`), each resumed from the basis the
    /// previous one reached, and branch and cut polls it in GLPK's callback
    /// (`glp_ios_terminate`). Meant for a deadline that a cancellation (e.g. SIGTERM) can end
    /// early (`Deadline.stopCheck`).
    package var shouldStop: (@Sendable () -> Bool)? = nil
    /// Longest simplex run between two polls of `shouldStop`, in seconds (at least 1 ms).
    /// Default 0.2.
    package var stopPollInterval: Double = 0.2

    /// Creates options; see the properties for the meaning and default of each one.
    package init(timeLimit: Double = 10, useDual: Bool = true, retries: Int = 2,
                presolve: Bool = false, integer: Bool = true, mipGap: Double = 0,
                scale: Bool = true, feasibilityTolerance: Double = 1e-6) {
        self.timeLimit = timeLimit
        self.useDual = useDual
        self.retries = retries
        self.presolve = presolve
        self.integer = integer
        self.mipGap = mipGap
        self.scale = scale
        self.feasibilityTolerance = feasibilityTolerance
    }
}

/// Outcome of a solve.
package enum LPStatus: Equatable, Sendable, CustomStringConvertible {
    /// Proven optimal (LP: primal and dual feasible basis; MILP: gap closed) and the primal
    /// point passed the Swift-side feasibility re-check.
    case optimal
    /// MILP only: an integer-feasible point was found, but optimality is not proven
    /// (stopped at the relative `mipGap`). `objective` and `primal` describe that point.
    case feasible
    /// The problem has no feasible point (for a MILP: no integer-feasible point).
    case infeasible
    /// The problem is feasible and the objective is unbounded in the optimisation direction.
    case unbounded
    /// The time limit was reached before a conclusion. For a MILP an incumbent, if any, is
    /// reported in `objective`/`primal` (a feasible but not necessarily optimal point).
    case timeLimit
    /// Invalid options, a thread violation, or GLPK failed after all retries. The message
    /// says why. Never accompanied by a solution.
    case failed(String)

    /// Short human-readable form, e.g. `"optimal"` or `"failed(singular basis)"`.
    package var description: String {
        switch self {
        case .optimal: return "optimal"
        case .feasible: return "feasible"
        case .infeasible: return "infeasible"
        case .unbounded: return "unbounded"
        case .timeLimit: return "timeLimit"
        case .failed(let why): return "failed(\(why))"
        }
    }

    /// `true` only for `.failed`.
    package var isFailure: Bool {
        if case .failed = self { return true }
        return false
    }
}

/// Result of `LinearProgram.solve(options:)`.
///
/// Duals follow GLPK's convention, valid for both minimisation and maximisation:
/// the reduced cost of variable j is `d_j = c_j - sum_i a_ij * rowDuals[i]`, and at an optimal
/// basic solution `objective = constant + sum_i rowDuals[i] * (active bound of row i)
/// + sum_j reducedCosts[j] * (active bound of variable j)` (basic rows/variables have a zero
/// dual). For a minimisation, a row at its lower bound has a dual `>= 0` and at its upper
/// bound `<= 0`; the signs flip for a maximisation.
package struct LPResult: Sendable {
    /// What happened; see `LPStatus`.
    package var status: LPStatus
    /// Objective value (including the constant term). Set for `.optimal`; for a MILP also for
    /// `.feasible` and `.timeLimit` with an incumbent. `nil` otherwise.
    package var objective: Double?
    /// Value of every variable (0-based, `variableCount` entries) when `objective` is set;
    /// empty otherwise.
    package var primal: [Double]
    /// Activity `sum_j a_ij x_j` of every constraint when `objective` is set; empty otherwise.
    package var rowActivity: [Double]
    /// Row dual values (`glp_get_row_dual`), one per constraint. Only for an `.optimal` LP
    /// (simplex) solve; empty for MILP solves and other statuses.
    package var rowDuals: [Double]
    /// Reduced costs (`glp_get_col_dual`), one per variable. Only for an `.optimal` LP solve;
    /// empty otherwise.
    package var reducedCosts: [Double]
    /// Whether the problem was solved as a MILP (`glp_intopt`).
    package var isMIP: Bool
    /// Simplex iterations reported by GLPK during this call (all attempts, and for a MILP all
    /// LP relaxations GLPK counted).
    package var iterations: Int
    /// Number of solver runs made (1 when the first attempt was conclusive).
    package var attempts: Int
    /// Wall-clock seconds spent in this call.
    package var time: Double
    /// Largest relative primal violation found by the Swift-side re-check of the reported
    /// point (see `LPOptions.feasibilityTolerance`); `nil` when no point is reported.
    package var maxViolation: Double?

    /// A result without solution data.
    init(status: LPStatus, isMIP: Bool, iterations: Int = 0, attempts: Int = 0, time: Double = 0) {
        self.status = status
        self.objective = nil
        self.primal = []
        self.rowActivity = []
        self.rowDuals = []
        self.reducedCosts = []
        self.isMIP = isMIP
        self.iterations = iterations
        self.attempts = attempts
        self.time = time
        self.maxViolation = nil
    }
}

/// Error thrown by the problem-building methods of `LinearProgram` for invalid input.
/// The problem is left unchanged when an error is thrown.
package struct LPError: Error, CustomStringConvertible, Sendable {
    /// Category of the error.
    package enum Kind: Equatable, Sendable {
        /// A variable or constraint index outside `0..<count`.
        case invalidIndex
        /// NaN bounds, `lower > upper`, `lower == +inf`, `upper == -inf`, or an integer
        /// variable whose interval contains no integer.
        case invalidBounds
        /// A NaN or infinite coefficient or objective constant.
        case nonFiniteValue
        /// A finite number GLPK cannot take safely: a constraint coefficient whose magnitude is
        /// outside `LinearProgram.minCoefficientMagnitude ... LinearProgram.maxMagnitude`, or an
        /// objective entry or finite bound larger than `LinearProgram.maxMagnitude` in magnitude.
        case outOfRange
        /// A name longer than 255 UTF-8 bytes or containing control characters.
        case invalidName
        /// The problem was used from a thread other than the one that created it.
        case wrongThread
        /// The problem would exceed GLPK's size limits.
        case tooLarge
    }

    /// Category of the error.
    package var kind: Kind
    /// Human-readable explanation.
    package var message: String

    /// Creates an error.
    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The message, prefixed by the category.
    package var description: String { "LPError.\(kind): \(message)" }
}
