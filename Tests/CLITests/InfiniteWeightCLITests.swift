import XCTest
import Foundation
import Certus
import TestSupport

/// 0 * inf is NaN in IEEE 754 and in onnxruntime. A model whose first layer has infinite weights
/// evaluates to NaN where the input they multiply is 0 (Certus once printed 0.8 there, BLAS having
/// skipped the zero), and `verify` never answers sat with such a point.
final class InfiniteWeightCLITests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws { tmp = try TestData.makeTemporaryFolder("certus-infw") }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// x (2 inputs) -> Gemm(W1 = [[inf, inf], [2, 1]], 0) -> Relu -> Gemm(W2 = [[1], [-1]], 0),
    /// float32. With x0 = 0, z = (0 * inf + 2 x1, 0 * inf + x1) = (NaN, NaN) and y = NaN
    /// (onnxruntime 1.32 gives NaN at (0, 0.8)); with x0 > 0, y = inf - inf = NaN; with x0 < 0,
    /// y = 0. So y >= 0.5 holds nowhere: the pinned spec (x0 = 0) has no witness.
    func testZeroTimesInfiniteWeightIsNaNAndNeverSat() throws {
        let b = SmallONNX(elemType: 1)
        let m = b.model(inputs: 2, outputs: 1, initializers: [
            b.tensor("W1", [2, 2], [.infinity, .infinity, 2, 1]), b.tensor("b1", [2], [0, 0]),
            b.tensor("W2", [2, 1], [1, -1]), b.tensor("b2", [1], [0]),
        ], nodes: [b.node("Gemm", ["x", "W1", "b1"], "z"), b.node("Relu", ["z"], "h"), b.node("Gemm", ["h", "W2", "b2"], "y")])
        let model = tmp.appendingPathComponent("infzero.onnx").path
        try m.serializedData().write(to: URL(fileURLWithPath: model))

        let graph = try ModelFile.load(model)
        for x in [[0, 0.8], [0, -1], [0, 0], [0.5, 0.8]] {
            XCTAssertTrue(try graph.evaluateFirst(x)[0].isNaN, "\(x)")
            XCTAssertTrue(try graph.evaluateFirstFloat32(x)[0].isNaN, "\(x)")
        }
        XCTAssertEqual(try graph.evaluateFirst([-0.5, 0.8]), [0])
        let e = try TestData.runCertus(["eval", model, "--input", "0,0.8", "--json"])
        XCTAssertEqual(e.code, 0, e.err)
        let obj = try JSONSerialization.jsonObject(with: Data(e.out.utf8)) as? [String: Any]
        XCTAssertEqual(((obj?["outputs"] as? [[String: Any]])?.first?["values"] as? [Any])?.first as? String, "nan", e.out)

        let spec = tmp.appendingPathComponent("pin0.vnnlib").path
        try """
        (declare-const X_0 Real)
        (declare-const X_1 Real)
        (declare-const Y_0 Real)
        (assert (>= X_0 0.0))
        (assert (<= X_0 0.0))
        (assert (>= X_1 -1.0))
        (assert (<= X_1 1.0))
        (assert (>= Y_0 0.5))

        """.write(toFile: spec, atomically: true, encoding: .utf8)
        for method in ["auto", "attack", "input-split", "relu-split", "milp"] {
            let r = try TestData.runCertus(["verify", model, spec, "--method", method, "--timeout", "5", "--json"])
            XCTAssertTrue([0, 2].contains(r.code), "--method \(method): exit \(r.code)\n\(r.out)\n\(r.err.suffix(1500))")
            let o = try? JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
            XCTAssertNotEqual(o?["status"] as? String, "sat", "--method \(method): \(r.out)")
            XCTAssertNotNil(o?["status"], "--method \(method): \(r.out)")
        }
    }
}
