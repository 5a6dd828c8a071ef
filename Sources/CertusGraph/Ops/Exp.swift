import Foundation
import CertusTensor

/// e^x (ONNX Exp), elementwise; any shape. Increasing and convex on the whole real line.
///
/// IBP: [e^l, e^u] (exact; e^x overflows to +inf beyond about 709.78). Relaxation on [l, u]
/// (`CurvedRelaxation`, convex): the chord above and the tangent at t = l + p (u - l) below, p
/// the lower parameter in [0, 1] (alpha-CROWN's; default 0.5, the midpoint, as auto_LiRPA's
/// BoundExp). A chord or tangent that overflows is replaced by the constant image end; an
/// infinite end gives the constant image [e^l, e^u]. Branching point: the midpoint, or the least
/// loose split under `.optimized`.
package struct Exp: FixedCurvatureFunction, AttributeFree {
    package static let opType = "Exp"
    package init() {}
    package func apply(_ x: Double) -> Double { Foundation.exp(x) }
    package func derivative(_ x: Double, _ y: Double) -> Double { y }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func image(l: Double, u: Double) -> (Double, Double) { MonotoneImage.increasing(l, u, apply) }

    package static let function = CurvedRelaxation.Function(f: { Foundation.exp($0) }, df: { Foundation.exp($0) }, d2f: { Foundation.exp($0) })

    package static let curvature = CurvedRelaxation.Curvature.convex
}

extension Exp: ClarkeDerivative {
    /// (e^x)' = e^x: [e^l, e^u], padded.
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) {
        let r = paddedRange(Foundation.exp(l), Foundation.exp(u))
        return (Swift.max(0, r.lower), r.upper)
    }
    package func secondDerivative(_ x: Double) -> Double { Foundation.exp(x) }
}

extension Exp {
    /// expf is not correctly rounded in onnxruntime (Eigen's and MLAS's polynomials): the
    /// transcendental allowance, 4 ulps of the output plus 2^-22 (`Float32Rounding.transcendental`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .transcendental }
}
