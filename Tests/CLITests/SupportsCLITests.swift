import XCTest
import Foundation
import Certus
import TestSupport
@testable import CertusONNX

/// `certus supports` and the all-at-once unsupported-operator report of `certus inspect`,
/// `verify` and `bounds` (issue 14 item 4).
final class SupportsCLITests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws { tmp = try TestData.makeTemporaryFolder("certus-supports") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func testSupportsListsEveryRegisteredOperator() throws {
        let r = try TestData.runCertus(["supports"])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, OperatorRegistry.all.count, r.out)
        for (op, range) in OperatorRegistry.supportedOperators {
            XCTAssertTrue(lines.contains { $0.hasPrefix(op + " ") && $0.hasSuffix("opset \(range.lowerBound)-\(range.upperBound)") }, "\(op): \(r.out)")
        }
        let j = try TestData.runCertus(["supports", "--json"])
        XCTAssertEqual(j.code, 0, j.err)
        let entries = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [[String: Any]])
        XCTAssertEqual(entries.count, OperatorRegistry.all.count)
        XCTAssertTrue(entries.contains { $0["op_type"] as? String == "Gemm" && $0["min_opset"] as? Int == 1 })
    }

    /// A model with three kinds of unsupported node: inspect, verify and bounds all name every one
    /// in one error and exit 3 (bad input).
    func testEveryUnsupportedOperatorNamedByEveryCommand() throws {
        let s = SmallONNX(elemType: 1)
        let nodes = [s.node("Relu", ["x"], "r"), s.node("LSTM", ["r"], "lstm_1"), s.node("Hardmax", ["lstm_1"], "hm"),
                     s.node("LSTM", ["hm"], "lstm_2"), s.node("Frobnicate", ["lstm_2"], "frob")]
        let path = tmp.appendingPathComponent("unsup.onnx").path
        try ModelFile.encode(s.model(inputs: 2, outputs: 2, initializers: [], nodes: nodes), encoding: .binary)
            .write(to: URL(fileURLWithPath: path))
        let spec = tmp.appendingPathComponent("p.vnnlib").path
        try "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 1))\n(assert (>= Y_0 Y_1))\n"
            .write(toFile: spec, atomically: true, encoding: .utf8)
        for args in [["inspect", path], ["verify", path, spec], ["bounds", path, spec]] {
            let r = try TestData.runCertus(args)
            XCTAssertEqual(r.code, 3, "\(args[0]): \(r.out) \(r.err)")
            for piece in ["'LSTM' (2 nodes: 'lstm_1', 'lstm_2')", "'Hardmax' (1 node: 'hm')", "'Frobnicate' (1 node: 'frob')"] {
                XCTAssertTrue(r.err.contains(piece), "\(args[0]): \(r.err)")
            }
        }
    }
}
