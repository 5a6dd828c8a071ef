import CertusTensor

/// Spatial window geometry shared by Conv and AveragePool (2-D, NCHW).
package struct Window2D: Sendable, Equatable {
    package var kernel: [Int]      // kH, kW
    package var strides: [Int]     // sH, sW
    package var dilations: [Int]   // dH, dW
    package var pads: [Int]        // top, left, bottom, right
    package var ceilMode: Bool

    /// Reads kernel_shape (or `kernel` when given from weights), strides, dilations, pads and
    /// auto_pad. `inputHW` is needed to resolve SAME_* padding.
    static func make(_ node: NodeContext, kernel: [Int], inputHW: [Int]) throws -> Window2D {
        let strides = try node.ints("strides") ?? [1, 1]
        let dilations = try node.ints("dilations") ?? [1, 1]
        var pads = try node.ints("pads") ?? [0, 0, 0, 0]
        guard kernel.count == 2, strides.count == 2, dilations.count == 2, pads.count == 4 else {
            throw node.unsupported("only 2-D windows are supported (kernel \(kernel), strides \(strides), dilations \(dilations), pads \(pads))")
        }
        guard kernel.allSatisfy({ $0 > 0 }), strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }),
              pads.allSatisfy({ $0 >= 0 }) else {
            throw node.error("kernel, strides and dilations must be positive and pads non-negative")
        }
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        switch autoPad {
        case "NOTSET": break
        case "VALID": pads = [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            for d in 0..<2 {
                let out = (inputHW[d] + strides[d] - 1) / strides[d]
                let total = max(0, (out - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - inputHW[d])
                let small = total / 2, big = total - small
                if autoPad == "SAME_UPPER" { pads[d] = small; pads[d + 2] = big } else { pads[d] = big; pads[d + 2] = small }
            }
        default: throw node.error("unknown auto_pad '\(autoPad)'")
        }
        return Window2D(kernel: kernel, strides: strides, dilations: dilations, pads: pads,
                        ceilMode: try node.int("ceil_mode", default: 0) != 0)
    }

    /// Output height and width for an input of height and width `hw`.
    package func outputHW(_ hw: [Int]) throws -> [Int] {
        try (0..<2).map { d in
            let span = hw[d] + pads[d] + pads[d + 2] - ((kernel[d] - 1) * dilations[d] + 1)
            guard span >= 0 else {
                throw ModelError(.shape, "window \(kernel) (dilation \(dilations)) is larger than the padded input \(hw)")
            }
            var o = (ceilMode ? (span + strides[d] - 1) / strides[d] : span / strides[d]) + 1
            // With ceil_mode the last window must start inside the input or left padding.
            if ceilMode, (o - 1) * strides[d] >= hw[d] + pads[d] { o -= 1 }
            return o
        }
    }
}

