import CertusTensor

/// 2-D average pooling, NCHW.
package struct AveragePool: Operator {
    package static let opType = "AveragePool"
    package let window: Window2D
    package let countIncludePad: Bool

    package static func make(_ node: NodeContext) throws -> AveragePool {
        guard let x = node.inputShapes.first, x.count == 4 else {
            throw node.unsupported("only 2-D pooling (4-D input) is supported; input is \(node.inputShapes.first ?? [])")
        }
        guard let kernel = try node.ints("kernel_shape") else { throw node.error("missing required attribute 'kernel_shape'") }
        return AveragePool(window: try Window2D.make(node, kernel: kernel, inputHW: Array(x[2...])),
                           countIncludePad: try node.int("count_include_pad", default: 0) != 0)
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...1, Self.opType)
        guard s[0].count == 4 else { throw ModelError(.shape, "AveragePool needs a 4-D input, got \(s[0])") }
        return Array(s[0][0..<2]) + (try window.outputHW(Array(s[0][2...])))
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        var out = [Double]()
        try forEachWindow(inputs[0].shape) { _, cells, divisor in
            var sum = 0.0
            for c in cells { sum += inputs[0].data[c] }
            out.append(divisor > 0 ? sum / Double(divisor) : 0)
        }
        return Tensor(shape: try outputShape([inputs[0].shape]), data: out)
    }

    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }

    /// Averages are monotone: pool both ends.
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        try IntervalAffine.relabel(x) { try evaluate($0) }
    }

    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        var gx = Tensor(shape: inputs[0].shape, repeating: 0)
        try forEachWindow(inputs[0].shape) { o, cells, divisor in
            guard divisor > 0 else { return }
            for c in cells { gx.data[c] += gradient.data[o] / Double(divisor) }
        }
        return [gx]
    }

    /// Calls `body(outputIndex, inputCellsInside, divisor)` for every output element, in order.
    func forEachWindow(_ xs: [Int], _ body: (Int, [Int], Int) -> Void) throws {
        let os = try outputShape([xs])
        let (h, w, oh, ow) = (xs[2], xs[3], os[2], os[3])
        var cells: [Int] = []
        cells.reserveCapacity(window.kernel[0] * window.kernel[1])
        for plane in 0..<(xs[0] * xs[1]) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    cells.removeAll(keepingCapacity: true)
                    var padded = 0
                    for i in 0..<window.kernel[0] {
                        let iy = oy * window.strides[0] - window.pads[0] + i * window.dilations[0]
                        for j in 0..<window.kernel[1] {
                            let ix = ox * window.strides[1] - window.pads[1] + j * window.dilations[1]
                            if iy >= 0 && iy < h && ix >= 0 && ix < w {
                                cells.append(plane * h * w + iy * w + ix)
                            } else if iy < h + window.pads[2] && ix < w + window.pads[3] {
                                padded += 1   // explicit padding, not the ceil_mode overhang
                            }
                        }
                    }
                    body((plane * oh + oy) * ow + ox, cells, countIncludePad ? cells.count + padded : cells.count)
                }
            }
        }
    }
}

extension AveragePool {
    /// A sum over the kH x kW window and one division (or a multiplication by a rounded 1/n):
    /// window size + 2 roundings per term.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding {
        .sums(roundings: window.kernel.reduce(1, *) + 2)
    }
}
