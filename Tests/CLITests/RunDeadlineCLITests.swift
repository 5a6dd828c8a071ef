import XCTest
import Foundation
import TestSupport

/// `certus run` keeps each instance's time limit (issue 15, item 5) in a child process and in
/// `--in-process` runs alike: the limit counts from the instance's start, model loading
/// included, and a stage without stop checks (the test hook `CERTUS_TEST_STALL_SECONDS`) ends
/// in the watchdog's `timeout` record while the run goes on. Generous margins (1.5 s per
/// instance, three times the watchdog's grace): not a performance test.
extension DeadlineCLITests {
    /// An instance list of `count` rows of the 10,000-node graph with `limit` seconds each.
    func tenThousandNodeList(count: Int, limit: Double) throws -> String {
        let (model, spec) = try tenThousandNodes()
        let list = tmp.appendingPathComponent("instances.csv").path
        let rows = (0..<count).map { _ in "\(model),\(spec),\(limit)" }
        try (["onnx,vnnlib,timeout"] + rows).joined(separator: "\n").appending("\n").write(toFile: list, atomically: true, encoding: .utf8)
        return list
    }

    func records(_ path: String) throws -> [[String: Any]] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [[String: Any]] ?? []
    }

    /// Every instance stalls 30 s after loading: in a child process and in this process, each
    /// record is the watchdog's `timeout` within its limit plus 1.5 s, and the run goes on to
    /// the next instance.
    func testRunWatchdogKeepsEachInstancesLimit() throws {
        let limit = 1.0, count = 2
        let list = try tenThousandNodeList(count: count, limit: limit)
        for mode in [[], ["--in-process"]] {
            let out = tmp.appendingPathComponent("records\(mode.count).json").path
            let r = try timed(["run", list, "--json-out", out] + mode, environment: ["CERTUS_TEST_STALL_SECONDS": "30"])
            XCTAssertEqual(r.code, 0, "\(mode) " + r.err)
            let recs = try records(out)
            XCTAssertEqual(recs.count, count, "\(mode)")
            for rec in recs {
                XCTAssertEqual(rec["status"] as? String, "timeout", "\(mode) \(rec)")
                XCTAssertEqual(rec["method"] as? String, "watchdog", "\(mode) \(rec)")
                XCTAssertLessThan(rec["time_s"] as? Double ?? .infinity, limit + 1.5, "\(mode) \(rec)")
            }
            XCTAssertLessThan(r.seconds, Double(count) * (limit + 1.5) + 1, "\(mode): the run took \(r.seconds) s")
        }
    }

    /// Without the hook: the 10,000-node graph under alpha-CROWN takes minutes; each record
    /// (timeout, or unsat if the proof came first) ends within the limit plus 1.5 s counted
    /// from the instance's start, loading included (a child's from its process's start).
    func testRunCountsTheLimitFromTheInstancesStart() throws {
        let limit = 1.0
        let list = try tenThousandNodeList(count: 1, limit: limit)
        for mode in [[], ["--in-process"]] {
            let out = tmp.appendingPathComponent("plain\(mode.count).json").path
            let r = try timed(["run", list, "--json-out", out, "--method", "alpha-crown"] + mode)
            XCTAssertEqual(r.code, 0, "\(mode) " + r.err)
            let rec = try records(out).first ?? [:]
            XCTAssertTrue(["timeout", "unsat"].contains(rec["status"] as? String ?? ""), "\(mode) \(rec)")
            XCTAssertLessThan(rec["time_s"] as? Double ?? .infinity, limit + 1.5, "\(mode) \(rec)")
            XCTAssertLessThan(r.seconds, limit + 2.5, "\(mode): the run took \(r.seconds) s")
        }
    }
}
