import XCTest
import Foundation
import Certus
import TestSupport

/// `certus bounds` on a net ending in a Softmax keeps the Softmax (its rows are of the softmax
/// outputs) and, for an argmax property, points to `certus verify`, which bounds the logits.
final class SoftmaxBoundsCLITests: XCTestCase {
    func testBoundsSuggestsVerifyForArgmaxProperty() throws {
        let dir = TestData.sharedPath("benchmarks/sigmoid_mnist")
        let r = try TestData.runCertus(["bounds", dir + "/logsig_200_50_onnx.onnx", dir + "/mnist255_img1_eps3.vnnlib"])
        XCTAssertEqual(r.code, 3, r.err)
        XCTAssertTrue(r.err.contains("Softmax has no linear relaxation") && r.err.contains("certus verify"), r.err)
    }
}
