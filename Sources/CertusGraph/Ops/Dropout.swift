import CertusTensor

/// ONNX `Dropout` at inference: the identity on `data` (ONNX: "If training_mode is false, the
/// output is the input"; before opset 7 `is_test` is ignored, as inference runtimes do).
/// `ratio` is read but irrelevant. The optional `mask` output is refused if anything uses it
/// (the loader refuses every used extra output), and so is a `training_mode` input that is
/// computed or true. Shape-only: bounds pass straight through.
package struct Dropout: Operator, ShapeOnly {
    package static let opType = "Dropout"

    package init() {}

    package static func make(_ node: NodeContext) throws -> Dropout {
        guard (1...3).contains(node.inputShapes.count) else { throw node.error("Dropout takes 1 to 3 inputs, got \(node.inputShapes.count)") }
        if node.inputShapes.count == 3 {
            let mode = try node.constantInput(2, what: "training_mode")
            guard mode.data.allSatisfy({ $0 == 0 }) else {
                throw node.unsupported("Dropout with training_mode true is random; only inference (training_mode false) is supported")
            }
        }
        return Dropout()
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...3, Self.opType)
        return s[0]
    }
}
