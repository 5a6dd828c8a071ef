import Foundation
import CertusTensor

// Elementwise activations. Each type is where its interval bound, linear relaxation and
// derivative will live.

package struct Relu: ElementwiseRelaxation, AttributeFree {
    package static let opType = "Relu"
    package init() {}
    /// max(x, 0); NaN stays NaN, as in onnxruntime.
    package func apply(_ x: Double) -> Double { x < 0 ? 0 : x }
    package func derivative(_ x: Double, _ y: Double) -> Double { x > 0 ? 1 : 0 }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func image(l: Double, u: Double) -> (Double, Double) { MonotoneImage.increasing(l, u, apply) }
    /// Triangle upper bound; lower slope alpha in [0, 1] (default: 1 when u > -l, else 0).
    /// With an infinite end the triangle's limit: slope 1 through (l, 0) when u = +inf, the
    /// constant u when l = -inf, and no finite upper line (+inf) when both are infinite.
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        if l >= 0 { return .line(1, 0) }
        if u <= 0 { return .line(0, 0) }
        let aL = unitParameter(lowerParameter) ?? (u > -l ? 1 : 0)
        return NeuronRelaxation(aL: aL, bL: 0, aU: Self.chord(l, u).0, bU: Self.chord(l, u).1)
    }
    /// The triangle's upper line over [l, u] (l < 0 < u), slope and intercept.
    static func chord(_ l: Double, _ u: Double) -> (Double, Double) {
        if l.isFinite && u.isFinite { let a = u / (u - l); return (a, -a * l) }
        if l.isFinite { return (1, -l) }
        if u.isFinite { return (0, u) }
        return (0, .infinity)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        l < 0 && u > 0 ? (u > -l ? 1 : 0, nil) : (nil, nil)
    }
    /// d aL / d alpha = 1 on an unstable neuron; nothing else moves.
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        let rel = relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
        return (rel, l < 0 && u > 0 && lowerParameter != nil ? (1, 0) : (0, 0), (0, 0))
    }
    package var isPiecewiseLinear: Bool { true }
    /// Inactive (u <= 0) y = 0, active (l >= 0) y = z, unstable the triangle y >= 0, y >= z,
    /// (u - l) y <= u (z - l) (Ehlers 2017), with Tjeng's y <= z - l (1 - a), y <= u a in exact
    /// mode (`PiecewiseLinearEncoding.kinkAtZero` with slopes 0 and 1).
    package func piecewiseLinearEncoding(l: Double, u: Double, mode: PiecewiseLinearEncoding.Mode) -> PiecewiseLinearEncoding? {
        .kinkAtZero(leftSlope: 0, rightSlope: 1, l: l, u: u, mode: mode)
    }
    /// The lower parameter is the lower slope (see `relaxation`): the engine's fast paths apply.
    package var isReluShaped: Bool { true }
    /// The kink: splitting at 0 makes both children exact (beta-CROWN's ReLU split).
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        l < 0 && u > 0 ? 0 : nil
    }
    /// The kink at 0.
    package func crossesShapeChange(l: Double, u: Double) -> Bool { l < 0 && 0 < u }
}

