import Foundation
import CertusTensor

/// 1/x (ONNX Reciprocal), elementwise; any shape. Decreasing on each side of its pole at 0:
/// convex for x > 0, concave for x < 0 (x^-1, `PowerFunction`).
///
/// Domain: bounds need an interval without 0 (`domainViolation`: an interval holding 0 is
/// refused by IBP and so by CROWN, naming the node). IBP: [1/u, 1/l] (exact). Relaxation
/// (`CurvedRelaxation`): on l > 0 the chord above and the tangent at t = l + p (u - l) below
/// (p the lower parameter), on u < 0 the tangent above (upper parameter) and the chord below;
/// default p = 0.5. Branching point: the midpoint, or the least loose split under `.optimized`.
package struct Reciprocal: ElementwiseRelaxation, AttributeFree {
    package static let opType = "Reciprocal"
    package init() {}
    static let power = PowerFunction(-1)
    package func apply(_ x: Double) -> Double { 1 / x }
    package func derivative(_ x: Double, _ y: Double) -> Double { -y * y }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func domainViolation(l: Double, u: Double) -> String? {
        l <= 0 && u >= 0 ? "Reciprocal of the interval [\(l), \(u)], which holds 0 (a pole of 1/x)" : nil
    }
    /// [1/u, 1/l]; (-inf, +inf) outside the domain (never asked: IBP refuses first).
    package func image(l: Double, u: Double) -> (Double, Double) {
        guard domainViolation(l: l, u: u) == nil else { return (-.infinity, .infinity) }
        return (1 / u, 1 / l)
    }
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Self.power.relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter).relaxation
    }
    /// Analytic (`PowerFunction.relaxation`).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        Self.power.relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        Self.power.defaultParameters(l: l, u: u)
    }
    /// The midpoint, or under `.optimized` the least loose split (`PowerFunction.branchingPoint`).
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        Self.power.branchingPoint(l: l, u: u, strategy: strategy)
    }
}

extension Reciprocal: ClarkeDerivative {
    /// (1/x)' = -1/x^2 (`PowerFunction.derivativeRange`).
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) { Self.power.derivativeRange(l: l, u: u) }
    package func secondDerivative(_ x: Double) -> Double { 2 / (x * x * x) }
}

extension Reciprocal {
    /// 1 / x is one correctly rounded division: half an ulp, counted as one, plus the smallest subnormal for
    /// underflow (`Float32Rounding.correctlyRounded`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .correctlyRounded }
}
