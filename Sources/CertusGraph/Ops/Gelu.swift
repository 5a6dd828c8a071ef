import Foundation
import CertusTensor

/// GeLU x Phi(x) (ONNX Gelu, opset 20; `approximate` "none" or "tanh"), elementwise; any shape.
/// Older exports spell it out with Erf and are fused into this operator (`GeluFusion`).
package struct Gelu: ElementwiseRelaxation {
    package static let opType = "Gelu"
    /// ONNX defines Gelu from opset 20 (older exports spell it out; see `GeluFusion`).
    package static var opsets: ClosedRange<Int> { 20...OperatorRegistry.newestOpset }
    /// ONNX `approximate`: "none" (exact, x * Phi(x)) or "tanh".
    package let tanhApproximation: Bool
    package init(tanhApproximation: Bool = false) { self.tanhApproximation = tanhApproximation }
    package static func make(_ node: NodeContext) throws -> Gelu {
        switch try node.string("approximate", default: "none") {
        case "none": return Gelu()
        case "tanh": return Gelu(tanhApproximation: true)
        case let other: throw node.error("attribute 'approximate' must be \"none\" or \"tanh\", got \"\(other)\"")
        }
    }
    package func apply(_ x: Double) -> Double {
        if tanhApproximation {
            return 0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
        }
        return 0.5 * x * erfc(-x / 2.0.squareRoot())
    }
    package func derivative(_ x: Double, _ y: Double) -> Double {
        if tanhApproximation {
            let k = 0.7978845608028654, u = k * (x + 0.044715 * x * x * x)
            let t = Foundation.tanh(u)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        }
        // Phi(x) + x * phi(x)
        return 0.5 * erfc(-x / 2.0.squareRoot()) + x * exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
    }
    /// The minimiser of GeLU (exact erf form), where f'(x) = 0.
    package static let argmin = -0.7517916243902337
    /// The minimiser of the tanh approximation (f'(x) = 0), found once by bisection on f'.
    package static let argminTanh: Double = {
        let g = Gelu(tanhApproximation: true)
        var lo = -1.0, hi = -0.5   // f' < 0 at -1, > 0 at -0.5
        for _ in 0..<200 { let m = (lo + hi) / 2; if g.derivative(m, 0) < 0 { lo = m } else { hi = m } }
        return (lo + hi) / 2
    }()
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package static var representatives: [Gelu] { [Gelu(), Gelu(tanhApproximation: true)] }
    /// Decreasing left of the minimum, increasing right of it (both forms have one minimum,
    /// tend to 0 at -inf and to +inf at +inf). The minimum value is taken a hair lower (one part
    /// in 1e12) so that an argmin rounded in the last digits cannot make the image too narrow.
    package func image(l: Double, u: Double) -> (Double, Double) {
        let m = tanhApproximation ? Self.argminTanh : Self.argmin
        let fl = l == -.infinity ? 0 : apply(l), fu = u == .infinity ? .infinity : apply(u)
        if l <= m && m <= u {
            let fm = apply(m)
            return (fm - 1e-12 * Swift.abs(fm), Swift.max(fl, fu))
        }
        return (Swift.min(fl, fu), Swift.max(fl, fu))
    }
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        GeluRelaxation.relaxation(self, l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    /// Analytic (`GeluRelaxation.relaxationWithDerivatives`).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        GeluRelaxation.relaxationWithDerivatives(self, l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        GeluRelaxation.defaultParameters(l: l, u: u)
    }
    /// Anywhere strictly inside (GenBaB): `BranchingPoints`.
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        BranchingPoints.point(tanhApproximation ? .geluTanh : .gelu, l: l, u: u, strategy: strategy)
    }
    /// The minimum (`argmin`, `argminTanh`).
    package func crossesShapeChange(l: Double, u: Double) -> Bool {
        let m = tanhApproximation ? Gelu.argminTanh : Gelu.argmin
        return l < m && m < u
    }
}

