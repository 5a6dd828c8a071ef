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

        /// With the rounding guard's cost measured (`run(..., roundingGuardCost: true)`): the
        /// median time of the same pass without the guard (`BoundEngine.roundingGuard` off),
        /// timed alternately with the guarded pass; nil otherwise.
        public var unguardedTime: Double? = nil
        /// The fastest guarded and unguarded passes (with `unguardedTime`): the figures least
        /// disturbed by other load on the machine.
        public var fastest: (guarded: Double, unguarded: Double)? = nil
        /// The unguarded pass's property lower bound (not sound under rounding; for comparison).
        public var unguardedLower: Double? = nil

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
    /// `roundingGuardCost`: also time each pass without the rounding guard (`runs` unguarded
    /// passes on engines of their own, in blocks of 5 in turn with the guarded ones after a
    /// warm-up of each), for the cost of rounding-safe bounds (issue 15); the reported bounds
    /// stay the guarded ones.
    /// - Throws: `ModelError` or `SpecError` for a case whose files cannot be used.
    public static func run(_ cases: [Case], methods: [BoundMethod], runs: Int, roundingGuardCost: Bool = false,
                           progress: (String) -> Void = { _ in }) throws -> [Result] {
        var out: [Result] = []
        for c in cases {
            let graph = try ModelFile.load(c.model)
            let property = try PropertyLoader.load(path: c.spec, numOutputs: graph.outputCount)
            let ref = try? JSONDecoder().decode(Ref.self, from: Data(contentsOf: URL(fileURLWithPath: c.reference)))
            for m in methods {
                var times: [Double] = [], unguardedTimes: [Double] = []
                var lower = 0.0, unguardedLower = 0.0, flops = 0
                // One pass, guarded or not (`roundingGuard`), timed; `record` false: a warm-up.
                func pass(guarded: Bool, record: Bool) throws {
                    let engine = BoundEngine(graph: graph)
                    engine.roundingGuard = guarded
                    let flops0 = BLAS.gemmFlops
                    let start = DispatchTime.now().uptimeNanoseconds
                    let report = try engine.bound(property: property, settings: BoundSettings(method: m))
                    let t = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    guard record else { return }
                    if guarded {
                        times.append(t); flops = BLAS.gemmFlops - flops0; lower = report.propertyLower
                    } else {
                        unguardedTimes.append(t); unguardedLower = report.propertyLower
                    }
                }
                // With the guard's cost: one warm-up pass of each, then blocks of 5 guarded and 5
                // unguarded runs in turn (run by run alternation made either slower by the
                // other's memory, up to 2x on millisecond passes; one block each after the other
                // favoured the second).
                if roundingGuardCost { try pass(guarded: true, record: false); try pass(guarded: false, record: false) }
                var done = 0
                while done < max(1, runs) {
                    let block = roundingGuardCost ? min(5, max(1, runs) - done) : max(1, runs)
                    for _ in 0..<block { try pass(guarded: true, record: true) }
                    for _ in 0..<(roundingGuardCost ? block : 0) { try pass(guarded: false, record: true) }
                    done += block
                }
                let r = referenceKey[m].flatMap { ref?.results[$0] }
                var result = Result(name: c.name, method: m, medianTime: median(times), propertyLower: lower,
                                    referenceTime: r?.time_s, referenceLower: r?.property_lower, gemmFlops: flops)
                var line = "\(c.name) \(m.rawValue): \(String(format: "%.4f", result.medianTime)) s, bound \(lower)"
                if roundingGuardCost {
                    result.unguardedTime = median(unguardedTimes)
                    result.fastest = (times.min()!, unguardedTimes.min()!)
                    result.unguardedLower = unguardedLower
                    line += String(format: "; without the rounding guard %.4f s", result.unguardedTime!)
                }
                out.append(result)
                progress(line)
            }
        }
        return out
    }

    static func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    /// The rounding guard's cost as a markdown table (results measured with
    /// `roundingGuardCost`): per case and method the median times with and without the guard,
    /// their ratio less 1 (the cost), the same for the fastest runs, and both property lower bounds.
    public static func roundingGuardMarkdown(_ results: [Result], runs: Int) -> String {
        var s = "| case | method | guarded (ms) | unguarded (ms) | cost | fastest: guarded / unguarded (ms) | cost | guarded lower | unguarded lower |\n"
        s += "|---|---|---|---|---|---|---|---|---|\n"
        var total = 0.0, totalPlain = 0.0, fast = 0.0, fastPlain = 0.0
        for r in results {
            guard let u = r.unguardedTime, let ul = r.unguardedLower, let f = r.fastest else { continue }
            total += r.medianTime; totalPlain += u; fast += f.guarded; fastPlain += f.unguarded
            s += "| \(r.name) | \(r.method.rawValue) | \(String(format: "%.3f", 1000 * r.medianTime)) | \(String(format: "%.3f", 1000 * u)) | "
            s += "\(String(format: "%+.1f%%", 100 * (r.medianTime / max(u, 1e-12) - 1))) | "
            s += "\(String(format: "%.3f / %.3f", 1000 * f.guarded, 1000 * f.unguarded)) | \(String(format: "%+.1f%%", 100 * (f.guarded / max(f.unguarded, 1e-12) - 1))) | "
            s += "\(String(format: "%.10g", r.propertyLower)) | \(String(format: "%.10g", ul)) |\n"
        }
        s += "\nRounding guard on vs off (`BoundEngine.roundingGuard`), blocks of 5 runs in turn after a warm-up of each, median of \(runs) runs each; "
        s += "sum of medians \(String(format: "%.3f", 1000 * total)) ms vs \(String(format: "%.3f", 1000 * totalPlain)) ms (\(String(format: "%+.1f%%", 100 * (total / max(totalPlain, 1e-12) - 1)))); "
        s += "of the fastest runs \(String(format: "%.3f", 1000 * fast)) ms vs \(String(format: "%.3f", 1000 * fastPlain)) ms (\(String(format: "%+.1f%%", 100 * (fast / max(fastPlain, 1e-12) - 1)))).\n"
        return s
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
