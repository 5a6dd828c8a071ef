import Foundation
import CertusTensor

// Operators that only move or relabel data. Their later analyses are all "apply the same
// permutation to the bounds", which is why they share `DataMovement`.

/// Operators whose output element k is an input element (a pure relabelling).
package protocol DataMovement: Operator {}

extension DataMovement {
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        try IntervalAffine.relabel(x) { try evaluate($0) }
    }
}

/// Operators that only change the shape: the data is the same row-major sequence.
package protocol ShapeOnly: DataMovement {}

extension ShapeOnly {
    /// The same row-major data in another shape.
    package var preservesData: Bool { true }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        inputs[0].reshaped(try outputShape(inputs.map(\.shape)))
    }

    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        [gradient.reshaped(inputs[0].shape)] + Array(repeating: nil, count: inputs.count - 1)
    }
}

package struct Flatten: Operator, ShapeOnly {
    package static let opType = "Flatten"
    package let axis: Int
    /// Flattens to 2-D at `axis` (0 <= axis <= rank).
    package init(axis: Int) { self.axis = axis }
    package static func make(_ node: NodeContext) throws -> Flatten {
        let rank = node.inputShapes.first?.count ?? 0
        let a = try node.int("axis", default: 1)
        let r = a < 0 ? a + rank : a
        guard r >= 0, r <= rank else { throw node.error("axis \(a) is out of range for rank \(rank)", kind: .shape) }
        return Flatten(axis: r)
    }
    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...1, Self.opType)
        guard axis <= s[0].count else { throw ModelError(.shape, "Flatten axis \(axis) is out of range for \(s[0])") }
        return [s[0][..<axis].reduce(1, *), s[0][axis...].reduce(1, *)]
    }
}

package struct Reshape: Operator, ShapeOnly {
    package static let opType = "Reshape"
    package let target: [Int]
    package let allowZero: Bool
    package static func make(_ node: NodeContext) throws -> Reshape {
        let target: [Int]
        if node.opset < 5 || node.inputShapes.count == 1 {
            guard let s = try node.ints("shape") else { throw node.error("missing target shape") }
            target = s
        } else {
            target = try node.constantInts(1, what: "the target shape")
        }
        return Reshape(target: target, allowZero: try node.int("allowzero", default: 0) != 0)
    }
    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...2, Self.opType)
        let input = s[0]
        var out = target
        var inferred: Int? = nil
        for (i, d) in target.enumerated() {
            if d == 0 && !allowZero {
                guard i < input.count else { throw ModelError(.shape, "Reshape target \(target) copies dimension \(i) that \(input) does not have") }
                out[i] = input[i]
            } else if d == -1 {
                guard inferred == nil else { throw ModelError(.shape, "Reshape target \(target) has more than one -1") }
                inferred = i
            } else if d < 0 {
                throw ModelError(.shape, "Reshape target \(target) has invalid dimension \(d)")
            }
        }
        let total = try ShapeCheck.elementCount(input, Self.opType)
        if let i = inferred {
            let known = try ShapeCheck.elementCount(out.enumerated().filter { $0.offset != i }.map(\.element), Self.opType)
            guard known > 0, total % known == 0 else {
                throw ModelError(.shape, "cannot reshape \(input) (\(total) values) to \(target)")
            }
            out[i] = total / known
        }
        guard try ShapeCheck.elementCount(out, Self.opType) == total else {
            throw ModelError(.shape, "cannot reshape \(input) (\(total) values) to \(target)")
        }
        return out
    }
}

