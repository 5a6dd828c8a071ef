import CertusTensor
import CertusGraph

/// A dense row-major matrix of coefficients: one row per bound being computed, one column per
/// element of a graph value.
package struct Matrix: Sendable, Equatable {
    package var rows: Int
    package var cols: Int
    package var data: [Double]

    package init(rows: Int, cols: Int, data: [Double]) {
        precondition(data.count == rows * cols)
        self.rows = rows; self.cols = cols; self.data = data
    }

    package init(zeros rows: Int, _ cols: Int) {
        self.init(rows: rows, cols: cols, data: [Double](repeating: 0, count: rows * cols))
    }

    package subscript(r: Int, c: Int) -> Double {
        get { data[r * cols + c] }
        set { data[r * cols + c] = newValue }
    }

    package func row(_ r: Int) -> ArraySlice<Double> { data[(r * cols)..<((r + 1) * cols)] }

    /// The rows `idx`, in that order.
    package func selectingRows(_ idx: [Int]) -> Matrix {
        var out = [Double]()
        out.reserveCapacity(idx.count * cols)
        for r in idx { out.append(contentsOf: data[(r * cols)..<((r + 1) * cols)]) }
        return Matrix(rows: idx.count, cols: cols, data: out)
    }

    /// self += other (same size).
    package mutating func add(_ other: Matrix) {
        precondition(rows == other.rows && cols == other.cols)
        data.withUnsafeMutableBufferPointer { p in
            other.data.withUnsafeBufferPointer { q in
                for i in 0..<p.count { p[i] += q[i] }
            }
        }
    }

    /// self * B (B is cols x n), or self * B^T when `transposeB` (B is n x cols).
    /// A matrix whose rows each hold at most one non-zero (the start of an intermediate-bound
    /// pass) is applied by gathering scaled rows of B instead of a full product.
    /// `leavingOutZeroColumns`: columns of self that are zero in every row are left out of the
    /// product when there are many (`liveColumns`); the same terms minus zeros, though BLAS may
    /// then add them in another order (a last-bit difference), so only passes that ask for it.
    package func multiplied(by b: [Double], n: Int, transposeB: Bool, leavingOutZeroColumns: Bool = false) -> Matrix {
        if let sel = selection() {
            let data = [Double](unsafeUninitializedCapacity: rows * n) { o, count in
                b.withUnsafeBufferPointer { bp in
                    for (r, (j, a)) in sel.enumerated() {
                        let base = r * n
                        if a == 0 {
                            for t in 0..<n { o[base + t] = 0 }
                        } else if transposeB {
                            for t in 0..<n { o[base + t] = a * bp[t * cols + j] }
                        } else {
                            for t in 0..<n { o[base + t] = a * bp[j * n + t] }
                        }
                    }
                }
                count = rows * n
            }
            return Matrix(rows: rows, cols: n, data: data)
        }
        if leavingOutZeroColumns, let live = liveColumns() {
            // Columns of self that are zero in every row (dead neurons) are left out of the
            // product, with the matching rows of B (columns when transposed).
            let k = live.count
            if k == 0 { return Matrix(zeros: rows, n) }
            var a = [Double](repeating: 0, count: rows * k), bb = [Double](repeating: 0, count: k * n)
            data.withUnsafeBufferPointer { src in a.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows { for (t, j) in live.enumerated() { dst[r * k + t] = src[r * cols + j] } }
            } }
            b.withUnsafeBufferPointer { src in bb.withUnsafeMutableBufferPointer { dst in
                if transposeB {
                    for i in 0..<n { for (t, j) in live.enumerated() { dst[i * k + t] = src[i * cols + j] } }
                } else {
                    for (t, j) in live.enumerated() { for i in 0..<n { dst[t * n + i] = src[j * n + i] } }
                }
            } }
            return Matrix(rows: rows, cols: n, data: BLAS.matmul(a, bb, m: rows, n: n, k: k, transA: false, transB: transposeB))
        }
        return Matrix(rows: rows, cols: n, data: BLAS.matmul(data, b, m: rows, n: n, k: cols, transA: false, transB: transposeB))
    }

    /// The columns with a non-zero entry, when at least a quarter of the columns are zero in
    /// every row (worth leaving out of a product); nil otherwise. Stops scanning as soon as too
    /// few zero columns are left.
    func liveColumns() -> [Int]? {
        guard rows > 1, cols >= 16 else { return nil }
        var live = [UInt8](repeating: 0, count: cols)
        let limit = cols - cols / 4
        let tooMany = data.withUnsafeBufferPointer { p -> Bool in
            live.withUnsafeMutableBufferPointer { l -> Bool in
                // A branch-free OR per column (vectorises), the count checked every 16 rows.
                for r in 0..<rows {
                    let row = p.baseAddress! + r * cols
                    for j in 0..<cols { l[j] |= row[j] != 0 ? 1 : 0 }
                    if r % 16 == 15 || r == rows - 1 {
                        var count = 0
                        for j in 0..<cols { count += Int(l[j]) }
                        if count > limit { return true }
                    }
                }
                return false
            }
        }
        return tooMany ? nil : (0..<cols).filter { live[$0] != 0 }
    }

    /// For each row its single non-zero (column, value), or nil when some row has two or more.
    func selection() -> [(Int, Double)]? {
        guard rows > 1, cols > 1 else { return nil }
        var out: [(Int, Double)] = []
        out.reserveCapacity(rows)
        return data.withUnsafeBufferPointer { p -> [(Int, Double)]? in
            for r in 0..<rows {
                var found: (Int, Double) = (0, 0)
                var count = 0
                let base = r * cols
                for j in 0..<cols where p[base + j] != 0 {
                    count += 1
                    if count > 1 { return nil }
                    found = (j, p[base + j])
                }
                out.append(found)
            }
            return out
        }
    }

    /// Row r dotted with v.
    package func dot(row r: Int, _ v: [Double]) -> Double {
        var s = 0.0
        let base = r * cols
        for j in 0..<cols { s += data[base + j] * v[j] }
        return s
    }
}

