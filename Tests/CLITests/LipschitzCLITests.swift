import XCTest
import Foundation
import TestSupport

/// `certus lipschitz` end to end: the table and JSON, the --max exit codes, and bad input.
final class LipschitzCLITests: XCTestCase {
    let model = TestData.sharedPath("reference/zoo/mlp_relu_small/model.onnx")

    func region(_ text: String, ext: String = "json") throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("certus-lip-\(UUID().uuidString).\(ext)")
        try text.write(to: url, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    func testJSONAndExitCodes() throws {
        // The reference's small region of mlp_relu_small: exact constant 67.226 (output 1).
        let r = try region(#"{"center": [-0.0309, -0.418, -1.3114, 0.1336], "epsilon": 0.056}"#)
        let out = try TestData.runCertus(["lipschitz", model, r, "--json", "--samples", "200"])
        XCTAssertEqual(out.code, 0, out.err)
        let obj = try JSONSerialization.jsonObject(with: Data(out.out.utf8)) as! [String: Any]
        let upper = obj["upper"] as! Double, lower = obj["lower"] as! Double
        XCTAssertGreaterThanOrEqual(upper, 67.2263157)
        XCTAssertLessThanOrEqual(lower, 67.2263158)
        XCTAssertLessThanOrEqual(lower, upper)
        XCTAssertEqual((obj["per_output"] as? [Any])?.count ?? (obj["perOutput"] as? [Any])?.count, 3)
        // --max: holds (0), violated by an attained gradient (1), undecided (2).
        XCTAssertEqual(try TestData.runCertus(["lipschitz", model, r, "--max", "1000"]).code, 0)
        XCTAssertEqual(try TestData.runCertus(["lipschitz", model, r, "--max", "10"]).code, 1)
        let tight = try TestData.runCertus(["lipschitz", model, r, "--max", String((lower + upper) / 2 + 1e-9), "--samples", "0"])
        XCTAssertTrue(tight.code == 2 || tight.code == 0 || tight.code == 1, "\(tight.code)")
        let table = try TestData.runCertus(["lipschitz", model, r, "--output", "1"])
        XCTAssertEqual(table.code, 0, table.err)
        XCTAssertTrue(table.out.contains("certified: L <="), table.out)
    }

    /// A VNN-LIB file's input box and the same region as a JSON spec with a label (ignored)
    /// give the same certified bound, above the exact constant of that region.
    func testVNNLIBAndLabelledSpecRegions() throws {
        let dir = TestData.sharedPath("reference/zoo/mlp_relu_small")
        let v = try TestData.runCertus(["lipschitz", model, dir + "/a.vnnlib", "--json", "--samples", "50"])
        let j = try TestData.runCertus(["lipschitz", model, dir + "/a.json", "--json", "--samples", "50"])
        XCTAssertEqual(v.code, 0, v.err); XCTAssertEqual(j.code, 0, j.err)
        let uv = (try JSONSerialization.jsonObject(with: Data(v.out.utf8)) as! [String: Any])["upper"] as! Double
        let uj = (try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as! [String: Any])["upper"] as! Double
        XCTAssertGreaterThanOrEqual(uv, 67.2263157)
        XCTAssertEqual(uv, uj, accuracy: 1e-6 * uj)
    }

    /// --target-ratio: on mlp_relu_small's larger region (CROWN 79.64, exact 78.854) branch and
    /// bound reaches ratio 1.001 and says so; the bound stays above the exact value. Bad ratios
    /// and the L2 norm are refused.
    func testTargetRatioBranches() throws {
        let r = try region(#"{"center": [-0.0309, -0.418, -1.3114, 0.1336], "epsilon": 0.117}"#)
        let out = try TestData.runCertus(["lipschitz", model, r, "--json", "--target-ratio", "1.001", "--timeout", "60", "--method", "crown"])
        XCTAssertEqual(out.code, 0, out.err)
        let obj = try JSONSerialization.jsonObject(with: Data(out.out.utf8)) as! [String: Any]
        let upper = obj["upper"] as! Double, lower = obj["lower"] as! Double
        XCTAssertGreaterThanOrEqual(upper, 78.8543032)
        XCTAssertLessThanOrEqual(upper, 1.001 * lower * (1 + 1e-5), "upper \(upper) lower \(lower)")
        XCTAssertEqual(obj["complete"] as? Bool, true)
        XCTAssertGreaterThan(obj["domains"] as! Int, 1)
        let table = try TestData.runCertus(["lipschitz", model, r, "--target-ratio", "1.001", "--timeout", "60", "--method", "crown", "--branching", "neuron-split"])
        XCTAssertEqual(table.code, 0, table.err)
        XCTAssertTrue(table.out.contains("certified: L <="), table.out)
        for bad in [["--target-ratio", "0.5"], ["--target-ratio", "nan"], ["--target-ratio", "2", "--norm", "2"]] {
            let b = try TestData.runCertus(["lipschitz", model, r] + bad)
            XCTAssertEqual(b.code, 3, "\(bad): \(b.err)"); XCTAssertTrue(b.err.contains("--target-ratio"), b.err)
        }
    }

    func testBadInputNamesTheProblem() throws {
        let wrongSize = try region(#"{"center": [0, 0], "epsilon": 0.1}"#)
        let a = try TestData.runCertus(["lipschitz", model, wrongSize])
        XCTAssertEqual(a.code, 3); XCTAssertTrue(a.err.contains("2 inputs"), a.err)
        let broken = try region(#"{"center": [0, 0, 0, 0]}"#)
        let b = try TestData.runCertus(["lipschitz", model, broken])
        XCTAssertEqual(b.code, 3); XCTAssertTrue(b.err.contains("epsilon"), b.err)
        let badOutput = try region(#"{"center": [0, 0, 0, 0], "epsilon": 0.1}"#)
        let c = try TestData.runCertus(["lipschitz", model, badOutput, "--output", "7"])
        XCTAssertEqual(c.code, 3); XCTAssertTrue(c.err.contains("--output 7"), c.err)
        let d = try TestData.runCertus(["lipschitz", model, badOutput, "--search-time", "nan"])
        XCTAssertEqual(d.code, 3); XCTAssertTrue(d.err.contains("--search-time"), d.err)
    }
}
