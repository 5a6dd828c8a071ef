import Foundation
import XCTest
import CertusSpec

/// Compiled rows must equal the rows (box, clause, c, d) of the reference bound files, in order.
final class ReferenceRowTests: XCTestCase {
    private func assertRows(_ p: Property, _ ref: [RefRow], _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        let rows = p.rows
        XCTAssertEqual(rows.count, ref.count, "row count, \(what)", file: file, line: line)
        for (k, (r, e)) in zip(rows, ref).enumerated() {
            XCTAssertEqual(r.caseIndex, e.box, "row \(k) box, \(what)", file: file, line: line)
            XCTAssertEqual(r.clauseIndex, e.clause, "row \(k) clause, \(what)", file: file, line: line)
            XCTAssertEqual(r.atom.c, e.c, "row \(k) c, \(what)", file: file, line: line)
            XCTAssertEqual(r.atom.d, e.d, "row \(k) d, \(what)", file: file, line: line)
        }
    }

    private static let zooModels = ["conv_bn_relu", "conv_relu", "mlp_gelu", "mlp_gelu_erf", "mlp_relu_deep",
                                    "mlp_relu_small", "mlp_sigmoid", "mlp_tanh", "norm_mlp_relu", "resnet_relu"]

    func testZooListIsComplete() throws {
        let dirs = try FileManager.default.contentsOfDirectory(atPath: SharedData.path("reference/zoo"))
            .filter { !$0.contains(".") }.sorted()
        XCTAssertEqual(dirs, Self.zooModels)
    }

    /// For every zoo model and spec: the VNN-LIB and JSON forms compile to the same property
    /// (exactly the same box values and rows), which equals the reference rows; the reference's
    /// attack points lie in the box.
    func testZooVNNLibAndJSONAgreeWithReferenceRows() throws {
        for model in Self.zooModels {
            for s in ["a", "b", "c"] {
                let base = SharedData.path("reference/zoo/\(model)/\(s)")
                let what = "\(model)/\(s)"
                let vnn = try VNNLib.load(path: base + ".vnnlib")
                let spec = try RobustnessSpec.load(path: base + ".json")
                XCTAssertNil(spec.clip, what)
                let js = try spec.property(numOutputs: vnn.numOutputs)
                XCTAssertEqual(vnn.numInputs, js.numInputs, what)
                XCTAssertEqual(vnn.cases, js.cases, what)
                // Bitwise identical bounds (== would also accept 0.0 vs -0.0).
                XCTAssertEqual(vnn.cases.first?.box.lower.map(\.bitPattern), js.cases.first?.box.lower.map(\.bitPattern), what)
                XCTAssertEqual(vnn.cases.first?.box.upper.map(\.bitPattern), js.cases.first?.box.upper.map(\.bitPattern), what)

                let ref = try SharedData.decode(ZooRef.self, base + ".ref.json")
                XCTAssertEqual(ref.label, spec.label, what)
                XCTAssertEqual(ref.epsilon, spec.epsilon, what)
                XCTAssertEqual(ref.bounds.input_shape.reduce(1, *), vnn.numInputs, what)
                assertRows(vnn, ref.bounds.rows, what)
                assertRows(js, ref.bounds.rows, what)
                if ref.attack.counterexample_found {
                    let x = try XCTUnwrap(ref.attack.x, what)
                    let x32 = try XCTUnwrap(ref.attack.x_float32, what)
                    XCTAssertTrue(vnn.cases[0].box.contains(x), what)
                    XCTAssertTrue(vnn.cases[0].box.contains(x32), what)
                }
            }
        }
    }

