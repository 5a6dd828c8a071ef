import Foundation
import CertusTensor

/// tanh (ONNX Tanh), elementwise; any shape. Everything but f, f' and f'' comes from
/// `SShapedActivation`.
package struct Tanh: SShapedActivation, AttributeFree {
    package static let opType = "Tanh"
    package init() {}
    package func apply(_ x: Double) -> Double { Foundation.tanh(x) }
    package func derivative(_ x: Double, _ y: Double) -> Double { 1 - y * y }
    package static let shape = SShapedRelaxation(f: { Foundation.tanh($0) }, df: { let t = Foundation.tanh($0); return 1 - t * t },
                                                 d2f: { let t = Foundation.tanh($0); return -2 * t * (1 - t * t) })
    package static let branchingFunction = BranchingPoints.Function.tanh
}

// MARK: - float32 semantics (`Float32Rounding`)

extension Tanh {
    /// ONNX leaves the accuracy open: the smooth-activation allowance (`Float32Rounding.smoothActivation`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .smoothActivation }
}

// MARK: - gradient node (`ClarkeDerivative`)

extension Tanh: ClarkeDerivative {
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) {
        bellRange(l, u) { let t = Foundation.tanh($0); return 1 - t * t }
    }
    package func secondDerivative(_ x: Double) -> Double { let t = Foundation.tanh(x); return -2 * t * (1 - t * t) }
}
