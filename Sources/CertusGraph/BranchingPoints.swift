import Foundation

/// Where branch and bound splits a smooth activation's input (GenBaB, Shi et al., "Neural
/// Network Verification with Branch-and-Bound for General Nonlinearities", TACAS 2025, section
/// "pre-optimized branching points").
///
/// Each smooth operator's `branchingPoint(l:u:strategy:)` asks here. The returned point is
/// strictly inside (l, u) (within its middle 98%); nil means the interval is too narrow for a
/// split to matter (`minimumWidth`) or empty or NaN.
///
/// **Looseness.** A split of [l, u] at p leaves two children whose default (CROWN) relaxations,
/// `relaxation(l:u:lowerParameter: nil, upperParameter: nil)`, are rebuilt on [l, p] and
/// [p, u]. The looseness of a relaxation aL x + bL <= f(x) <= aU x + bU on [a, b] is the area
/// between its lines, the integral over [a, b] of (upper - lower), in closed form
/// (aU - aL)(b^2 - a^2)/2 + (bU - bL)(b - a) (`looseness(_:l:u:)`). `.optimized` minimises the
/// children's summed looseness (`splitLooseness`).
///
/// **Tables.** As in the paper the optimum is precomputed on a grid of intervals, one table per
/// function, built at the first `.optimized` request for that function (Swift's lazy statics:
/// thread-safe, once per process; in a debug build on this machine about 0.1 s for the
/// S-shaped and GeLU tables and 0.3 to 0.6 s for Sin and Cos) from the operators' own
/// relaxations, so the tables always match them:
///
/// - Sigmoid: l, u in [-8, 8], step 1/4; Tanh and Erf: l, u in [-4, 4], step 1/8; GeLU (both
///   forms): l, u in [-6, 6], step 1/5. Beyond these ranges the functions are flat or linear to
///   within about 1e-3 of their slope and the midpoint is used. Stored value: the point p
///   (on the diagonal l = u: l; below it, unused: the midpoint).
/// - Sin and Cos: over (l mod 2 pi, u - l), phase step 2 pi / 64, widths up to 4 pi in steps of
///   2 pi / 64, for |l|, |u| < `Periodic.relaxationLimit` (beyond it the relaxation is the
///   constant image and the midpoint is used). Stored value: p - l.
///
/// Each entry is found by one deterministic rule: the summed looseness at every point of a grid
/// `subdivisions` times finer (4 for the S-shaped and GeLU tables, 2 for Sin and Cos; all
/// pairs' looseness computed once), the best of those, then a parabola through it and its two
/// neighbours and the function's inflection points, each kept only if it lowers the looseness.
/// No randomness, no tolerance-driven iteration: two builds give the same table bit for bit.
///
/// **Lookup.** For (l, u) inside a table, the candidates are the bilinear interpolation of the
/// cell's four stored points, the midpoint, the inflection points inside (l, u) and, in cells
/// where the build found the interpolation worse than the corners (checked at the cell's
/// centre), the four stored points themselves; each is pulled into the middle 98% of (l, u)
/// and the one with the least summed looseness is returned (two relaxation calls per
/// candidate). The comparison matters: the optimum jumps where an inflection or a case
/// boundary of a relaxation crosses an end, and no interpolation follows a jump. So
/// `.optimized` is never looser than `.midpoint` inside a table; outside it (or with an
/// infinite end) it is `.midpoint`. Measured on random intervals (BranchingPointsTests): the
/// summed looseness is within 0.1% of a 399-point scan's optimum and 9% (Sigmoid, Tanh) to 60%
/// (GeLU) below the midpoint's.
///
/// `version` names the tables' definition (looseness measure, grids, search, lookup); bump it
/// when any of them changes.
package enum BranchingPoints {
    /// The functions with a branching-point rule.
    package enum Function: String, Sendable, CaseIterable {
        case sigmoid, tanh, erf, gelu, geluTanh, sin, cos
    }

    /// The version of the optimised-point tables' definition (looseness measure, grids, search,
    /// lookup). 1: area between the default relaxations' lines; grids, search and lookup as
    /// documented on `BranchingPoints`.
    package static let version = 1

    /// Intervals narrower than this (absolute, or relative to the larger end) are not split:
    /// the relaxation of a smooth function on them is already within about w^2 |f''| / 8.
    package static let minimumWidth = 1e-5

    /// The split point of `f` on [l, u] under `strategy`, strictly inside (l, u), or nil.
    package static func point(_ f: Function, l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        guard !l.isNaN, !u.isNaN, u > l else { return nil }
        let scale = Swift.max(1, Swift.max(Swift.abs(l.isFinite ? l : 0), Swift.abs(u.isFinite ? u : 0)))
        guard u - l > minimumWidth * scale else { return nil }
        // Unbounded ends: split at 0 when it is inside, else one unit inside the finite end.
        if !l.isFinite || !u.isFinite {
            if l < 0 && u > 0 { return 0 }
            return l.isFinite ? l + 1 : (u.isFinite ? u - 1 : 0)
        }
        // (u - l overflows only for ends beyond about 9e307; the halves do not.)
        let mid = (u - l).isFinite ? l + 0.5 * (u - l) : 0.5 * l + 0.5 * u
        switch strategy {
        case .midpoint:
            return inside(mid, l, u)
        case .optimized:
            return inside(optimized(f, l: l, u: u) ?? mid, l, u)
        }
    }

    /// The area between a relaxation's lines over [l, u] (finite l <= u): the integral of
    /// (aU x + bU) - (aL x + bL), i.e. (u - l) times the gap at the midpoint. Units: output
    /// times input. This is the looseness the optimised points minimise (summed over children).
    package static func looseness(_ r: NeuronRelaxation, l: Double, u: Double) -> Double {
        (u - l) * ((r.aU - r.aL) * (0.5 * (l + u)) + (r.bU - r.bL))
    }

    /// The summed looseness of the default relaxations of `f` on [l, p] and [p, u].
    package static func splitLooseness(_ f: Function, l: Double, p: Double, u: Double) -> Double {
        let relax = relaxation(f)
        return looseness(relax(l, p), l: l, u: p) + looseness(relax(p, u), l: p, u: u)
    }

    /// Where the optimised table of `f` applies: `.interval` for l, u in [lower, upper];
    /// `.periodic` for any l with |l|, |u| below `limit` and u - l <= maxWidth.
    package enum Coverage: Sendable, Equatable {
        case interval(lower: Double, upper: Double)
        case periodic(maxWidth: Double, limit: Double)
    }

    /// The range of intervals on which `.optimized` reads the table (elsewhere: the midpoint).
    package static func coverage(_ f: Function) -> Coverage {
        let d = design(f)
        switch d.layout {
        case .interval:
            return .interval(lower: d.origin, upper: d.origin + Double(d.cells) * d.step)
        case .periodic:
            return .periodic(maxWidth: Double(d.widthCells) * d.widthStep, limit: Periodic.relaxationLimit)
        }
    }

    /// The pre-optimised point from the table, or nil outside the table's range. The table
    /// gives candidates: its bilinear interpolation and the points stored at the four corners of
    /// the grid cell holding (l, u); with the midpoint and the function's inflection points
    /// inside (l, u) they are compared by their exact summed looseness (two relaxations each)
    /// and the best is returned (the first one on ties). The optimum jumps where an inflection
    /// or a case boundary of the relaxation crosses an end, and no interpolation follows a jump;
    /// the comparison keeps the lookup at least as good as the midpoint everywhere. The corners
    /// are skipped in cells where the build found the interpolation as good (`Table.smoothCells`).
    static func optimized(_ f: Function, l: Double, u: Double) -> Double? {
        guard let cell = table(f).cell(l: l, u: u) else { return nil }
        return choose(f, l: l, u: u, cell: cell, corners: !cell.smooth).point
    }

    /// The candidate with the least summed looseness (see `optimized`).
    static func choose(_ f: Function, l: Double, u: Double, cell: Table.Cell, corners: Bool)
        -> (point: Double?, looseness: Double) {
        let relax = relaxation(f)
        var best: Double? = nil, bestLoose = Double.infinity
        func consider(_ p: Double) {
            guard let q = inside(p, l, u) else { return }
            let v = looseness(relax(l, q), l: l, u: q) + looseness(relax(q, u), l: q, u: u)
            if v < bestLoose { bestLoose = v; best = q }
        }
        consider(cell.interpolated)
        if corners { for c in cell.corners { consider(c) } }
        consider(l + 0.5 * (u - l))
        for x in inflections(f, l: l, u: u) { consider(x) }
        return (best, bestLoose)
    }

    /// The points strictly inside (l, u) where f changes between convex and concave (for Sin
    /// and Cos a point just left and one just right of each; at most five inflections on the
    /// table's widths). The tanh form of GeLU is bounded by its
    /// interval image, which changes at its minimum, not at its inflections: none.
    static func inflections(_ f: Function, l: Double, u: Double) -> [Double] {
        switch f {
        case .sigmoid, .tanh, .erf:
            return l < 0 && u > 0 ? [0] : []
        case .gelu:
            return [-GeluRelaxation.s, GeluRelaxation.s].filter { $0 > l && $0 < u }
        case .geluTanh:
            return []
        case .sin, .cos:
            // Zeros of sin(x + shift): x = k pi - shift.
            let shift = f == .sin ? 0 : Double.pi / 2
            // Both sides, a hair away: `Periodic` counts a half period as one piece only with a
            // margin for the rounding of the phase (`Periodic.slack`), so a child ending exactly
            // on the inflection would get constant bounds.
            var out: [Double] = []
            var k = ((l + shift) / .pi).rounded(.down)
            while out.count < 10 {
                let x = k * .pi - shift
                if x >= u { break }
                let delta = 1e-9 * Swift.max(1, Swift.abs(x))
                if x - delta > l { out.append(x - delta) }
                if x + delta < u { out.append(x + delta) }
                k += 1
            }
            return out
        }
    }

    /// `p` pulled into the middle 98% of (l, u), so both children keep some width.
    static func inside(_ p: Double, _ l: Double, _ u: Double) -> Double? {
        let margin = 0.01 * u - 0.01 * l   // 0.01 (u - l), without overflow
        let q = Swift.min(u - margin, Swift.max(l + margin, p))
        return q > l && q < u ? q : nil
    }

    // MARK: - Tables

    /// The default relaxation of `f` as a function of (l, u).
    static func relaxation(_ f: Function) -> (Double, Double) -> NeuronRelaxation {
        let op: any ElementwiseRelaxation
        switch f {
        case .sigmoid: op = Sigmoid()
        case .tanh: op = Tanh()
        case .erf: op = Erf()
        case .gelu: op = Gelu()
        case .geluTanh: op = Gelu(tanhApproximation: true)
        case .sin: op = Sin()
        case .cos: op = Cos()
        }
        return { l, u in op.relaxation(l: l, u: u, lowerParameter: nil, upperParameter: nil) }
    }

    enum Layout { case interval, periodic }

    /// A table's grid. `.interval`: l = origin + i step, u = origin + j step, i, j in 0...cells.
    /// `.periodic`: l mod 2 pi = i step (i in 0...cells, step = 2 pi / cells), u - l = j
    /// widthStep (j in 0...widthCells). The search runs on a grid `subdivisions` times finer.
    struct Design {
        var layout: Layout
        var origin: Double
        var step: Double
        var cells: Int
        var widthStep: Double
        var widthCells: Int
        var subdivisions: Int
    }

    static func design(_ f: Function) -> Design {
        switch f {
        case .sigmoid: return Design(layout: .interval, origin: -8, step: 0.25, cells: 64, widthStep: 0, widthCells: 0, subdivisions: 4)
        case .tanh, .erf: return Design(layout: .interval, origin: -4, step: 0.125, cells: 64, widthStep: 0, widthCells: 0, subdivisions: 4)
        case .gelu, .geluTanh: return Design(layout: .interval, origin: -6, step: 0.2, cells: 60, widthStep: 0, widthCells: 0, subdivisions: 4)
        case .sin, .cos:
            let step = 2 * Double.pi / 64
            return Design(layout: .periodic, origin: 0, step: step, cells: 64, widthStep: step, widthCells: 128, subdivisions: 2)
        }
    }

    /// One function's table: `values[i * columns + j]` at grid point (i, j) of its design;
    /// `smoothCells[i * (columns - 1) + j]` for the cell with lower corner (i, j): whether at the
    /// cell's centre (for cells on the diagonal of the interval layout: a quarter in from the
    /// corner (i, j + 1)) the interpolated point was within 0.1% of the best candidate including
    /// the corners (empty: no cell is).
    struct Table: Sendable {
        let layout: Layout
        let origin: Double, step: Double, cells: Int
        let widthStep: Double, widthCells: Int
        let values: [Double]
        var smoothCells: [Bool] = []
        var columns: Int { (layout == .interval ? cells : widthCells) + 1 }

        struct Cell {
            var interpolated: Double
            var corners: [Double]
            var smooth: Bool
        }

        /// The grid cell holding (l, u): the bilinear interpolation of the stored points and the
        /// four corners' points (absolute positions), or nil outside the table.
        func cell(l: Double, u: Double) -> Cell? {
            guard l.isFinite, u.isFinite, u > l else { return nil }
            let s: Double, t: Double, base: Double, cols: Int
            switch layout {
            case .interval:
                guard l >= origin, u <= origin + Double(cells) * step else { return nil }
                (s, t, base, cols) = ((l - origin) / step, (u - origin) / step, 0, cells)
            case .periodic:
                let w = u - l
                guard Swift.max(Swift.abs(l), Swift.abs(u)) < Periodic.relaxationLimit,
                      w <= Double(widthCells) * widthStep else { return nil }
                (s, t, base, cols) = (Periodic.phase(l, shift: 0) / step, w / widthStep, l, widthCells)
            }
            let i = Swift.min(cells - 1, Swift.max(0, Int(s))), j = Swift.min(cols - 1, Swift.max(0, Int(t)))
            let fs = Swift.min(1, Swift.max(0, s - Double(i))), ft = Swift.min(1, Swift.max(0, t - Double(j)))
            let c = columns
            let v00 = values[i * c + j], v01 = values[i * c + j + 1]
            let v10 = values[(i + 1) * c + j], v11 = values[(i + 1) * c + j + 1]
            let v = (1 - fs) * ((1 - ft) * v00 + ft * v01) + fs * ((1 - ft) * v10 + ft * v11)
            // Corners at their own positions: in the periodic layout row i is the phase i step,
            // fs steps left of l's phase.
            let (b0, b1) = layout == .interval ? (0.0, 0.0) : (base - fs * step, base + (1 - fs) * step)
            let smooth = smoothCells.isEmpty ? false : smoothCells[i * (c - 1) + j]
            return Cell(interpolated: base + v, corners: [b0 + v00, b0 + v01, b1 + v10, b1 + v11], smooth: smooth)
        }
    }

    static let sigmoidTable = build(.sigmoid)
    static let tanhTable = build(.tanh)
    static let erfTable = build(.erf)
    static let geluTable = build(.gelu)
    static let geluTanhTable = build(.geluTanh)
    static let sinTable = build(.sin)
    static let cosTable = build(.cos)

    /// The table of `f`, built at its first use (Swift's lazy statics are thread-safe).
    static func table(_ f: Function) -> Table {
        switch f {
        case .sigmoid: return sigmoidTable
        case .tanh: return tanhTable
        case .erf: return erfTable
        case .gelu: return geluTable
        case .geluTanh: return geluTanhTable
        case .sin: return sinTable
        case .cos: return cosTable
        }
    }

    /// Builds the table of `f` (deterministic; see `BranchingPoints`).
    static func build(_ f: Function) -> Table {
        let d = design(f)
        let relax = relaxation(f)
        let m = d.subdivisions
        let h = d.step / Double(m)
        // Fine points x_k = origin + k h; the looseness of every fine pair the cells need.
        let fine: Int, span: Int
        switch d.layout {
        case .interval: fine = d.cells * m + 1; span = d.cells * m
        case .periodic: fine = (d.cells + d.widthCells) * m + 1; span = d.widthCells * m
        }
        func x(_ k: Int) -> Double { d.origin + Double(k) * h }
        var loose = [Double](repeating: 0, count: fine * (span + 1))   // loose[a * (span + 1) + (b - a)]
        for a in 0..<fine {
            for b in (a + 1)..<Swift.min(fine, a + span + 1) {
                let (l, u) = (x(a), x(b))
                let v = looseness(relax(l, u), l: l, u: u)
                loose[a * (span + 1) + (b - a)] = v.isFinite ? v : .infinity
            }
        }
        func L(_ a: Int, _ b: Int) -> Double { loose[a * (span + 1) + (b - a)] }
        // The best point of the cell whose ends are the fine points A < B.
        func best(_ A: Int, _ B: Int) -> Double {
            let (l, u) = (x(A), x(B))
            var k = A + 1, fk = Double.infinity
            for c in (A + 1)..<B {
                let v = L(A, c) + L(c, B)
                if v < fk { fk = v; k = c }
            }
            guard fk.isFinite else { return l + 0.5 * (u - l) }
            // Parabola through (k-1, k, k+1); the ends have zero-width children (looseness 0).
            let f0 = (k - 1 == A ? 0 : L(A, k - 1)) + L(k - 1, B)
            let f2 = L(A, k + 1) + (k + 1 == B ? 0 : L(k + 1, B))
            let curvature = f0 - 2 * fk + f2
            var p = x(k), fp = fk
            func consider(_ q: Double) {
                guard q > l, q < u else { return }
                let fq = looseness(relax(l, q), l: l, u: q) + looseness(relax(q, u), l: q, u: u)
                if fq < fp { p = q; fp = fq }
            }
            if curvature > 0 { consider(x(k) + Swift.min(1, Swift.max(-1, 0.5 * (f0 - f2) / curvature)) * h) }
            // The optimum often sits at an inflection (a cusp no parabola fits).
            for q in inflections(f, l: l, u: u) { consider(q) }
            return p
        }
        var values: [Double]
        switch d.layout {
        case .interval:
            let n = d.cells + 1
            values = [Double](repeating: 0, count: n * n)
            for i in 0..<n {
                for j in 0..<n {
                    let (l, u) = (x(i * m), x(j * m))
                    values[i * n + j] = i < j ? best(i * m, j * m) : (i == j ? l : l + 0.5 * (u - l))
                }
            }
        case .periodic:
            let cols = d.widthCells + 1
            values = [Double](repeating: 0, count: (d.cells + 1) * cols)
            for i in 0..<d.cells {
                for j in 1..<cols { values[i * cols + j] = best(i * m, (i + j) * m) - x(i * m) }
            }
            // Phase 2 pi is phase 0.
            for j in 0..<cols { values[d.cells * cols + j] = values[j] }
        }
        var table = Table(layout: d.layout, origin: d.origin, step: d.step, cells: d.cells,
                          widthStep: d.widthStep, widthCells: d.widthCells, values: values)
        // Cells where the interpolation alone is as good as with the corners (at one point).
        let colCells = table.columns - 1
        var smooth = [Bool](repeating: false, count: d.cells * colCells)
        for i in 0..<d.cells {
            for j in 0..<colCells {
                let l: Double, u: Double
                switch d.layout {
                case .interval:
                    if i > j { continue }
                    let (s, t) = i == j ? (0.25, 0.75) : (0.5, 0.5)
                    (l, u) = (d.origin + (Double(i) + s) * d.step, d.origin + (Double(j) + t) * d.step)
                case .periodic:
                    l = (Double(i) + 0.5) * d.step
                    u = l + (Double(j) + 0.5) * d.widthStep
                }
                guard let cell = table.cell(l: l, u: u) else { continue }
                // The candidates with the corners are those without plus the corners.
                let quick = choose(f, l: l, u: u, cell: cell, corners: false).looseness
                var all = quick
                for c in cell.corners {
                    guard let q = inside(c, l, u) else { continue }
                    all = Swift.min(all, looseness(relax(l, q), l: l, u: q) + looseness(relax(q, u), l: q, u: u))
                }
                smooth[i * colCells + j] = quick <= all * (1 + 1e-3) + 1e-15
            }
        }
        table.smoothCells = smooth
        return table
    }
}
