// Solving: defensive simplex (LP) and branch-and-cut (MILP) drivers around GLPK.
//
// LP: dual simplex first (GLP_DUALP) from the current basis; on a failure return code or an
// inconclusive status retry after glp_adv_basis, then from glp_std_basis with the primal
// simplex. A primal-undecided, dual-infeasible outcome (possible with the dual simplex or the
// presolver's GLP_ENODFS) gets one extra primal run, which decides primal feasibility.
// MILP: a robust LP solve of the relaxation (as above), then glp_intopt without presolver
// from that basis (GLPK's MIP presolver aborts on some valid problems; see LPOptions.integer).
// Every reported point is re-checked on the Swift side (bounds, rows, integrality, objective).

import CGLPK

extension LinearProgram {
    /// Solves the problem.
    ///
    /// Solves a MILP (`glp_intopt`) when some variable is integer and `options.integer` is
    /// `true`, otherwise the LP (relaxation) with the simplex method. Never throws and never
    /// lets GLPK abort: invalid options or use from the wrong thread give `.failed`.
    /// A failed, time-limited or otherwise non-optimal solve is never reported as `.optimal`.
    /// - Parameter options: solver options; see `LPOptions` for defaults.
    /// - Returns: status, objective, primal point and (LP only) dual values.
    package func solve(options: LPOptions = LPOptions()) -> LPResult {
        let clock = ContinuousClock()
        let start = clock.now
        let isMIP = options.integer && hasIntegerVariables
        func seconds() -> Double {
            let c = start.duration(to: clock.now).components
            return Double(c.seconds) + Double(c.attoseconds) * 1e-18
        }
        func fail(_ why: String) -> LPResult {
            LPResult(status: .failed(why), isMIP: isMIP, time: seconds())
        }
        guard isOnOwnerThread else {
            return fail("LinearProgram used from a thread other than the one that created it")
        }
        guard !options.timeLimit.isNaN, options.timeLimit >= 0 else {
            return fail("invalid timeLimit \(options.timeLimit)")
        }
        guard options.retries >= 0 else { return fail("invalid retries \(options.retries)") }
        guard options.mipGap.isFinite, options.mipGap >= 0 else {
            return fail("invalid mipGap \(options.mipGap)")
        }
        guard options.feasibilityTolerance.isFinite, options.feasibilityTolerance > 0 else {
            return fail("invalid feasibilityTolerance \(options.feasibilityTolerance)")
        }

        glp_term_out(GLP_OFF)  // per-thread GLPK environment: silence it on every solve
        let itBefore = glp_get_it_cnt(prob)
        var run = SolveRun(options: options) {
            guard options.timeLimit.isFinite else { return Int32.max }
            let left = (options.timeLimit - seconds()) * 1000
            if left <= 0 { return 0 }
            return Int32(min(left.rounded(.up), Double(Int32.max - 1)))
        }
        var result = isMIP ? solveMIP(&run) : solveLP(&run)
        result.iterations = Int(glp_get_it_cnt(prob) - itBefore)
        result.attempts = run.attempts
        result.time = seconds()
        return result
    }

    /// Bound tightening helper: replaces the objective by `x[variable]` (no constant) with the
    /// given sense and solves, warm-started from the current basis. Call it with
    /// `maximize: false` and `true` for each variable in turn on the same problem.
    /// - Returns: the solve result; `.failed` for an invalid index or the wrong thread
    ///   (the objective is then unchanged).
    package func optimize(variable j: Int, maximize: Bool,
                         options: LPOptions = LPOptions()) -> LPResult {
        do {
            try setObjective([(j, 1)], maximize: maximize)
        } catch {
            return LPResult(status: .failed("\(error)"), isMIP: false)
        }
        return solve(options: options)
    }

    // MARK: - LP

