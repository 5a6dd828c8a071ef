import Foundation
import CertusTensor

/// cos (ONNX Cos), elementwise; any shape: sin shifted by pi/2 (`PeriodicActivation`).
package struct Cos: PeriodicActivation, AttributeFree {
    package static let opType = "Cos"
    package init() {}
    package func apply(_ x: Double) -> Double { Foundation.cos(x) }
    package func derivative(_ x: Double, _ y: Double) -> Double { -Foundation.sin(x) }
    package static let shift: Double = .pi / 2
    package static let branchingFunction = BranchingPoints.Function.cos
}

// MARK: - float32 semantics (`Float32Rounding`)

extension Cos {
    /// cosf: as Sin (`Float32Rounding.transcendental`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .transcendental }
}

// MARK: - gradient node (`ClarkeDerivative`)

extension Cos: ClarkeDerivative {
    /// -sin x = cos(x + pi/2).
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) {
        cosineRange(l + .pi / 2, u + .pi / 2)
    }
    package func secondDerivative(_ x: Double) -> Double { -Foundation.cos(x) }
}
