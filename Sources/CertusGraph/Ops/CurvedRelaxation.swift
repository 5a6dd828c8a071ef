import Foundation

/// Linear relaxations of a smooth function that is convex or concave on the whole interval
/// [l, u] (Exp; Log, Sqrt, Reciprocal and Pow on one side of 0), as CROWN (Zhang et al., NeurIPS
/// 2018) and auto_LiRPA relax them: the chord on one side and a tangent on the other.
///
/// - convex: the chord through (l, f(l)) and (u, f(u)) above, the tangent at t below;
/// - concave: the mirror image, the tangent at t above and the chord below.
///
/// The tangent point is t = l + p (u - l) for the side's parameter p in [0, 1] (alpha-CROWN's;
/// clamped, NaN to 0; default 0.5, the midpoint), raised to at least `tangentFloor` where f' is
/// infinite at l (Sqrt and Log at 0). Every tangent of a convex (concave) function lies below
/// (above) it on the whole interval, so every parameter value is sound. A line that cannot be
/// computed in Double (an overflowing f or slope, a pole at an end) is replaced by the constant
/// end of the image on its side; an infinite end or an interval narrower than 1e-12 gives the
/// constant image bounds on both sides. Lines are padded for rounding (`paddedForRounding`, and
/// by 64 (1 + max(|l|, |u|)) of the smallest subnormal for subnormal values of f).
package enum CurvedRelaxation {
    /// The curvature of f on the interval.
    package enum Curvature: Sendable { case convex, concave }

    /// f with its first two derivatives.
    package struct Function {
        package var f: (Double) -> Double
        package var df: (Double) -> Double
        package var d2f: (Double) -> Double
        package init(f: @escaping (Double) -> Double, df: @escaping (Double) -> Double, d2f: @escaping (Double) -> Double) {
            self.f = f; self.df = df; self.d2f = d2f
        }
    }

    /// Default tangent position (the midpoint).
    package static let defaultParameter = 0.5

    /// Whether [l, u] gets lines (finite and at least 1e-12 wide) rather than the constant image.
    @inline(__always)
    static func hasLines(_ l: Double, _ u: Double) -> Bool { l.isFinite && u.isFinite && u - l >= 1e-12 }

    /// The relaxation with its parameter derivatives (`ElementwiseRelaxation`): a tangent at
    /// t(p) has slope f'(t) and intercept f(t) - f'(t) t, so d/dp = (f''(t), -f''(t) t) dt/dp
    /// (0 where t sits at `tangentFloor`); the chord and constants do not move.
    package static func relaxation(_ fn: Function, image: (Double, Double), curvature: Curvature,
                                   l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?,
                                   tangentFloor: Double = -.infinity)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        guard hasLines(l, u) else { return (.constant(image.0, image.1), (0, 0), (0, 0)) }
        let pl = unitParameter(lowerParameter), pu = unitParameter(upperParameter)
        var lines = RelaxationLines(lo: (0, 0), hi: (0, 0))
        let p = (curvature == .convex ? pl : pu) ?? defaultParameter
        var t = l + p * (u - l), dt = u - l
        if t < tangentFloor { t = Swift.min(tangentFloor, u); dt = 0 }
        t = Swift.min(Swift.max(t, l), u)
        let k = fn.df(t)
        let tangent = (k, fn.f(t) - k * t)
        let fl = fn.f(l)
        let s = (fn.f(u) - fl) / (u - l)
        let chord = (s, fl - s * l)
        let moves = (curvature == .convex ? pl : pu) != nil
        if curvature == .convex {
            lines.lo = tangent; lines.hi = chord
            if moves { lines.loTangent = (t, dt) }
        } else {
            lines.hi = tangent; lines.lo = chord
            if moves { lines.hiTangent = (t, dt) }
        }
        return finish(lines, l: l, u: u, image: image, d2f: fn.d2f)
    }

    /// Pads `lines` for rounding and replaces a side whose line is not finite by the constant
    /// end of `image` (unpadded: an image end is f itself); derivatives that are not finite
    /// become 0 (they steer alpha-CROWN's search only, never a bound).
    static func finish(_ lines: RelaxationLines, l: Double, u: Double, image: (Double, Double), d2f: @escaping (Double) -> Double)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        var lines = lines
        let loOK = lines.lo.0.isFinite && lines.lo.1.isFinite, hiOK = lines.hi.0.isFinite && lines.hi.1.isFinite
        if !loOK { lines.lo = (0, 0); lines.loTangent = nil }
        if !hiOK { lines.hi = (0, 0); lines.hiTangent = nil }
        var (rel, dl, du) = lines.padded(l: l, u: u, d2f: d2f)
        // The relative pad assumes normal numbers; where f is subnormal (e^x below about -708)
        // a line's rounding error is up to a few of the smallest subnormals times (1 + |x|),
        // which an absolute pad covers.
        let tiny = 64 * Double.leastNonzeroMagnitude * (1 + Swift.max(Swift.abs(l), Swift.abs(u)))
        rel.bL -= tiny; rel.bU += tiny
        if !loOK || !(rel.aL.isFinite && rel.bL.isFinite) { rel.aL = 0; rel.bL = image.0; dl = (0, 0) }
        if !hiOK || !(rel.aU.isFinite && rel.bU.isFinite) { rel.aU = 0; rel.bU = image.1; du = (0, 0) }
        if !(dl.0.isFinite && dl.1.isFinite) { dl = (0, 0) }
        if !(du.0.isFinite && du.1.isFinite) { du = (0, 0) }
        return (rel, dl, du)
    }

    /// The parameters that reproduce the default relaxation: the tangent side's midpoint.
    package static func defaultParameters(curvature: Curvature, l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        guard hasLines(l, u) else { return (nil, nil) }
        return curvature == .convex ? (defaultParameter, nil) : (nil, defaultParameter)
    }

    /// The split point of [l, u] under `strategy`, strictly inside (within its middle 98%), or
    /// nil (`midpoint`'s conditions). `.midpoint`: the midpoint. `.optimized`: the point that
    /// minimises the children's summed looseness (`BranchingPoints.looseness`: the area between
    /// the default relaxation's lines, `relax(a, b)`), found on demand by a golden-section
    /// search (40 steps) over the middle 98% and kept only where it beats the midpoint, so it is
    /// never looser than the midpoint. (GenBaB tabulates these points; a chord-and-tangent
    /// relaxation is cheap enough to search per call.)
    package static func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy,
                                       relax: (Double, Double) -> NeuronRelaxation) -> Double? {
        guard let m = midpoint(l: l, u: u) else { return nil }
        guard strategy == .optimized else { return m }
        func cost(_ p: Double) -> Double {
            let c = BranchingPoints.looseness(relax(l, p), l: l, u: p) + BranchingPoints.looseness(relax(p, u), l: p, u: u)
            return c.isNaN ? .infinity : c
        }
        let margin = 0.01 * u - 0.01 * l
        var a = l + margin, b = u - margin
        let g = (5.0.squareRoot() - 1) / 2
        var x1 = b - g * (b - a), x2 = a + g * (b - a)
        var f1 = cost(x1), f2 = cost(x2)
        for _ in 0..<40 {
            if f1 <= f2 { b = x2; x2 = x1; f2 = f1; x1 = b - g * (b - a); f1 = cost(x1) }
            else { a = x1; x1 = x2; f1 = f2; x2 = a + g * (b - a); f2 = cost(x2) }
        }
        let best = f1 <= f2 ? x1 : x2
        guard best > l, best < u, cost(best) < cost(m) else { return m }
        return best
    }

    /// The midpoint of a finite interval wider than `BranchingPoints.minimumWidth` (relative to
    /// max(1, |l|, |u|)), strictly inside (l, u); nil otherwise (an unbounded or tiny interval,
    /// where a split cannot tighten a chord-and-tangent relaxation by much).
    package static func midpoint(l: Double, u: Double) -> Double? {
        guard l.isFinite, u.isFinite, u > l else { return nil }
        let scale = Swift.max(1, Swift.abs(l), Swift.abs(u))
        guard u - l > BranchingPoints.minimumWidth * scale else { return nil }
        let m = (u - l).isFinite ? l + 0.5 * (u - l) : 0.5 * l + 0.5 * u
        return l < m && m < u ? m : nil
    }
}

