import Foundation
import CertusTensor

/// The natural logarithm (ONNX Log), elementwise; any shape. Increasing and concave on
/// [0, +inf); NaN for x < 0 and -inf at 0, as in onnxruntime.
///
/// Domain: bounds need l >= 0 (`domainViolation`: an interval with a negative end is refused by
/// IBP and so by CROWN, naming the node); l = 0 gives the lower bound -inf. IBP: [log l, log u]
/// (exact). Relaxation on [l, u] (`CurvedRelaxation`, concave): the chord below and the tangent
/// at t = l + p (u - l) above (t at least 1e-9 (u - l) when l = 0, where the slope is
/// infinite), p the upper parameter in [0, 1] (default 0.5, the midpoint). Branching point:
/// the midpoint, or the least loose split under `.optimized`.
package struct Log: FixedCurvatureFunction, AttributeFree {
    package static let opType = "Log"
    package init() {}
    package func apply(_ x: Double) -> Double { Foundation.log(x) }
    package func derivative(_ x: Double, _ y: Double) -> Double { 1 / x }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func domainViolation(l: Double, u: Double) -> String? {
        l >= 0 ? nil : "Log of the interval [\(l), \(u)], which reaches below 0 (Log is defined for x >= 0)"
    }
    /// [log l, log u]; (-inf, +inf) outside the domain (never asked: IBP refuses first).
    package func image(l: Double, u: Double) -> (Double, Double) {
        guard domainViolation(l: l, u: u) == nil else { return (-.infinity, .infinity) }
        return MonotoneImage.increasing(l, u, apply)
    }

    package static let function = CurvedRelaxation.Function(f: { Foundation.log($0) }, df: { 1 / $0 }, d2f: { -1 / ($0 * $0) })

    package static let curvature = CurvedRelaxation.Curvature.concave
    /// Tangents stay at least 1e-9 (u - l) off 0, where the slope is infinite.
    package func tangentFloor(l: Double, u: Double) -> Double { l > 0 ? l : 1e-9 * (u - l) }
}

extension Log: ClarkeDerivative {
    /// (log x)' = 1/x: [1/u, 1/l] (+inf at l = 0), padded; (-inf, +inf) outside the domain.
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) {
        guard l >= 0 else { return (-.infinity, .infinity) }
        let r = paddedRange(1 / u, 1 / l)
        return (Swift.max(0, r.lower), r.upper)
    }
    package func secondDerivative(_ x: Double) -> Double { -1 / (x * x) }
}

extension Log {
    /// logf (Eigen's polynomial in onnxruntime) is not correctly rounded: the transcendental allowance, 4 ulps of
    /// the output plus 2^-22 absolute, which also covers the cancellation near x = 1 (`Float32Rounding.transcendental`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .transcendental }
}
