import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Certus
import TestSupport

/// `certus check` stopped from outside (SIGTERM, SIGINT, SIGKILL of the parent or of a worker),
/// a bad manifest replacing stale reports, a manifest that is not a regular file, and control
/// characters in the table. Worker processes are found by scanning /proc for command lines that
/// hold the test's manifest path (Linux only).
final class CheckStopCLITests: XCTestCase {
    var tmp: URL!
    var manifestPath = ""

    override func setUpWithError() throws {
        tmp = try TestData.makeTemporaryFolder("certus-checkstop")
        try FileManager.default.createDirectory(at: tmp.appendingPathComponent("nets"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: tmp.appendingPathComponent("tmpdir"), withIntermediateDirectories: true)
        let b = SmallONNX(elemType: 1)
        let m = b.model(inputs: 2, outputs: 2, initializers: [b.tensor("W", [2, 2], [1, 0, 1, 0]), b.tensor("b", [2], [0, 1])],
                        nodes: [b.node("Relu", ["x"], "h"), b.node("Gemm", ["h", "W", "b"], "y")])
        try m.serializedData().write(to: tmp.appendingPathComponent("nets/relu_sum.onnx"))
    }

    override func tearDownWithError() throws {
        // Whatever a failing test left running is killed here, not left to PID 1.
        for pid in processes(holding: tmp.path) { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(at: tmp)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let p = tmp.appendingPathComponent(name).path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func entry(_ name: String, timeout: Int = 600) -> String {
        "{name: \(name), model: nets/relu_sum.onnx, center: [1.5, 1.5], epsilon: 0.5, label: 0, expect: holds, timeout: \(timeout)}"
    }

    /// Processes (other than this one) whose command line holds `text`.
    func processes(holding text: String) -> [pid_t] {
        let me = getpid()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { pid_t($0) }.filter { pid in
            guard pid != me, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(text)
        }
    }

    /// The worker processes (`--entry K`) of the manifest, by entry index.
    func workers(_ manifest: String) -> [Int: pid_t] {
        var out: [Int: pid_t] = [:]
        for pid in processes(holding: manifest) {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let args = String(decoding: data, as: UTF8.self).split(separator: "\0").map(String.init)
            if let k = args.firstIndex(of: "--entry"), k + 1 < args.count, let index = Int(args[k + 1]) { out[index] = pid }
        }
        return out
    }

    /// Waits (polling, up to `limit` seconds) until `condition` holds.
    @discardableResult
    func wait(upTo limit: Double = 60, _ condition: () -> Bool) -> Bool {
        let end = Date(timeIntervalSinceNow: limit)
        while Date() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// Starts `certus check` with the test hooks in its environment and TMPDIR in the test's folder.
    func start(_ args: [String], hang: String) throws -> (Process, Pipe, Pipe) {
        var env = ProcessInfo.processInfo.environment
        env["CERTUS_CHECK_TEST_HANG"] = hang
        env["TMPDIR"] = tmp.appendingPathComponent("tmpdir").path
        return try TestData.startCertus(args, environment: env)
    }

    struct JUnitCases {
        var names: [String] = []
        var errors: [String: String] = [:]
        var tests = ""
        var exitCode = ""
    }

    func junitCases(_ path: String) throws -> JUnitCases {
        final class Reader: NSObject, XMLParserDelegate {
            var result = JUnitCases()
            var current = ""
            func parser(_ p: XMLParser, didStartElement n: String, namespaceURI: String?, qualifiedName: String?, attributes a: [String: String] = [:]) {
                switch n {
                case "testsuite": result.tests = a["tests"] ?? ""
                case "testcase": current = a["name"] ?? ""; result.names.append(current)
                case "error": result.errors[current] = a["message"] ?? ""
                case "property" where a["name"] == "exit_code": result.exitCode = a["value"] ?? ""
                default: break
                }
            }
        }
        let reader = Reader()
        let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: path)))
        parser.delegate = reader
        XCTAssertTrue(parser.parse(), "\(String(describing: parser.parserError))")
        return reader.result
    }

    /// SIGTERM or SIGINT to `certus check`: its workers are stopped and gone when it exits
    /// (143 / 130), the JUnit and JSON reports hold every entry (the finished one with its
    /// result, the others as interrupted errors), and no temporary file is left.
    func stopRun(signal: Int32, expectedExit: Int32) throws {
        let m = try write("stop.yaml", "entries:\n" + [entry("quick"), entry("slow one"), entry("slow two"), entry("never started")]
                            .map { "  - " + $0 + "\n" }.joined())
        let junit = tmp.appendingPathComponent("junit.xml").path
        let json = tmp.appendingPathComponent("report.json").path
        let (p, out, err) = try start(["check", m, "--jobs", "2", "--junit", junit, "--json", json], hang: "slow one,slow two,never started")
        XCTAssertTrue(wait { let w = workers(m); return w[1] != nil && w[2] != nil }, "the two slow entries' workers start")
        kill(p.processIdentifier, signal)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: outData, as: UTF8.self) + String(decoding: errData, as: UTF8.self)
        XCTAssertEqual(p.terminationReason, .exit, text)
        XCTAssertEqual(p.terminationStatus, expectedExit, text)
        XCTAssertEqual(processes(holding: m), [], "no worker outlives certus check")

        let cases = try junitCases(junit)
        XCTAssertEqual(cases.names, ["quick", "slow one", "slow two", "never started"])
        XCTAssertEqual(cases.tests, "4")
        XCTAssertEqual(cases.exitCode, "\(expectedExit)")
        XCTAssertNil(cases.errors["quick"], "the finished entry keeps its result")
        for name in ["slow one", "slow two", "never started"] {
            XCTAssertTrue(cases.errors[name]?.hasPrefix("interrupted: certus check was stopped by SIG") ?? false, "\(name): \(cases.errors)")
        }
        let report = try CheckReport.decode(json: Data(contentsOf: URL(fileURLWithPath: json)))
        XCTAssertEqual(report.results.map(\.status), [.pass, .error, .error, .error])
        XCTAssertEqual(report.exitCode, expectedExit)
        XCTAssertTrue(text.contains("4 entries: 1 pass, 0 fail, 3 error"), text)
        XCTAssertTrue(text.contains("certus check: stopped by SIG"), text)
        let left = try FileManager.default.contentsOfDirectory(atPath: tmp.appendingPathComponent("tmpdir").path)
        XCTAssertEqual(left.filter { $0.hasPrefix("certus-check-") }, [], "temporary files are removed")
    }