package struct LeakyRelu: ElementwiseRelaxation {
    package static let opType = "LeakyRelu"
    package let alpha: Double
    package init(alpha: Double = 0.01) { self.alpha = alpha }
    package static func make(_ node: NodeContext) throws -> LeakyRelu {
        LeakyRelu(alpha: try node.float("alpha", default: 0.01))
    }
    package func apply(_ x: Double) -> Double { x >= 0 ? x : alpha * x }
    package func derivative(_ x: Double, _ y: Double) -> Double { x >= 0 ? 1 : alpha }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package static var representatives: [LeakyRelu] { [LeakyRelu(alpha: 0.01), LeakyRelu(alpha: 0.3), LeakyRelu(alpha: 0), LeakyRelu(alpha: 2), LeakyRelu(alpha: -0.5)] }
    /// Monotone for alpha >= 0; for alpha < 0 decreasing left of 0 (minimum 0 at x = 0).
    package func image(l: Double, u: Double) -> (Double, Double) {
        if alpha >= 0 { return (l == -.infinity && alpha == 0 ? 0 : apply(l), apply(u)) }
        if l >= 0 { return (l, u) }
        if u <= 0 { return (apply(u), apply(l)) }
        return (0, Swift.max(apply(l), u))
    }
    /// Chord upper bound; lower slope in [alpha, 1] (for 0 <= alpha <= 1); the mirror image for
    /// alpha > 1 (concave). For alpha < 0 (convex, not monotone) the chord above and a slope in
    /// [alpha, 1] through the origin below. Infinite ends give constant image bounds.
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        if l >= 0 { return .line(1, 0) }
        if u <= 0 { return .line(alpha, 0) }
        guard l.isFinite, u.isFinite else { let (lo, hi) = image(l: l, u: u); return .constant(lo, hi) }
        let (s0, s1) = (Swift.min(alpha, 1), Swift.max(alpha, 1))
        let lowerParameter = unitParameter(lowerParameter), upperParameter = unitParameter(upperParameter)
        let aU = (u - alpha * l) / (u - l), bU = u - aU * u
        if alpha > 1 {   // concave: the chord is the lower bound, slopes in [1, alpha] bound above
            return NeuronRelaxation(aL: aU, bL: bU, aU: s0 + (upperParameter ?? (u > -l ? 0 : 1)) * (s1 - s0), bU: 0).paddedForRounding(l: l, u: u)
        }
        return NeuronRelaxation(aL: s0 + (lowerParameter ?? (u > -l ? 1 : 0)) * (s1 - s0), bL: 0, aU: aU, bU: bU).paddedForRounding(l: l, u: u)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        guard l < 0 && u > 0 else { return (nil, nil) }
        return alpha > 1 ? (nil, u > -l ? 0 : 1) : (u > -l ? 1 : 0, nil)
    }
    /// The moving slope s0 + p (s1 - s0) has derivative s1 - s0 (its rounding pad included).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        let rel = relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
        guard l < 0, u > 0, l.isFinite, u.isFinite else { return (rel, (0, 0), (0, 0)) }
        let ds = Swift.max(alpha, 1) - Swift.min(alpha, 1)
        if alpha > 1 {
            guard upperParameter != nil else { return (rel, (0, 0), (0, 0)) }
            return (rel, (0, 0), RelaxationLines.paddedDerivative(line: (rel.aU, 0), (ds, 0), l: l, u: u, sign: 1))
        }
        guard lowerParameter != nil else { return (rel, (0, 0), (0, 0)) }
        return (rel, RelaxationLines.paddedDerivative(line: (rel.aL, 0), (ds, 0), l: l, u: u, sign: -1), (0, 0))
    }
    package var isPiecewiseLinear: Bool { true }
    /// Two pieces meeting at the origin, slopes alpha (z <= 0) and 1 (z >= 0)
    /// (`PiecewiseLinearEncoding.kinkAtZero`): stable neurons y = alpha z or y = z; unstable
    /// ones for alpha < 1 (convex, max(alpha z, z)) y >= alpha z, y >= z and the chord above,
    /// for alpha > 1 (concave, min(alpha z, z)) the mirror image; exact mode adds two big-M rows
    /// with one binary. alpha = 1 is the identity (always y = z).
    package func piecewiseLinearEncoding(l: Double, u: Double, mode: PiecewiseLinearEncoding.Mode) -> PiecewiseLinearEncoding? {
        .kinkAtZero(leftSlope: alpha, rightSlope: 1, l: l, u: u, mode: mode)
    }
    /// The kink at 0 (both children exact), as for ReLU.
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        l < 0 && u > 0 && alpha != 1 ? 0 : nil
    }
    /// The kink at 0.
    package func crossesShapeChange(l: Double, u: Double) -> Bool { l < 0 && 0 < u }
}

