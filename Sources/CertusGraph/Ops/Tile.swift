import CertusTensor

/// ONNX `Tile` (opset 6 on: `repeats` as an input): repeats `data` `repeats[d]` times along each
/// axis d, output dimension `data.shape[d] * repeats[d]`. Each output element is an element of
/// `data`: an `IndexMapping` (affine, exact IBP).
///
/// Errors (at load, naming the node): computed repeats, a negative repeat, a repeats length
/// other than the rank.
package struct Tile: Operator, IndexMapping {
    package static let opType = "Tile"
    package static var opsets: ClosedRange<Int> { 6...OperatorRegistry.newestOpset }
    package let repeats: [Int]

    package init(repeats: [Int]) { self.repeats = repeats }

    package static func make(_ node: NodeContext) throws -> Tile {
        guard node.opset >= 6 else { throw node.unsupported("Tile before opset 6 (tiles and axis inputs) is not supported") }
        guard node.inputShapes.count == 2 else { throw node.error("Tile takes 2 inputs (input, repeats), got \(node.inputShapes.count)") }
        let repeats = try node.constantInts(1, what: "repeats")
        guard repeats.count == node.inputShapes[0].count, repeats.allSatisfy({ $0 >= 0 }) else {
            throw node.error("Tile repeats \(repeats) must be one non-negative count per axis of \(node.inputShapes[0])", kind: .shape)
        }
        return Tile(repeats: repeats)
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 2...2, Self.opType)
        guard s[0].count == repeats.count else { throw ModelError(.shape, "Tile repeats \(repeats) do not fit input \(s[0])") }
        return zip(s[0], repeats).map { $0 * $1 }
    }

    package func sourceIndices(inputShape: [Int]) throws -> [Int] {
        IndexWalk.map(outShape: try outputShape([inputShape, [repeats.count]]), inShape: inputShape) { d, i in i % inputShape[d] }
    }
}