    func testSIGTERMStopsTheWorkersAndWritesPartialReports() throws {
        try stopRun(signal: SIGTERM, expectedExit: 143)
    }

    func testSIGINTStopsTheWorkersAndWritesPartialReports() throws {
        try stopRun(signal: SIGINT, expectedExit: 130)
    }

    /// A parent killed outright (SIGKILL: no chance to clean up) takes its workers with it.
    func testWorkersEndWhenTheParentIsKilled() throws {
        let m = try write("orphans.yaml", "entries:\n" + [entry("slow one"), entry("slow two")].map { "  - " + $0 + "\n" }.joined())
        let (p, _, _) = try start(["check", m, "--jobs", "2"], hang: "slow one,slow two")
        XCTAssertTrue(wait { workers(m).count == 2 }, "both workers start")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertTrue(wait(upTo: 30) { processes(holding: m).isEmpty }, "the workers end when their parent is gone: \(processes(holding: m))")
    }

    /// A worker killed from outside by SIGKILL (the out-of-memory killer, a job limit) is not
    /// reported as a bug of Certus (the test hook CERTUS_CHECK_TEST_SIGKILL makes the worker
    /// send itself SIGKILL).
    func testWorkerKilledFromOutsideIsNotCalledABug() throws {
        let m = try write("killed.yaml", "entries:\n  - \(entry("killed", timeout: 60))\n")
        let json = tmp.appendingPathComponent("killed.json").path
        setenv("CERTUS_CHECK_TEST_SIGKILL", "killed", 1)
        defer { unsetenv("CERTUS_CHECK_TEST_SIGKILL") }
        let r = try TestData.runCertus(["check", m, "--json", json])
        XCTAssertEqual(r.code, 3, r.out + r.err)
        let message = try CheckReport.decode(json: Data(contentsOf: URL(fileURLWithPath: json))).results[0].message
        XCTAssertTrue(message.hasPrefix("killed from outside by signal 9 (SIGKILL), for example by the out-of-memory killer"), message)
        XCTAssertFalse(message.contains("a bug in Certus"), message)
    }

