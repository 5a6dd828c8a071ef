import Foundation
import CertusTensor

/// Interval image and relaxations of sin(x + shift) (cos is sin shifted by pi/2).
///
/// Positions inside the period are read from the phase atan2(sin x, cos x) of the unshifted
/// input, which the libm's exact argument reduction makes accurate for any |x|, rather than from
/// x / pi, whose rounding error grows with |x|. Wherever a position is uncertain by rounding,
/// the looser choice is taken (an extremum counts as inside, a relaxation falls back to
/// constant bounds), so both are sound enclosures, not just accurate ones.
enum Periodic {
    /// Below this |x| a half-period relaxation is used; beyond it (and for widths under 1e-12)
    /// the constant image bounds, since sin(x) itself is then known only to about ulp(x).
    static let relaxationLimit = 1.0e6
    /// Slack (radians) by which an extremum or inflection may lie outside an interval and still
    /// count as inside: covers the rounding of the phase and of u - l.
    static func slack(_ l: Double, _ u: Double) -> Double { 1e-12 + 4 * Swift.max(Swift.abs(l), Swift.abs(u)).ulp }

    /// The phase of x + shift in [0, 2 pi): how far past the last upward zero crossing of sin.
    static func phase(_ x: Double, shift: Double) -> Double {
        var p = Foundation.atan2(Foundation.sin(x), Foundation.cos(x)) + shift
        while p < 0 { p += 2 * .pi }
        while p >= 2 * .pi { p -= 2 * .pi }
        return p
    }

    /// How far (radians, >= 0) to the right of phase p the next point of phase q lies.
    static func distance(from p: Double, to q: Double) -> Double {
        var d = q - p
        while d < 0 { d += 2 * .pi }
        return d
    }

    /// Interval image of sin(x + shift) over [l, u]: the end values, widened to +-1 where a
    /// crest (phase pi/2) or trough (phase 3 pi/2) lies inside (or within rounding of it).
    static func image(l: Double, u: Double, shift: Double) -> (Double, Double) {
        guard l.isFinite, u.isFinite, u - l < 2 * .pi - 1e-9 else { return (-1, 1) }
        // sin(x + shift) for shift in {0, pi/2}: sin or cos of the unshifted x (exact reduction).
        let yl = value(l, shift: shift), yu = value(u, shift: shift)
        var lo = Swift.min(yl, yu), hi = Swift.max(yl, yu)
        let p = phase(l, shift: shift), w = (u - l) + slack(l, u)
        if distance(from: p, to: .pi / 2) <= w || distance(from: p, to: .pi / 2) >= 2 * .pi - slack(l, u) { hi = 1 }
        if distance(from: p, to: 3 * .pi / 2) <= w || distance(from: p, to: 3 * .pi / 2) >= 2 * .pi - slack(l, u) { lo = -1 }
        return (lo, hi)
    }

    static func value(_ x: Double, shift: Double) -> Double { shift == 0 ? Foundation.sin(x) : Foundation.cos(x) }
    static func slope(_ x: Double, shift: Double) -> Double { shift == 0 ? Foundation.cos(x) : -Foundation.sin(x) }

    /// The half period [k pi, (k+1) pi] (in the phase of x + shift) that holds [l, u] with a
    /// margin for rounding: true when sin is concave there (phase in [0, pi]), false when
    /// convex, nil when [l, u] crosses (or may cross) an inflection.
    static func piece(l: Double, u: Double, shift: Double) -> Bool? {
        let p = phase(l, shift: shift), w = u - l, e = slack(l, u)
        if p >= e && p + w <= .pi - e { return true }
        if p >= .pi + e && p + w <= 2 * .pi - e { return false }
        return nil
    }

    /// On one half-period sin is concave (phase in [0, pi]) or convex (phase in [pi, 2 pi]):
    /// secant on one side, any tangent on the other (the parameter places the tangent point
    /// in [l, u]). Elsewhere the interval image as constant bounds.
    ///
    /// No root finding runs here, so there is nothing to tabulate: on one half period every
    /// tangent point in [l, u] is valid. (Intervals across an inflection get the constant image
    /// bounds instead of tangents through the far endpoint.)
    static func relaxation(l: Double, u: Double, shift: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        relaxationWithDerivatives(l: l, u: u, shift: shift, lowerParameter: lowerParameter, upperParameter: upperParameter,
                                  derivatives: false).relaxation
    }

