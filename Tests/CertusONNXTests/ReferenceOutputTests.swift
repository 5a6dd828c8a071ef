import XCTest
import Foundation
import Certus
import TestSupport

/// Concrete evaluation against onnxruntime outputs recorded in ../shared.
final class ReferenceOutputTests: XCTestCase {
    /// Relative tolerance of the foundation issue: 1e-4 relative (floor 1e-2 for values near 0).
    let tolerance = 1e-4

    /// Every witness of every benchmark: X through Certus on the binary model gives the recorded Y.
    func testBenchmarkWitnessesReproduceOnnxruntime() throws {
        var checked = 0
        var maxRel = 0.0
        for bench in ["acasxu", "mnistfc", "tiny"] {
            var cache: [String: Graph] = [:]
            for w in TestData.files(in: "benchmarks/\(bench)/witnesses", ext: "txt") {
                let stem = (w as NSString).lastPathComponent.components(separatedBy: "__")[0]
                let modelPath = TestData.sharedPath("benchmarks/\(bench)/\(stem).onnx")
                let graph = try cache[stem] ?? ModelFile.load(modelPath)
                cache[stem] = graph
                let (x, y) = TestData.parseWitness(try String(contentsOfFile: w, encoding: .utf8))
                XCTAssertEqual(x.count, graph.inputCount, w)
                let out = try graph.evaluateFirst(x)
                XCTAssertEqual(out.count, y.count, w)
                for (a, b) in zip(out, y) {
                    XCTAssertTrue(TestData.close(a, b, rel: tolerance), "\(w): certus \(a) vs onnxruntime \(b)")
                    maxRel = max(maxRel, abs(a - b) / max(abs(b), 1e-2))
                }
                checked += 1
            }
        }
        // 47 acasxu + 19 mnistfc + 1 tiny witnesses are documented in benchmarks/README.md.
        XCTAssertGreaterThanOrEqual(checked, 67)
        print("witnesses checked: \(checked), max relative difference \(maxRel)")
    }

    /// Every zoo model, in both encodings, on the 9 recorded inputs.
    func testZooMatchesOnnxruntimeInBothEncodings() throws {
        let zoo = TestData.sharedPath("reference/zoo")
        let models = TestData.zooModels
        XCTAssertEqual(models.count, 10)
        for m in models {
            let binary = try ModelFile.load("\(zoo)/\(m)/model.onnx")
            let json = try ModelFile.load("\(zoo)/\(m)/model.json")
            struct EvalRef: Decodable { struct Case: Decodable { var input: [Double]; var output: [Double] }; var cases: [Case] }
            let ref = try JSONDecoder().decode(EvalRef.self, from: Data(contentsOf: URL(fileURLWithPath: "\(zoo)/\(m)/eval_ref.json")))
            XCTAssertEqual(ref.cases.count, 9, m)
            for c in ref.cases {
                let x = c.input, y = c.output
                let a = try binary.evaluateFirst(x)
                let b = try json.evaluateFirst(x)
                XCTAssertEqual(a, b, "\(m): binary and JSON encodings must evaluate identically")
                XCTAssertEqual(a.count, y.count, m)
                for (u, v) in zip(a, y) {
                    XCTAssertTrue(TestData.close(u, v, rel: tolerance), "\(m): certus \(u) vs onnxruntime \(v)")
                }
            }
        }
    }

    /// The JSON encodings in benchmarks/json evaluate exactly like their binary sources.
    func testBenchmarkJSONEncodingsMatchBinary() throws {
        let pairs: [(String, String)] = [
            ("ACASXU_run2a_1_1_batch_2000.json", "acasxu/ACASXU_run2a_1_1_batch_2000.onnx"),
            ("ACASXU_run2a_1_1_batch_2000.floatdata.json", "acasxu/ACASXU_run2a_1_1_batch_2000.onnx"),
            ("mnist-net_256x2.json", "mnistfc/mnist-net_256x2.onnx"),
            ("test_nano.json", "tiny/test_nano.onnx"), ("test_tiny.json", "tiny/test_tiny.onnx"),
            ("test_small.json", "tiny/test_small.onnx"), ("test_small.floatdata.json", "tiny/test_small.onnx"),
            ("test_sat.json", "tiny/test_sat.onnx"), ("test_unsat.json", "tiny/test_unsat.onnx"),
        ]
        var rng = SystemRandomNumberGenerator()
        for (j, o) in pairs {
            let gj = try ModelFile.load(TestData.sharedPath("benchmarks/json/\(j)"))
            let go = try ModelFile.load(TestData.sharedPath("benchmarks/\(o)"))
            XCTAssertEqual(gj.inputShape, go.inputShape, j)
            for _ in 0..<5 {
                let x = (0..<go.inputCount).map { _ in Double.random(in: -1...1, using: &rng) }
                XCTAssertEqual(try gj.evaluateFirst(x), try go.evaluateFirst(x), j)
            }
        }
    }

    /// Hand-derived outputs of the tiny sanity models (README of benchmarks).
    func testTinyModelsByHand() throws {
        let small = try ModelFile.load(TestData.sharedPath("benchmarks/tiny/test_small.onnx"))
        for x in [-1.0, -0.25, 0.0, 0.5, 1.0] {
            XCTAssertEqual(try small.evaluateFirst([x])[0], 24 * x + 54.5, accuracy: 1e-9)
        }
        let tiny = try ModelFile.load(TestData.sharedPath("benchmarks/tiny/test_tiny.onnx"))
        XCTAssertEqual(try tiny.evaluateFirst([-0.5]), [0])
        XCTAssertEqual(try tiny.evaluateFirst([0.75]), [0.75])
        let nano = try ModelFile.load(TestData.sharedPath("benchmarks/tiny/test_nano.onnx"))
        XCTAssertEqual(try nano.evaluateFirst([0.8])[0], 0.4, accuracy: 1e-12)
        XCTAssertEqual(try nano.evaluateFirst([-0.8])[0], 0)
    }
}