/// GeLU relaxations. f = x Phi(x) is convex on [-s, s] (s = sqrt 2) and concave outside.
/// Regions follow the reference implementation: secants where they are valid, midpoint tangents
/// on a single convex or concave piece, and across an inflection tangents bounded by the one
/// through the far endpoint, found by bisection at that endpoint rounded outward to a 0.01 grid
/// (a tangent valid for a farther endpoint is valid for the true one). Parameters move each
/// tangent point inside its valid range; any value is sound.
///
/// Default tangent point across an inflection: the midpoint m clamped into the valid range (the
/// S-shaped rule). The area between [l, u] and the tangent at t changes as f''(t) (m - t), so
/// this is the valid tangent of least area; the reference's endpoint tangents (whose lower
/// right point is also capped at 1 by its bisection bracket) were up to 0.9 looser in area.
///
/// The bisections run once per grid index (four `GridTable`s, one per tangent family, filled
/// lazily) for far endpoints within `tableReach` of the inflection; beyond it (rare: |x| > 500)
/// each call bisects at its own grid point, which gives the same value the table would.
enum GeluRelaxation {
    static let s = 2.0.squareRoot()
    static let step = 0.01
    static let tableReach = 500.0
    static let g = Gelu()
    static func f(_ x: Double) -> Double { g.apply(x) }
    static func df(_ x: Double) -> Double { g.derivative(x, 0) }
    /// f'' = phi(x) (2 - x^2).
    static func d2f(_ x: Double) -> Double { exp(-0.5 * x * x) / (2 * Double.pi).squareRoot() * (2 - x * x) }
    static func tangent(_ t: Double) -> (Double, Double) { let k = df(t); return (k, f(t) - k * t) }

    /// Bisection between an invalid point `bad` and a valid point `good` (100 halvings), returning
    /// the valid end; NaN when `good` is not valid (no tangent point in the bracket).
    static func bisect(bad: Double, good: Double, _ ok: (Double) -> Bool) -> Double {
        guard ok(good) else { return .nan }
        var bad = bad, good = good
        for _ in 0..<100 {
            let m = (bad + good) / 2
            if ok(m) { good = m } else { bad = m }
        }
        return good
    }

    /// The grid index of a far endpoint `distance` beyond an inflection, rounded outward:
    /// floor(max(0, distance / step)) + 1, kept in Double so that a huge distance cannot trap.
    static func gridIndex(_ distance: Double) -> Double {
        let q = distance / step
        if q.isNaN { return .nan }
        return q >= 1 ? q.rounded(.down) + 1 : 1
    }

    static let gridCount = Int((tableReach / step).rounded()) + 2
    static let lowerRightTable = GridTable(count: gridCount) { lowerRightEntry(Double($0)) }
    static let lowerLeftTable = GridTable(count: gridCount) { lowerLeftEntry(Double($0)) }
    static let upperRightTable = GridTable(count: gridCount) { upperRightEntry(Double($0)) }
    static let upperLeftTable = GridTable(count: gridCount) { upperLeftEntry(Double($0)) }

    /// The table entry at `index`, or the same entry computed directly past the table's end.
    static func lookup(_ table: GridTable, _ index: Double, _ entry: (Double) -> Double) -> Double {
        index < Double(table.count) ? table[Int(index)] : entry(index)
    }