package struct Sigmoid: ElementwiseRelaxation, AttributeFree {
    package static let opType = "Sigmoid"
    package init() {}
    package func apply(_ x: Double) -> Double {
        // Stable on both tails.
        if x >= 0 { return 1 / (1 + exp(-x)) }
        let e = exp(x)
        return e / (1 + e)
    }
    package func derivative(_ x: Double, _ y: Double) -> Double { y * (1 - y) }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func image(l: Double, u: Double) -> (Double, Double) { MonotoneImage.increasing(l, u, apply) }
    static let shape = SShapedRelaxation(f: { Sigmoid().apply($0) }, df: { let s = Sigmoid().apply($0); return s * (1 - s) },
                                         d2f: { let s = Sigmoid().apply($0); return s * (1 - s) * (1 - 2 * s) })
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Self.shape.relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    /// Analytic (`SShapedRelaxation.relaxationWithDerivatives`).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        Self.shape.relaxationWithDerivatives(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) { Self.shape.defaultParameters(l: l, u: u) }
    /// Anywhere strictly inside (GenBaB): `BranchingPoints`.
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        BranchingPoints.point(.sigmoid, l: l, u: u, strategy: strategy)
    }
    /// The inflection at 0.
    package func crossesShapeChange(l: Double, u: Double) -> Bool { l < 0 && 0 < u }
}

package struct Tanh: ElementwiseRelaxation, AttributeFree {
    package static let opType = "Tanh"
    package init() {}
    package func apply(_ x: Double) -> Double { Foundation.tanh(x) }
    package func derivative(_ x: Double, _ y: Double) -> Double { 1 - y * y }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func image(l: Double, u: Double) -> (Double, Double) { MonotoneImage.increasing(l, u, apply) }
    static let shape = SShapedRelaxation(f: { Foundation.tanh($0) }, df: { let t = Foundation.tanh($0); return 1 - t * t },
                                         d2f: { let t = Foundation.tanh($0); return -2 * t * (1 - t * t) })
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Self.shape.relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    /// Analytic (`SShapedRelaxation.relaxationWithDerivatives`).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        Self.shape.relaxationWithDerivatives(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) { Self.shape.defaultParameters(l: l, u: u) }
    /// Anywhere strictly inside (GenBaB): `BranchingPoints`.
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        BranchingPoints.point(.tanh, l: l, u: u, strategy: strategy)
    }
    /// The inflection at 0.
    package func crossesShapeChange(l: Double, u: Double) -> Bool { l < 0 && 0 < u }
}

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

package struct Erf: ElementwiseRelaxation, AttributeFree {
    package static let opType = "Erf"
    package init() {}
    package func apply(_ x: Double) -> Double { Foundation.erf(x) }
    package func derivative(_ x: Double, _ y: Double) -> Double { 2 / Double.pi.squareRoot() * exp(-x * x) }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func image(l: Double, u: Double) -> (Double, Double) { MonotoneImage.increasing(l, u, apply) }
    static let shape = SShapedRelaxation(f: { Foundation.erf($0) }, df: { 2 / Double.pi.squareRoot() * exp(-$0 * $0) },
                                         d2f: { -4 * $0 / Double.pi.squareRoot() * exp(-$0 * $0) })
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Self.shape.relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    /// Analytic (`SShapedRelaxation.relaxationWithDerivatives`).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        Self.shape.relaxationWithDerivatives(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) { Self.shape.defaultParameters(l: l, u: u) }
    /// Anywhere strictly inside (GenBaB): `BranchingPoints`.
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        BranchingPoints.point(.erf, l: l, u: u, strategy: strategy)
    }
    /// The inflection at 0.
    package func crossesShapeChange(l: Double, u: Double) -> Bool { l < 0 && 0 < u }
}

