import Foundation
import CertusTensor

// Elementwise activations. Each type is where its interval bound, linear relaxation and
// derivative will live.

public struct Relu: ElementwiseRelaxation, AttributeFree {
    public static let opType = "Relu"
    public init() {}
    public func apply(_ x: Double) -> Double { x > 0 ? x : 0 }
    public func derivative(_ x: Double, _ y: Double) -> Double { x > 0 ? 1 : 0 }
    public func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    /// Triangle upper bound; lower slope alpha in [0, 1] (default: 1 when u > -l, else 0).
    public func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        if l >= 0 { return .line(1, 0) }
        if u <= 0 { return .line(0, 0) }
        let aU = u / (u - l)
        return NeuronRelaxation(aL: lowerParameter ?? (u > -l ? 1 : 0), bL: 0, aU: aU, bU: -aU * l)
    }
    public func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        l < 0 && u > 0 ? (u > -l ? 1 : 0, nil) : (nil, nil)
    }
}

public struct LeakyRelu: ElementwiseRelaxation {
    public static let opType = "LeakyRelu"
    public let alpha: Double
    public init(alpha: Double = 0.01) { self.alpha = alpha }
    public static func make(_ node: NodeContext) throws -> LeakyRelu {
        LeakyRelu(alpha: try node.float("alpha", default: 0.01))
    }
    public func apply(_ x: Double) -> Double { x >= 0 ? x : alpha * x }
    public func derivative(_ x: Double, _ y: Double) -> Double { x >= 0 ? 1 : alpha }
    public func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    /// Chord upper bound; lower slope in [alpha, 1] (for alpha <= 1).
    public func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        if l >= 0 { return .line(1, 0) }
        if u <= 0 { return .line(alpha, 0) }
        let (s0, s1) = (Swift.min(alpha, 1), Swift.max(alpha, 1))
        let aU = (u - alpha * l) / (u - l), bU = u - aU * u
        if alpha > 1 {   // concave: the chord is the lower bound, slopes in [1, alpha] bound above
            return NeuronRelaxation(aL: aU, bL: bU, aU: s0 + (upperParameter ?? (u > -l ? 0 : 1)) * (s1 - s0), bU: 0)
        }
        return NeuronRelaxation(aL: s0 + (lowerParameter ?? (u > -l ? 1 : 0)) * (s1 - s0), bL: 0, aU: aU, bU: bU)
    }
    public func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        guard l < 0 && u > 0 else { return (nil, nil) }
        return alpha > 1 ? (nil, u > -l ? 0 : 1) : (u > -l ? 1 : 0, nil)
    }
}

public struct Sigmoid: ElementwiseRelaxation, AttributeFree {
    public static let opType = "Sigmoid"
    public init() {}
    public func apply(_ x: Double) -> Double {
        // Stable on both tails.
        if x >= 0 { return 1 / (1 + exp(-x)) }
        let e = exp(x)
        return e / (1 + e)
    }
    public func derivative(_ x: Double, _ y: Double) -> Double { y * (1 - y) }
    public func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    static let shape = SShapedRelaxation(f: { Sigmoid().apply($0) }, df: { let s = Sigmoid().apply($0); return s * (1 - s) })
    public func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Self.shape.relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    public func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) { Self.shape.defaultParameters(l: l, u: u) }
}

public struct Tanh: ElementwiseRelaxation, AttributeFree {
    public static let opType = "Tanh"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.tanh(x) }
    public func derivative(_ x: Double, _ y: Double) -> Double { 1 - y * y }
    public func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    static let shape = SShapedRelaxation(f: { Foundation.tanh($0) }, df: { let t = Foundation.tanh($0); return 1 - t * t })
    public func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Self.shape.relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    public func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) { Self.shape.defaultParameters(l: l, u: u) }
}

