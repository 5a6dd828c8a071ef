import CertusTensor

/// ONNX `MaxPool`, 2-D (NCHW input): the maximum over each window, with kernel_shape, strides,
/// pads, dilations, auto_pad and ceil_mode read as AveragePool reads them (`Window2D`). Padding
/// cells are ignored (-inf). `storage_order` only affects the Indices output; a used Indices
/// output is refused at load (only a node's first output may be used).
///
/// Bounds: IBP is exact (the window maximum of the lower ends and of the upper ends). CROWN
/// refuses the node with its name: a maximum over several variables (auto_LiRPA's BoundMaxPool,
/// ERAN's MaxPool handling) needs a multi-input relaxation the engine does not have.
package struct MaxPool: Operator {
    package static let opType = "MaxPool"
    package let window: Window2D

    package init(window: Window2D) { self.window = window }

    package static func make(_ node: NodeContext) throws -> MaxPool {
        guard let x = node.inputShapes.first, x.count == 4 else {
            throw node.unsupported("only 2-D pooling (4-D input) is supported; input is \(node.inputShapes.first ?? [])")
        }
        guard let kernel = try node.ints("kernel_shape") else { throw node.error("missing required attribute 'kernel_shape'") }
        return MaxPool(window: try Window2D.make(node, kernel: kernel, inputHW: Array(x[2...])))
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...1, Self.opType)
        guard s[0].count == 4 else { throw ModelError(.shape, "MaxPool needs a 4-D input, got \(s[0])") }
        return Array(s[0][0..<2]) + (try window.outputHW(Array(s[0][2...])))
    }

    /// The window iteration is AveragePool's (same windows, padding and ceil_mode overhang).
    private var windows: AveragePool { AveragePool(window: window, countIncludePad: false) }

    /// NaN propagates; a window with no input cell (only possible with degenerate padding) gives -inf.
    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        var out = [Double]()
        try windows.forEachWindow(inputs[0].shape) { _, cells, _ in
            var m = -Double.infinity
            for c in cells {
                let v = inputs[0].data[c]
                if v.isNaN || m.isNaN { m = .nan } else if v > m { m = v }
            }
            out.append(m)
        }
        return Tensor(shape: try outputShape([inputs[0].shape]), data: out)
    }

    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        .unsupported("MaxPool has no linear relaxation in this engine; IBP bounds only")
    }

    /// Monotone: pool both ends (exact).
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        try IntervalAffine.relabel(x) { try evaluate($0) }
    }

    /// The gradient goes to the first cell attaining each window's maximum.
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        var gx = Tensor(shape: inputs[0].shape, repeating: 0)
        try windows.forEachWindow(inputs[0].shape) { o, cells, _ in
            if let c = cells.first(where: { inputs[0].data[$0] == output.data[o] }) { gx.data[c] += gradient.data[o] }
        }
        return [gx]
    }
}
