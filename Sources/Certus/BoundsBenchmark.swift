import Foundation
import CertusGraph
import CertusONNX
import CertusSpec
import CertusBounds
import CertusTensor

/// The bound-propagation benchmark of issue 4: IBP, CROWN and alpha-CROWN on ACAS Xu 1_1
/// prop_1..4 and mnist-net_256x{2,4,6} (specs in shared/reference/vnncomp), median of several
/// runs (model load excluded, as for the reference), beside the reference's times and bounds.
public enum BoundsBenchmark {
    /// One benchmark case: a name, the model and spec files, and the reference's result file.
    public struct Case: Sendable {
        /// Name in the table; model, spec and reference result paths.
        public var name: String, model: String, spec: String, reference: String
    }

    /// The measurement of one case and method.
    public struct Result: Sendable {
        /// The case's name.
        public var name: String
        /// The bound method.
        public var method: BoundMethod
        /// Median wall-clock seconds of one pass.
        public var medianTime: Double
        /// Certus's lower bound of the property.
        public var propertyLower: Double
        /// The reference's time in seconds, when it has one.
        public var referenceTime: Double?
        /// The reference's lower bound, when it has one.
        public var referenceLower: Double?
        /// Floating-point operations of the pass's matrix products (2 m n k each, `BLAS.gemmFlops`).
        public var gemmFlops: Int = 0

        /// The products' rate over the whole pass: gemmFlops / medianTime, in GFLOP/s.
        public var gflops: Double { Double(gemmFlops) / max(medianTime, 1e-12) / 1e9 }
    }

    /// The machine's dgemm rate in GFLOP/s: the best of `runs` square n x n products through
    /// `BLAS.gemm` (one BLAS thread, as the bound engine runs it), 2 n^3 operations each.
    public static func measureGemmRate(n: Int = 512, runs: Int = 5) -> Double {
        BLAS.withSingleThread { gemmRate(n: n, runs: runs) }
    }

    static func gemmRate(n: Int, runs: Int) -> Double {
        let a = (0..<(n * n)).map { Double($0 % 7) - 3 }, b = (0..<(n * n)).map { Double($0 % 5) - 2 }
        var best = Double.infinity
        for _ in 0..<max(1, runs) {
            let start = DispatchTime.now().uptimeNanoseconds
            let c = BLAS.matmul(a, b, m: n, n: n, k: n)
            let t = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            precondition(c.count == n * n)
            best = min(best, t)
        }
        return 2 * Double(n) * Double(n) * Double(n) / max(best, 1e-12) / 1e9
    }

    /// The standard cases, from the shared data folder `shared`.
    public static func standardCases(shared: String) -> [Case] {
        var cases = (1...4).map {
            Case(name: "ACAS Xu 1_1 prop_\($0)", model: "\(shared)/benchmarks/acasxu/ACASXU_run2a_1_1_batch_2000.onnx",
                 spec: "\(shared)/benchmarks/acasxu/prop_\($0).vnnlib", reference: "\(shared)/reference/vnncomp/acasxu_1_1_prop_\($0).ref.json")
        }
        for w in [2, 4, 6] {
            for e in ["0.02", "0.05"] {
                cases.append(Case(name: "mnist-net_256x\(w) eps \(e)", model: "\(shared)/benchmarks/mnistfc/mnist-net_256x\(w).onnx",
                                  spec: "\(shared)/reference/vnncomp/mnist-net_256x\(w)_eps\(e).json",
                                  reference: "\(shared)/reference/vnncomp/mnist_256x\(w)_eps\(e).ref.json"))
            }
        }
        return cases
    }

    struct Ref: Decodable {
        struct R: Decodable { var time_s: Double; var property_lower: Double? }
        var results: [String: R]
    }

    static let referenceKey: [BoundMethod: String] = [.ibp: "IBP", .crown: "CROWN", .alphaCrown: "alpha-CROWN"]

    /// Times every method on every case (median of `runs`), calling `progress` after each.
    /// - Throws: `ModelError` or `SpecError` for a case whose files cannot be used.
    public static func run(_ cases: [Case], methods: [BoundMethod], runs: Int,
                           progress: (String) -> Void = { _ in }) throws -> [Result] {
        var out: [Result] = []
        for c in cases {
            let graph = try ModelFile.load(c.model)
            let property = try PropertyLoader.load(path: c.spec, numOutputs: graph.outputCount)
            let ref = try? JSONDecoder().decode(Ref.self, from: Data(contentsOf: URL(fileURLWithPath: c.reference)))
            for m in methods {
                var times: [Double] = []
                var lower = 0.0, flops = 0
                for _ in 0..<max(1, runs) {
                    let engine = BoundEngine(graph: graph)
                    let flops0 = BLAS.gemmFlops
                    let start = DispatchTime.now().uptimeNanoseconds
                    let report = try engine.bound(property: property, settings: BoundSettings(method: m))
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                    flops = BLAS.gemmFlops - flops0
                    lower = report.propertyLower
                }
                times.sort()
                let r = referenceKey[m].flatMap { ref?.results[$0] }
                out.append(Result(name: c.name, method: m, medianTime: times[times.count / 2], propertyLower: lower,
                                  referenceTime: r?.time_s, referenceLower: r?.property_lower, gemmFlops: flops))
                progress("\(c.name) \(m.rawValue): \(String(format: "%.4f", times[times.count / 2])) s, bound \(lower)")
            }
        }
        return out
    }

    /// The results as a markdown table. speed-up = reference time / Certus time; GFLOP/s is the
    /// rate of the pass's matrix products over its whole time, "of dgemm" that rate as a fraction
    /// of `dgemmRate` (the machine's measured dgemm GFLOP/s, `measureGemmRate`), when given.
    public static func markdown(_ results: [Result], runs: Int, machine: String, dgemmRate: Double? = nil) -> String {
        var s = "| case | method | Certus median (s) | reference (s) | speed-up | GFLOP/s | of dgemm | Certus property lower | reference property lower |\n"
        s += "|---|---|---|---|---|---|---|---|---|\n"
        for r in results {
            let refT = r.referenceTime.map { String(format: "%.4f", $0) } ?? "-"
            let speed = r.referenceTime.map { String(format: "%.1fx", $0 / max(r.medianTime, 1e-9)) } ?? "-"
            let refL = r.referenceLower.map { String(format: "%.6g", $0) } ?? "-"
            let rate = r.gemmFlops > 0 ? String(format: "%.1f", r.gflops) : "-"
            let frac = r.gemmFlops > 0 ? dgemmRate.map { String(format: "%.0f%%", 100 * r.gflops / $0) } ?? "-" : "-"
            s += "| \(r.name) | \(r.method.rawValue) | \(String(format: "%.4f", r.medianTime)) | \(refT) | \(speed) | \(rate) | \(frac) | \(String(format: "%.6g", r.propertyLower)) | \(refL) |\n"
        }
        s += "\nMedian of \(runs) runs each, model load excluded, \(machine). Reference: auto_LiRPA 0.7.1, float64, 1 thread, median of 5 (shared/reference/vnncomp).\n"
        if let dgemmRate {
            s += "dgemm: \(String(format: "%.1f", dgemmRate)) GFLOP/s (best of 5 square 512 products, one BLAS thread; OpenBLAS kernels \(BLAS.kernel)\(BLAS.kernelOverride.map { ", chosen by Certus: \($0)" } ?? "")).\n"
        }
        return s
    }
}