    /// The relaxation and the derivative of its tangent line with respect to the parameter
    /// ((f''(t), -f''(t) t) (u - l), f'' = -sin(t + shift), rounding pad included).
    static func relaxationWithDerivatives(l: Double, u: Double, shift: Double, lowerParameter: Double?, upperParameter: Double?,
                                          derivatives: Bool = true)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        let (lo, hi) = image(l: l, u: u, shift: shift)
        guard l.isFinite, u.isFinite, u - l > 1e-12, Swift.max(Swift.abs(l), Swift.abs(u)) < relaxationLimit,
              let concave = piece(l: l, u: u, shift: shift) else { return (.constant(lo, hi), (0, 0), (0, 0)) }
        let fl = value(l, shift: shift), fu = value(u, shift: shift)
        let k = (fu - fl) / (u - l)
        let secant = (k, fl - k * l)
        let parameter = unitParameter(concave ? upperParameter : lowerParameter)
        let t = l + (parameter ?? 0.5) * (u - l)
        let kt = slope(t, shift: shift)
        let tangent = (kt, value(t, shift: shift) - kt * t)
        let moving: (t: Double, dt: Double)? = parameter == nil ? nil : (t, u - l)
        let lines = concave ? RelaxationLines(lo: secant, hi: tangent, hiTangent: moving)
                            : RelaxationLines(lo: tangent, hi: secant, loTangent: moving)
        let second: ((Double) -> Double)? = derivatives ? { -value($0, shift: shift) } : nil
        return lines.padded(l: l, u: u, d2f: second)
    }

    static func defaultParameters(l: Double, u: Double, shift: Double) -> (lower: Double?, upper: Double?) {
        guard l.isFinite, u.isFinite, u - l > 1e-12, Swift.max(Swift.abs(l), Swift.abs(u)) < relaxationLimit,
              let concave = piece(l: l, u: u, shift: shift) else { return (nil, nil) }
        return concave ? (nil, 0.5) : (0.5, nil)
    }
}

/// The range of cos over [l, u]: +1 where a multiple of 2 pi lies inside, -1 where an odd
/// multiple of pi does, else the ends.
func cosineRange(_ l: Double, _ u: Double) -> (lower: Double, upper: Double) {
    if u - l >= 2 * Double.pi { return (-1, 1) }
    var lo = Swift.min(Foundation.cos(l), Foundation.cos(u)), hi = Swift.max(Foundation.cos(l), Foundation.cos(u))
    if (l / (2 * .pi)).rounded(.up) <= u / (2 * .pi) { hi = 1 }
    if ((l - .pi) / (2 * .pi)).rounded(.up) <= (u - .pi) / (2 * .pi) { lo = -1 }
    let p = paddedRange(lo, hi)
    return (Swift.max(-1, p.lower), Swift.min(1, p.upper))
}

/// sin(x + shift) as an activation (Sin: shift 0; Cos: shift pi/2). The type gives f (`apply`)
/// and f'; this extension gives the rest of its bound semantics from `Periodic`: the interval
/// image, the half-period relaxation with analytic parameter derivatives, default parameters,
/// GenBaB's branching points (`BranchingPoints`, looked up for `branchingFunction`) and the
/// shape change at a crest or trough.
package protocol PeriodicActivation: ElementwiseRelaxation {
    /// The phase shift in radians: f(x) = sin(x + shift).
    static var shift: Double { get }
    /// The function's entry in the pre-optimised branching-point tables.
    static var branchingFunction: BranchingPoints.Function { get }
}

extension PeriodicActivation {
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func image(l: Double, u: Double) -> (Double, Double) { Periodic.image(l: l, u: u, shift: Self.shift) }
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Periodic.relaxation(l: l, u: u, shift: Self.shift, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    /// Analytic (`Periodic.relaxationWithDerivatives`).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        Periodic.relaxationWithDerivatives(l: l, u: u, shift: Self.shift, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        Periodic.defaultParameters(l: l, u: u, shift: Self.shift)
    }
    /// Anywhere strictly inside (GenBaB): `BranchingPoints`.
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        BranchingPoints.point(Self.branchingFunction, l: l, u: u, strategy: strategy)
    }
    /// A crest or trough inside (x + shift = pi/2 + k pi: Sin's at pi/2 + k pi, Cos's at k pi), or a
    /// whole half period.
    package func crossesShapeChange(l: Double, u: Double) -> Bool {
        let crest = .pi / 2 - Self.shift
        return l.isFinite && u.isFinite && l < u && (u - l >= .pi || ((l - crest) / .pi).rounded(.up) <= (u - crest) / .pi)
    }
}
