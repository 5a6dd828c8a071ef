import XCTest
import Foundation
import Certus
import TestSupport

/// Bounds against the independent reference (auto_LiRPA, float64) in ../shared/reference.
final class ReferenceBoundsTests: XCTestCase {
    struct Ref: Decodable {
        struct Row: Decodable { var box: Int; var clause: Int; var c: [Double]; var d: Double }
        struct Result: Decodable { var lower: [Double?]; var upper: [Double?]?; var time_s: Double; var property_lower: Double? }
        struct Bounds: Decodable { var rows: [Row]; var results: [String: Result] }
        var bounds: Bounds?
        var rows: [Row]?
        var results: [String: Result]?
        var allRows: [Row] { bounds?.rows ?? rows ?? [] }
        var allResults: [String: Result] { bounds?.results ?? results ?? [:] }
    }

    static func loadRef(_ path: String) throws -> Ref {
        try JSONDecoder().decode(Ref.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static let zooCases: [(String, String)] = {
        TestData.zooModels.flatMap { m in ["a", "b", "c"].map { (m, $0) } }
    }()

    func relClose(_ a: Double, _ b: Double, _ tol: Double) -> Bool { abs(a - b) <= tol * max(1, abs(b)) }

    /// GeLU models: Certus's IBP is the exact interval image (the reference takes min f over all
    /// of R as the lower end, which is looser), and its CROWN relaxation differs in regions that
    /// cross two inflection points (see GeluRelaxation); compared separately below.
    static let geluModels: Set<String> = ["mlp_gelu", "mlp_gelu_erf"]

    func compare(method: BoundMethod, refKey: String, tol: Double, upperToo: Bool) throws {
        XCTAssertEqual(Self.zooCases.count, 30)
        var worst = 0.0
        for (m, s) in Self.zooCases where !Self.geluModels.contains(m) {
            let dir = TestData.sharedPath("reference/zoo/\(m)")
            let graph = try ModelFile.load("\(dir)/model.onnx")
            let property = try PropertyLoader.load(path: "\(dir)/\(s).vnnlib", numOutputs: graph.outputCount)
            let ref = try Self.loadRef("\(dir)/\(s).ref.json")
            let rows = property.rows
            XCTAssertEqual(rows.count, ref.allRows.count)
            let engine = BoundEngine(graph: graph)
            let box = property.cases[0].box
            var settings = BoundSettings(method: method)
            settings.referenceCompatible = true
            let got = try engine.bound(box: box, atoms: rows.map(\.atom), settings: settings)
            let r = ref.allResults[refKey]!
            for (k, b) in got.enumerated() {
                let lo = r.lower[k]!
                worst = max(worst, abs(b.lower - lo) / max(1, abs(lo)))
                XCTAssertTrue(relClose(b.lower, lo, tol), "\(m)/\(s) \(method) row \(k): lower \(b.lower) vs reference \(lo)")
                if upperToo, let up = r.upper?[k] ?? nil {
                    XCTAssertTrue(relClose(b.upper, up, tol), "\(m)/\(s) \(method) row \(k): upper \(b.upper) vs reference \(up)")
                }
            }
        }
        print("\(method): worst relative difference from the reference \(worst)")
    }

    func testIBPMatchesReferenceOnZoo() throws { try compare(method: .ibp, refKey: "IBP", tol: 1e-6, upperToo: true) }
    func testCROWNMatchesReferenceOnZoo() throws { try compare(method: .crown, refKey: "CROWN", tol: 1e-6, upperToo: true) }
}

extension ReferenceBoundsTests {
    /// GeLU: IBP is never looser than the reference, CROWN never more than 5% looser, and the Erf
    /// decomposition gives exactly the bounds of the Gelu op.
    func testGeluBoundsAgainstReference() throws {
        for s in ["a", "b", "c"] {
            var results: [[RowBound]] = []
            for m in ["mlp_gelu", "mlp_gelu_erf"] {
                let dir = TestData.sharedPath("reference/zoo/\(m)")
                let graph = try ModelFile.load("\(dir)/model.onnx")
                let property = try PropertyLoader.load(path: "\(dir)/\(s).vnnlib", numOutputs: graph.outputCount)
                let ref = try Self.loadRef("\(dir)/\(s).ref.json")
                let engine = BoundEngine(graph: graph)
                let atoms = property.rows.map(\.atom)
                let ibp = try engine.bound(box: property.cases[0].box, atoms: atoms, settings: BoundSettings(method: .ibp))
                var crownSettings = BoundSettings(method: .crown)
                crownSettings.referenceCompatible = true
                let crown = try engine.bound(box: property.cases[0].box, atoms: atoms, settings: crownSettings)
                for k in atoms.indices {
                    XCTAssertGreaterThanOrEqual(ibp[k].lower, ref.allResults["IBP"]!.lower[k]! - 1e-9, "\(m)/\(s)")
                    XCTAssertLessThanOrEqual(ibp[k].upper, ref.allResults["IBP"]!.upper![k]! + 1e-9, "\(m)/\(s)")
                    let rl = ref.allResults["CROWN"]!.lower[k]!
                    XCTAssertGreaterThanOrEqual(crown[k].lower, rl - 0.05 * max(1, abs(rl)), "\(m)/\(s) CROWN row \(k): looser than the reference")
                }
                results.append(crown)
            }
            // The Erf export's constants are float32 (sqrt 2 = 1.41421353816986...), and the
            // fused node keeps the model's own function (`GeluFusion`), so the two models differ
            // by about 2e-8 relative, and so may their bounds.
            for (a, b) in zip(results[0], results[1]) {
                XCTAssertEqual(a.lower, b.lower, accuracy: 1e-6 * max(1, abs(a.lower)), "Gelu and its Erf decomposition must bound alike")
                XCTAssertEqual(a.upper, b.upper, accuracy: 1e-6 * max(1, abs(a.upper)), "Gelu and its Erf decomposition must bound alike")
            }
        }
    }
}

extension ReferenceBoundsTests {
    /// The default mode (IBP from tightened inputs, intersected) is never looser than the reference.
    func testDefaultCROWNIsAtLeastAsTightOnZoo() throws {
        for (m, s) in Self.zooCases {
            let dir = TestData.sharedPath("reference/zoo/\(m)")
            let graph = try ModelFile.load("\(dir)/model.onnx")
            let property = try PropertyLoader.load(path: "\(dir)/\(s).vnnlib", numOutputs: graph.outputCount)
            let ref = try Self.loadRef("\(dir)/\(s).ref.json")
            let got = try BoundEngine(graph: graph).bound(box: property.cases[0].box, atoms: property.rows.map(\.atom))
            for (k, b) in got.enumerated() {
                let r = ref.allResults["CROWN"]!.lower[k]!
                if Self.geluModels.contains(m) { continue }   // compared in testGeluBoundsAgainstReference
                XCTAssertGreaterThanOrEqual(b.lower, r - 1e-9 * max(1, abs(r)), "\(m)/\(s) row \(k)")
            }
        }
    }
}
