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
