import CertusTensor

/// ONNX `Split`: cuts `data` along `axis` into consecutive parts, one per output. The part
/// sizes come from the attribute `split` (opsets 2 to 12) or the constant input `split` (opset 1
/// and from opset 13); without them the axis is divided equally among the outputs (from opset 18 into
/// `num_outputs` parts of ceil(d / n), the last one smaller). The graph IR has one output per
/// node, so the loader makes one `Split` node per used output (`part`), each an `IndexMapping`
/// (affine, exact IBP).
///
/// Errors (at load, naming the node): computed sizes, sizes that do not add up to the axis,
/// an axis the outputs do not divide equally (before opset 18), an output count that does not
/// match `num_outputs` or the sizes.
package struct Split: Operator, IndexMapping, MultipleOutputs {
    package static let opType = "Split"
    package let axis: Int
    /// Size of every part along `axis`, in output order.
    package let sizes: [Int]
    /// Which output this node computes.
    package let part: Int

    package init(axis: Int, sizes: [Int], part: Int = 0) {
        self.axis = axis; self.sizes = sizes; self.part = part
    }

    package static func make(_ node: NodeContext) throws -> Split {
        guard let shape = node.inputShapes.first, !shape.isEmpty else { throw node.error("Split needs data of rank >= 1", kind: .shape) }
        let axis = try node.axis(try node.int("axis", default: 0), rank: shape.count)
        let d = shape[axis], n = node.outputCount
        var sizes: [Int]
        if node.opset < 13, let s = try node.ints("split") {
            sizes = s
        } else if node.inputShapes.count > 1 {   // an input from opset 13 (and in opset 1)
            sizes = try node.constantInts(1, what: "split")
        } else if node.opset >= 18, node.attributes["num_outputs"] != nil {
            let k = try node.int("num_outputs")
            guard k >= 1, k == n else { throw node.error("Split num_outputs \(k) differs from the node's \(n) outputs") }
            let chunk = (d + k - 1) / k
            sizes = (0..<k).map { Swift.max(0, Swift.min(chunk, d - $0 * chunk)) }
        } else {
            guard n >= 1, d % n == 0 else {
                throw node.error("Split of axis \(axis) (size \(d)) into \(n) equal parts is impossible", kind: .shape)
            }
            sizes = [Int](repeating: d / n, count: n)
        }
        guard sizes.count == n else { throw node.error("Split sizes \(sizes) give \(sizes.count) parts for \(n) outputs", kind: .shape) }
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == d else {
            throw node.error("Split sizes \(sizes) do not add up to axis \(axis) of size \(d)", kind: .shape)
        }
        return Split(axis: axis, sizes: sizes)
    }

    package var outputCount: Int { sizes.count }
    package func output(_ k: Int) -> any Operator { Split(axis: axis, sizes: sizes, part: k) }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...2, Self.opType)
        guard axis < s[0].count, s[0][axis] == sizes.reduce(0, +) else {
            throw ModelError(.shape, "Split sizes \(sizes) along axis \(axis) do not fit input \(s[0])")
        }
        var out = s[0]
        out[axis] = sizes[part]
        return out
    }

    package func sourceIndices(inputShape: [Int]) throws -> [Int] {
        let offset = sizes[..<part].reduce(0, +)
        return IndexWalk.map(outShape: try outputShape([inputShape]), inShape: inputShape) { d, i in d == axis ? i + offset : i }
    }
}

/// An operator with several outputs. The graph IR gives each node one output, so the loader
/// builds `output(k)` as its own node for every used output k (output 0 is the operator itself).
package protocol MultipleOutputs: Operator {
    /// How many outputs the operator defines.
    var outputCount: Int { get }
    /// The operator computing output `k` (0 <= k < outputCount) from the same inputs.
    func output(_ k: Int) -> any Operator
}
