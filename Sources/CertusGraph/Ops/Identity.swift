import Foundation
import CertusTensor

/// x (ONNX Identity); any shape. Affine, its input unchanged.
package struct Identity: ElementwiseUnary, AttributeFree {
    package static let opType = "Identity"
    package init() {}
    package func apply(_ x: Double) -> Double { x }
    package func derivative(_ x: Double, _ y: Double) -> Double { 1 }
    package func evaluate(_ inputs: [Tensor]) throws -> Tensor { inputs[0] }
    /// Its input, unchanged.
    package var preservesData: Bool { true }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }
    package func image(l: Double, u: Double) -> (Double, Double) { (l, u) }
}

// MARK: - float32 semantics (`Float32Rounding`)

extension Identity {
    /// A copy is exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}