/// An elementwise function of one curvature on its whole domain (Exp: convex on the real line;
/// Log and Sqrt: concave on [0, +inf)). Its relaxation (chord and alpha-placed tangent), default
/// parameters and branching points all come from `CurvedRelaxation`, given the function, its
/// curvature and the lowest point a tangent may touch; an interval outside the domain
/// (`domainViolation`) gets no lines.
package protocol FixedCurvatureFunction: ElementwiseRelaxation {
    /// f, f' and f'' (f'' for the parameters' analytic derivatives).
    static var function: CurvedRelaxation.Function { get }
    static var curvature: CurvedRelaxation.Curvature { get }
    /// The lowest tangent point on [l, u] (default -inf: anywhere; Log and Sqrt keep tangents
    /// off 0, where their slope is infinite).
    func tangentFloor(l: Double, u: Double) -> Double
}

extension FixedCurvatureFunction {
    package func tangentFloor(l: Double, u: Double) -> Double { -.infinity }

    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        relaxationWithDerivatives(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter).relaxation
    }
    /// Analytic (`CurvedRelaxation.relaxation`); outside the domain no lines (-inf, +inf).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        guard domainViolation(l: l, u: u) == nil else { return (.constant(-.infinity, .infinity), (0, 0), (0, 0)) }
        return CurvedRelaxation.relaxation(Self.function, image: image(l: l, u: u), curvature: Self.curvature, l: l, u: u,
                                           lowerParameter: lowerParameter, upperParameter: upperParameter,
                                           tangentFloor: tangentFloor(l: l, u: u))
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        domainViolation(l: l, u: u) == nil ? CurvedRelaxation.defaultParameters(curvature: Self.curvature, l: l, u: u) : (nil, nil)
    }
    /// The midpoint, or under `.optimized` the point minimising the children's looseness
    /// (`CurvedRelaxation.branchingPoint`).
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        guard domainViolation(l: l, u: u) == nil else { return nil }
        return CurvedRelaxation.branchingPoint(l: l, u: u, strategy: strategy) { relaxation(l: $0, u: $1, lowerParameter: nil, upperParameter: nil) }
    }
}
