import CertusTensor

/// ONNX `MaxPool`, 2-D (NCHW input): the maximum over each window, with kernel_shape, strides,
/// pads, dilations, auto_pad and ceil_mode read as AveragePool reads them (`Window2D`). Padding
/// cells are ignored (-inf). `storage_order` only affects the Indices output; a used Indices
/// output is refused at load (only a node's first output may be used).
///
/// Bounds: IBP is exact (the window maximum of the lower ends and of the upper ends). CROWN,
/// alpha-CROWN and branch and bound bound the decomposition (`decomposition`: pairwise maxima
/// max(a, b) = a + relu(b - a) of the window's cells, a balanced tree).
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

    /// NaN propagates. A window with no input cell (padding and dilation can leave one, e.g.
    /// a 1-row input, pads 1, kernel 2 with dilation 2: rows -1 and 1) gives the lowest float32,
    /// -3.4028234663852886e38, as onnxruntime does (its kernels start every window's maximum
    /// there), not -inf.
    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        var out = [Double]()
        try windows.forEachWindow(inputs[0].shape) { _, cells, _ in
            if cells.isEmpty { out.append(-Double(Float.greatestFiniteMagnitude)); return }
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
        .unsupported("MaxPool is bounded through its decomposition (BoundDecomposition); the node itself has no relaxation")
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

extension MaxPool: BoundDecomposition {
    /// Each window's maximum as a balanced tree of pairwise maxima of gathered cells
    /// (`SubgraphBuilder.extremum(overGroups:)`: max(a, b) = a + relu(b - a); padding cells are
    /// left out, a window with fewer cells repeats one). CROWN then relaxes the pool with ReLU
    /// triangles, as the DeepPoly-style pool relaxations are built from pairwise maxima. nil
    /// (kept as is, IBP only) for a window without cells.
    package func decomposition(_ node: Node, shapes: [[Int]], variable: [Bool], builder: inout SubgraphBuilder) -> [Node]? {
        guard variable.first == true, let out = try? outputShape(shapes) else { return nil }
        var groups: [[Int]] = []
        do { try windows.forEachWindow(shapes[0]) { _, cells, _ in groups.append(cells) } } catch { return nil }
        guard groups.count == out.reduce(1, *), groups.allSatisfy({ !$0.isEmpty }) else { return nil }
        return builder.extremum(overGroups: groups, of: node.inputs[0], inputShape: shapes[0], outShape: out,
                                sign: 1, name: node.name, output: node.output)
    }
}

extension MaxPool {
    /// A selection of one window element: exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}