    /// Rightmost tangent point t in [-s, s] whose tangent lies below f at U = s + index step.
    static func lowerRightEntry(_ index: Double) -> Double {
        let U = s + step * index
        guard U.isFinite else { return .nan }
        return bisect(bad: s, good: -s) { t in df(t) * (U - t) + f(t) <= f(U) }
    }
    /// Leftmost tangent point t in [-s, s] whose tangent lies below f at L = -s - index step.
    static func lowerLeftEntry(_ index: Double) -> Double {
        let L = -s - step * index
        guard L.isFinite else { return .nan }
        return bisect(bad: -s, good: s) { t in df(t) * (L - t) + f(t) <= f(L) }
    }
    /// Leftmost tangent point t >= s (concave right piece) whose tangent lies above f at
    /// L = s - index step; NaN when none below 1e6 (far negative L: every such tangent, of
    /// slope above 1, passes under f(L) near 0).
    static func upperRightEntry(_ index: Double) -> Double {
        let L = s - step * index
        guard L.isFinite else { return .nan }
        var good = 2 * s
        while !(df(good) * (L - good) + f(good) >= f(L)) && good < 1e6 { good *= 2 }
        return bisect(bad: s, good: good) { t in df(t) * (L - t) + f(t) >= f(L) }
    }
    /// Rightmost tangent point t <= -s (concave left piece) whose tangent lies above f at
    /// U = -s + index step; NaN when none above -1e6.
    static func upperLeftEntry(_ index: Double) -> Double {
        let U = -s + step * index
        guard U.isFinite else { return .nan }
        var good = -2 * s
        while !(df(good) * (U - good) + f(good) >= f(U)) && good > -1e6 { good *= 2 }
        return bisect(bad: -s, good: good) { t in df(t) * (U - t) + f(t) >= f(U) }
    }

    /// Rightmost tangent point in [-s, s] below f up to u >= s (grid-rounded up); NaN if none.
    static func dLowerRight(u: Double) -> Double { lookup(lowerRightTable, gridIndex(u - s), lowerRightEntry) }
    /// Leftmost tangent point in [-s, s] below f down to l <= -s (grid-rounded down).
    static func dLowerLeft(l: Double) -> Double { lookup(lowerLeftTable, gridIndex(-l - s), lowerLeftEntry) }
    /// Leftmost tangent point t >= s above f down to l <= s (grid-rounded down); NaN if none.
    static func dUpperRight(l: Double) -> Double { lookup(upperRightTable, gridIndex(s - l), upperRightEntry) }
    /// Rightmost tangent point t <= -s above f up to u >= -s (grid-rounded up); NaN if none.
    static func dUpperLeft(u: Double) -> Double { lookup(upperLeftTable, gridIndex(u + s), upperLeftEntry) }

    /// The unpadded lines on a finite interval with u - l >= 1e-12 (exact form), with the
    /// tangent point and dt/dp of each side moved by its parameter. A NaN tangent point (none
    /// exists) fails every comparison and falls back to the constant image bound.
    static func lines(_ op: Gelu, l: Double, u: Double, pl: Double?, pu: Double?) -> RelaxationLines {
        let fl = f(l), fu = f(u)
        let k = (fu - fl) / (u - l)
        let secant = (k, fl - k * l)
        let (ibpLo, ibpHi) = op.image(l: l, u: u)
        let m = (l + u) / 2
        var r = RelaxationLines(lo: secant, hi: secant)
        if u <= -s || l >= s {
            // One concave piece.
            r.hi = tangent(l + (pu ?? 0.5) * (u - l))
            if let pu { r.hiTangent = (l + pu * (u - l), u - l) }
        } else if l >= -s && u <= s {
            // One convex piece.
            r.lo = tangent(l + (pl ?? 0.5) * (u - l))
            if let pl { r.loTangent = (l + pl * (u - l), u - l) }
        } else if l >= -s {
            // Convex then concave (u > s).
            if !(k < df(l)) {
                let d = dLowerRight(u: u)
                if d >= l {
                    r.lo = tangent(pl.map { l + $0 * (d - l) } ?? Swift.min(m, d))
                    if let pl { r.loTangent = (l + pl * (d - l), d - l) }
                } else if d >= -s {
                    r.lo = tangent(d)   // in the convex piece and valid at u: below f on [-s, u]
                } else { r.lo = (0, ibpLo) }
            }
            if !(k < df(u)) {
                let d = dUpperRight(l: l)
                if d <= u {
                    r.hi = tangent(pu.map { u - $0 * (u - d) } ?? Swift.max(m, d))
                    if let pu { r.hiTangent = (u - pu * (u - d), -(u - d)) }
                } else { r.hi = (0, ibpHi) }
            }
        } else if u <= s {
            // Concave then convex (l < -s).
            if !(k > df(u)) {
                let d = dLowerLeft(l: l)
                if d <= u {
                    r.lo = tangent(pl.map { u - $0 * (u - d) } ?? Swift.max(m, d))
                    if let pl { r.loTangent = (u - pl * (u - d), -(u - d)) }
                } else if d <= s {
                    r.lo = tangent(d)   // in the convex piece and valid at l: below f on [l, s]
                } else { r.lo = (0, ibpLo) }
            }
            if !(k >= df(l)) {
                let d = dUpperLeft(u: u)
                if d >= l {
                    r.hi = tangent(pu.map { l + $0 * (d - l) } ?? Swift.min(m, d))
                    if let pu { r.hiTangent = (l + pu * (d - l), d - l) }
                } else { r.hi = (0, ibpHi) }
            }
        } else {
            // Concave, convex, concave (l < -s, u > s): the secant is above; a tangent in the
            // convex piece valid at both ends below.
            let a = dLowerLeft(l: l), b = dLowerRight(u: u)
            if a <= b {
                r.lo = tangent(pl.map { b - $0 * (b - a) } ?? Swift.min(Swift.max(m, a), b))
                if let pl { r.loTangent = (b - pl * (b - a), -(b - a)) }
            } else { r.lo = (0, ibpLo) }
        }
        return r
    }

