import Foundation
import CertusTensor

/// The logistic sigmoid 1 / (1 + e^-x) (ONNX Sigmoid), elementwise; any shape. Everything but f,
/// f' and f'' comes from `SShapedActivation`.
package struct Sigmoid: SShapedActivation, AttributeFree {
    package static let opType = "Sigmoid"
    package init() {}
    package func apply(_ x: Double) -> Double {
        // Stable on both tails.
        if x >= 0 { return 1 / (1 + exp(-x)) }
        let e = exp(x)
        return e / (1 + e)
    }
    package func derivative(_ x: Double, _ y: Double) -> Double { y * (1 - y) }
    package static let shape = SShapedRelaxation(f: { Sigmoid().apply($0) }, df: { let s = Sigmoid().apply($0); return s * (1 - s) },
                                                 d2f: { let s = Sigmoid().apply($0); return s * (1 - s) * (1 - 2 * s) })
    package static let branchingFunction = BranchingPoints.Function.sigmoid
}

// MARK: - float32 semantics (`Float32Rounding`)

extension Sigmoid {
    /// ONNX leaves the accuracy open: the smooth-activation allowance (`Float32Rounding.smoothActivation`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .smoothActivation }
}

// MARK: - gradient node (`ClarkeDerivative`)

extension Sigmoid: ClarkeDerivative {
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) {
        bellRange(l, u) { let s = apply($0); return s * (1 - s) }
    }
    package func secondDerivative(_ x: Double) -> Double { let s = apply(x); return s * (1 - s) * (1 - 2 * s) }
}
