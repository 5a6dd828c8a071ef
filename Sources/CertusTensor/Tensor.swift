/// A dense, row-major tensor of `Double` values.
///
/// Certus evaluates and bounds every model in `Double`; float32 weights are widened exactly
/// at load. A scalar has shape `[]` and one element.
package struct Tensor: Equatable, Sendable, CustomStringConvertible {
    package var shape: [Int]
    package var data: [Double]

    /// Creates a tensor; `data.count` must equal the product of `shape` (checked by the caller:
    /// use `Tensor.make` where the sizes come from user data).
    package init(shape: [Int], data: [Double]) {
        precondition(shape.reduce(1, *) == data.count, "tensor shape \(shape) does not match \(data.count) values")
        self.shape = shape
        self.data = data
    }

    /// Creates a tensor filled with `value`.
    package init(shape: [Int], repeating value: Double) {
        self.shape = shape
        self.data = [Double](repeating: value, count: shape.reduce(1, *))
    }

    /// A 0-dimensional tensor.
    package init(scalar: Double) {
        self.shape = []
        self.data = [scalar]
    }

    /// Creates a tensor from user-supplied sizes, throwing instead of trapping when they disagree.
    package static func make(shape: [Int], data: [Double]) throws -> Tensor {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw TensorError.invalidShape(shape) }
        let n = shape.reduce(1, *)
        guard n == data.count else { throw TensorError.sizeMismatch(shape: shape, count: data.count) }
        return Tensor(shape: shape, data: data)
    }

    package var count: Int { data.count }
    package var rank: Int { shape.count }

    /// Same data, new shape of equal element count.
    package func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    package var description: String { "Tensor(\(shape), \(data.prefix(8))\(data.count > 8 ? "..." : ""))" }

    /// Row-major strides of `shape`.
    package static func strides(of shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }
}

package enum TensorError: Error, CustomStringConvertible, Equatable {
    case invalidShape([Int])
    case sizeMismatch(shape: [Int], count: Int)
    case notBroadcastable([Int], [Int])

    package var description: String {
        switch self {
        case .invalidShape(let s): return "invalid tensor shape \(s)"
        case .sizeMismatch(let s, let n): return "shape \(s) needs \(s.reduce(1, *)) values but \(n) were given"
        case .notBroadcastable(let a, let b): return "shapes \(a) and \(b) cannot be broadcast together"
        }
    }
}

// MARK: - Broadcasting

package enum Broadcast {
    /// The numpy-style broadcast shape of two shapes, or nil.
    package static func shape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// For every element of `outShape`, the flat index of the element of `shape` it reads
    /// under broadcasting. `shape` must broadcast to `outShape`.
    package static func indexMap(from shape: [Int], to outShape: [Int]) -> [Int] {
        let total = outShape.reduce(1, *)
        if shape == outShape { return Array(0..<total) }
        let n = outShape.count
        let padded = [Int](repeating: 1, count: n - shape.count) + shape
        let inStrides = Tensor.strides(of: padded).enumerated().map { padded[$0.offset] == 1 ? 0 : $0.element }
        var map = [Int](repeating: 0, count: total)
        var idx = [Int](repeating: 0, count: n)
        var src = 0
        for k in 0..<total {
            map[k] = src
            // increment the multi-index
            var d = n - 1
            while d >= 0 {
                idx[d] += 1
                src += inStrides[d]
                if idx[d] < outShape[d] { break }
                src -= inStrides[d] * idx[d]
                idx[d] = 0
                d -= 1
            }
        }
        return map
    }

    /// Applies `f` elementwise to two broadcast tensors.
    package static func apply(_ a: Tensor, _ b: Tensor, _ f: (Double, Double) -> Double) throws -> Tensor {
        guard let out = shape(a.shape, b.shape) else { throw TensorError.notBroadcastable(a.shape, b.shape) }
        if a.shape == b.shape {
            var r = [Double](repeating: 0, count: a.count)
            for i in 0..<a.count { r[i] = f(a.data[i], b.data[i]) }
            return Tensor(shape: out, data: r)
        }
        let ma = indexMap(from: a.shape, to: out)
        let mb = indexMap(from: b.shape, to: out)
        var r = [Double](repeating: 0, count: ma.count)
        for i in 0..<ma.count { r[i] = f(a.data[ma[i]], b.data[mb[i]]) }
        return Tensor(shape: out, data: r)
    }
}
