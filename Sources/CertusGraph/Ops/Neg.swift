import Foundation
import CertusTensor

/// -x (ONNX Neg), elementwise; any shape. Affine.
package struct Neg: ElementwiseUnary, AttributeFree {
    package static let opType = "Neg"
    package init() {}
    package func apply(_ x: Double) -> Double { -x }
    package func derivative(_ x: Double, _ y: Double) -> Double { -1 }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }
    /// Decreasing: [-u, -l].
    package func image(l: Double, u: Double) -> (Double, Double) { (-u, -l) }
}

// MARK: - float32 semantics (`Float32Rounding`)

extension Neg {
    /// A sign change is exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}
