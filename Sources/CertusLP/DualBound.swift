// A rigorous lower bound on an LP minimum from any row dual vector (weak duality), computed on
// the Swift side from the problem mirror, so that a wrong or tampered solver answer can never
// make the bound too high.

extension LinearProgram {
    /// A lower bound on `min objective` over the LP's feasible set, valid for **any** vector
    /// `rowDuals` (weak duality), computed in `Double` with an explicit safety margin.
    ///
    /// For any y, `c·x = y·(A x) + d·x` with `d = c − Aᵀy` (recomputed here, GLPK's reduced costs
    /// are not used). Each `y_i (A x)_i` is bounded below over the row's interval and each
    /// `d_j x_j` over the variable's bounds. A dual whose row side is infinite is replaced by 0
    /// (still a valid y); a non-zero reduced cost on an infinite variable bound, or a variable with
    /// an infinite bound in the support of the used duals, gives `-inf` (rounding in its reduced
    /// cost could not be bounded).
    /// The result is lowered by `relativeMargin · (1 + Σ|terms|)`, where the sum covers every
    /// product formed (including those inside `d`), which dominates the rounding error of the
    /// computation by many orders of magnitude.
    ///
    /// Only the solver's duals are trusted as *some* vector; nothing else it reports (objective,
    /// status, reduced costs) enters the bound. Returns `-inf` for a maximisation problem, a
    /// wrong-length or non-finite dual vector, or any non-finite intermediate.
    /// - Parameters:
    ///   - rowDuals: one value per constraint (e.g. `LPResult.rowDuals` of an optimal solve).
    ///   - relativeMargin: the safety margin factor (default 1e-7).
    package func safeLowerBound(rowDuals: [Double], relativeMargin: Double = 1e-7) -> Double {
        safeLowerBoundDetails(rowDuals: rowDuals, relativeMargin: relativeMargin).bound
    }

    /// `safeLowerBound` with the unrounded bound and the margin subtracted from it. The margin is
    /// `relativeMargin · (1 + Σ|y_i b_i| + Σ|d_j x_j|)` plus, for the rounding of each recomputed
    /// reduced cost, `max(1e-12, 4 (k+2) 2⁻⁵²) · Σ_i |a_ij y_i| · max|x_j bound|` (k the largest
    /// column length), which bounds the error of every `d_j` times any value of `x_j`.
    package func safeLowerBoundDetails(rowDuals: [Double], relativeMargin: Double = 1e-7) -> (bound: Double, raw: Double, margin: Double) {
        let fail = (bound: -Double.infinity, raw: -Double.infinity, margin: Double.infinity)
        guard !isMaximization, rowDuals.count == constraintCount,
              relativeMargin.isFinite, relativeMargin >= 0 else { return fail }
        let n = variableCount
        var d = objective
        var dMag = objective.map { abs($0) }
        var columnLength = [Int](repeating: 0, count: n)
        var bound = objectiveConstant
        var mag = 1 + abs(objectiveConstant)
        for i in 0..<constraintCount {
            var y = rowDuals[i]
            guard y.isFinite else { return fail }
            let row = constraint(i)
            // Any y is valid; drop a dual whose needed row side is infinite.
            if (y > 0 && !row.lower.isFinite) || (y < 0 && !row.upper.isFinite) { y = 0 }
            if y == 0 { continue }
            let side = y > 0 ? row.lower : row.upper
            bound += y * side
            mag += abs(y * side)
            for (j, a) in row.terms {
                columnLength[j] += 1
                let p = a * y
                d[j] -= p
                dMag[j] += abs(p)
            }
        }
        let eps = max(1e-12, 4 * Double((columnLength.max() ?? 0) + 2) * Double.ulpOfOne)
        var dError = 0.0
        for j in 0..<n {
            let dj = d[j]
            guard dj.isFinite else { return fail }
            let v = variable(j)
            // The rounding error of d_j (at most a small multiple of dMag[j]) acts on any x_j.
            // With an infinite bound that error is unbounded: no bound unless no dual touched x_j.
            if columnLength[j] > 0 && !(v.lower.isFinite && v.upper.isFinite) { return fail }
            let reach = max(v.lower.isFinite ? abs(v.lower) : 0, v.upper.isFinite ? abs(v.upper) : 0)
            dError += dMag[j] * reach
            if dj == 0 { continue }
            let side = dj > 0 ? v.lower : v.upper
            guard side.isFinite else { return fail }
            bound += dj * side
            mag += abs(dj * side)
        }
        let margin = relativeMargin * mag + eps * dError
        let safe = bound - margin
        return safe.isFinite ? (safe, bound, margin) : fail
    }
}
