import CertusTensor

/// A dense row-major matrix of coefficients: one row per bound being computed, one column per
/// element of a graph value.
public struct Matrix: Sendable, Equatable {
    public var rows: Int
    public var cols: Int
    public var data: [Double]

    public init(rows: Int, cols: Int, data: [Double]) {
        precondition(data.count == rows * cols)
        self.rows = rows; self.cols = cols; self.data = data
    }

    public init(zeros rows: Int, _ cols: Int) {
        self.init(rows: rows, cols: cols, data: [Double](repeating: 0, count: rows * cols))
    }

    public subscript(r: Int, c: Int) -> Double {
        get { data[r * cols + c] }
        set { data[r * cols + c] = newValue }
    }

    public func row(_ r: Int) -> ArraySlice<Double> { data[(r * cols)..<((r + 1) * cols)] }

    /// self += other (same size).
    public mutating func add(_ other: Matrix) {
        precondition(rows == other.rows && cols == other.cols)
        data.withUnsafeMutableBufferPointer { p in
            other.data.withUnsafeBufferPointer { q in
                for i in 0..<p.count { p[i] += q[i] }
            }
        }
    }

    /// self * B (B is cols x n), or self * B^T when `transposeB` (B is n x cols).
    public func multiplied(by b: [Double], n: Int, transposeB: Bool) -> Matrix {
        Matrix(rows: rows, cols: n, data: BLAS.matmul(data, b, m: rows, n: n, k: cols, transA: false, transB: transposeB))
    }

    /// Row r dotted with v.
    public func dot(row r: Int, _ v: [Double]) -> Double {
        var s = 0.0
        let base = r * cols
        for j in 0..<cols { s += data[base + j] * v[j] }
        return s
    }
}
