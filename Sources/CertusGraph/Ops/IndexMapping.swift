import CertusTensor

/// Operators whose output element k is either one element of the first input (`data`) or a
/// constant `fill` value: Slice, Expand, Tile, Pad (mode "constant"), Split. Every other input
/// (starts, shapes, repeats, pads) must be constant and is read at load.
///
/// Such a map is affine in `data` (a 0/1 selection matrix plus the fill offset), so the bound
/// engine treats it as `.affine` (offset from `evaluate` at 0, J^T from `backward`), and it is
/// monotone nondecreasing, so its interval image is the map applied to both ends (IBP is exact).
package protocol IndexMapping: Operator {
    /// For each output element (row-major), the flat index in `data` (of shape `inputShape`) it
    /// copies, or -1 for the constant `fill`.
    func sourceIndices(inputShape: [Int]) throws -> [Int]
    /// The value of output elements that copy nothing (Pad's constant value; 0 otherwise).
    var fill: Double { get }
}

extension IndexMapping {
    package var fill: Double { 0 }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        let shape = try outputShape(inputs.map(\.shape))
        let x = inputs[0].data, f = fill
        return Tensor(shape: shape, data: try sourceIndices(inputShape: inputs[0].shape).map { $0 < 0 ? f : x[$0] })
    }

    /// Scatter-add of the gradient into `data` (elements copied twice accumulate); the constant
    /// inputs are parameters (nil).
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        var g = Tensor(shape: inputs[0].shape, repeating: 0)
        for (k, src) in try sourceIndices(inputShape: inputs[0].shape).enumerated() where src >= 0 {
            g.data[src] += gradient.data[k]
        }
        return [g] + Array(repeating: nil, count: inputs.count - 1)
    }

    /// Affine in `data`; every other input must be constant (`make` reads them at load).
    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.dropFirst().allSatisfy { $0 } ? .affine
            : .unsupported("\(Self.opType) with computed (non-constant) parameter inputs is not supported")
    }

    /// The map applied to both ends: exact, as every output is an input element or a constant.
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        try IntervalAffine.relabel(x) { try evaluate($0) }
    }
}

/// Row-major multi-index iteration shared by the index-mapping operators.
enum IndexWalk {
    /// Calls `body(flatOutputIndex, sourceFlatIndexOrMinus1)` for every element of `outShape`,
    /// where `source(d, i)` gives the coordinate along input axis d read by output coordinate i
    /// (or nil for the fill value) and `inShape` is the input's shape (same rank as `outShape`).
    static func map(outShape: [Int], inShape: [Int], source: (Int, Int) -> Int?) -> [Int] {
        let total = outShape.reduce(1, *)
        guard total > 0 else { return [] }
        let rank = outShape.count
        let strides = Tensor.strides(of: inShape)
        // Per axis, the offset contribution of each output coordinate (-1: fill).
        let table: [[Int]] = (0..<rank).map { d in
            (0..<outShape[d]).map { i in source(d, i).map { $0 * strides[d] } ?? -1 }
        }
        var out = [Int](repeating: 0, count: total)
        var idx = [Int](repeating: 0, count: rank)
        for k in 0..<total {
            var src = 0
            for d in 0..<rank {
                let t = table[d][idx[d]]
                if t < 0 { src = -1; break }
                src += t
            }
            out[k] = src
            var d = rank - 1
            while d >= 0 {
                idx[d] += 1
                if idx[d] < outShape[d] { break }
                idx[d] = 0; d -= 1
            }
        }
        return out
    }
}

extension NodeContext {
    /// Integers from a constant input, where the ONNX convention of INT64_MAX / INT64_MIN for
    /// "to the end" is allowed: values beyond +-2^62 are clamped there (every use clamps them to
    /// a dimension afterwards).
    package func constantIndexInts(_ i: Int, what: String) throws -> [Int] {
        let t = try constantInput(i, what: what)
        return try t.data.map { v in
            guard v.isFinite, v == v.rounded() else { throw error("\(what) holds non-integer value \(v)") }
            let limit = Double(1 << 62)
            return Int(Swift.min(Swift.max(v, -limit), limit))
        }
    }

    /// Distinct axes normalised to `0..<rank`; a repeated axis is an error.
    package func distinctAxes(_ axes: [Int], rank: Int, what: String = "axes") throws -> [Int] {
        let r = try axes.map { try axis($0, rank: rank, what: what) }
        guard Set(r).count == r.count else { throw error("\(what) \(axes) repeat an axis", kind: .shape) }
        return r
    }
}