package struct Sin: ElementwiseRelaxation, AttributeFree {
    package static let opType = "Sin"
    package init() {}
    package func apply(_ x: Double) -> Double { Foundation.sin(x) }
    package func derivative(_ x: Double, _ y: Double) -> Double { Foundation.cos(x) }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func image(l: Double, u: Double) -> (Double, Double) { Periodic.image(l: l, u: u, shift: 0) }
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Periodic.relaxation(l: l, u: u, shift: 0, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    /// Analytic (`Periodic.relaxationWithDerivatives`).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        Periodic.relaxationWithDerivatives(l: l, u: u, shift: 0, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        Periodic.defaultParameters(l: l, u: u, shift: 0)
    }
    /// Anywhere strictly inside (GenBaB): `BranchingPoints`.
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        BranchingPoints.point(.sin, l: l, u: u, strategy: strategy)
    }
    /// A crest or trough (pi/2 + k pi) inside, or a whole half period.
    package func crossesShapeChange(l: Double, u: Double) -> Bool {
        l.isFinite && u.isFinite && l < u && (u - l >= .pi || ((l - .pi / 2) / .pi).rounded(.up) <= (u - .pi / 2) / .pi)
    }
}

package struct Cos: ElementwiseRelaxation, AttributeFree {
    package static let opType = "Cos"
    package init() {}
    package func apply(_ x: Double) -> Double { Foundation.cos(x) }
    package func derivative(_ x: Double, _ y: Double) -> Double { -Foundation.sin(x) }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func image(l: Double, u: Double) -> (Double, Double) { Periodic.image(l: l, u: u, shift: .pi / 2) }
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Periodic.relaxation(l: l, u: u, shift: .pi / 2, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    /// Analytic (`Periodic.relaxationWithDerivatives`).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        Periodic.relaxationWithDerivatives(l: l, u: u, shift: .pi / 2, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        Periodic.defaultParameters(l: l, u: u, shift: .pi / 2)
    }
    /// Anywhere strictly inside (GenBaB): `BranchingPoints`.
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        BranchingPoints.point(.cos, l: l, u: u, strategy: strategy)
    }
    /// A crest or trough (k pi) inside, or a whole half period.
    package func crossesShapeChange(l: Double, u: Double) -> Bool {
        l.isFinite && u.isFinite && l < u && (u - l >= .pi || (l / .pi).rounded(.up) <= u / .pi)
    }
}

package struct Neg: ElementwiseUnary, AttributeFree {
    package static let opType = "Neg"
    package init() {}
    package func apply(_ x: Double) -> Double { -x }
    package func derivative(_ x: Double, _ y: Double) -> Double { -1 }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }
    /// Decreasing: [-u, -l].
    package func image(l: Double, u: Double) -> (Double, Double) { (-u, -l) }
}

package struct Identity: ElementwiseUnary, AttributeFree {
    package static let opType = "Identity"
    package init() {}
    package func apply(_ x: Double) -> Double { x }
    package func derivative(_ x: Double, _ y: Double) -> Double { 1 }
    package func evaluate(_ inputs: [Tensor]) throws -> Tensor { inputs[0] }
    /// Its input, unchanged.
    package var preservesData: Bool { true }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }
    package func image(l: Double, u: Double) -> (Double, Double) { (l, u) }
}

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

extension Relu {
    /// max(x, 0) is exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}

extension LeakyRelu {
    /// alpha x is one float32 multiplication (one rounding, half an ulp, plus underflow).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .ulps(1, absolute: 0x1p-149) }
}

extension Sigmoid {
    /// ONNX leaves the accuracy open: the smooth-activation allowance (`Float32Rounding.smoothActivation`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .smoothActivation }
}

extension Tanh {
    /// ONNX leaves the accuracy open: the smooth-activation allowance (`Float32Rounding.smoothActivation`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .smoothActivation }
}

extension Neg {
    /// A sign change is exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}

extension Identity {
    /// A copy is exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}

extension Sin {
    /// sinf with full range reduction, not correctly rounded: the transcendental allowance, 4 ulps
    /// of the output plus 2^-22 absolute (`Float32Rounding.transcendental`). onnxruntime 1.32's
    /// kernel stays within 0.17 of it on inputs up to 3e38 (`scripts/make_float32_ops.py`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .transcendental }
}

extension Cos {
    /// cosf: as Sin (`Float32Rounding.transcendental`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .transcendental }
}

extension Erf {
    /// erff is not correctly rounded in onnxruntime (MLAS's polynomial): the transcendental
    /// allowance, 4 ulps of the output plus 2^-22 absolute (`Float32Rounding.transcendental`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .transcendental }
}

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