    private func solveLP(_ run: inout SolveRun) -> LPResult {
        let opts = run.options
        if opts.scale && needsScaling && variableCount > 0 && constraintCount > 0 {
            glp_scale_prob(prob, GLP_SF_AUTO)
            needsScaling = false
        }
        var forcePrimal = !opts.useDual
        var presolve = opts.presolve
        var extraRunAvailable = true  // one uncounted primal run to settle primal feasibility
        var isExtraRun = false        // the next run is that follow-up run: keep the basis
        var lastError = "no simplex run"
        var attempt = 0
        while attempt <= opts.retries {
            if attempt > 0 && !isExtraRun {
                if run.remainingMs() == 0 {
                    return LPResult(status: .timeLimit, isMIP: false)
                }
                presolve = false
                if attempt == 1 {
                    glp_adv_basis(prob, 0)
                } else {
                    glp_std_basis(prob)
                    forcePrimal = true
                }
            }
            isExtraRun = false
            run.attempts += 1
            var parm = glp_smcp()
            glp_init_smcp(&parm)
            parm.msg_lev = GLP_MSG_OFF
            parm.meth = forcePrimal ? GLP_PRIMAL : GLP_DUALP
            parm.presolve = presolve ? GLP_ON : GLP_OFF
            parm.tm_lim = run.simplexTimeLimit()
            let ret = glp_simplex(prob, &parm)
            switch ret {
            case 0:
                let status = glp_get_status(prob)
                switch status {
                case GLP_OPT:
                    switch extractLP(run.options) {
                    case .success(let result): return result
                    case .failure(let why): lastError = why.message
                    }
                case GLP_NOFEAS:
                    return LPResult(status: .infeasible, isMIP: false)
                case GLP_UNBND:
                    return LPResult(status: .unbounded, isMIP: false)
                default:
                    lastError = "simplex ended with status \(Self.statusName(status))"
                    if glp_get_dual_stat(prob) == GLP_NOFEAS && extraRunAvailable {
                        // Dual infeasible, primal feasibility undecided: the primal simplex
                        // (phase 1) decides it. Not counted as a retry.
                        extraRunAvailable = false
                        forcePrimal = true
                        isExtraRun = true
                        continue
                    }
                }
            case GLP_ETMLIM:
                // A slice ended (see `LPOptions.shouldStop`): resume from the basis reached.
                if run.mayResume(presolve: presolve) {
                    isExtraRun = true
                    continue
                }
                return LPResult(status: .timeLimit, isMIP: false)
            case GLP_ENOPFS:
                // The presolver proved primal infeasibility.
                return LPResult(status: .infeasible, isMIP: false)
            case GLP_ENODFS:
                // The presolver proved dual infeasibility: unbounded OR infeasible. Settle it
                // with the primal simplex without presolver.
                lastError = "presolver found no dual feasible solution"
                if extraRunAvailable {
                    extraRunAvailable = false
                    presolve = false
                    forcePrimal = true
                    isExtraRun = true
                    continue
                }
            default:
                lastError = "glp_simplex returned \(Self.errorName(ret))"
            }
            attempt += 1
        }
        return LPResult(status: .failed(lastError), isMIP: false)
    }

    /// Reads and re-checks an optimal basic solution.
    private func extractLP(_ opts: LPOptions) -> Result<LPResult, SolveFailure> {
        let n = variableCount, m = constraintCount
        var x = [Double](repeating: 0, count: n)
        var d = [Double](repeating: 0, count: n)
        for j in 0..<n {
            x[j] = glp_get_col_prim(prob, Int32(j + 1))
            d[j] = glp_get_col_dual(prob, Int32(j + 1))
        }
        var y = [Double](repeating: 0, count: m)
        for i in 0..<m { y[i] = glp_get_row_dual(prob, Int32(i + 1)) }
        let obj = glp_get_obj_val(prob)
        guard d.allSatisfy(\.isFinite), y.allSatisfy(\.isFinite) else {
            return .failure(SolveFailure("non-finite dual values"))
        }
        switch checkPoint(x, objective: obj, integer: false, opts) {
        case .failure(let f): return .failure(f)
        case .success(let (activity, violation)):
            var r = LPResult(status: .optimal, isMIP: false)
            r.objective = obj
            r.primal = x
            r.rowActivity = activity
            r.rowDuals = y
            r.reducedCosts = d
            r.maxViolation = violation
            return .success(r)
        }
    }