    static func relaxation(_ op: Gelu, l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        relaxationWithDerivatives(op, l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter, derivatives: false).relaxation
    }

    /// The relaxation and the derivatives of its tangent lines with respect to their parameters
    /// ((f''(t), -f''(t) t) dt/dp, rounding pad included); the tanh form has constant bounds.
    static func relaxationWithDerivatives(_ op: Gelu, l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?,
                                          derivatives: Bool = true)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        let pl = unitParameter(lowerParameter), pu = unitParameter(upperParameter)
        if op.tanhApproximation || !(u - l >= 1e-12) || !l.isFinite || !u.isFinite {
            let (lo, hi) = op.image(l: l, u: u)
            return (.constant(lo, hi), (0, 0), (0, 0))
        }
        let second: ((Double) -> Double)? = derivatives ? { d2f($0) } : nil
        return lines(op, l: l, u: u, pl: pl, pu: pu).padded(l: l, u: u, d2f: second)
    }

    static func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        if !(u - l >= 1e-12) || !l.isFinite || !u.isFinite { return (nil, nil) }
        if u <= -s || l >= s { return (nil, 0.5) }
        if l >= -s && u <= s { return (0.5, nil) }
        let k = (f(u) - f(l)) / (u - l), m = (l + u) / 2
        // The parameter placing the tangent at `t` on [from, to] (1 at `to`); 1 where that range
        // is empty (the default then does not depend on the parameter's range).
        func at(_ t: Double, from: Double, to: Double) -> Double { to != from ? Swift.min(1, Swift.max(0, (t - from) / (to - from))) : 1 }
        if l >= -s {
            let dl = dLowerRight(u: u), du = dUpperRight(l: l)
            return (k < df(l) ? nil : (dl >= l ? at(Swift.min(m, dl), from: l, to: dl) : 1),
                    k < df(u) ? nil : (du <= u ? at(Swift.max(m, du), from: u, to: du) : 1))
        }
        if u <= s {
            let dl = dLowerLeft(l: l), du = dUpperLeft(u: u)
            return (k > df(u) ? nil : (dl <= u ? at(Swift.max(m, dl), from: u, to: dl) : 1),
                    k >= df(l) ? nil : (du >= l ? at(Swift.min(m, du), from: l, to: du) : 1))
        }
        let a = dLowerLeft(l: l), b = dLowerRight(u: u)
        return (a <= b ? at(Swift.min(Swift.max(m, a), b), from: b, to: a) : 0, nil)
    }
}

