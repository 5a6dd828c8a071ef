import XCTest
import Foundation
import Certus
import TestSupport

/// `certus bounds` on a net ending in a Softmax keeps the Softmax (its rows are of the softmax
/// outputs), which CROWN bounds through its IBP interval; `certus verify` bounds the logits of an
/// argmax property instead and is at least as tight.
final class SoftmaxBoundsCLITests: XCTestCase {
    func testBoundsGoThroughAFinalSoftmax() throws {
        let dir = TestData.sharedPath("benchmarks/sigmoid_mnist")
        let r = try TestData.runCertus(["bounds", dir + "/logsig_200_50_onnx.onnx", dir + "/mnist255_img1_eps3.vnnlib", "--json"])
        XCTAssertNotEqual(r.code, 3, r.err)
        let report = try Certus.jsonDecoder().decode(PropertyBoundReport.self, from: Data(r.out.utf8))
        XCTAssertFalse(report.rows.isEmpty)
        // Softmax outputs lie in [0, 1]: each row c . y - d is at least -sum|c| - |d| in any case.
        for row in report.rows {
            XCTAssertTrue(row.lower.isFinite && row.lower <= row.upper, "\(row.lower) \(row.upper)")
            XCTAssertGreaterThanOrEqual(row.lower, -row.c.map(abs).reduce(0, +) - abs(row.d) - 1e-9)
        }
    }
}
