import CertusTensor

/// ONNX `Gather`: selects slices of `data` along `axis` by constant `indices`.
///
/// Inputs: `data` of rank r >= 1 and `indices` (integers, any rank q, negative values count from
/// the end of the axis). Output shape: `data.shape[..<axis] + indices.shape + data.shape[(axis+1)...]`,
/// rank q + r - 1. Each output element is one element of `data`, so the operator is a data
/// movement: affine in `data` (a selection matrix) and its interval image is the selection of
/// both ends. `indices` must be constant (an initializer, a `Constant` node or a folded
/// subgraph such as `Shape`); on constant `data` too the node is folded at load.
///
/// Errors (at load, `ModelError` naming the node): computed indices, a non-integer index, an
/// index outside `[-dim, dim)`, an axis outside `[-r, r)`, a scalar `data`.
package struct Gather: Operator, DataMovement {
    package static let opType = "Gather"
    /// The gathering axis, normalised to `0..<rank(data)`.
    package let axis: Int
    /// The indices, normalised to `0..<data.shape[axis]`, row-major in `indicesShape`.
    package let indices: [Int]
    package let indicesShape: [Int]

    package init(axis: Int, indices: [Int], indicesShape: [Int]) {
        self.axis = axis
        self.indices = indices
        self.indicesShape = indicesShape
    }

    package static func make(_ node: NodeContext) throws -> Gather {
        guard node.inputShapes.count == 2 else { throw node.error("Gather takes 2 inputs (data, indices), got \(node.inputShapes.count)") }
        let dataShape = node.inputShapes[0]
        guard !dataShape.isEmpty else { throw node.error("Gather needs data of rank >= 1; got a scalar", kind: .shape) }
        let axis = try node.axis(try node.int("axis", default: 0), rank: dataShape.count)
        let raw = try node.constantInts(1, what: "the indices")
        let dim = dataShape[axis]
        let indices = try raw.map { i -> Int in
            guard i >= -dim, i < dim else {
                throw node.error("index \(i) is out of range for axis \(axis) of size \(dim) (data shape \(dataShape))", kind: .shape)
            }
            return i < 0 ? i + dim : i
        }
        return Gather(axis: axis, indices: indices, indicesShape: node.inputShapes[1])
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 2...2, Self.opType)
        let d = s[0]
        guard axis < d.count else { throw ModelError(.shape, "Gather axis \(axis) is out of range for data \(d)") }
        guard s[1] == indicesShape else {
            throw ModelError(.shape, "Gather indices have shape \(s[1]), built for \(indicesShape)")
        }
        guard indices.allSatisfy({ $0 < d[axis] }) else {
            throw ModelError(.shape, "Gather indices \(indices) do not fit axis \(axis) of data \(d)")
        }
        return Array(d[..<axis]) + indicesShape + Array(d[(axis + 1)...])
    }

    /// For each output element (row-major), the flat index of the data element it copies.
    func sourceIndices(dataShape d: [Int]) -> [Int] {
        let outer = d[..<axis].reduce(1, *), inner = d[(axis + 1)...].reduce(1, *), dim = d[axis]
        var map: [Int] = []
        map.reserveCapacity(outer * indices.count * inner)
        for o in 0..<outer {
            for i in indices {
                let base = (o * dim + i) * inner
                for k in 0..<inner { map.append(base + k) }
            }
        }
        return map
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        let shape = try outputShape(inputs.map(\.shape))
        let x = inputs[0].data
        return Tensor(shape: shape, data: sourceIndices(dataShape: inputs[0].shape).map { x[$0] })
    }

    /// Scatter-add of the gradient into `data` (repeated indices accumulate); `indices` is a
    /// constant parameter (nil).
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        var g = Tensor(shape: inputs[0].shape, repeating: 0)
        for (k, src) in sourceIndices(dataShape: inputs[0].shape).enumerated() { g.data[src] += gradient.data[k] }
        return [g, nil]
    }

    /// Each output element copies one `data` element.
    package func sparseLinearMap(_ inputs: [Tensor], variable: [Bool]) throws -> SparseLinearMap? {
        SparseLinearMap(inputs: [SparseLinearMap.Terms(copying: sourceIndices(dataShape: inputs[0].shape)), nil])
    }

    /// Affine in `data`; the indices are constant by construction (`make` refuses computed ones).
    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.count > 1 && !constantInputs[1] ? .unsupported("Gather with computed indices is not supported") : .affine
    }
}
