import XCTest
import Foundation
import Certus
import TestSupport

/// `certus bounds`: table and JSON output against the library and the reference.
final class BoundsCLITests: XCTestCase {
    struct Report: Decodable {
        struct Row: Decodable { var box: Int; var clause: Int; var c: [Double]; var d: Double; var lower: Double; var upper: Double }
        var method: String; var rows: [Row]; var property_lower: Double; var verified: Bool; var time_s: Double
    }

    func testJSONMatchesLibraryAndReference() throws {
        let dir = TestData.sharedPath("reference/zoo/mlp_sigmoid")
        for (method, verified) in [("crown", false), ("alpha-crown", true)] {
            let r = try TestData.runCertus(["bounds", dir + "/model.onnx", dir + "/b.json", "--method", method, "--json"])
            XCTAssertEqual(r.code, 0, r.err)
            let rep = try JSONDecoder().decode(Report.self, from: Data(r.out.utf8))
            XCTAssertEqual(rep.method, method)
            XCTAssertEqual(rep.rows.count, 2)
            XCTAssertEqual(rep.rows.map(\.clause), [0, 1])
            XCTAssertEqual(rep.verified, verified, "mlp_sigmoid/b: CROWN -0.18 (not verified), alpha-CROWN > 0 (reference 0.0125)")
            XCTAssertEqual(rep.property_lower, rep.rows.map(\.lower).min()!, accuracy: 1e-12)
            for row in rep.rows { XCTAssertLessThanOrEqual(row.lower, row.upper) }
        }
        // The table names the rows and the verdict.
        let t = try TestData.runCertus(["bounds", TestData.repoPath("Models/acasxu_1_1.onnx"), TestData.repoPath("Specs/acasxu_prop_2.vnnlib")])
        XCTAssertEqual(t.code, 0, t.err)
        XCTAssertTrue(t.out.contains("-y0+y1 <= 0.0") && t.out.contains("not verified by crown"), t.out)
        // IBP through the CLI equals the reference IBP of the zoo to 1e-9.
        let ref = try JSONDecoder().decode(ReferenceIBP.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/b.ref.json")))
        let ibp = try TestData.runCertus(["bounds", dir + "/model.onnx", dir + "/b.vnnlib", "--method", "ibp", "--json"])
        let rep = try JSONDecoder().decode(Report.self, from: Data(ibp.out.utf8))
        for (k, row) in rep.rows.enumerated() {
            XCTAssertEqual(row.lower, ref.bounds.results["IBP"]!.lower[k], accuracy: 1e-9 * max(1, abs(row.lower)))
        }
    }

    struct ReferenceIBP: Decodable {
        struct R: Decodable { var lower: [Double] }
        struct B: Decodable { var results: [String: R] }
        var bounds: B
    }

    func testBadInputExitCode3() throws {
        let r = try TestData.runCertus(["bounds", TestData.repoPath("Models/acasxu_1_1.onnx"), TestData.repoPath("Specs/mlp_tanh_a.json")])
        XCTAssertEqual(r.code, 3)
        XCTAssertTrue(r.err.contains("mlp_tanh_a.json"), r.err)
    }
}