    /// A manifest that cannot be read replaces an earlier run's reports with reports of the
    /// problem: JUnit with one error testcase, JSON with an error object.
    func testBadManifestReplacesStaleReports() throws {
        let junit = tmp.appendingPathComponent("junit.xml").path
        let json = tmp.appendingPathComponent("report.json").path
        let good = try write("good.yaml", "entries:\n  - \(entry("fine", timeout: 60))\n")
        XCTAssertEqual(try TestData.runCertus(["check", good, "--junit", junit, "--json", json]).code, 0)
        let bad = try write("good.yaml", "entries:\n  - name: fine\n    model: nets/relu_sum.onnx\n    spec: s.vnnlib\n    expect: holds\n    timeuot: 5\n")
        let r = try TestData.runCertus(["check", bad, "--junit", junit, "--json", json])
        XCTAssertEqual(r.code, 3, r.out + r.err)
        XCTAssertTrue(r.err.contains("timeuot"), r.err)
        let cases = try junitCases(junit)
        XCTAssertEqual(cases.names, ["manifest"])
        XCTAssertTrue(cases.errors["manifest"]?.hasPrefix("\(bad):6:5: entries[0] ('fine').timeuot: unknown key") ?? false, "\(cases.errors)")
        XCTAssertEqual(cases.exitCode, "3")
        let report = try CheckReport.decode(json: Data(contentsOf: URL(fileURLWithPath: json)))
        XCTAssertEqual(report.results, [])
        XCTAssertEqual(report.exitCode, 3)
        XCTAssertTrue(report.error?.message.contains("unknown key 'timeuot'") ?? false, "\(String(describing: report.error))")
        // A missing manifest too.
        let none = try TestData.runCertus(["check", tmp.appendingPathComponent("none.yaml").path, "--junit", junit])
        XCTAssertEqual(none.code, 3)
        XCTAssertTrue(try junitCases(junit).errors["manifest"]?.contains("none.yaml: cannot read the manifest") ?? false)
    }

    /// `certus check /dev/stdin` (or `<(...)`) says that the manifest must be a regular file.
    func testManifestThatIsNotARegularFile() throws {
        let fifo = tmp.appendingPathComponent("pipe.yaml").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        for path in [fifo, "/dev/stdin"] {
            let r = try TestData.runCertus(["check", path])
            XCTAssertEqual(r.code, 3, r.err)
            XCTAssertTrue(r.err.hasPrefix("error: \(path): the manifest must be a regular file"), r.err)
            XCTAssertFalse(r.err.contains("permission"), r.err)
        }
    }

    /// Control characters in entry names reach the terminal escaped, in the table and in the
    /// FAIL/ERROR lines.
    func testTableEscapesControlCharactersInNames() throws {
        let m = try write("names.yaml", "entries:\n  - {name: \"red \\e[31m\\a\", model: nets/none.onnx, center: [0, 0], epsilon: 1, label: 0, expect: holds}\n")
        let r = try TestData.runCertus(["check", m])
        XCTAssertEqual(r.code, 3, r.out + r.err)
        XCTAssertFalse(r.out.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || $0.value == 0x7F }, r.out.debugDescription)
        XCTAssertTrue(r.out.contains("ERROR red \\u{1B}[31m\\u{7}: \(m):2 (entry 'red \\u{1B}[31m\\u{7}'): "), r.out)
    }
}
