import Foundation

/// Linear relaxations of S-shaped functions (convex for x <= 0, concave for x >= 0): Sigmoid,
/// Tanh and Erf. The default (CROWN) choice follows the reference implementation: secants where
/// they are valid, tangents through the far endpoint found by bisection on a 0.01 grid with the
/// endpoint rounded outward (a tangent valid for a farther endpoint is valid for the true one),
/// and the midpoint tangent where the endpoint tangent falls on the wrong side of the midpoint.
///
/// Parameters in [0, 1] move the tangent point inside its valid range, so every value is sound.
public struct SShapedRelaxation: Sendable {
    public let f: @Sendable (Double) -> Double
    public let df: @Sendable (Double) -> Double
    static let step = 0.01
    static let limit = 500.0

    public init(f: @escaping @Sendable (Double) -> Double, df: @escaping @Sendable (Double) -> Double) {
        self.f = f
        self.df = df
    }

    func tangent(_ t: Double) -> (Double, Double) {
        let k = df(t)
        return (k, f(t) - k * t)
    }

    /// The chord through (l, f(l)) and (u, f(u)); callers guarantee u - l > 1e-12. (The width
    /// must not be floored: a chord with a smaller slope than the true one cuts under a convex
    /// piece.)
    func secant(_ l: Double, _ u: Double) -> (Double, Double) {
        let fl = f(l)
        let k = (f(u) - fl) / (u - l)
        return (k, fl - k * l)
    }

    /// Tangent point d <= 0 whose tangent lies below f up to `upper` (upper >= 0): the largest d
    /// on the bisection's valid side for the grid point at or above `upper`.
    func dLower(upper: Double) -> Double? {
        let index = Swift.max(0, Int(upper / Self.step)) + 1
        guard Double(index) * Self.step <= Self.limit else { return nil }
        let U = Double(index) * Self.step
        let fU = f(U)
        func ok(_ d: Double) -> Bool { df(d) * (U - d) + f(d) <= fU }
        var l = -1.0, r = 0.0
        while !ok(l) { l *= 2; if l < -1e6 { return nil } }
        for _ in 0..<100 {
            let m = (l + r) / 2
            if ok(m) { l = m } else { r = m }
        }
        return l
    }

    /// Tangent point d >= 0 whose tangent lies above f down to `lower` (lower <= 0).
    func dUpper(lower: Double) -> Double? {
        let index = Swift.max(0, Int(-lower / Self.step)) + 1
        guard Double(index) * Self.step <= Self.limit else { return nil }
        let L = -Double(index) * Self.step
        let fL = f(L)
        func ok(_ d: Double) -> Bool { df(d) * (L - d) + f(d) >= fL }
        var l = 0.0, r = 1.0
        while !ok(r) { r *= 2; if r > 1e6 { return nil } }
        for _ in 0..<100 {
            let m = (l + r) / 2
            if ok(m) { r = m } else { l = m }
        }
        return r
    }

    public func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        let pl = unitParameter(lowerParameter), pu = unitParameter(upperParameter)
        let m = (l + u) / 2
        if !(u - l >= 1e-12) || !l.isFinite || !u.isFinite {
            // Degenerate or unbounded interval: f is within [f(l), f(u)] (monotone), constant
            // bounds are exact.
            return .constant(Swift.min(f(l), f(u)), Swift.max(f(l), f(u)))
        }
        var lo: (Double, Double), hi: (Double, Double)
        if u <= 0 {
            hi = secant(l, u)
            lo = tangent(l + (pl ?? 0.5) * (u - l))
        } else if l >= 0 {
            lo = secant(l, u)
            hi = tangent(l + (pu ?? 0.5) * (u - l))
        } else {
            let sec = secant(l, u)
            let dL = dLower(upper: u), dU = dUpper(lower: l)
            // Lower side.
            if sec.0 < df(l) {
                lo = sec
            } else if let dL {
                lo = tangent(l + (pl ?? 1) * (dL - l))
            } else {
                lo = (0, f(l))   // f is increasing: f(l) bounds it below
            }
            // Upper side.
            if sec.0 < df(u) {
                hi = sec
            } else if let dU {
                hi = tangent(u - (pu ?? 1) * (u - dU))
            } else {
                hi = (0, f(u))
            }
            // Smoothness: the midpoint tangent where the endpoint tangent lies beyond the midpoint
            // (default parameters only; the midpoint is then inside the valid range).
            if pl == nil, let dL, dL >= m { lo = tangent(m) }
            if pu == nil, let dU, dU < m { hi = tangent(m) }
        }
        return NeuronRelaxation(aL: lo.0, bL: lo.1, aU: hi.0, bU: hi.1).paddedForRounding(l: l, u: u)
    }

    /// Parameters reproducing the default relaxation.
    public func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        let m = (l + u) / 2
        if !(u - l >= 1e-12) || !l.isFinite || !u.isFinite { return (nil, nil) }
        if u <= 0 { return (0.5, nil) }
        if l >= 0 { return (nil, 0.5) }
        let sec = secant(l, u)
        var pl: Double? = nil, pu: Double? = nil
        if !(sec.0 < df(l)), let dL = dLower(upper: u) {
            pl = dL >= m ? (m - l) / (dL - l) : 1
        }
        if !(sec.0 < df(u)), let dU = dUpper(lower: l) {
            pu = dU < m ? (u - m) / (u - dU) : 1
        }
        return (pl, pu)
    }
}