/// 2-D convolution, NCHW, with pads, strides, dilations and groups. Infinite or NaN operands
/// follow IEEE 754 as in onnxruntime: `0 * inf` is NaN for input values, while padding adds
/// nothing (see `plainConvolution` and `FiniteOperands`).
package struct Conv: Operator {
    package static let opType = "Conv"
    package let window: Window2D
    package let group: Int
    /// Inputs known finite at construction (see `FiniteOperands`).
    package let finiteOperands: FiniteOperands

    package init(window: Window2D, group: Int, finiteOperands: FiniteOperands = FiniteOperands()) {
        self.window = window
        self.group = group
        self.finiteOperands = finiteOperands
    }

    package static func make(_ node: NodeContext) throws -> Conv {
        guard node.inputShapes.count >= 2 else { throw node.error("Conv needs inputs X and W") }
        let x = node.inputShapes[0], w = node.inputShapes[1]
        guard x.count == 4, w.count == 4 else {
            throw node.unsupported("only 2-D convolution (4-D X and W) is supported; X is \(x), W is \(w)")
        }
        let kernel = try node.ints("kernel_shape") ?? Array(w[2...])
        guard kernel == Array(w[2...]) else {
            throw node.error("kernel_shape \(kernel) does not match the weight shape \(w)", kind: .shape)
        }
        return Conv(window: try Window2D.make(node, kernel: kernel, inputHW: Array(x[2...])),
                    group: try node.int("group", default: 1), finiteOperands: FiniteOperands(node))
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 2...3, Self.opType)
        let x = s[0], w = s[1]
        guard x.count == 4, w.count == 4 else { throw ModelError(.shape, "Conv needs 4-D X and W, got \(x) and \(w)") }
        guard group > 0, x[1] % group == 0, w[0] % group == 0, w[1] * group == x[1] else {
            throw ModelError(.shape, "Conv channels do not fit: X has \(x[1]) channels, W is \(w), group \(group)")
        }
        if s.count == 3, s[2] != [w[0]] {
            throw ModelError(.shape, "Conv bias has shape \(s[2]), expected [\(w[0])]")
        }
        let hw = try window.outputHW(Array(x[2...]))
        return [x[0], w[0]] + hw
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        let xs = inputs[0].shape, ws = inputs[1].shape
        let outShape = try outputShape(inputs.map(\.shape))
        let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3])
        let (m, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3])
        let (oh, ow) = (outShape[2], outShape[3])
        let mg = m / group
        let cols = oh * ow, rows = cg * kh * kw
        var out = [Double](repeating: 0, count: outShape.reduce(1, *))
        guard !out.isEmpty, rows > 0 else { return Tensor(shape: outShape, data: out) }
        if !finiteOperands.allFinite(inputs, [0, 1]) {
            return Tensor(shape: outShape, data: plainConvolution(inputs, outShape: outShape))
        }
        var col = [Double](repeating: 0, count: rows * cols)
        let x = inputs[0].data, wt = inputs[1].data
        for b in 0..<n {
            for g in 0..<group {
                // im2col for this image and group
                for ci in 0..<cg {
                    let chan = g * cg + ci
                    let xBase = (b * c + chan) * h * w
                    for i in 0..<kh {
                        for j in 0..<kw {
                            let r = (ci * kh + i) * kw + j
                            for oy in 0..<oh {
                                let iy = oy * window.strides[0] - window.pads[0] + i * window.dilations[0]
                                for ox in 0..<ow {
                                    let ix = ox * window.strides[1] - window.pads[1] + j * window.dilations[1]
                                    col[r * cols + oy * ow + ox] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x[xBase + iy * w + ix] : 0
                                }
                            }
                        }
                    }
                }
                wt.withUnsafeBufferPointer { pw in
                    col.withUnsafeBufferPointer { pc in
                        out.withUnsafeMutableBufferPointer { po in
                            BLAS.gemm(m: mg, n: cols, k: rows,
                                      a: pw.baseAddress! + g * mg * rows, b: pc.baseAddress!,
                                      c: po.baseAddress! + (b * m + g * mg) * cols)
                        }
                    }
                }
            }
            if inputs.count == 3 {
                for oc in 0..<m {
                    let bias = inputs[2].data[oc]
                    let base = (b * m + oc) * cols
                    for t in 0..<cols { out[base + t] += bias }
                }
            }
        }
        return Tensor(shape: outShape, data: out)
    }

    /// The convolution (bias included) by direct loops, for operands holding an infinity or NaN:
    /// every product of a weight and an input value is formed (`0 * inf` is NaN), while padding
    /// positions contribute nothing (no `0 * inf` there), which is what onnxruntime computes
    /// (checked on kernels from 1 x 1 to 3 x 3 with padding, strides, dilations and groups).
    func plainConvolution(_ inputs: [Tensor], outShape: [Int]) -> [Double] {
        let xs = inputs[0].shape, ws = inputs[1].shape
        let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3])
        let (m, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3])
        let (oh, ow) = (outShape[2], outShape[3])
        let mg = m / group
        let x = inputs[0].data, wt = inputs[1].data
        var out = [Double](repeating: 0, count: outShape.reduce(1, *))
        for b in 0..<n {
            for oc in 0..<m {
                let g = oc / mg
                let bias = inputs.count == 3 ? inputs[2].data[oc] : 0
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var s = 0.0
                        for ci in 0..<cg {
                            let xBase = (b * c + g * cg + ci) * h * w
                            let wBase = (oc * cg + ci) * kh * kw
                            for i in 0..<kh {
                                let iy = oy * window.strides[0] - window.pads[0] + i * window.dilations[0]
                                guard iy >= 0 && iy < h else { continue }
                                for j in 0..<kw {
                                    let ix = ox * window.strides[1] - window.pads[1] + j * window.dilations[1]
                                    guard ix >= 0 && ix < w else { continue }
                                    s += wt[wBase + i * kw + j] * x[xBase + iy * w + ix]
                                }
                            }
                        }
                        out[((b * m + oc) * oh + oy) * ow + ox] = s + bias
                    }
                }
            }
        }
        return out
    }

    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.dropFirst().allSatisfy { $0 } ? .affine : .unsupported("Conv with variable weights")
    }

    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        guard x.dropFirst().allSatisfy({ $0.lower == $0.upper }) else { throw BoundError("Conv with variable weights is not supported") }
        let (c, r) = IntervalAffine.midRadius(x[0])
        let center = try evaluate([c] + x.dropFirst().map(\.lower))
        let radius = try evaluate([r, IntervalAffine.abs(x[1].lower)])
        return IntervalAffine.combine(center: center, radius: radius)
    }

    /// Gradient with respect to X (col2im of W^T g); weights and bias are parameters.
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        let xs = inputs[0].shape, ws = inputs[1].shape
        let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3])
        let (m, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3])
        let (oh, ow) = (output.shape[2], output.shape[3])
        let mg = m / group, cols = oh * ow, rows = cg * kh * kw
        var gx = [Double](repeating: 0, count: inputs[0].count)
        guard cols > 0, rows > 0, mg > 0 else { return [Tensor(shape: xs, data: gx), nil, nil] }
        let wt = inputs[1].data, g = gradient.data
        for b in 0..<n {
            for grp in 0..<group {
                let wSlice = Array(wt[(grp * mg * rows)..<((grp + 1) * mg * rows)])
                let gSlice = Array(g[((b * m + grp * mg) * cols)..<((b * m + (grp + 1) * mg) * cols)])
                let col = BLAS.matmul(wSlice, gSlice, m: rows, n: cols, k: mg, transA: true)   // W^T g
                for ci in 0..<cg {
                    let xBase = (b * c + grp * cg + ci) * h * w
                    for i in 0..<kh { for j in 0..<kw {
                        let r = (ci * kh + i) * kw + j
                        for oy in 0..<oh {
                            let iy = oy * window.strides[0] - window.pads[0] + i * window.dilations[0]
                            guard iy >= 0 && iy < h else { continue }
                            for ox in 0..<ow {
                                let ix = ox * window.strides[1] - window.pads[1] + j * window.dilations[1]
                                if ix >= 0 && ix < w { gx[xBase + iy * w + ix] += col[r * cols + oy * ow + ox] }
                            }
                        }
                    } }
                }
            }
        }
        return [Tensor(shape: xs, data: gx)] + Array(repeating: nil, count: inputs.count - 1)
    }
}

extension Conv {
    /// Each output a dot product over (C / group) x kH x kW weights plus the bias: that many
    /// roundings plus one per term (any summation order; im2col + GEMM as onnxruntime's MLAS
    /// computes it; FFT or Winograd convolution would need another model).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding {
        guard inputShapes.count >= 2, inputShapes[1].count >= 2 else { return .unmodelled("Conv weight shape unknown") }
        return .sums(roundings: inputShapes[1].dropFirst().reduce(1, *) + 1)
    }
}