    // MARK: - MILP

    /// MILP: the LP relaxation by `solveLP` (scaling, retries, Swift-side re-check), then
    /// branch and cut (`glp_intopt`, presolver off) from that optimal basis. GLPK's MIP
    /// presolver is not used: it fails internal assertions (abort) on valid problems, see
    /// `LPOptions.integer`.
    func solveMIP(_ run: inout SolveRun) -> LPResult {
        var relaxed = run
        let root = solveLP(&relaxed)
        run.attempts = relaxed.attempts
        switch root.status {
        case .infeasible:
            return LPResult(status: .infeasible, isMIP: true)
        case .unbounded:
            return decideUnboundedMIP(&run)
        case .timeLimit:
            return LPResult(status: .timeLimit, isMIP: true)
        case .optimal:
            break
        default:
            return LPResult(status: .failed("LP relaxation: \(root.status)"), isMIP: true)
        }
        run.attempts += 1
        let ret = Self.intopt(prob, run)
        switch ret {
        case 0, GLP_ETMLIM, GLP_EMIPGAP:
            return classifyMIP(ret, run.options)
        case GLP_ESTOP:
            // Stopped by `LPOptions.shouldStop`: reported like the time limit.
            return classifyMIP(GLP_ETMLIM, run.options)
        default:
            return LPResult(status: .failed("glp_intopt returned \(Self.errorName(ret))"), isMIP: true)
        }
    }

    private static func mipParameters(_ run: SolveRun) -> glp_iocp {
        var parm = glp_iocp()
        glp_init_iocp(&parm)
        parm.msg_lev = GLP_MSG_OFF
        parm.tm_lim = run.remainingMs()
        parm.mip_gap = run.options.mipGap
        return parm
    }

    /// `glp_intopt` without presolver, with `tm_lim` from the time left and, when
    /// `LPOptions.shouldStop` is set, a callback that ends the search (`glp_ios_terminate`,
    /// `GLP_ESTOP`) at GLPK's next callback point once it returns true.
    private static func intopt(_ problem: OpaquePointer, _ run: SolveRun) -> Int32 {
        var parm = mipParameters(run)
        parm.presolve = GLP_OFF
        guard let stop = run.options.shouldStop else { return glp_intopt(problem, &parm) }
        let box = StopCheck(stop)
        return withExtendedLifetime(box) {
            parm.cb_info = Unmanaged.passUnretained(box).toOpaque()
            parm.cb_func = { tree, info in
                guard let tree, let info else { return }
                if Unmanaged<StopCheck>.fromOpaque(info).takeUnretainedValue().check() { glp_ios_terminate(tree) }
            }
            return glp_intopt(problem, &parm)
        }
    }

    /// Interprets glp_intopt's result after a normal end, a time limit or a gap stop.
    private func classifyMIP(_ ret: Int32, _ opts: LPOptions) -> LPResult {
        let status = glp_mip_status(prob)
        switch status {
        case GLP_OPT where ret == 0:
            return extractMIP(.optimal, opts)
        case GLP_NOFEAS:
            return LPResult(status: .infeasible, isMIP: true)
        case GLP_OPT, GLP_FEAS:
            return extractMIP(ret == GLP_ETMLIM ? .timeLimit : .feasible, opts)
        default:
            if ret == GLP_ETMLIM { return LPResult(status: .timeLimit, isMIP: true) }
            return LPResult(status: .failed("glp_intopt ended with MIP status "
                                            + Self.statusName(status)), isMIP: true)
        }
    }

