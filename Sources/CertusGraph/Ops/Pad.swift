import CertusTensor

/// ONNX `Pad` with mode "constant": `pads = [x1_begin, x2_begin, ..., x1_end, x2_end, ...]`
/// elements of `constant_value` added before and after each axis (negative pads crop). Pads and
/// the value are the attributes `paddings` (opset 1) or `pads`/`value` (opsets 2 to 10), the
/// constant inputs `pads`, `constant_value` (opset 11) and `axes` (opset 18, the pads then name
/// only those axes). Output dimension `d + begin + end`. Each output element is an element of
/// `data` or the constant: an `IndexMapping` (affine with offset, exact IBP).
///
/// Errors (at load, naming the node): modes "reflect", "edge" and "wrap" (unsupported), computed
/// pads/value/axes, pads of the wrong length, a negative output dimension.
package struct Pad: Operator, IndexMapping {
    package static let opType = "Pad"
    /// Begin pads per axis (negative: cropped), then end pads per axis.
    package let begins: [Int]
    package let ends: [Int]
    package let value: Double
    package var fill: Double { value }

    package init(begins: [Int], ends: [Int], value: Double) {
        self.begins = begins; self.ends = ends; self.value = value
    }

    /// An omitted constant_value (with axes given) is 0.
    package static func omittedInput(at position: Int, inputShapes: [[Int]?]) -> Tensor? {
        position == 2 ? Tensor(shape: [], data: [0]) : nil
    }

    package static func make(_ node: NodeContext) throws -> Pad {
        guard let shape = node.inputShapes.first else { throw node.error("Pad needs a data input") }
        let rank = shape.count
        let mode = try node.string("mode", default: "constant")
        guard mode == "constant" else { throw node.unsupported("Pad mode '\(mode)' is not supported (only 'constant')") }
        var pads: [Int], value = 0.0, axes = Array(0..<rank)
        if node.opset < 11 {
            guard let p = try node.ints(node.opset < 2 ? "paddings" : "pads") else {
                throw node.error("Pad before opset 11 needs attribute '\(node.opset < 2 ? "paddings" : "pads")'")
            }
            pads = p
            value = try node.float("value", default: 0)
        } else {
            guard node.inputShapes.count >= 2 else { throw node.error("Pad takes inputs (data, pads[, constant_value[, axes]])") }
            pads = try node.constantInts(1, what: "pads")
            if node.inputShapes.count > 2 {
                let v = try node.constantInput(2, what: "constant_value")
                guard v.count == 1, v.data[0].isFinite else { throw node.error("Pad constant_value must be one finite number, got \(v.data)") }
                value = v.data[0]
            }
            if node.inputShapes.count > 3 { axes = try node.distinctAxes(try node.constantInts(3, what: "axes"), rank: rank) }
        }
        guard pads.count == 2 * axes.count else {
            throw node.error("Pad pads \(pads) must hold 2 x \(axes.count) values (begins then ends)", kind: .shape)
        }
        var begins = [Int](repeating: 0, count: rank), ends = begins
        for (k, a) in axes.enumerated() { begins[a] = pads[k]; ends[a] = pads[k + axes.count] }
        for d in 0..<rank where shape[d] + begins[d] + ends[d] < 0 {
            throw node.error("Pad pads \(pads) crop axis \(d) of size \(shape[d]) below zero", kind: .shape)
        }
        return Pad(begins: begins, ends: ends, value: value)
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...4, Self.opType)
        guard s[0].count == begins.count else { throw ModelError(.shape, "Pad built for rank \(begins.count), got input \(s[0])") }
        let out = (0..<begins.count).map { s[0][$0] + begins[$0] + ends[$0] }
        guard out.allSatisfy({ $0 >= 0 }) else { throw ModelError(.shape, "Pad crops \(s[0]) below zero") }
        return out
    }

    package func sourceIndices(inputShape: [Int]) throws -> [Int] {
        IndexWalk.map(outShape: try outputShape([inputShape]), inShape: inputShape) { d, i in
            let j = i - begins[d]
            return j >= 0 && j < inputShape[d] ? j : nil
        }
    }
}
