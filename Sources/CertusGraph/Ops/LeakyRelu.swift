import Foundation
import CertusTensor

/// x for x >= 0, alpha x below (ONNX LeakyRelu, attribute `alpha`, default 0.01), elementwise;
/// any shape, any alpha (negative and above 1 included).
package struct LeakyRelu: KinkAtZeroActivation {
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
    /// Two pieces meeting at the origin, slopes alpha (z <= 0) and 1 (z >= 0)
    /// (`PiecewiseLinearEncoding.kinkAtZero`): stable neurons y = alpha z or y = z; unstable
    /// ones for alpha < 1 (convex, max(alpha z, z)) y >= alpha z, y >= z and the chord above,
    /// for alpha > 1 (concave, min(alpha z, z)) the mirror image; exact mode adds two big-M rows
    /// with one binary (`KinkAtZeroActivation`). alpha = 1 is the identity (always y = z, never
    /// split).
    package var leftSlope: Double { alpha }
    package var rightSlope: Double { 1 }
}

// MARK: - float32 semantics (`Float32Rounding`)

extension LeakyRelu {
    /// alpha x is one float32 multiplication (one rounding, half an ulp, plus underflow).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .ulps(1, absolute: 0x1p-149) }
}