package struct Transpose: Operator, DataMovement {
    package static let opType = "Transpose"
    package let perm: [Int]?
    /// Permutes the axes by `perm` (nil: reverses them, the ONNX default).
    package init(perm: [Int]?) { self.perm = perm }
    package static func make(_ node: NodeContext) throws -> Transpose {
        let perm = try node.ints("perm")
        if let perm, let rank = node.inputShapes.first?.count,
           perm.count != rank || Set(perm) != Set(0..<rank) {
            throw node.error("perm \(perm) is not a permutation of 0..<\(rank)", kind: .shape)
        }
        return Transpose(perm: perm)
    }
    func permutation(rank: Int) -> [Int] { perm ?? Array((0..<rank).reversed()) }
    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...1, Self.opType)
        let p = permutation(rank: s[0].count)
        guard p.count == s[0].count else { throw ModelError(.shape, "perm \(p) does not fit input \(s[0])") }
        return p.map { s[0][$0] }
    }
    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        let x = inputs[0]
        let p = permutation(rank: x.rank)
        let outShape = try outputShape([x.shape])
        let inStrides = Tensor.strides(of: x.shape)
        let permStrides = p.map { inStrides[$0] }
        var out = [Double](repeating: 0, count: x.count)
        var idx = [Int](repeating: 0, count: x.rank)
        var src = 0
        for k in 0..<x.count {
            out[k] = x.data[src]
            var d = x.rank - 1
            while d >= 0 {
                idx[d] += 1; src += permStrides[d]
                if idx[d] < outShape[d] { break }
                src -= permStrides[d] * idx[d]; idx[d] = 0; d -= 1
            }
        }
        return Tensor(shape: outShape, data: out)
    }
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        let p = permutation(rank: inputs[0].rank)
        var inverse = [Int](repeating: 0, count: p.count)
        for (i, v) in p.enumerated() { inverse[v] = i }
        return [try Transpose(perm: inverse).evaluate([gradient])]
    }
    /// A permutation: the source of each output element, read by transposing the element
    /// indices themselves (exact in Double below 2^53).
    package func sparseLinearMap(_ inputs: [Tensor], variable: [Bool]) throws -> SparseLinearMap? {
        let x = inputs[0]
        let labels = Tensor(shape: x.shape, data: (0..<x.count).map(Double.init))
        return SparseLinearMap(inputs: [SparseLinearMap.Terms(copying: try evaluate([labels]).data.map { Int($0) })])
    }
}

package struct Squeeze: Operator, ShapeOnly {
    package static let opType = "Squeeze"
    package let axes: [Int]?
    package static func make(_ node: NodeContext) throws -> Squeeze {
        if node.opset >= 13 {
            return Squeeze(axes: node.inputShapes.count > 1 ? try node.constantInts(1, what: "axes") : nil)
        }
        return Squeeze(axes: try node.ints("axes"))
    }
    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...2, Self.opType)
        let x = s[0]
        guard let axes else { return x.filter { $0 != 1 } }
        var drop = Set<Int>()
        for a in axes {
            let r = a < 0 ? a + x.count : a
            guard r >= 0, r < x.count else { throw ModelError(.shape, "Squeeze axis \(a) is out of range for \(x)") }
            guard x[r] == 1 else { throw ModelError(.shape, "Squeeze axis \(a) has size \(x[r]), not 1, in \(x)") }
            drop.insert(r)
        }
        return x.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
    }
}

package struct Unsqueeze: Operator, ShapeOnly {
    package static let opType = "Unsqueeze"
    package let axes: [Int]
    package static func make(_ node: NodeContext) throws -> Unsqueeze {
        if node.opset >= 13 { return Unsqueeze(axes: try node.constantInts(1, what: "axes")) }
        guard let axes = try node.ints("axes") else { throw node.error("missing required attribute 'axes'") }
        return Unsqueeze(axes: axes)
    }
    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...2, Self.opType)
        let rank = s[0].count + axes.count
        var add = Set<Int>()
        for a in axes {
            let r = a < 0 ? a + rank : a
            guard r >= 0, r < rank, !add.contains(r) else { throw ModelError(.shape, "Unsqueeze axes \(axes) are invalid for \(s[0])") }
            add.insert(r)
        }
        var out: [Int] = [], it = s[0].makeIterator()
        for i in 0..<rank { out.append(add.contains(i) ? 1 : it.next()!) }
        return out
    }
}