public struct Gelu: ElementwiseRelaxation {
    public static let opType = "Gelu"
    /// ONNX `approximate`: "none" (exact, x * Phi(x)) or "tanh".
    public let tanhApproximation: Bool
    public init(tanhApproximation: Bool = false) { self.tanhApproximation = tanhApproximation }
    public static func make(_ node: NodeContext) throws -> Gelu {
        switch try node.string("approximate", default: "none") {
        case "none": return Gelu()
        case "tanh": return Gelu(tanhApproximation: true)
        case let other: throw node.error("attribute 'approximate' must be \"none\" or \"tanh\", got \"\(other)\"")
        }
    }
    public func apply(_ x: Double) -> Double {
        if tanhApproximation {
            return 0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
        }
        return 0.5 * x * erfc(-x / 2.0.squareRoot())
    }
    public func derivative(_ x: Double, _ y: Double) -> Double {
        if tanhApproximation {
            let k = 0.7978845608028654, u = k * (x + 0.044715 * x * x * x)
            let t = Foundation.tanh(u)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        }
        // Phi(x) + x * phi(x)
        return 0.5 * erfc(-x / 2.0.squareRoot()) + x * exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
    }
    /// The minimiser of GeLU (exact erf form), where f'(x) = 0.
    public static let argmin = -0.7517916243902337
    public func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    /// Decreasing left of the minimum, increasing right of it.
    public func image(l: Double, u: Double) -> (Double, Double) {
        let fl = apply(l), fu = apply(u)
        let lo = (l < Self.argmin && Self.argmin < u) ? Swift.min(apply(Self.argmin), fl, fu) : Swift.min(fl, fu)
        return (lo, Swift.max(fl, fu))
    }
    public func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        GeluRelaxation.relaxation(self, l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    public func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        GeluRelaxation.defaultParameters(l: l, u: u)
    }
}

public struct Erf: ElementwiseRelaxation, AttributeFree {
    public static let opType = "Erf"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.erf(x) }
    public func derivative(_ x: Double, _ y: Double) -> Double { 2 / Double.pi.squareRoot() * exp(-x * x) }
    public func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    static let shape = SShapedRelaxation(f: { Foundation.erf($0) }, df: { 2 / Double.pi.squareRoot() * exp(-$0 * $0) })
    public func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Self.shape.relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    public func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) { Self.shape.defaultParameters(l: l, u: u) }
}

public struct Sin: ElementwiseRelaxation, AttributeFree {
    public static let opType = "Sin"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.sin(x) }
    public func derivative(_ x: Double, _ y: Double) -> Double { Foundation.cos(x) }
    public func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    public func image(l: Double, u: Double) -> (Double, Double) { Periodic.image(l: l, u: u, apply) }
    public func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Periodic.relaxation(l: l, u: u, shift: 0, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    public func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        Periodic.defaultParameters(l: l, u: u, shift: 0)
    }
}

public struct Cos: ElementwiseRelaxation, AttributeFree {
    public static let opType = "Cos"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.cos(x) }
    public func derivative(_ x: Double, _ y: Double) -> Double { -Foundation.sin(x) }
    public func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    public func image(l: Double, u: Double) -> (Double, Double) { Periodic.image(l: l + .pi / 2, u: u + .pi / 2, Foundation.sin) }
    public func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Periodic.relaxation(l: l, u: u, shift: .pi / 2, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    public func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        Periodic.defaultParameters(l: l, u: u, shift: .pi / 2)
    }
}

public struct Neg: ElementwiseUnary, AttributeFree {
    public static let opType = "Neg"
    public init() {}
    public func apply(_ x: Double) -> Double { -x }
    public func derivative(_ x: Double, _ y: Double) -> Double { -1 }
    public func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }
    public func image(l: Double, u: Double) -> (Double, Double) { (-u, -l) }
}

public struct Identity: ElementwiseUnary, AttributeFree {
    public static let opType = "Identity"
    public init() {}
    public func apply(_ x: Double) -> Double { x }
    public func derivative(_ x: Double, _ y: Double) -> Double { 1 }
    public func evaluate(_ inputs: [Tensor]) throws -> Tensor { inputs[0] }
    public func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }
}

