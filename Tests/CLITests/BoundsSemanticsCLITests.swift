import XCTest
import Foundation
import Certus
import TestSupport

/// `certus bounds --semantics real|float32` states the arithmetic its bounds hold for, and
/// `certus lipschitz --semantics float32` is refused with a reason.
final class BoundsSemanticsCLITests: XCTestCase {
    struct Report: Decodable {
        struct Row: Decodable { var lower: Double; var upper: Double }
        var method: String; var rows: [Row]; var property_lower: Double; var verified: Bool; var semantics: String
    }

    /// cancel_add's property holds over the reals and is violated in float32 (planted,
    /// Tests/Fixtures/float32): the real bounds refute it, the float32 bounds must not, and
    /// enclose onnxruntime's float32 outputs at the planted witness.
    func testBoundsStateTheirSemantics() throws {
        let f = TestData.repoPath("Tests/Fixtures/float32")
        let model = f + "/cancel_add.onnx", spec = f + "/cancel_add.vnnlib"
        var reports: [String: Report] = [:]
        for s in ["real", "float32"] {
            let r = try TestData.runCertus(["bounds", model, spec, "--json", "--semantics", s])
            XCTAssertEqual(r.code, 0, r.err)
            let rep = try JSONDecoder().decode(Report.self, from: Data(r.out.utf8))
            XCTAssertEqual(rep.semantics, s)
            for row in rep.rows { XCTAssertLessThanOrEqual(row.lower, row.upper) }
            reports[s] = rep
        }
        XCTAssertTrue(reports["real"]!.verified, "the real-valued network satisfies the property")
        XCTAssertFalse(reports["float32"]!.verified, "its float32 evaluation violates it")
        XCTAssertLessThan(reports["float32"]!.property_lower, reports["real"]!.property_lower)
        // The default is real; the table says which semantics holds.
        let plain = try TestData.runCertus(["bounds", model, spec, "--json"])
        XCTAssertEqual(try JSONDecoder().decode(Report.self, from: Data(plain.out.utf8)).semantics, "real")
        let table = try TestData.runCertus(["bounds", model, spec, "--semantics", "float32"])
        XCTAssertEqual(table.code, 0, table.err)
        XCTAssertTrue(table.out.contains("semantics: float32"), table.out)
        XCTAssertTrue(table.out.contains("not verified"), table.out)
    }

    func testLipschitzRefusesFloat32() throws {
        let dir = TestData.sharedPath("reference/zoo/mlp_sigmoid")
        let r = try TestData.runCertus(["lipschitz", dir + "/model.onnx", dir + "/b.json", "--semantics", "float32", "--samples", "10"])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("--semantics float32 is not supported by lipschitz"), r.err)
        XCTAssertTrue(r.out.isEmpty, r.out)
    }
}
