import CBLAS

/// Dense linear algebra on row-major `Double` buffers, through the system BLAS (OpenBLAS).
///
/// Every hot matrix product in Certus (Gemm/MatMul evaluation, and the bound engine's
/// coefficient products) goes through `gemm`, so there is one place to tune.
public enum BLAS {
    /// C = alpha * op(A) * op(B) + beta * C, all row-major.
    /// op(A) is m x k, op(B) is k x n, C is m x n. `A` is stored m x k (k x m if `transA`),
    /// `B` is stored k x n (n x k if `transB`).
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Double = 1, a: UnsafePointer<Double>, b: UnsafePointer<Double>,
        beta: Double = 0, c: UnsafeMutablePointer<Double>
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            // BLAS leaves C untouched for k == 0 only when beta == 1; define it plainly.
            for i in 0..<(m * n) { c[i] = beta == 0 ? 0 : beta * c[i] }
            return
        }
        let lda = transA ? m : k
        let ldb = transB ? k : n
        cblas_dgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(n))
    }

    /// Single-precision C = alpha * op(A) * op(B) + beta * C, all row-major (same layout rules
    /// as `gemm`). Only for heuristics that never feed a reported bound (alpha-CROWN's search).
    public static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        beta: Float = 0, c: UnsafeMutablePointer<Float>
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            for i in 0..<(m * n) { c[i] = beta == 0 ? 0 : beta * c[i] }
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(transA ? m : k), b, Int32(transB ? k : n),
                    beta, c, Int32(n))
    }

    /// Returns op(A) * op(B) as a new row-major m x n buffer.
    public static func matmul(_ a: [Double], _ b: [Double], m: Int, n: Int, k: Int,
                              transA: Bool = false, transB: Bool = false) -> [Double] {
        precondition(a.count >= m * k && b.count >= k * n, "matmul operand too small")
        guard m > 0, n > 0, k > 0 else { return [Double](repeating: 0, count: m * n) }
        // beta = 0: BLAS writes every element of C without reading it, so no zero fill.
        return [Double](unsafeUninitializedCapacity: m * n) { pc, count in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    gemm(transA: transA, transB: transB, m: m, n: n, k: k,
                         a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                }
            }
            count = m * n
        }
    }

    /// Sets the number of BLAS threads (OpenBLAS). Certus parallelises at a coarser level,
    /// so callers that run several workers pin BLAS to one thread each.
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }
}
