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
        if !transA && m <= smallRows {
            smallGemm(transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta, c: c)
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

    /// Products with at most this many rows in A skip dgemm: for a few rows, packing B (which
    /// dgemm does on every call) costs as much as the product. Branch-and-bound domains bound
    /// 1 to 9 spec rows at a time through a 784 x 256 layer; with the loops below, which read
    /// B once and skip zero coefficients (inactive ReLUs), ReLU splitting on mnist-net_256x4
    /// prop_3_0.03 bounds 33,231 domains in 30 s instead of 22,351.
    public static let smallRows = 16

    /// C = alpha * A * op(B) + beta * C for a few rows of A, B read once: row by row of B with
    /// every row of A against it (dot products for B transposed, axpy updates otherwise).
    static func smallGemm(transB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>,
                          b: UnsafePointer<Double>, beta: Double, c: UnsafeMutablePointer<Double>) {
        if transB {
            // B is n x k: C[r, i] = alpha * A[r, :] . B[i, :] + beta * C[r, i].
            for i in 0..<n {
                let bi = b + i * k
                for r in 0..<m {
                    let d = alpha * cblas_ddot(Int32(k), a + r * k, 1, bi, 1)
                    c[r * n + i] = beta == 0 ? d : d + beta * c[r * n + i]
                }
            }
        } else {
            // B is k x n: C[r, :] = beta * C[r, :] + sum_j alpha * A[r, j] * B[j, :].
            for t in 0..<(m * n) { c[t] = beta == 0 ? 0 : beta * c[t] }
            for j in 0..<k {
                let bj = b + j * n
                for r in 0..<m {
                    let s = alpha * a[r * k + j]
                    if s != 0 { cblas_daxpy(Int32(n), s, bj, 1, c + r * n, 1) }
                }
            }
        }
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
