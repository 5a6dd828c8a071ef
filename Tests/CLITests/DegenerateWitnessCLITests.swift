import XCTest
import Foundation
import Certus
import TestSupport

/// `certus verify` on the shared cases whose counterexamples have coordinates that are not
/// float32 or hold with zero slack: sat, exit 1, the witness parses back, and the text and JSON
/// outputs say which coordinates are not float32 (and which atoms hold with equality).
final class DegenerateWitnessCLITests: XCTestCase {
    let dir = TestData.sharedPath("cases/soundness")

    struct Out: Decodable {
        struct CX: Decodable {
            var x: [Double]; var y: [Double]; var case_index: Int; var clause_index: Int
            var non_float32_coordinates: [Int]; var float32_x: [Double]?; var float32_y: [Double]?; var equality_atoms: [Int]
        }
        var status: String; var counterexample: CX?
    }

    func check(_ model: String, _ spec: String, nonFloat32: [Int], equality: [Int]) throws {
        let m = dir + "/" + model, s = dir + "/" + spec
        let text = try TestData.runCertus(["verify", m, s, "--timeout", "30"])
        XCTAssertEqual(text.code, 1, "\(spec): \(text.out) \(text.err)")
        XCTAssertTrue(text.out.hasPrefix("sat\n(("), text.out)
        let (x, y) = try parseVNNCompWitness(text: text.out, source: spec)
        let graph = try ModelFile.load(m)
        XCTAssertEqual(try graph.evaluateFirst(x), y)
        let property = try PropertyLoader.load(path: s, numOutputs: graph.outputCount)
        XCTAssertNotNil(property.violatingClause(x: x, y: y), spec)
        let comments = text.out.split(separator: "\n").filter { $0.hasPrefix("; ") }
        if !nonFloat32.isEmpty {
            let names = nonFloat32.map { "X_\($0)" }.joined(separator: ", ")
            XCTAssertTrue(comments.contains { $0.contains("not float32: \(names)") }, text.out)
        }
        if !equality.isEmpty { XCTAssertTrue(comments.contains { $0.contains("zero slack") }, text.out) }
        for i in x.indices where !nonFloat32.contains(i) { XCTAssertEqual(Double(Float(x[i])), x[i]) }

        let json = try TestData.runCertus(["verify", m, s, "--timeout", "30", "--json"])
        XCTAssertEqual(json.code, 1, json.err)
        let o = try JSONDecoder().decode(Out.self, from: Data(json.out.utf8))
        XCTAssertEqual(o.status, "sat")
        let cx = try XCTUnwrap(o.counterexample)
        XCTAssertEqual(cx.non_float32_coordinates, nonFloat32)
        XCTAssertEqual(cx.equality_atoms, equality)
        XCTAssertEqual(cx.float32_x != nil, !nonFloat32.isEmpty)
        if let fx = cx.float32_x { XCTAssertEqual(fx, cx.x.map { Double(Float($0)) }) }
    }

    func testPinnedSubUlpEpsilonZeroAndZeroSlackCases() throws {
        try check("one_relu.onnx", "c14_pinned_non_f32_wide_x0.vnnlib", nonFloat32: [1], equality: [])
        try check("one_relu.onnx", "c15_subulp_box.vnnlib", nonFloat32: [0], equality: [])
        try check("two_out.onnx", "j2_eps0_not_robust.json", nonFloat32: [0], equality: [])
        try check("neg_relu_out.onnx", "v1_negrelu_ge0.vnnlib", nonFloat32: [], equality: [0])
    }
}