    private func extractMIP(_ status: LPStatus, _ opts: LPOptions) -> LPResult {
        let n = variableCount
        var x = [Double](repeating: 0, count: n)
        for j in 0..<n { x[j] = glp_mip_col_val(prob, Int32(j + 1)) }
        let obj = glp_mip_obj_val(prob)
        switch checkPoint(x, objective: obj, integer: true, opts) {
        case .failure(let f):
            if status == .timeLimit { return LPResult(status: .timeLimit, isMIP: true) }
            return LPResult(status: .failed(f.message), isMIP: true)
        case .success(let (activity, violation)):
            var r = LPResult(status: status, isMIP: true)
            r.objective = obj
            r.primal = x
            r.rowActivity = activity
            r.maxViolation = violation
            return r
        }
    }

    /// The LP relaxation has no dual feasible solution, so the MILP is infeasible or
    /// unbounded. Decide by looking for any integer-feasible point (zero objective, on a copy):
    /// the copy's relaxation by the simplex, then branch and cut without presolver.
    private func decideUnboundedMIP(_ run: inout SolveRun) -> LPResult {
        run.attempts += 1
        let tmp = glp_create_prob()!
        defer { glp_delete_prob(tmp) }
        glp_copy_prob(tmp, prob, GLP_OFF)
        for j in 0...variableCount { glp_set_obj_coef(tmp, Int32(j), 0) }
        if run.options.scale { glp_scale_prob(tmp, GLP_SF_AUTO) }
        var lp = glp_smcp()
        glp_init_smcp(&lp)
        lp.msg_lev = GLP_MSG_OFF
        lp.meth = GLP_DUALP
        lp.tm_lim = run.remainingMs()
        let lpRet = glp_simplex(tmp, &lp)
        if lpRet == GLP_ETMLIM { return LPResult(status: .timeLimit, isMIP: true) }
        let lpStatus = glp_get_status(tmp)
        if lpRet == 0 && lpStatus == GLP_NOFEAS { return LPResult(status: .infeasible, isMIP: true) }
        guard lpRet == 0 && lpStatus == GLP_OPT else {
            return LPResult(status: .failed("MILP relaxation dual infeasible; feasibility LP: glp_simplex returned "
                                            + "\(Self.errorName(lpRet)), status \(Self.statusName(lpStatus))"), isMIP: true)
        }
        let ret = Self.intopt(tmp, run)
        let status = glp_mip_status(tmp)
        if ret == 0 && status == GLP_NOFEAS {
            return LPResult(status: .infeasible, isMIP: true)
        }
        if status == GLP_OPT || status == GLP_FEAS {
            return LPResult(status: .unbounded, isMIP: true)
        }
        if ret == GLP_ETMLIM || ret == GLP_ESTOP { return LPResult(status: .timeLimit, isMIP: true) }
        return LPResult(status: .failed("MILP relaxation dual infeasible; feasibility check: "
                                        + "glp_intopt returned \(Self.errorName(ret))"), isMIP: true)
    }

    // MARK: - Independent re-check

    /// Checks a point against the Swift-side mirror: finite values, variable bounds, row
    /// bounds, integrality (when `integer`) and the reported objective value.
    /// Returns the row activities and the largest relative violation.
    func checkPoint(_ x: [Double], objective: Double, integer: Bool,
                            _ opts: LPOptions) -> Result<([Double], Double), SolveFailure> {
        guard objective.isFinite, x.allSatisfy(\.isFinite) else {
            return .failure(SolveFailure("non-finite primal or objective value"))
        }
        let tol = opts.feasibilityTolerance
        let intTol = max(tol, 1e-5)
        var worst = 0.0
        for (j, v) in vars.enumerated() {
            let viol = max(v.lower - x[j], x[j] - v.upper, 0) / max(1, abs(x[j]))
            worst = max(worst, viol)
            if integer && v.isInteger && abs(x[j] - x[j].rounded()) > intTol {
                return .failure(SolveFailure("integer variable \(j) has value \(x[j])"))
            }
        }
        var activity = [Double](repeating: 0, count: rows.count)
        for (i, row) in rows.enumerated() {
            var act = 0.0, mag = 1.0
            for (j, a) in row.terms {
                act += a * x[j]
                mag += abs(a * x[j])
            }
            activity[i] = act
            let scale = max(mag, row.lower.isFinite ? abs(row.lower) : 0,
                            row.upper.isFinite ? abs(row.upper) : 0)
            worst = max(worst, max(row.lower - act, act - row.upper, 0) / scale)
        }
        guard worst <= tol else {
            return .failure(SolveFailure("reported point violates constraints (relative violation \(worst))"))
        }
        var obj = objectiveConstant, mag = 1.0 + abs(objectiveConstant)
        for (j, c) in objectiveCoefficients.enumerated() where c != 0 {
            obj += c * x[j]
            mag += abs(c * x[j])
        }
        guard abs(obj - objective) <= 1e-7 * mag else {
            return .failure(SolveFailure("reported objective \(objective) differs from recomputed \(obj)"))
        }
        return .success((activity, worst))
    }

