import XCTest
import Foundation
import TestSupport
@testable import CertusONNX

/// The time limit is a promise (issue 15, item 5; docs/reliability.md "Time limits"): `certus
/// verify` and `certus bounds` answer `timeout` within the limit plus a little even when the
/// process is inside a stage without stop checks (the watchdog, CLI/SignalStop.swift), counted
/// from the process's start; the watchdog writes exactly one result, and only `timeout`.
/// Not a performance test: the margin (1.5 s) is three times the watchdog's grace.
final class DeadlineCLITests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws { tmp = try TestData.makeTemporaryFolder("certus-deadline") }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// The hostile graph of docs/reliability.md: 5,000 (Add c, Relu) pairs on a [1, 2] input
    /// (10,000 nodes; CROWN's intermediate bounds take minutes on it), and a property over
    /// [0, 1]^2 that IBP proves (y_0 <= -1 is unsafe; every output is >= 0). Returns the paths.
    func tenThousandNodes() throws -> (model: String, spec: String) {
        let b = SmallONNX(elemType: 1)
        var nodes: [Onnx_NodeProto] = []
        var h = "x"
        for k in 0..<5000 {
            nodes.append(b.node("Add", [h, "c"], "a\(k)"))
            nodes.append(b.node("Relu", ["a\(k)"], "r\(k)"))
            h = "r\(k)"
        }
        let m = b.model(inputs: 2, outputs: 2, initializers: [b.tensor("c", [1, 2], [0.001, -0.0005])], nodes: nodes)
        let model = tmp.appendingPathComponent("nodes_10000.onnx").path
        try m.serializedData().write(to: URL(fileURLWithPath: model))
        let spec = tmp.appendingPathComponent("small.vnnlib").path
        try """
            (declare-const X_0 Real)
            (declare-const X_1 Real)
            (declare-const Y_0 Real)
            (declare-const Y_1 Real)
            (assert (>= X_0 0))
            (assert (<= X_0 1))
            (assert (>= X_1 0))
            (assert (<= X_1 1))
            (assert (<= Y_0 -1))

            """.write(toFile: spec, atomically: true, encoding: .utf8)
        return (model, spec)
    }

    /// Runs certus (with `environment` added to this process's), returns exit code, stdout,
    /// stderr and the wall time from the start of the process to its end.
    func timed(_ args: [String], environment: [String: String] = [:]) throws -> (code: Int32, out: String, err: String, seconds: Double) {
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let start = Date()
        let (p, out, err) = try TestData.startCertus(args, environment: env)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self),
                Date().timeIntervalSince(start))
    }

    /// The answer lines of a VNN-COMP result text (those that are not `;` comments).
    func answers(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix(";") && !$0.hasPrefix("(") && !$0.isEmpty }
    }

    /// A stage with no stop check (the test hook stalls 30 s after loading): the watchdog writes
    /// `timeout` to stdout and the result file, once, and the process exits with 2 within the limit
    /// plus 1.5 s.
    func testWatchdogAnswersTimeoutOnceWhileAStageHasNoChecks() throws {
        let (model, spec) = try tenThousandNodes()
        let resultFile = tmp.appendingPathComponent("result.txt").path
        let limit = 1.0
        let r = try timed(["verify", model, spec, "--timeout", String(limit), "--result-file", resultFile],
                          environment: ["CERTUS_TEST_STALL_SECONDS": "30"])
        XCTAssertEqual(r.code, 2, r.err)
        XCTAssertEqual(answers(r.out), ["timeout"], r.out)
        XCTAssertTrue(r.out.contains("the watchdog"), r.out)
        XCTAssertLessThan(r.seconds, limit + 1.5, "the time limit was not kept: \(r.seconds) s")
        let written = try String(contentsOfFile: resultFile, encoding: .utf8)
        XCTAssertEqual(answers(written), ["timeout"], written)
    }

    /// The same with --json: exactly one JSON object, status timeout.
    func testWatchdogWritesOneJSONResult() throws {
        let (model, spec) = try tenThousandNodes()
        let r = try timed(["verify", model, spec, "--timeout", "0.5", "--json"], environment: ["CERTUS_TEST_STALL_SECONDS": "30"])
        XCTAssertEqual(r.code, 2, r.err)
        let object = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        XCTAssertEqual(object?["status"] as? String, "timeout", r.out)
        XCTAssertLessThan(r.seconds, 0.5 + 1.5, "the time limit was not kept: \(r.seconds) s")
    }

    /// The 10,000-node graph without the hook: the answer (timeout, or unsat if the proof came
    /// first; never sat, the property holds) comes within the limit plus 1.5 s, once.
    func testVerifyOnTenThousandNodesKeepsTheLimit() throws {
        let (model, spec) = try tenThousandNodes()
        let limit = 1.0
        let r = try timed(["verify", model, spec, "--timeout", String(limit), "--method", "alpha-crown"])
        XCTAssertEqual(answers(r.out).count, 1, r.out)
        XCTAssertTrue(["timeout", "unsat"].contains(answers(r.out).first ?? ""), r.out + r.err)
        XCTAssertLessThan(r.seconds, limit + 1.5, "the time limit was not kept: \(r.seconds) s")
    }

    /// `certus bounds --method crown` on the 10,000-node graph (seconds of intermediate bounds,
    /// no time checks in a plain CROWN pass) with --timeout 0.3: the watchdog's `timeout` (exit 2)
    /// or, on a machine fast enough, the finished bounds (exit 0), either within the limit plus
    /// 1.5 s, and never both.
    func testBoundsTimeoutIsKept() throws {
        let (model, spec) = try tenThousandNodes()
        let limit = 0.3
        let r = try timed(["bounds", model, spec, "--method", "crown", "--timeout", String(limit)])
        if r.code == 2 {
            XCTAssertTrue(r.out.hasPrefix("timeout: certus bounds: time limit of 0.3 s reached"), r.out)
            XCTAssertFalse(r.out.contains("verified"), r.out)
        } else {
            XCTAssertEqual(r.code, 0, r.out + r.err)
            XCTAssertFalse(r.out.contains("timeout"), r.out)
        }
        XCTAssertLessThan(r.seconds, limit + 1.5, "the time limit was not kept: \(r.seconds) s")
    }
}