extension Matrix {
    /// The start of an intermediate-bound pass for some neurons of a value of `width` neurons:
    /// row k selects neuron `neurons[k]` (+1), row m + k its negation (-1), m = neurons.count.
    static func plusMinusRows(_ neurons: [Int], width: Int) -> Matrix {
        let m = neurons.count
        var A = Matrix(zeros: 2 * m, width)
        for (k, j) in neurons.enumerated() { A[k, j] = 1; A[m + k, j] = -1 }
        return A
    }

    /// self (rows x outputs) times the transpose of a sparse map's Jacobian for one input:
    /// a rows x `columns` matrix M with M[r, input[t]] += coefficient[t] * self[r, output[t]].
    func scattered(through terms: SparseLinearMap.Terms, columns: Int) -> Matrix {
        let n = terms.output.count
        if n == cols && n == columns && n > 0 && terms.output.elementsEqual(0..<n) && terms.input.elementsEqual(0..<n) {
            // A diagonal map (an elementwise product with a constant): column t scaled by its
            // coefficient, the same sums (0 + w a) without a zero matrix scattered into.
            let data = [Double](unsafeUninitializedCapacity: rows * n) { o, count in
                self.data.withUnsafeBufferPointer { a in terms.coefficient.withUnsafeBufferPointer { w in
                    for r in 0..<rows {
                        let ar = a.baseAddress! + r * n, mr = o.baseAddress! + r * n
                        for t in 0..<n { mr[t] = 0 + w[t] * ar[t] }
                    }
                } }
                count = rows * n
            }
            return Matrix(rows: rows, cols: n, data: data)
        }
        var M = Matrix(zeros: rows, columns)
        guard n > 0 else { return M }
        let c = cols
        terms.output.withUnsafeBufferPointer { o in
            terms.input.withUnsafeBufferPointer { s in
                terms.coefficient.withUnsafeBufferPointer { w in
                    data.withUnsafeBufferPointer { a in
                        M.data.withUnsafeMutableBufferPointer { m in
                            for r in 0..<rows {
                                let ar = a.baseAddress! + r * c, mr = m.baseAddress! + r * columns
                                for t in 0..<n { mr[s[t]] += w[t] * ar[o[t]] }
                            }
                        }
                    }
                }
            }
        }
        return M
    }
}
