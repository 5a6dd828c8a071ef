import CertusTensor

/// The linear part of an affine operator as a list of sparse terms, for operators whose
/// Jacobian has few nonzeros per output (data movement such as Slice, Gather, Transpose and
/// Concat; elementwise sums and products with a constant): output element `output[t]` depends
/// on element `input[t]` of the input with coefficient `coefficient[t]`.
///
/// The bound engine applies J^T to all rows of a coefficient matrix at once with these terms
/// (a scatter-add per row) instead of calling `Operator.backward` once per row, which builds a
/// tensor and, for broadcasting operators, an index map on every call. The offset f(0) is
/// still taken from `evaluate` with the variable inputs at zero.
package struct SparseLinearMap: Sendable {
    /// The terms through one input (flat row-major indices into the output and that input).
    package struct Terms: Sendable {
        package var output: [Int]
        package var input: [Int]
        package var coefficient: [Double]
        package init(output: [Int] = [], input: [Int] = [], coefficient: [Double] = []) {
            self.output = output; self.input = input; self.coefficient = coefficient
        }
        /// Terms copying element `source[k]` into output k with coefficient 1 (source -1: none).
        package init(copying source: [Int]) {
            self.init()
            for (k, s) in source.enumerated() where s >= 0 { output.append(k); input.append(s); coefficient.append(1) }
        }
    }
    /// Per operator input: its terms, or nil for an input the map does not depend on (a
    /// constant, which enters only through the offset).
    package var inputs: [Terms?]
    package init(inputs: [Terms?]) { self.inputs = inputs }
}

extension Operator {
    /// No sparse form: the engine takes the per-row vector-Jacobian products of `backward`.
    package func sparseLinearMap(_ inputs: [Tensor], variable: [Bool]) throws -> SparseLinearMap? { nil }
}

extension ElementwiseBinary {
    /// For an affine use only (at most one operand variable for a product or a quotient): the
    /// partial derivative at the constant operand's value, per output element; broadcast
    /// elements of an input collect several terms.
    package func sparseLinearMap(_ inputs: [Tensor], variable: [Bool]) throws -> SparseLinearMap? {
        let a = inputs[0], b = inputs[1]
        let outShape = try outputShape([a.shape, b.shape])
        let ma = Broadcast.indexMap(from: a.shape, to: outShape), mb = Broadcast.indexMap(from: b.shape, to: outShape)
        var ta = SparseLinearMap.Terms(), tb = SparseLinearMap.Terms()
        for k in ma.indices {
            let (da, db) = partials(a.data[ma[k]], b.data[mb[k]])
            if variable[0] { ta.output.append(k); ta.input.append(ma[k]); ta.coefficient.append(da) }
            if variable[1] { tb.output.append(k); tb.input.append(mb[k]); tb.coefficient.append(db) }
        }
        return SparseLinearMap(inputs: [variable[0] ? ta : nil, variable[1] ? tb : nil])
    }
}

extension IndexMapping {
    /// Each output element copies one `data` element (or is the fill constant).
    package func sparseLinearMap(_ inputs: [Tensor], variable: [Bool]) throws -> SparseLinearMap? {
        let terms = SparseLinearMap.Terms(copying: try sourceIndices(inputShape: inputs[0].shape))
        return SparseLinearMap(inputs: [terms] + Array(repeating: nil, count: inputs.count - 1))
    }
}

extension Operator {
    /// False: see `Operator.preservesData`.
    package var preservesData: Bool { false }

    /// `genericAffineJacobian`.
    package func affineJacobian(_ inputs: [Tensor], variable: [Bool], position: Int, output: Tensor) throws -> [Double] {
        try genericAffineJacobian(inputs, variable: variable, position: position, output: output)
    }

    /// The Jacobian of an affine use of this operator with respect to its input `position`, as
    /// an `outputCount` x (that input's element count) row-major matrix: from the operator's
    /// `sparseLinearMap` when it has one, else from `backward` applied to each unit output
    /// row. `inputs` holds the constants and zeros for the variable inputs; `output` is the
    /// operator evaluated there (its offset f(0)). These are the coefficients the bound engine
    /// propagates through the node, so an encoding built from them (a dense chain step, an LP
    /// row) describes the same affine map, unlike differences f(e_k) - f(0), which round
    /// wherever the offset is large.
    /// - Throws: the operator's own errors, or `ModelError` when it gives no derivative for
    ///   that input.
    package func genericAffineJacobian(_ inputs: [Tensor], variable: [Bool], position: Int, output: Tensor) throws -> [Double] {
        let m = output.data.count, n = inputs[position].data.count
        var J = [Double](repeating: 0, count: m * n)
        if let map = try sparseLinearMap(inputs, variable: variable) {
            guard position < map.inputs.count, let terms = map.inputs[position] else {
                throw ModelError(.unsupportedFeature, "\(Self.opType): no linear map for input \(position)")
            }
            for t in terms.output.indices where terms.output[t] < m && terms.input[t] < n {
                J[terms.output[t] * n + terms.input[t]] += terms.coefficient[t]
            }
            return J
        }
        var unit = Tensor(shape: output.shape, repeating: 0)
        for o in 0..<m {
            unit.data[o] = 1
            let grads = try backward(inputs, output: output, gradient: unit, wanted: inputs.indices.map { $0 == position })
            unit.data[o] = 0
            guard position < grads.count, let g = grads[position], g.data.count == n else {
                throw ModelError(.unsupportedFeature, "\(Self.opType): no linear map for input \(position)")
            }
            J.replaceSubrange((o * n)..<((o + 1) * n), with: g.data)
        }
        return J
    }
}
