import CertusTensor

/// ONNX `ReduceMin`: the minimum over `axes` (evaluation, IBP and limits shared with ReduceMax:
/// `ExtremumReduction`).
package struct ReduceMin: ExtremumReduction {
    package static let opType = "ReduceMin"
    package static let sign = -1.0
    package let axes: [Int]?
    package let keepDims: Bool
    package let isIdentity: Bool
    package init(axes: [Int]?, keepDims: Bool = true, isIdentity: Bool = false) {
        self.axes = axes; self.keepDims = keepDims; self.isIdentity = isIdentity
    }
}