/// Interval image and relaxations of sin(x + shift) (cos is sin shifted by pi/2).
enum Periodic {
    /// On one half-period [k pi, (k+1) pi] sin is concave (k even) or convex (k odd): secant on
    /// one side, any tangent on the other. Elsewhere the interval image as constant bounds.
    static func relaxation(l: Double, u: Double, shift: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        let a = l + shift, b = u + shift
        let (lo, hi) = image(l: a, u: b, Foundation.sin)
        guard a.isFinite, b.isFinite, b - a > 1e-12 else { return .constant(lo, hi) }
        let k = (a / .pi).rounded(.down)
        guard b <= (k + 1) * .pi, abs(k) < 1e12 else { return .constant(lo, hi) }
        let concave = Int(k).isMultiple(of: 2)
        let slope = (Foundation.sin(b) - Foundation.sin(a)) / (b - a)
        let secant = (slope, Foundation.sin(a) - slope * a)
        let p = (concave ? upperParameter : lowerParameter) ?? 0.5
        let t = a + p * (b - a)
        let tangent = (Foundation.cos(t), Foundation.sin(t) - Foundation.cos(t) * t)
        // Lines in the shifted variable x + shift: a x + (b + a * shift).
        let (lower, upper) = concave ? (secant, tangent) : (tangent, secant)
        return NeuronRelaxation(aL: lower.0, bL: lower.1 + lower.0 * shift, aU: upper.0, bU: upper.1 + upper.0 * shift)
    }

    static func defaultParameters(l: Double, u: Double, shift: Double) -> (lower: Double?, upper: Double?) {
        let a = l + shift, b = u + shift
        guard a.isFinite, b.isFinite, b - a > 1e-12 else { return (nil, nil) }
        let k = (a / .pi).rounded(.down)
        guard b <= (k + 1) * .pi, abs(k) < 1e12 else { return (nil, nil) }
        return Int(k).isMultiple(of: 2) ? (nil, 0.5) : (0.5, nil)
    }

    /// Interval image of sin over [l, u]: endpoint values, widened to +-1 where a crest or trough lies inside.
    static func image(l: Double, u: Double, _ f: (Double) -> Double) -> (Double, Double) {
        guard l.isFinite, u.isFinite else { return (-1, 1) }
        if u - l >= 2 * .pi { return (-1, 1) }
        var lo = Swift.min(f(l), f(u)), hi = Swift.max(f(l), f(u))
        // crests at pi/2 + 2k pi, troughs at -pi/2 + 2k pi
        let kCrest = ((l - .pi / 2) / (2 * .pi)).rounded(.up)
        if .pi / 2 + 2 * .pi * kCrest <= u { hi = 1 }
        let kTrough = ((l + .pi / 2) / (2 * .pi)).rounded(.up)
        if -.pi / 2 + 2 * .pi * kTrough <= u { lo = -1 }
        return (lo, hi)
    }
}

/// GeLU relaxations. f = x Phi(x) is convex on [-s, s] (s = sqrt 2) and concave outside.
/// Regions follow the reference implementation: secants where they are valid, midpoint tangents
/// on a single convex or concave piece, and across an inflection tangents through the far
/// endpoint, found by bisection at that endpoint rounded outward to a 0.01 grid (a tangent valid
/// for a farther endpoint is valid for the true one). Parameters move each tangent point inside
/// its valid range; any value is sound.
enum GeluRelaxation {
    static let s = 2.0.squareRoot()
    static let step = 0.01
    static let g = Gelu()
    static func f(_ x: Double) -> Double { g.apply(x) }
    static func df(_ x: Double) -> Double { g.derivative(x, 0) }
    static func tangent(_ t: Double) -> (Double, Double) { let k = df(t); return (k, f(t) - k * t) }

    /// Bisection between an invalid point `bad` and a valid point `good` (100 halvings), returning
    /// the valid end.
    static func bisect(bad: Double, good: Double, _ ok: (Double) -> Bool) -> Double {
        var bad = bad, good = good
        for _ in 0..<100 {
            let m = (bad + good) / 2
            if ok(m) { good = m } else { bad = m }
        }
        return good
    }

