// LinearProgram: a defensive owner of one GLPK problem object (glp_prob).
//
// GLPK terminates the process (abort) on invalid arguments, so every argument is validated
// here before any GLPK call. A Swift-side mirror of the problem (bounds, rows, objective) is
// kept to validate input and to re-check reported solutions independently of GLPK.

import CGLPK
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A linear or mixed-integer linear program solved with GLPK.
///
/// Build the problem with `addVariable`, `addConstraint` and `setObjective`, then call
/// `solve(options:)`. The problem can be modified and re-solved; GLPK keeps the last basis,
/// so re-solves after bound or objective changes are warm-started (bound tightening: use
/// `optimize(variable:maximize:options:)` repeatedly; branching: `setVariableBounds` or
/// `copy()`).
///
/// Thread confinement: GLPK keeps its environment (memory bookkeeping, terminal settings) in
/// thread-local storage, so a `LinearProgram` must be created, used and released on a single
/// thread. Use from another thread is detected: building methods throw
/// `LPError.Kind.wrongThread` and `solve` returns `.failed`. If the last reference is
/// released on another thread, the GLPK object is deliberately leaked rather than freed into
/// the wrong thread's allocator. Not `Sendable`; use one instance per thread/task.
package final class LinearProgram {
    /// The GLPK problem object, owned by this instance.
    let prob: OpaquePointer
    /// The thread that created the problem; all GLPK calls must happen on it.
    private let owner: pthread_t

    // Swift-side mirror of the problem.
    private(set) var vars: [LPVariable] = []
    private(set) var rows: [LPConstraint] = []
    private(set) var objectiveCoefficients: [Double] = []
    /// Constant term of the objective.
    package private(set) var objectiveConstant: Double = 0
    /// Whether the objective is maximised.
    package private(set) var isMaximization: Bool = false
    /// Set when the matrix changed since the last `glp_scale_prob`.
    var needsScaling = true

    /// Largest number of rows or columns accepted (GLPK's own limit is 100,000,000).
    static let maxDimension = 100_000_000

    /// Largest magnitude of a finite number handed to GLPK: constraint coefficients, finite
    /// variable and constraint bounds, objective coefficients and the objective constant.
    /// Larger ones are refused with `LPError.Kind.outOfRange`.
    ///
    /// GLPK aborts the process when its own arithmetic fails. Its automatic scaling
    /// (`glp_scale_prob`, geometric mean then equilibration, glpscl.c) divides each row and
    /// column by `sqrt(min |a_ij| * max |a_ij|)` and passes the result to `glp_set_rii` /
    /// `glp_set_sjj`, which abort unless it is positive ("invalid scale factor"): with
    /// coefficients of 1e200 the product overflows to infinity and the factor becomes 0, with
    /// 1e-200 it underflows to 0 and the factor becomes infinite. Keeping every non-zero
    /// coefficient within [1/U, U] keeps these products within [1/U², U²] and every scaled
    /// coefficient within [1/U², U], so scaling is safe for U up to about 1e150; the simplex
    /// itself needs more room (products of coefficients, bounds and basis inverses): with
    /// U = 1e100 GLPK 5.0 still failed its assertion `teta >= 0.0` (spychuzc.c) on 1 of 4,000
    /// random LPs. With U = 1e60, none of 30,000 random LPs and 18,000 random MILPs (2 to 13
    /// rows and columns; coefficients and objective entries in [1e-60, 1e60], bounds in
    /// [1e-3, 1e60] in magnitude, half of them at the ends) made GLPK abort, solved as `solve`
    /// does (scripts/glpk-probe.c).
    package static let maxMagnitude = 1e60
    /// Smallest magnitude of a non-zero constraint coefficient (see `maxMagnitude`). Zero
    /// coefficients are dropped; bounds and objective entries may be smaller (they take no
    /// part in the scaling products).
    package static let minCoefficientMagnitude = 1e-60

    /// Creates an empty minimisation problem with no variables and no constraints.
    package init() {
        glp_term_out(GLP_OFF)
        prob = glp_create_prob()
        owner = pthread_self()
        glp_set_obj_dir(prob, GLP_MIN)
    }

    deinit {
        // Freeing on another thread would corrupt that thread's GLPK allocator bookkeeping
        // (and abort). Leaking is the safe choice; see the type documentation.
        if pthread_equal(owner, pthread_self()) != 0 {
            glp_delete_prob(prob)
        }
    }

    // MARK: - Queries

    /// Number of variables (columns).
    package var variableCount: Int { vars.count }
    /// Number of constraints (rows).
    package var constraintCount: Int { rows.count }
    /// Whether any variable is integer.
    package var hasIntegerVariables: Bool { vars.contains { $0.isInteger } }

    /// The variable with 0-based index `j` (its current, effective bounds).
    /// - Precondition: `0 <= j < variableCount`.
    package func variable(_ j: Int) -> LPVariable {
        precondition(j >= 0 && j < vars.count, "LinearProgram.variable: index \(j) out of range 0..<\(vars.count)")
        return vars[j]
    }

    /// The constraint with 0-based index `i` (merged, sorted terms).
    /// - Precondition: `0 <= i < constraintCount`.
    package func constraint(_ i: Int) -> LPConstraint {
        precondition(i >= 0 && i < rows.count, "LinearProgram.constraint: index \(i) out of range 0..<\(rows.count)")
        return rows[i]
    }

    /// The objective coefficient of every variable (0-based; 0 for variables not in the objective).
    package var objective: [Double] { objectiveCoefficients }

    /// Whether the calling thread is the thread that created this problem.
    package var isOnOwnerThread: Bool { pthread_equal(owner, pthread_self()) != 0 }

    // MARK: - Building

    /// Adds a variable (GLPK column) and returns its 0-based index.
    ///
    /// - Parameters:
    ///   - lower: Lower bound, may be `-Double.infinity`.
    ///   - upper: Upper bound, may be `+Double.infinity`; `lower == upper` fixes the variable.
    ///   - isInteger: Integer variable for MILP solves. Its bounds are rounded inward to
    ///     integers (values within 1e-9 of an integer snap to it).
    ///   - name: Optional name (at most 255 UTF-8 bytes, no control characters).
    /// - Throws: `LPError` (`.invalidBounds`, `.outOfRange` for a finite bound beyond
    ///   `maxMagnitude`, `.invalidName`, `.wrongThread`, `.tooLarge`);
    ///   the problem is unchanged then.
    @discardableResult
    package func addVariable(lower: Double, upper: Double, isInteger: Bool = false,
                            name: String? = nil) throws -> Int {
        try checkThread()
        guard vars.count < Self.maxDimension else { throw LPError(.tooLarge, "too many variables") }
        let (lo, up) = try Self.checkedBounds(lower, upper, integer: isInteger, what: "variable \(vars.count)")
        if let name { try Self.checkName(name) }
        let j = Int(glp_add_cols(prob, 1)) - 1
        precondition(j == vars.count, "GLPK column count out of sync")
        let col = Int32(j + 1)
        if isInteger { glp_set_col_kind(prob, col, GLP_IV) }
        Self.setBounds(lo, up) { glp_set_col_bnds(prob, col, $0, $1, $2) }
        if let name { glp_set_col_name(prob, col, name) }
        vars.append(LPVariable(lower: lo, upper: up, isInteger: isInteger, name: name))
        objectiveCoefficients.append(0)
        return j
    }

    /// Adds a variable described by `variable`; see `addVariable(lower:upper:isInteger:name:)`.
    @discardableResult
    package func addVariable(_ variable: LPVariable) throws -> Int {
        try addVariable(lower: variable.lower, upper: variable.upper,
                        isInteger: variable.isInteger, name: variable.name)
    }

    /// Adds a binary variable (integer in [0, 1]) and returns its 0-based index.
    @discardableResult
    package func addBinaryVariable(name: String? = nil) throws -> Int {
        try addVariable(lower: 0, upper: 1, isInteger: true, name: name)
    }

    /// Adds the constraint `lower <= sum(coefficient * x[index]) <= upper` and returns its
    /// 0-based index.
    ///
    /// Either bound may be infinite (`-inf`/`+inf` give a one-sided or free row);
    /// `lower == upper` gives an equality. Duplicate variable indices are summed; zero
    /// coefficients are dropped; an empty term list is allowed (the row activity is 0).
    /// - Throws: `LPError` (`.invalidIndex`, `.nonFiniteValue`, `.outOfRange` for a coefficient
    ///   outside `minCoefficientMagnitude ... maxMagnitude` or a finite bound beyond it, `.invalidBounds`,
    ///   `.invalidName`, `.wrongThread`, `.tooLarge`); the problem is unchanged then.
    @discardableResult
    package func addConstraint(_ terms: [(Int, Double)], lower: Double, upper: Double,
                              name: String? = nil) throws -> Int {
        try checkThread()
        guard rows.count < Self.maxDimension else { throw LPError(.tooLarge, "too many constraints") }
        let merged = try mergedTerms(terms, what: "constraint \(rows.count)", matrix: true)
        let (lo, up) = try Self.checkedBounds(lower, upper, integer: false, what: "constraint \(rows.count)")
        if let name { try Self.checkName(name) }
        let i = Int(glp_add_rows(prob, 1)) - 1
        precondition(i == rows.count, "GLPK row count out of sync")
        let row = Int32(i + 1)
        setMatrixRow(row, merged)
        Self.setBounds(lo, up) { glp_set_row_bnds(prob, row, $0, $1, $2) }
        if let name { glp_set_row_name(prob, row, name) }
        rows.append(LPConstraint(terms: merged, lower: lo, upper: up, name: name))
        needsScaling = true
        return i
    }

    /// Replaces the objective by `constant + sum(coefficient * x[index])` and sets the sense.
    ///
    /// Variables not listed get coefficient 0; duplicate indices are summed.
    /// - Throws: `LPError` (`.invalidIndex`, `.nonFiniteValue`, `.outOfRange` for an entry beyond
    ///   `maxMagnitude`, `.wrongThread`); the
    ///   objective is unchanged then.
    package func setObjective(_ terms: [(Int, Double)], constant: Double = 0,
                             maximize: Bool = false) throws {
        try checkThread()
        guard constant.isFinite else { throw LPError(.nonFiniteValue, "objective constant is \(constant)") }
        guard abs(constant) <= Self.maxMagnitude else {
            throw LPError(.outOfRange, "objective constant \(constant) exceeds \(Self.maxMagnitude) in magnitude "
                          + "(the largest number GLPK is given)")
        }
        let merged = try mergedTerms(terms, what: "objective", matrix: false)
        for j in objectiveCoefficients.indices where objectiveCoefficients[j] != 0 {
            glp_set_obj_coef(prob, Int32(j + 1), 0)
            objectiveCoefficients[j] = 0
        }
        for (j, c) in merged {
            glp_set_obj_coef(prob, Int32(j + 1), c)
            objectiveCoefficients[j] = c
        }
        glp_set_obj_coef(prob, 0, constant)
        objectiveConstant = constant
        glp_set_obj_dir(prob, maximize ? GLP_MAX : GLP_MIN)
        isMaximization = maximize
    }

    /// Changes the bounds of variable `j` (branching, bound tightening). The basis is kept,
    /// so the next solve is warm-started. For an integer variable the bounds are rounded
    /// inward to integers.
    /// - Throws: `LPError` (`.invalidIndex`, `.invalidBounds`, `.outOfRange`, `.wrongThread`); the
    ///   bounds are unchanged then.
    package func setVariableBounds(_ j: Int, lower: Double, upper: Double) throws {
        try checkThread()
        try checkVariableIndex(j, what: "setVariableBounds")
        let (lo, up) = try Self.checkedBounds(lower, upper, integer: vars[j].isInteger, what: "variable \(j)")
        let col = Int32(j + 1)
        Self.setBounds(lo, up) { glp_set_col_bnds(prob, col, $0, $1, $2) }
        vars[j].lower = lo
        vars[j].upper = up
    }

    /// Changes the bounds of constraint `i` (`lower <= activity <= upper`).
    /// - Throws: `LPError` (`.invalidIndex`, `.invalidBounds`, `.outOfRange`, `.wrongThread`); the
    ///   bounds are unchanged then.
    package func setConstraintBounds(_ i: Int, lower: Double, upper: Double) throws {
        try checkThread()
        guard i >= 0 && i < rows.count else {
            throw LPError(.invalidIndex, "setConstraintBounds: constraint index \(i) not in 0..<\(rows.count)")
        }
        let (lo, up) = try Self.checkedBounds(lower, upper, integer: false, what: "constraint \(i)")
        let row = Int32(i + 1)
        Self.setBounds(lo, up) { glp_set_row_bnds(prob, row, $0, $1, $2) }
        rows[i].lower = lo
        rows[i].upper = up
    }

    /// Returns an independent deep copy (`glp_copy_prob` with names), including the current
    /// basis, so a branch can be solved warm-started without touching this problem.
    /// The copy belongs to the calling thread (which must be this problem's thread).
    /// - Throws: `LPError.Kind.wrongThread`.
    package func copy() throws -> LinearProgram {
        try checkThread()
        let other = LinearProgram()
        glp_copy_prob(other.prob, prob, GLP_ON)
        other.vars = vars
        other.rows = rows
        other.objectiveCoefficients = objectiveCoefficients
        other.objectiveConstant = objectiveConstant
        other.isMaximization = isMaximization
        other.needsScaling = true
        return other
    }

    // MARK: - Validation helpers

    func checkThread() throws {
        guard isOnOwnerThread else {
            throw LPError(.wrongThread, "LinearProgram used from a thread other than the one that created it")
        }
    }

    private func checkVariableIndex(_ j: Int, what: String) throws {
        guard j >= 0 && j < vars.count else {
            throw LPError(.invalidIndex, "\(what): variable index \(j) not in 0..<\(vars.count)")
        }
    }

    /// Validates a term list and returns it merged (duplicates summed), without zeros, sorted.
    /// Every merged coefficient must be at most `maxMagnitude` in magnitude, and for a
    /// constraint row (`matrix`) at least `minCoefficientMagnitude`.
    private func mergedTerms(_ terms: [(Int, Double)], what: String, matrix: Bool) throws -> [(Int, Double)] {
        var sums: [Int: Double] = [:]
        sums.reserveCapacity(terms.count)
        for (j, a) in terms {
            try checkVariableIndex(j, what: what)
            guard a.isFinite else {
                throw LPError(.nonFiniteValue, "\(what): coefficient of variable \(j) is \(a)")
            }
            sums[j, default: 0] += a
        }
        var out: [(Int, Double)] = []
        out.reserveCapacity(sums.count)
        for (j, a) in sums {
            guard a.isFinite else {
                throw LPError(.nonFiniteValue, "\(what): summed coefficient of variable \(j) overflows")
            }
            if a == 0 { continue }
            guard abs(a) <= Self.maxMagnitude, !matrix || abs(a) >= Self.minCoefficientMagnitude else {
                let range = matrix ? "[\(Self.minCoefficientMagnitude), \(Self.maxMagnitude)]" : "[0, \(Self.maxMagnitude)]"
                throw LPError(.outOfRange, "\(what): coefficient \(a) of variable \(j) is outside the magnitude range "
                              + "\(range) GLPK is given (its scaling and simplex abort the process beyond it)")
            }
            out.append((j, a))
        }
        out.sort { $0.0 < $1.0 }
        return out
    }

    /// Validates bounds and, for integer variables, rounds them inward to integers.
    static func checkedBounds(_ lower: Double, _ upper: Double, integer: Bool,
                              what: String) throws -> (Double, Double) {
        guard !lower.isNaN, !upper.isNaN else {
            throw LPError(.invalidBounds, "\(what): NaN bound [\(lower), \(upper)]")
        }
        guard lower != .infinity, upper != -.infinity else {
            throw LPError(.invalidBounds, "\(what): empty interval [\(lower), \(upper)]")
        }
        guard lower <= upper else {
            throw LPError(.invalidBounds, "\(what): lower bound \(lower) > upper bound \(upper)")
        }
        for b in [lower, upper] where b.isFinite && abs(b) > maxMagnitude {
            throw LPError(.outOfRange, "\(what): bound \(b) exceeds \(maxMagnitude) in magnitude (the largest "
                          + "finite bound GLPK is given; use an infinite bound for none)")
        }
        guard integer else { return (lower, upper) }
        func snap(_ v: Double, _ inward: (Double) -> Double) -> Double {
            guard v.isFinite else { return v }
            let r = v.rounded()
            return abs(v - r) <= 1e-9 ? r : inward(v)
        }
        let lo = snap(lower) { $0.rounded(.up) }
        let up = snap(upper) { $0.rounded(.down) }
        guard lo <= up else {
            throw LPError(.invalidBounds, "\(what): integer variable has no integer in [\(lower), \(upper)]")
        }
        return (lo, up)
    }

    /// GLPK aborts on names longer than 255 characters or with control characters.
    static func checkName(_ name: String) throws {
        let bytes = Array(name.utf8)
        guard bytes.count <= 255 else {
            throw LPError(.invalidName, "name longer than 255 bytes")
        }
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw LPError(.invalidName, "name contains control characters")
        }
    }

    /// Calls `set(type, lb, ub)` with the GLPK bound type implied by which bounds are finite.
    static func setBounds(_ lower: Double, _ upper: Double, _ set: (Int32, Double, Double) -> Void) {
        switch (lower.isFinite, upper.isFinite) {
        case (false, false): set(GLP_FR, 0, 0)
        case (true, false): set(GLP_LO, lower, 0)
        case (false, true): set(GLP_UP, 0, upper)
        case (true, true): set(lower == upper ? GLP_FX : GLP_DB, lower, upper)
        }
    }

    /// Sets row `row` (1-based) of the matrix; GLPK's arrays have an unused element 0.
    private func setMatrixRow(_ row: Int32, _ terms: [(Int, Double)]) {
        var ind = [Int32](repeating: 0, count: terms.count + 1)
        var val = [Double](repeating: 0, count: terms.count + 1)
        for (k, (j, a)) in terms.enumerated() {
            ind[k + 1] = Int32(j + 1)
            val[k + 1] = a
        }
        ind.withUnsafeBufferPointer { ip in
            val.withUnsafeBufferPointer { vp in
                glp_set_mat_row(prob, row, Int32(terms.count), ip.baseAddress, vp.baseAddress)
            }
        }
    }
}