// MARK: - float32 semantics (`Float32Rounding`)

extension Gelu {
    /// GeLU as runtimes compute it, x/2 (1 + erf(x / sqrt 2)) (or the tanh form) in float32, also
    /// as the Erf pattern that `GeluFusion` fuses: the kernel's absolute error (erff or tanhf,
    /// 4 ulps plus 2^-22) is multiplied by |x| / 2, the argument's rounding moves erf by at most
    /// (2 / sqrt pi) max_s s e^{-s^2} u < u / 2, and the sum and products round 3 times. Bound:
    /// 4 ulps of the output, 8 ulps of the input (about twice the 4.5 the terms above give) and
    /// 2^-125 for underflow.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding {
        .ulpsOfInputAndOutput(output: 4, input: 8, absolute: 0x1p-125)
    }
}

// MARK: - gradient node (`ClarkeDerivative`)

extension Gelu: ClarkeDerivative {
    /// GeLU' = Phi(x) + x phi(x) rises on [-sqrt 2, sqrt 2] (GeLU'' = phi(x)(2 - x^2)) and falls
    /// outside, so its range over [l, u] is over the ends and the extrema inside. The tanh form
    /// has the same shape with its extrema at +-`derivativeExtremumTanh` (about 1.4189; its
    /// GeLU'' = sech^2(v) (v' + x v''/2 - x tanh(v) v'^2), v = k (x + 0.044715 x^3), is even and
    /// changes sign once on x > 0: `ClarkeDerivativeTests` checks this). An extremum computed
    /// a few ulps off changes the value by their square (f'' = 0 there): the pad covers it.
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) {
        let r = tanhApproximation ? Self.derivativeExtremumTanh : 2.0.squareRoot()
        var lo = Swift.min(derivativeValue(l), derivativeValue(u)), hi = Swift.max(derivativeValue(l), derivativeValue(u))
        if l < -r && -r < u { lo = Swift.min(lo, derivativeValue(-r)) }
        if l < r && r < u { hi = Swift.max(hi, derivativeValue(r)) }
        return paddedRange(lo, hi)
    }

    /// GeLU' with its limits 0 and 1 for |x| > 1e100 (where they are exact in Double, and the
    /// formulas would give inf * 0 once x^2 or x^3 overflows).
    func derivativeValue(_ x: Double) -> Double {
        Swift.abs(x) <= 1e100 ? derivative(x, apply(x)) : (x > 0 ? 1 : 0)
    }

    package func secondDerivative(_ x: Double) -> Double {
        guard Swift.abs(x) <= 1e100 else { return 0 }
        if tanhApproximation { return Self.secondDerivativeTanh(x) }
        return exp(-0.5 * x * x) / (2 * Double.pi).squareRoot() * (2 - x * x)
    }

    /// GeLU'' of the tanh form: sech^2(v) (v' + x v''/2 - x tanh(v) v'^2).
    static func secondDerivativeTanh(_ x: Double) -> Double {
        let k = 0.7978845608028654, c = 0.044715
        let v = k * (x + c * x * x * x), vp = k * (1 + 3 * c * x * x), vpp = 6 * k * c * x
        let t = Foundation.tanh(v)
        return (1 - t * t) * (vp + 0.5 * x * (vpp - 2 * t * vp * vp))
    }

    /// The positive zero of the tanh form's GeLU'' (where its GeLU' is largest; the smallest is
    /// at the negative one), by bisection on [1, 2] (GeLU'' > 0 at 1, < 0 at 2).
    package static let derivativeExtremumTanh: Double = {
        var lo = 1.0, hi = 2.0
        for _ in 0..<200 { let m = (lo + hi) / 2; if secondDerivativeTanh(m) > 0 { lo = m } else { hi = m } }
        return (lo + hi) / 2
    }()
}
