import Foundation
import CertusTensor

/// |x| (ONNX Abs), elementwise; any shape. Piecewise linear with its kink at 0. In the Jacobian
/// graph it turns the back-propagated gradient g into |g| before the L1 norm, the dual of the
/// L-inf input norm (Shi et al., NeurIPS 2022, "Efficiently Computing Local Lipschitz Constants
/// of Neural Networks via Bound Propagation").
///
/// Relaxation on [l, u]: the identity for l >= 0 and -x for u <= 0 (exact); across 0 the
/// chord through (l, -l) and (u, u) above (its limits -x + 2u and x - 2l for an infinite end,
/// +inf for two) and a line through the origin below with slope s = 2p - 1 in [-1, 1], p the
/// lower parameter (alpha-CROWN's, clamped to [0, 1]; default p = 1 when u >= -l, else 0, the
/// sign of u + l, as for ReLU's lower slope). The lower line is exact in Double (|s x| <= |x|);
/// the chord's intercept is rounded and is padded (`RoundingGuard`).
package struct Abs: KinkAtZeroActivation, AttributeFree {
    package static let opType = "Abs"
    package init() {}
    package func apply(_ x: Double) -> Double { Swift.abs(x) }
    /// sign(x), and 0 at 0 (an element of the Clarke gradient [-1, 1]).
    package func derivative(_ x: Double, _ y: Double) -> Double { x > 0 ? 1 : (x < 0 ? -1 : 0) }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    /// Exact: [l, u], [-u, -l], or [0, max(-l, u)] across 0.
    package func image(l: Double, u: Double) -> (Double, Double) {
        if l >= 0 { return (l, u) }
        if u <= 0 { return (-u, -l) }
        return (0, Swift.max(-l, u))
    }

    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        if l >= 0 { return .line(1, 0) }
        if u <= 0 { return .line(-1, 0) }
        let p = unitParameter(lowerParameter) ?? (u >= -l ? 1 : 0)
        let (aU, bU) = Self.chord(l, u)
        return NeuronRelaxation(aL: 2 * p - 1, bL: 0, aU: aU, bU: bU)
    }

    /// The upper line over [l, u] with l < 0 < u, padded for rounding: the chord
    /// y = ((u + l) x - 2 u l) / (u - l) (through (l, -l) and (u, u)), or its limit when an end is
    /// infinite. Scaled by 1/2 when u - l overflows; the intercept is 2 (u / (u - l)) (-l) so
    /// that u l cannot overflow.
    static func chord(_ l: Double, _ u: Double) -> (Double, Double) {
        if !l.isFinite && !u.isFinite { return (0, .infinity) }
        if !l.isFinite { return (-1, RoundingGuard.up(2 * u)) }   // -x + 2u on (-inf, u]
        if !u.isFinite { return (1, RoundingGuard.up(-2 * l)) }    // x - 2l on [l, +inf)
        var (hl, hu) = (l, u)
        if !(u - l).isFinite { hl = l / 2; hu = u / 2 }
        let w = hu - hl
        let a = (hu + hl) / w, b = 2 * (hu / w) * -l
        let m = Swift.max(-l, u)
        return (a, b + RoundingGuard.relative * (Swift.abs(a) * m + b))
    }

    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        l < 0 && u > 0 ? (u >= -l ? 1 : 0, nil) : (nil, nil)
    }
    /// Analytic: d aL / dp = 2 on a neuron across 0 (the lower line is not padded, so its
    /// intercept stays 0); the upper line has no parameter.
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        let rel = relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
        return (rel, l < 0 && u > 0 && lowerParameter != nil ? (2, 0) : (0, 0), (0, 0))
    }
    /// Two pieces meeting at the origin with slopes -1 and 1 (convex):
    /// `PiecewiseLinearEncoding.kinkAtZero` (y >= -z, y >= z, the chord above; one binary in
    /// exact mode), split at the kink; its gradient node is sign(x), the Clarke set at 0
    /// [-1, 1] (`KinkAtZeroActivation`).
    package var leftSlope: Double { -1 }
    package var rightSlope: Double { 1 }
}

extension Abs {
    /// |x| is exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}