    // MARK: - Names for messages

    static func errorName(_ code: Int32) -> String {
        switch code {
        case GLP_EBADB: return "GLP_EBADB (invalid basis)"
        case GLP_ESING: return "GLP_ESING (singular basis matrix)"
        case GLP_ECOND: return "GLP_ECOND (ill-conditioned basis matrix)"
        case GLP_EBOUND: return "GLP_EBOUND (invalid bounds)"
        case GLP_EFAIL: return "GLP_EFAIL (solver failure)"
        case GLP_EOBJLL: return "GLP_EOBJLL (objective lower limit reached)"
        case GLP_EOBJUL: return "GLP_EOBJUL (objective upper limit reached)"
        case GLP_EITLIM: return "GLP_EITLIM (iteration limit)"
        case GLP_ETMLIM: return "GLP_ETMLIM (time limit)"
        case GLP_ENOPFS: return "GLP_ENOPFS (no primal feasible solution)"
        case GLP_ENODFS: return "GLP_ENODFS (no dual feasible solution)"
        case GLP_EROOT: return "GLP_EROOT (root LP optimum not provided)"
        case GLP_ESTOP: return "GLP_ESTOP (terminated by application)"
        case GLP_EMIPGAP: return "GLP_EMIPGAP (mip gap reached)"
        default: return "error code \(code)"
        }
    }

    static func statusName(_ status: Int32) -> String {
        switch status {
        case GLP_UNDEF: return "GLP_UNDEF"
        case GLP_FEAS: return "GLP_FEAS"
        case GLP_INFEAS: return "GLP_INFEAS"
        case GLP_NOFEAS: return "GLP_NOFEAS"
        case GLP_OPT: return "GLP_OPT"
        case GLP_UNBND: return "GLP_UNBND"
        default: return "status \(status)"
        }
    }
}

/// State of one `solve` call: options, time budget and attempt counter.
struct SolveRun {
    let options: LPOptions
    /// Milliseconds left for GLPK's `tm_lim` (0 when the budget is used up).
    let remainingMs: () -> Int32
    /// Solver runs made so far.
    var attempts = 0

    init(options: LPOptions, remainingMs: @escaping () -> Int32) {
        self.options = options
        self.remainingMs = remainingMs
    }

    /// `tm_lim` of one simplex run: the time left, at most `LPOptions.stopPollInterval` when
    /// `shouldStop` is set (the run is then resumed from its basis while no stop is requested).
    func simplexTimeLimit() -> Int32 {
        guard options.shouldStop != nil else { return remainingMs() }
        let slice = options.stopPollInterval.isFinite ? Int32(min(max(options.stopPollInterval * 1000, 1), 3_600_000)) : 200
        return min(remainingMs(), slice)
    }

    /// Whether a simplex run that ended at its `tm_lim` slice may be resumed: time is left and
    /// no stop is requested.
    func mayResume(presolve: Bool) -> Bool {
        guard let stop = options.shouldStop, !presolve else { return false }
        return remainingMs() > 0 && !stop()
    }
}

/// The `shouldStop` check handed to GLPK's branch-and-cut callback (through `cb_info`).
private final class StopCheck {
    let check: @Sendable () -> Bool
    init(_ check: @escaping @Sendable () -> Bool) { self.check = check }
}

/// Reason an attempt's solution was rejected.
struct SolveFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
