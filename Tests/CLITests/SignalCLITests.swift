import XCTest
import Foundation
import TestSupport

/// `certus verify` and `certus run` stopped by SIGTERM or SIGINT during a long search: the partial
/// result (`timeout`) is written to stdout and to `--result-file` / `--json-out`, and the exit
/// code is 128 + signal (143 for SIGTERM, 130 for SIGINT).
final class SignalCLITests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws { tmp = try TestData.makeTemporaryFolder("certus-signal") }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// An instance no method decides in minutes: mnist-net_256x4, prop_1 at eps 0.03 (no tool
    /// answered it in VNN-COMP 2021).
    let model = TestData.sharedPath("benchmarks/mnistfc/mnist-net_256x4.onnx")
    let spec = TestData.sharedPath("benchmarks/mnistfc/prop_1_0.03.vnnlib")

    /// Starts certus with `args`; returns the process and its stdout and stderr pipes.
    func start(_ args: [String]) throws -> (Process, Pipe, Pipe) { try TestData.startCertus(args) }

    /// Sends `signal` once the process has run `after` seconds, waits for it (at most 120 s, then
    /// kills it and fails) and returns its exit status, stdout and stderr.
    func stop(_ p: Process, _ out: Pipe, _ err: Pipe, signal: Int32, after: Double) -> (Int32, String, String) {
        Thread.sleep(forTimeInterval: after)
        XCTAssertTrue(p.isRunning, "the instance ended before the signal: it is not a long-running one")
        kill(p.processIdentifier, signal)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        let end = Date(timeIntervalSinceNow: 120)
        while p.isRunning && Date() < end { usleep(50_000) }
        if p.isRunning { p.interrupt(); kill(p.processIdentifier, SIGKILL); XCTFail("still running 120 s after the signal") }
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    func testVerifyStoppedBySIGTERMWritesThePartialResult() throws {
        let resultFile = tmp.appendingPathComponent("result.txt").path
        let (p, out, err) = try start(["verify", model, spec, "--timeout", "600", "--method", "bab", "--result-file", resultFile])
        let (code, stdout, stderr) = stop(p, out, err, signal: SIGTERM, after: 8)
        XCTAssertEqual(p.terminationReason, .exit, "ended by a signal instead of exiting: \(stderr)")
        XCTAssertEqual(code, 143, stderr)
        XCTAssertEqual(stdout.split(separator: "\n").first.map(String.init), "timeout", stdout)
        XCTAssertTrue(stdout.contains("; certus verify: stopped by SIGTERM"), stdout)
        XCTAssertTrue(stderr.contains("stopped by SIGTERM"), stderr)
        let written = try String(contentsOfFile: resultFile, encoding: .utf8)
        XCTAssertEqual(written.split(separator: "\n").first.map(String.init), "timeout", written)
        XCTAssertTrue(written.contains("stopped by SIGTERM"), written)
    }

    func testVerifyStoppedBySIGINTWritesJSON() throws {
        let (p, out, err) = try start(["verify", model, spec, "--timeout", "600", "--method", "bab", "--json"])
        let (code, stdout, stderr) = stop(p, out, err, signal: SIGINT, after: 8)
        XCTAssertEqual(code, 130, stderr)
        let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["status"] as? String, "timeout", stdout)
        let details = (object?["details"] as? [String]) ?? []
        XCTAssertTrue(details.contains { $0.hasPrefix("stopped on request") || $0.contains("stopped by SIGINT") }, "\(details)")
    }

    func testRunStoppedBySIGTERMWritesTheRecordsSoFar() throws {
        let csv = tmp.appendingPathComponent("instances.csv").path
        try "\(model),\(spec),600\n\(model),\(spec),600\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let jsonOut = tmp.appendingPathComponent("records.json").path
        let (p, out, err) = try start(["run", csv, "--method", "bab", "--json-out", jsonOut])
        let (code, stdout, stderr) = stop(p, out, err, signal: SIGTERM, after: 8)
        XCTAssertEqual(code, 143, stderr)
        XCTAssertTrue(stdout.contains("instances"), stdout)
        XCTAssertTrue(stderr.contains("certus run: stopped by SIGTERM; 1 of 2 instances run"), stderr)
        let records = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: jsonOut))) as? [[String: Any]]
        XCTAssertEqual(records?.count, 1)
        XCTAssertEqual(records?.first?["status"] as? String, "timeout")
    }

    /// `certus run` isolates every instance in a child process: an instance whose process traps
    /// (the test hook CERTUS_RUN_TEST_CRASH, read by the child process only) is recorded with its
    /// error and the run goes on.
    func testRunSurvivesACrashingInstance() throws {
        let tiny = TestData.sharedPath("benchmarks/tiny")
        let jsonOut = tmp.appendingPathComponent("records.json").path
        let p = Process()
        p.executableURL = TestData.certusBinary
        p.arguments = ["run", "\(tiny)/instances.csv", "--expected", "\(tiny)/expected.csv", "--json-out", jsonOut]
        var env = ProcessInfo.processInfo.environment
        env["CERTUS_RUN_TEST_CRASH"] = "1"
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 3, stderr)
        let records = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: jsonOut))) as? [[String: Any]] ?? []
        XCTAssertEqual(records.count, 5, stdout)
        let crashed = records[1]["error"] as? String ?? ""
        XCTAssertTrue(crashed.hasPrefix("crashed (signal"), crashed)
        XCTAssertTrue(crashed.contains("CERTUS_RUN_TEST_CRASH"), crashed)
        // The other instances have their answers, all as expected.
        for (k, r) in records.enumerated() where k != 1 {
            XCTAssertNil(r["error"], "\(r)")
            XCTAssertEqual(r["verdict"] as? String, "correct", "\(r)")
        }
        XCTAssertTrue(stdout.contains("errors (bad input, crash)"), stdout)
    }

    /// `--memory-limit`: a limit below what the process holds stops the search with `unknown`
    /// (exit 2) and the limit in the JSON details; a malformed size is a usage error (64).
    func testMemoryLimitOption() throws {
        let acas = TestData.sharedPath("benchmarks/acasxu")
        let (p, out, err) = try start(["verify", "\(acas)/ACASXU_run2a_1_1_batch_2000.onnx", "\(acas)/prop_1.vnnlib",
                                       "--method", "input-split", "--memory-limit", "1M", "--json", "--restarts", "2"])
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 2, stdout)
        let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["status"] as? String, "unknown", stdout)
        XCTAssertTrue(((object?["details"] as? [String]) ?? []).contains { $0.hasPrefix("memory limit 1 MiB reached") }, stdout)
        for bad in ["2GiB", "0", "-1G", "lots"] {
            let (q, o, e) = try start(["verify", "\(acas)/ACASXU_run2a_1_1_batch_2000.onnx", "\(acas)/prop_1.vnnlib", "--memory-limit", bad])
            _ = o.fileHandleForReading.readDataToEndOfFile()
            let message = String(decoding: e.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            q.waitUntilExit()
            XCTAssertEqual(q.terminationStatus, 64, "\(bad): \(message)")
            XCTAssertTrue(message.contains("--memory-limit"), message)
        }
    }
}