    /// Rightmost tangent point t in [-s, s] whose tangent lies below f at U >= s (grid-rounded up).
    static func dLowerRight(u: Double) -> Double {
        let U = s + step * Double(max(0, Int((u - s) / step)) + 1)
        return bisect(bad: s, good: -s) { t in df(t) * (U - t) + f(t) <= f(U) }
    }
    /// Leftmost tangent point t in [-s, s] whose tangent lies below f at L <= -s (grid-rounded down).
    static func dLowerLeft(l: Double) -> Double {
        let L = -s - step * Double(max(0, Int((-l - s) / step)) + 1)
        return bisect(bad: -s, good: s) { t in df(t) * (L - t) + f(t) <= f(L) }
    }
    /// Leftmost tangent point t >= s (concave right piece) whose tangent lies above f at L <= s.
    static func dUpperRight(l: Double) -> Double {
        let L = s - step * Double(max(0, Int((s - l) / step)) + 1)
        var good = 2 * s
        while !(df(good) * (L - good) + f(good) >= f(L)) && good < 1e6 { good *= 2 }
        return bisect(bad: s, good: good) { t in df(t) * (L - t) + f(t) >= f(L) }
    }
    /// Rightmost tangent point t <= -s (concave left piece) whose tangent lies above f at U >= -s.
    static func dUpperLeft(u: Double) -> Double {
        let U = -s + step * Double(max(0, Int((u + s) / step)) + 1)
        var good = -2 * s
        while !(df(good) * (U - good) + f(good) >= f(U)) && good > -1e6 { good *= 2 }
        return bisect(bad: -s, good: good) { t in df(t) * (U - t) + f(t) >= f(U) }
    }

    static func relaxation(_ op: Gelu, l: Double, u: Double, lowerParameter pl: Double?, upperParameter pu: Double?) -> NeuronRelaxation {
        if op.tanhApproximation || u - l < 1e-12 {
            let (lo, hi) = op.image(l: l, u: u)
            return .constant(lo, hi)
        }
        let fl = f(l), fu = f(u)
        let k = (fu - fl) / (u - l)
        let secant = (k, fl - k * l)
        let m = (l + u) / 2
        let (ibpLo, ibpHi) = op.image(l: l, u: u)
        var lo: (Double, Double), hi: (Double, Double)
        if u <= -s || l >= s {
            // One concave piece.
            lo = secant
            hi = tangent(l + (pu ?? 0.5) * (u - l))
        } else if l >= -s && u <= s {
            // One convex piece.
            hi = secant
            lo = tangent(l + (pl ?? 0.5) * (u - l))
        } else if l >= -s {
            // Convex then concave (u > s).
            if k < df(l) {
                lo = secant
            } else {
                let d = dLowerRight(u: u)
                lo = d >= l ? tangent(l + (pl ?? 1) * (d - l)) : (0, ibpLo)
            }
            if k < df(u) {
                hi = secant
            } else {
                let d = dUpperRight(l: l)
                hi = d <= u ? tangent(u - (pu ?? 1) * (u - d)) : (0, ibpHi)
            }
        } else if u <= s {
            // Concave then convex (l < -s).
            if k > df(u) {
                lo = secant
            } else {
                let d = dLowerLeft(l: l)
                lo = d <= u ? tangent(u - (pl ?? 1) * (u - d)) : (0, ibpLo)
            }
            if k >= df(l) {
                hi = secant
            } else {
                let d = dUpperLeft(u: u)
                hi = d >= l ? tangent(l + (pu ?? 1) * (d - l)) : (0, ibpHi)
            }
        } else {
            // Concave, convex, concave (l < -s, u > s): the secant is above; a tangent in the
            // convex piece valid at both ends below.
            hi = secant
            let a = dLowerLeft(l: l), b = dLowerRight(u: u)
            lo = a <= b ? tangent(b - (pl ?? 0) * (b - a)) : (0, ibpLo)
        }
        _ = m
        return NeuronRelaxation(aL: lo.0, bL: lo.1, aU: hi.0, bU: hi.1)
    }

    static func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        if u - l < 1e-12 { return (nil, nil) }
        if u <= -s || l >= s { return (nil, 0.5) }
        if l >= -s && u <= s { return (0.5, nil) }
        let k = (f(u) - f(l)) / (u - l)
        if l >= -s { return (k < df(l) ? nil : 1, k < df(u) ? nil : 1) }
        if u <= s { return (k > df(u) ? nil : 1, k >= df(l) ? nil : 1) }
        return (0, nil)
    }
}
