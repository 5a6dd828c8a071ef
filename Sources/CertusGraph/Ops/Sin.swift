import Foundation
import CertusTensor

/// sin (ONNX Sin), elementwise; any shape, any magnitude (`Periodic`). Its bounds come from
/// `PeriodicActivation` with no shift.
package struct Sin: PeriodicActivation, AttributeFree {
    package static let opType = "Sin"
    package init() {}
    package func apply(_ x: Double) -> Double { Foundation.sin(x) }
    package func derivative(_ x: Double, _ y: Double) -> Double { Foundation.cos(x) }
    package static let shift: Double = 0
    package static let branchingFunction = BranchingPoints.Function.sin
}

// MARK: - float32 semantics (`Float32Rounding`)

extension Sin {
    /// sinf with full range reduction, not correctly rounded: the transcendental allowance, 4 ulps
    /// of the output plus 2^-22 absolute (`Float32Rounding.transcendental`). onnxruntime 1.32's
    /// kernel stays within 0.17 of it on inputs up to 3e38 (`scripts/make_float32_ops.py`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .transcendental }
}

// MARK: - gradient node (`ClarkeDerivative`)

extension Sin: ClarkeDerivative {
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) { cosineRange(l, u) }
    package func secondDerivative(_ x: Double) -> Double { -Foundation.sin(x) }
}