package struct Concat: Operator, DataMovement {
    package static let opType = "Concat"
    package let axis: Int
    /// Concatenates along `axis` (non-negative).
    package init(axis: Int) { self.axis = axis }
    package static func make(_ node: NodeContext) throws -> Concat {
        let rank = node.inputShapes.first?.count ?? 0
        return Concat(axis: try node.axis(try node.int("axis"), rank: rank))
    }
    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        guard let first = s.first else { throw ModelError(.invalidModel, "Concat needs at least one input") }
        var out = first
        for t in s.dropFirst() {
            guard t.count == first.count,
                  t.enumerated().allSatisfy({ $0.offset == axis || $0.element == first[$0.offset] }) else {
                throw ModelError(.shape, "Concat inputs \(s) differ outside axis \(axis)")
            }
            out[axis] += t[axis]
        }
        return out
    }
    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        let outShape = try outputShape(inputs.map(\.shape))
        let outer = outShape[..<axis].reduce(1, *)
        var out: [Double] = []
        out.reserveCapacity(outShape.reduce(1, *))
        for o in 0..<outer {
            for t in inputs {
                let chunk = t.shape[axis...].reduce(1, *)
                out.append(contentsOf: t.data[(o * chunk)..<((o + 1) * chunk)])
            }
        }
        return Tensor(shape: outShape, data: out)
    }
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        let outer = output.shape[..<axis].reduce(1, *)
        var grads = inputs.map { [Double](repeating: 0, count: $0.count) }
        var offset = 0
        for o in 0..<outer {
            for (i, t) in inputs.enumerated() {
                let chunk = t.shape[axis...].reduce(1, *)
                for k in 0..<chunk { grads[i][o * chunk + k] = gradient.data[offset + k] }
                offset += chunk
            }
        }
        return zip(inputs, grads).map { Tensor(shape: $0.0.shape, data: $0.1) }
    }
    /// Each output element copies one element of one input; constant inputs enter the offset.
    package func sparseLinearMap(_ inputs: [Tensor], variable: [Bool]) throws -> SparseLinearMap? {
        let outShape = try outputShape(inputs.map(\.shape))
        let outer = outShape[..<axis].reduce(1, *)
        var terms = inputs.map { _ in SparseLinearMap.Terms() }
        var offset = 0
        for o in 0..<outer {
            for (i, t) in inputs.enumerated() {
                let chunk = t.shape[axis...].reduce(1, *)
                if variable[i] {
                    for k in 0..<chunk {
                        terms[i].output.append(offset + k); terms[i].input.append(o * chunk + k); terms[i].coefficient.append(1)
                    }
                }
                offset += chunk
            }
        }
        return SparseLinearMap(inputs: inputs.indices.map { variable[$0] ? terms[$0] : nil })
    }
}

/// A constant tensor (folded into the graph's constants at load).
package struct Constant: Operator {
    package static let opType = "Constant"
    package let value: Tensor
    package static func make(_ node: NodeContext) throws -> Constant {
        for (key, v) in node.attributes {
            switch (key, v) {
            case ("value", .tensor(let t)): return Constant(value: t)
            case ("value_float", .float(let f)): return Constant(value: Tensor(scalar: f))
            case ("value_floats", .floats(let f)): return Constant(value: Tensor(shape: [f.count], data: f))
            case ("value_int", .int(let i)): return Constant(value: Tensor(scalar: Double(i)))
            case ("value_ints", .ints(let i)): return Constant(value: Tensor(shape: [i.count], data: i.map(Double.init)))
            default: continue
            }
        }
        throw node.unsupported("Constant needs a 'value', 'value_float(s)' or 'value_int(s)' attribute; got \(node.attributes.keys.sorted())")
    }
    package func outputShape(_ s: [[Int]]) throws -> [Int] { value.shape }
    package func evaluate(_ inputs: [Tensor]) throws -> Tensor { value }
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] { [] }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor { IntervalTensor(constant: value) }
}
