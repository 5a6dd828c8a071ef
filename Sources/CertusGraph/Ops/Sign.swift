import Foundation
import CertusTensor

/// ONNX `Sign`, elementwise; any shape: -1 for x < 0, 0 at 0, 1 for x > 0 (NaN stays NaN).
/// A step function with its jump at 0; derivative 0 wherever it exists (0 at the jump too).
///
/// IBP is exact: [sign(l), sign(u)]. Relaxation on [l, u]: constant when sign(l) = sign(u)
/// (exact); otherwise (l <= 0 <= u, l < u) lines pivoting on the jump. Lower: intercept
/// b = -1 if l < 0 else 0 (the value just left of 0), slope p (sign(u) - b) / u in [0, that]
/// for u > 0 (p the lower parameter in [0, 1]): a nonnegative slope keeps the line at or below b
/// left of 0, and at x = u it reaches at most sign(u). Upper: the mirror image, intercept
/// c = 1 if u > 0 else 0, slope q (c - sign(l)) / (-l). Defaults (as ReLU's): the steep lower
/// line when u >= -l, the steep upper line when -l >= u. Infinite ends give slope 0.
package struct Sign: ElementwiseRelaxation, AttributeFree {
    package static let opType = "Sign"
    package init() {}
    package func apply(_ x: Double) -> Double { x > 0 ? 1 : (x < 0 ? -1 : (x.isNaN ? x : 0)) }
    /// 0 (flat on both sides of the jump).
    package func derivative(_ x: Double, _ y: Double) -> Double { 0 }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    /// Exact: sign is non-decreasing.
    package func image(l: Double, u: Double) -> (Double, Double) { MonotoneImage.increasing(l, u, apply) }
    /// The jump at 0 strictly inside (l, u).
    package func crossesShapeChange(l: Double, u: Double) -> Bool { l < 0 && 0 < u }

    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        let sl = apply(l), su = apply(u)
        if sl == su || !(l < u) { return .constant(sl, su) }
        let d = defaultParameters(l: l, u: u)
        let p = unitParameter(lowerParameter) ?? d.lower ?? 0
        let q = unitParameter(upperParameter) ?? d.upper ?? 0
        let b = l < 0 ? -1.0 : 0, c = u > 0 ? 1.0 : 0
        let aL = u > 0 && u.isFinite ? p * (su - b) / u : 0
        let aU = l < 0 && l.isFinite ? q * (c - sl) / -l : 0
        return NeuronRelaxation(aL: aL, bL: b, aU: aU, bU: c).paddedForRounding(l: l, u: u)
    }

    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        guard l <= 0, u >= 0, l < u else { return (nil, nil) }
        return (u > 0 ? (u >= -l ? 1 : 0) : nil, l < 0 ? (-l >= u ? 1 : 0) : nil)
    }

    /// The jump at 0 when it lies strictly inside (both strategies).
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        l < 0 && u > 0 ? 0 : nil
    }
}
