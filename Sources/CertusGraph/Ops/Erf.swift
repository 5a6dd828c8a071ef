import Foundation
import CertusTensor

/// The error function (ONNX Erf), elementwise; any shape. Everything but f, f' and f'' comes
/// from `SShapedActivation`.
package struct Erf: SShapedActivation, AttributeFree {
    package static let opType = "Erf"
    package init() {}
    package func apply(_ x: Double) -> Double { Foundation.erf(x) }
    package func derivative(_ x: Double, _ y: Double) -> Double { 2 / Double.pi.squareRoot() * exp(-x * x) }
    package static let shape = SShapedRelaxation(f: { Foundation.erf($0) }, df: { 2 / Double.pi.squareRoot() * exp(-$0 * $0) },
                                                 d2f: { -4 * $0 / Double.pi.squareRoot() * exp(-$0 * $0) })
    package static let branchingFunction = BranchingPoints.Function.erf
}

// MARK: - float32 semantics (`Float32Rounding`)

extension Erf {
    /// erff is not correctly rounded in onnxruntime (MLAS's polynomial): the transcendental
    /// allowance, 4 ulps of the output plus 2^-22 absolute (`Float32Rounding.transcendental`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .transcendental }
}

// MARK: - gradient node (`ClarkeDerivative`)

extension Erf: ClarkeDerivative {
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) {
        bellRange(l, u) { 2 / Double.pi.squareRoot() * exp(-$0 * $0) }
    }
    package func secondDerivative(_ x: Double) -> Double { -4 * x / Double.pi.squareRoot() * exp(-x * x) }
}
