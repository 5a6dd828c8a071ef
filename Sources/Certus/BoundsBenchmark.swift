import Foundation
import CertusGraph
import CertusONNX
import CertusSpec
import CertusBounds

/// The bound-propagation benchmark of issue 4: IBP, CROWN and alpha-CROWN on ACAS Xu 1_1
/// prop_1..4 and mnist-net_256x{2,4,6} (specs in shared/reference/vnncomp), median of several
/// runs (model load excluded, as for the reference), beside the reference's times and bounds.
public enum BoundsBenchmark {
    public struct Case: Sendable {
        public var name: String, model: String, spec: String, reference: String
    }

    public struct Result: Sendable {
        public var name: String
        public var method: BoundMethod
        public var medianTime: Double
        public var propertyLower: Double
        public var referenceTime: Double?
        public var referenceLower: Double?
    }

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

    public static func run(_ cases: [Case], methods: [BoundMethod], runs: Int,
                           progress: (String) -> Void = { _ in }) throws -> [Result] {
        var out: [Result] = []
        for c in cases {
            let graph = try ModelFile.load(c.model)
            let property = try PropertyLoader.load(path: c.spec, numOutputs: graph.outputCount)
            let ref = try? JSONDecoder().decode(Ref.self, from: Data(contentsOf: URL(fileURLWithPath: c.reference)))
            for m in methods {
                var times: [Double] = []
                var lower = 0.0
                for _ in 0..<max(1, runs) {
                    let engine = BoundEngine(graph: graph)
                    let start = DispatchTime.now().uptimeNanoseconds
                    let report = try engine.bound(property: property, settings: BoundSettings(method: m))
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                    lower = report.propertyLower
                }
                times.sort()
                let r = referenceKey[m].flatMap { ref?.results[$0] }
                out.append(Result(name: c.name, method: m, medianTime: times[times.count / 2], propertyLower: lower,
                                  referenceTime: r?.time_s, referenceLower: r?.property_lower))
                progress("\(c.name) \(m.rawValue): \(String(format: "%.4f", times[times.count / 2])) s, bound \(lower)")
            }
        }
        return out
    }

    public static func markdown(_ results: [Result], runs: Int, machine: String) -> String {
        var s = "| case | method | Certus median (s) | reference (s) | speed-up | Certus property lower | reference property lower |\n"
        s += "|---|---|---|---|---|---|---|\n"
        for r in results {
            let refT = r.referenceTime.map { String(format: "%.4f", $0) } ?? "-"
            let speed = r.referenceTime.map { String(format: "%.1fx", $0 / max(r.medianTime, 1e-9)) } ?? "-"
            let refL = r.referenceLower.map { String(format: "%.6g", $0) } ?? "-"
            s += "| \(r.name) | \(r.method.rawValue) | \(String(format: "%.4f", r.medianTime)) | \(refT) | \(speed) | \(String(format: "%.6g", r.propertyLower)) | \(refL) |\n"
        }
        s += "\nMedian of \(runs) runs each, model load excluded, \(machine). Reference: auto_LiRPA 0.7.1, float64, 1 thread, median of 5 (shared/reference/vnncomp).\n"
        return s
    }
}
