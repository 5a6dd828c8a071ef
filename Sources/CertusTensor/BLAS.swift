import CBLAS
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Dense linear algebra on row-major `Double` buffers, through the system BLAS (OpenBLAS).
///
/// Every hot matrix product in Certus (Gemm/MatMul evaluation, and the bound engine's
/// coefficient products) goes through `gemm`, so there is one place to tune.
package enum BLAS {
    /// OpenBLAS's kernel set (`openblas_get_corename`, e.g. "SkylakeX", "Haswell"), after the
    /// check of `kernelSelection`.
    package static var kernel: String {
        _ = kernelSelection
        return String(cString: openblas_get_corename())
    }

    /// What `kernelSelection` did: nil when OpenBLAS's own choice was kept, otherwise
    /// "<detected> -> <selected>".
    package static var kernelOverride: String? { kernelSelection }

    /// OpenBLAS picks its kernels from the CPU model when it is loaded. A build that does not
    /// know the CPU falls back to its Prescott (SSE3) kernels: OpenBLAS 0.3.21 (Debian 12) does
    /// so on Emerald Rapids (family 6, model 207), where its dgemm then runs at 9-17 GFLOP/s
    /// instead of 60-80 with the SkylakeX kernels (one core, 400 x 256 x 784). Done once,
    /// before the first product (every entry point of `BLAS` touches it): when OpenBLAS chose a
    /// pre-AVX2 kernel set, `OPENBLAS_CORETYPE` is not set by the user, the CPU (as the kernel
    /// reports it in /proc/cpuinfo) has AVX-512 F/CD/BW/DQ/VL or AVX2 and FMA, and this OpenBLAS
    /// is a DYNAMIC_ARCH build (it exports `gotoblas_dynamic_init`), the kernel table is chosen
    /// again as `OPENBLAS_CORETYPE=SkylakeX` (or `Haswell`) would choose it at load time.
    /// Results differ from the old kernels' only by rounding (other summation order, fused
    /// multiply-adds), which the bound engine's rounding guards cover for any order.
    static let kernelSelection: String? = {
        let detected = String(cString: openblas_get_corename())
        let legacy: Set<String> = ["unknown", "katmai", "coppermine", "northwood", "prescott", "banias", "atom",
                                   "core2", "penryn", "dunnington", "nehalem", "sandybridge"]
        guard legacy.contains(detected.lowercased()), getenv("OPENBLAS_CORETYPE") == nil,
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init))
        let target: String
        if flags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) {
            target = "SkylakeX"
        } else if flags.isSuperset(of: ["avx2", "fma"]) {
            target = "Haswell"
        } else {
            return nil
        }
        guard let handle = dlopen(nil, RTLD_NOW),
              let initSym = dlsym(handle, "gotoblas_dynamic_init"),
              let quitSym = dlsym(handle, "gotoblas_dynamic_quit") else { return nil }
        typealias Hook = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", target, 1)
        unsafeBitCast(quitSym, to: Hook.self)()
        unsafeBitCast(initSym, to: Hook.self)()
        unsetenv("OPENBLAS_CORETYPE")
        return "\(detected) -> \(String(cString: openblas_get_corename()))"
    }()

    /// The CPUs this process may run on (its affinity mask, e.g. under `taskset`), which can be
    /// fewer than `ProcessInfo.activeProcessorCount` (all online CPUs on Linux). At least 1.
    package static let usableProcessors: Int = {
        #if os(Linux)
        // sched_getaffinity is a GNU extension the Glibc module does not import.
        typealias GetAffinity = @convention(c) (Int32, Int, UnsafeMutableRawPointer) -> Int32
        if let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "sched_getaffinity") {
            var mask = [UInt64](repeating: 0, count: 16)   // 1024 CPUs, glibc's cpu_set_t
            let ok = mask.withUnsafeMutableBytes { unsafeBitCast(sym, to: GetAffinity.self)(0, $0.count, $0.baseAddress!) } == 0
            let n = mask.reduce(0) { $0 + $1.nonzeroBitCount }
            if ok && n > 0 { return n }
        }
        #endif
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Floating-point operations (2 m n k per product) of every `gemm` since the process
    /// started, all threads together: `BoundsBenchmark` reports a pass's rate from the
    /// difference of two readings.
    package static var gemmFlops: Int { flopCounter.load(ordering: .relaxed) }
    static let flopCounter = Atomic<Int>(0)

    /// C = alpha * op(A) * op(B) + beta * C, all row-major.
    /// op(A) is m x k, op(B) is k x n, C is m x n. `A` is stored m x k (k x m if `transA`),
    /// `B` is stored k x n (n x k if `transB`).
    /// Exact IEEE handling of infinities and NaN is not promised (zero entries may be skipped, so
    /// `0 * inf` may count as 0): operator evaluation uses `plainGemm` when an operand is not
    /// finite.
    package static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Double = 1, a: UnsafePointer<Double>, b: UnsafePointer<Double>,
        beta: Double = 0, c: UnsafeMutablePointer<Double>
    ) {
        guard m > 0, n > 0 else { return }
        _ = kernelSelection
        flopCounter.add(2 * m * n * k, ordering: .relaxed)
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
    package static let smallRows = 16

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

    /// C = alpha * op(A) * op(B) + beta * C (the layout of `gemm`) by plain loops that form
    /// every product `A[i, l] * B[l, j]`, so non-finite operands follow IEEE 754 as onnxruntime
    /// does: `0 * inf` is NaN and makes its sum NaN. `gemm` does not promise this: BLAS
    /// implementations may skip zero entries (reference dgemm skips `B(l, j) == 0`, and
    /// `smallGemm` skips zero coefficients of A), so an infinity met only by zeros vanishes.
    /// Slow (no blocking, no SIMD); for operands holding an infinity or NaN (see `allFinite`).
    /// As in BLAS, C is not read when `beta == 0`.
    package static func plainGemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Double = 1, a: UnsafePointer<Double>, b: UnsafePointer<Double>,
        beta: Double = 0, c: UnsafeMutablePointer<Double>
    ) {
        guard m > 0, n > 0 else { return }
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for l in 0..<k {
                    s += (transA ? a[l * m + i] : a[i * k + l]) * (transB ? b[j * k + l] : b[l * n + j])
                }
                c[i * n + j] = beta == 0 ? alpha * s : alpha * s + beta * c[i * n + j]
            }
        }
    }

    /// Whether all `count` values at `p` are finite (no infinity, no NaN). One pass without
    /// branches: `x - x` is 0 for a finite `x` and NaN otherwise, and NaN survives the sums.
    package static func allFinite(_ p: UnsafePointer<Double>, count: Int) -> Bool {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        var i = 0
        while i + 4 <= count {
            s0 += p[i] - p[i]
            s1 += p[i + 1] - p[i + 1]
            s2 += p[i + 2] - p[i + 2]
            s3 += p[i + 3] - p[i + 3]
            i += 4
        }
        while i < count {
            s0 += p[i] - p[i]
            i += 1
        }
        return (s0 + s1) + (s2 + s3) == 0
    }

    /// Whether every value of `values` is finite (see `allFinite(_:count:)`).
    package static func allFinite(_ values: [Double]) -> Bool {
        values.withUnsafeBufferPointer { p in p.isEmpty || allFinite(p.baseAddress!, count: p.count) }
    }

    /// Single-precision C = alpha * op(A) * op(B) + beta * C, all row-major (same layout rules
    /// as `gemm`). Only for heuristics that never feed a reported bound (alpha-CROWN's search).
    package static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        beta: Float = 0, c: UnsafeMutablePointer<Float>
    ) {
        guard m > 0, n > 0 else { return }
        _ = kernelSelection
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

    /// Returns op(A) * op(B) as a new row-major m x n buffer, through `plainGemm` when `plain`
    /// (IEEE handling of infinities and NaN), otherwise through `gemm`.
    package static func matmul(_ a: [Double], _ b: [Double], m: Int, n: Int, k: Int,
                              transA: Bool = false, transB: Bool = false, plain: Bool = false) -> [Double] {
        precondition(a.count >= m * k && b.count >= k * n, "matmul operand too small")
        guard m > 0, n > 0, k > 0 else { return [Double](repeating: 0, count: m * n) }
        // beta = 0: BLAS writes every element of C without reading it, so no zero fill.
        return [Double](unsafeUninitializedCapacity: m * n) { pc, count in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    if plain {
                        plainGemm(transA: transA, transB: transB, m: m, n: n, k: k,
                                  a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                    } else {
                        gemm(transA: transA, transB: transB, m: m, n: n, k: k,
                             a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                    }
                }
            }
            count = m * n
        }
    }

    /// Sets the number of BLAS threads (OpenBLAS) for the whole process. Certus itself never
    /// calls this outside `withSingleThread` (which restores the count afterwards).
    package static func setThreads(_ n: Int) {
        _ = kernelSelection
        openblas_set_num_threads(Int32(max(1, n)))
    }

    /// OpenBLAS's current thread count (`openblas_get_num_threads`), a process-wide setting.
    package static var threads: Int {
        _ = kernelSelection
        return Int(openblas_get_num_threads())
    }

    /// Open single-thread scopes (all threads together) and the count to restore after the last.
    private static let scopes = Mutex<(depth: Int, saved: Int32)>((0, 1))

    /// Runs `body` with OpenBLAS on one thread and then restores the thread count the process
    /// had. Certus parallelises above BLAS (alpha-CROWN row groups, branch-and-bound workers),
    /// where OpenBLAS's own threads would only spin against Certus's on its many small products,
    /// so every entry point of the bound engine, `Verifier.verify` and the `Certus` front door
    /// run inside this scope. Scopes nest and may be open on several threads at once: the first
    /// to open saves the process's count and sets 1, the last to close restores it. OpenBLAS's
    /// thread count is one setting for the whole process, so BLAS calls the host program makes
    /// on other threads while a scope is open also run on one thread.
    package static func withSingleThread<T>(_ body: () throws -> T) rethrows -> T {
        beginSingleThread()
        defer { endSingleThread() }
        return try body()
    }

    /// Opens a single-thread scope (see `withSingleThread`); every call must be paired with one
    /// `endSingleThread()` on any thread (use `defer`).
    package static func beginSingleThread() {
        _ = kernelSelection
        scopes.withLock { s in
            if s.depth == 0 {
                s.saved = openblas_get_num_threads()
                if s.saved != 1 { openblas_set_num_threads(1) }
            }
            s.depth += 1
        }
    }

    /// Closes a scope opened by `beginSingleThread()`; the last one restores the saved count.
    package static func endSingleThread() {
        scopes.withLock { s in
            precondition(s.depth > 0, "BLAS.endSingleThread() without beginSingleThread()")
            s.depth -= 1
            if s.depth == 0, s.saved != 1, s.saved >= 1 { openblas_set_num_threads(s.saved) }
        }
    }
}
