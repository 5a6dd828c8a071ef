import Foundation
import CertusTensor

/// The square root (ONNX Sqrt), elementwise; any shape. Increasing and concave on [0, +inf);
/// NaN for x < 0, as in onnxruntime.
///
/// Domain: bounds need l >= 0 (`domainViolation`: an interval with a negative end is refused by
/// IBP and so by CROWN, naming the node). IBP: [sqrt l, sqrt u] (exact). Relaxation on [l, u]
/// (`CurvedRelaxation`, concave): the chord below and the tangent at t = l + p (u - l) above
/// (t at least 1e-9 (u - l) when l = 0, where the slope is infinite), p the upper parameter in
/// [0, 1] (default 0.5, the midpoint). Branching point: the midpoint, or the least loose split
/// under `.optimized`.
package struct Sqrt: FixedCurvatureFunction, AttributeFree {
    package static let opType = "Sqrt"
    package init() {}
    package func apply(_ x: Double) -> Double { x.squareRoot() }
    package func derivative(_ x: Double, _ y: Double) -> Double { 0.5 / y }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func domainViolation(l: Double, u: Double) -> String? {
        l >= 0 ? nil : "Sqrt of the interval [\(l), \(u)], which reaches below 0 (Sqrt is defined for x >= 0)"
    }
    /// [sqrt l, sqrt u]; (-inf, +inf) outside the domain (never asked: IBP refuses first).
    package func image(l: Double, u: Double) -> (Double, Double) {
        guard domainViolation(l: l, u: u) == nil else { return (-.infinity, .infinity) }
        return MonotoneImage.increasing(l, u, apply)
    }

    package static let function = CurvedRelaxation.Function(f: { $0.squareRoot() }, df: { 0.5 / $0.squareRoot() },
                                                    d2f: { -0.25 / ($0 * $0.squareRoot()) })

    package static let curvature = CurvedRelaxation.Curvature.concave
    /// Tangents stay at least 1e-9 (u - l) off 0, where the slope is infinite.
    package func tangentFloor(l: Double, u: Double) -> Double { l > 0 ? l : 1e-9 * (u - l) }
}

extension Sqrt: ClarkeDerivative {
    /// (sqrt x)' = 1 / (2 sqrt x): [1/(2 sqrt u), 1/(2 sqrt l)] (+inf at l = 0), padded.
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) {
        guard l >= 0 else { return (-.infinity, .infinity) }
        let r = paddedRange(0.5 / u.squareRoot(), 0.5 / l.squareRoot())
        return (Swift.max(0, r.lower), r.upper)
    }
    package func secondDerivative(_ x: Double) -> Double { -0.25 / (x * x.squareRoot()) }
}

extension Sqrt {
    /// IEEE 754 rounds the square root correctly: half an ulp, counted as one (`Float32Rounding.correctlyRounded`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .correctlyRounded }
}