    /// eval_ref.json holds onnxruntime outputs at 3 points per spec (center and two in-box points),
    /// all correctly classified: they lie in the box and violate no clause.
    func testZooEvalPointsAreInsideAndSafe() throws {
        for model in Self.zooModels {
            let eval = try SharedData.decode(EvalRef.self, SharedData.path("reference/zoo/\(model)/eval_ref.json"))
            XCTAssertEqual(eval.cases.count, 9, model)
            for (si, s) in ["a", "b", "c"].enumerated() {
                let p = try VNNLib.load(path: SharedData.path("reference/zoo/\(model)/\(s).vnnlib"))
                for k in 0..<3 where 3 * si + k < eval.cases.count {
                    let c = eval.cases[3 * si + k]
                    XCTAssertTrue(p.cases[0].box.contains(c.input), "\(model)/\(s) point \(k)")
                    XCTAssertNil(p.violatingClause(x: c.input, y: c.output), "\(model)/\(s) point \(k)")
                    // Moving the label's score below another output makes it a violation.
                    var y = c.output
                    let label = try XCTUnwrap(p.cases[0].clauses[0].atoms[0].c.firstIndex(of: 1))
                    y[label] = (y.enumerated().filter { $0.offset != label }.map(\.element).max() ?? 0) - 1
                    XCTAssertNotNil(p.violatingClause(x: c.input, y: y), "\(model)/\(s) point \(k)")
                }
            }
        }
    }

    /// ACAS Xu reference rows against the benchmark prop files.
    func testAcasReferenceRows() throws {
        for n in 1...4 {
            let ref = try SharedData.decode(VNNCompRef.self, SharedData.path("reference/vnncomp/acasxu_1_1_prop_\(n).ref.json"))
            XCTAssertTrue(ref.spec.hasSuffix("prop_\(n).vnnlib"))
            let p = try VNNLib.load(path: SharedData.path("benchmarks/acasxu/prop_\(n).vnnlib"))
            XCTAssertEqual(ref.input_shape.reduce(1, *), p.numInputs)
            if n == 1 {
                // KNOWN DATA ANOMALY: prop_1 asserts (>= Y_0 3.991125645861615), i.e. the unsafe atom
                // -y0 <= -3.991125645861615. The reference row lists c = [-1,0,0,0,0] but d = +3.991...,
                // which under the README's convention (c.y <= d) would mean y0 >= -3.99. Its bounds,
                // however, match d = -3.991 (an independent CROWN gives lower(-y0) = -1662.21, and
                // -1662.21 + 3.99 = -1658.22 vs the reference -1658.197, while -1662.21 - 3.99 = -1666.2):
                // only the recorded d has the wrong sign. We keep the semantically correct d.
                XCTAssertEqual(p.rows.count, 1)
                XCTAssertEqual(p.rows.first?.atom.c, ref.rows.first?.c)
                XCTAssertEqual(p.rows.first?.atom.d, -3.991125645861615)
                XCTAssertEqual(ref.rows.first?.d, 3.991125645861615)
            } else {
                assertRows(p, ref.rows, "prop_\(n)")
            }
        }
    }

    /// The synthetic mnist JSON specs: clip [0, 1] applied, rows equal the reference rows.
    func testMnistJSONSpecsClipAndRows() throws {
        for net in ["256x2", "256x4", "256x6"] {
            for eps in ["0.02", "0.05"] {
                let spec = try RobustnessSpec.load(path: SharedData.path("reference/vnncomp/mnist-net_\(net)_eps\(eps).json"))
                let ref = try SharedData.decode(VNNCompRef.self, SharedData.path("reference/vnncomp/mnist_\(net)_eps\(eps).ref.json"))
                XCTAssertEqual(spec.clip, 0...1)
                XCTAssertEqual(spec.epsilon, Double(eps))
                let p = try spec.property(numOutputs: 10)
                XCTAssertEqual(p.numInputs, 784)
                XCTAssertEqual(ref.input_shape.reduce(1, *), 784)
                assertRows(p, ref.rows, "mnist \(net) eps \(eps)")
                let box = p.cases[0].box
                var clippedLow = 0, clippedHigh = 0
                for i in 0..<784 {
                    let c = spec.center[i], e = spec.epsilon
                    XCTAssertEqual(box.lower[i], max(c - e, 0))
                    XCTAssertEqual(box.upper[i], min(c + e, 1))
                    if c - e < 0 { clippedLow += 1; XCTAssertEqual(box.lower[i], 0) }
                    if c + e > 1 { clippedHigh += 1; XCTAssertEqual(box.upper[i], 1) }
                }
                XCTAssertGreaterThan(clippedLow, 0)
                XCTAssertGreaterThan(clippedHigh, 0)
                // Without clip the box would leave [0, 1].
                var unclipped = spec
                unclipped.clip = nil
                XCTAssertLessThan(try unclipped.box().lower.min()!, 0)
            }
        }
    }
}
