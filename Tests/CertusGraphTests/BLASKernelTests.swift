import XCTest
import Foundation
import Certus

/// The BLAS layer's kernel choice, flop count and CPU count (products themselves: OperatorTests).
final class BLASKernelTests: XCTestCase {
    /// On a CPU with AVX2 and FMA, products never run on OpenBLAS's pre-AVX2 kernels (4-6x
    /// slower), whether OpenBLAS recognised the CPU or `BLAS.kernelSelection` chose for it.
    func testModernCPUGetsVectorKernels() throws {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil else {
            throw XCTSkip("OPENBLAS_CORETYPE is set: the user's choice is kept")
        }
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("no /proc/cpuinfo")
        }
        let flags = Set(line.split(separator: " ").map(String.init))
        guard flags.isSuperset(of: ["avx2", "fma"]) else { throw XCTSkip("CPU without AVX2/FMA") }
        let legacy = ["unknown", "katmai", "coppermine", "northwood", "prescott", "banias", "atom",
                      "core2", "penryn", "dunnington", "nehalem", "sandybridge"]
        XCTAssertFalse(legacy.contains(BLAS.kernel.lowercased()), "OpenBLAS runs \(BLAS.kernel) kernels")
        if let o = BLAS.kernelOverride {
            XCTAssertTrue(o.hasSuffix("-> \(BLAS.kernel)"), o)
        }
    }

    /// `gemmFlops` grows by 2 m n k per product, on both sides of `smallRows`.
    func testGemmFlopsCountEveryProduct() {
        for (m, n, k) in [(3, 5, 7), (BLAS.smallRows + 9, 11, 13)] {
            let a = (0..<(m * k)).map { Double($0 % 5) }, b = (0..<(k * n)).map { Double($0 % 3) }
            let before = BLAS.gemmFlops
            let c = BLAS.matmul(a, b, m: m, n: n, k: k)
            XCTAssertEqual(BLAS.gemmFlops - before, 2 * m * n * k)
            // And the product is right (integers: exact).
            for i in 0..<m { for j in 0..<n {
                XCTAssertEqual(c[i * n + j], (0..<k).reduce(0.0) { $0 + a[i * k + $1] * b[$1 * n + j] })
            } }
        }
    }

    func testUsableProcessorsWithinOnlineCPUs() {
        XCTAssertGreaterThanOrEqual(BLAS.usableProcessors, 1)
        XCTAssertLessThanOrEqual(BLAS.usableProcessors, max(1, ProcessInfo.processInfo.activeProcessorCount))
    }
}
