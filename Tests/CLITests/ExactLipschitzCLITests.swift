import XCTest
import Foundation
import TestSupport

/// `certus lipschitz --exact` end to end: the exact lines and the `exact` JSON field agree with
/// the reference's exact constant, and the L2 norm and smooth activations are refused (exit 3).
final class ExactLipschitzCLITests: XCTestCase {
    let model = TestData.sharedPath("reference/zoo/mlp_relu_small/model.onnx")

    func region(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("certus-exact-\(UUID().uuidString).json")
        try text.write(to: url, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    /// The reference's medium region of mlp_relu_small: exact constants 28.79905693433175,
    /// 78.85430323466836 and 49.58590702791513 (HiGHS, ../shared/reference/lipschitz).
    func testExactBesideTheCertifiedBound() throws {
        let r = try region(#"{"center": [-0.0309, -0.418, -1.3114, 0.1336], "epsilon": 0.117}"#)
        let out = try TestData.runCertus(["lipschitz", model, r, "--exact", "--json", "--samples", "100"])
        XCTAssertEqual(out.code, 0, out.err)
        let obj = try JSONSerialization.jsonObject(with: Data(out.out.utf8)) as! [String: Any]
        let exact = try XCTUnwrap(obj["exact"] as? [String: Any], out.out)
        XCTAssertEqual(exact["method"] as? String, "milp")
        XCTAssertEqual(exact["complete"] as? Bool, true)
        XCTAssertEqual(try XCTUnwrap(exact["value"] as? Double), 78.85430323466836, accuracy: 1e-6 * 78.85)
        let per = try XCTUnwrap(exact["perOutput"] as? [[String: Any]])
        for (j, expected) in [28.79905693433175, 78.85430323466836, 49.58590702791513].enumerated() {
            XCTAssertEqual(per[j]["output"] as? Int, j)
            XCTAssertEqual(per[j]["status"] as? String, "optimal")
            XCTAssertEqual(try XCTUnwrap(per[j]["value"] as? Double), expected, accuracy: 1e-6 * expected)
            XCTAssertEqual((per[j]["point"] as? [Double])?.count, 4)
        }
        // The certified bound (the command's other fields, unchanged) is above the exact value.
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(obj["upper"] as? Double), 78.85430323466836 * (1 - 1e-9))
        // Text: the exact lines, one output.
        let table = try TestData.runCertus(["lipschitz", model, r, "--exact", "--output", "1", "--samples", "50"])
        XCTAssertEqual(table.code, 0, table.err)
        XCTAssertTrue(table.out.contains("exact: L = 78.854303234668"), table.out)
        XCTAssertTrue(table.out.contains("not a certified bound"), table.out)
        // Without --exact there is no exact field.
        let plain = try TestData.runCertus(["lipschitz", model, r, "--json", "--samples", "50"])
        XCTAssertNil((try JSONSerialization.jsonObject(with: Data(plain.out.utf8)) as! [String: Any])["exact"])
    }

    func testRefusals() throws {
        let r = try region(#"{"center": [-0.0309, -0.418, -1.3114, 0.1336], "epsilon": 0.117}"#)
        let l2 = try TestData.runCertus(["lipschitz", model, r, "--exact", "--norm", "2"])
        XCTAssertEqual(l2.code, 3, l2.err)
        XCTAssertTrue(l2.err.contains("--exact needs --norm inf or 1"), l2.err)
        let sigmoid = TestData.sharedPath("reference/zoo/mlp_sigmoid/model.onnx")
        let s = try TestData.runCertus(["lipschitz", sigmoid, r, "--exact"])
        XCTAssertEqual(s.code, 3, s.err)
        XCTAssertTrue(s.err.contains("Sigmoid") && s.err.contains("mlp_sigmoid/model.onnx"), s.err)
    }
}
