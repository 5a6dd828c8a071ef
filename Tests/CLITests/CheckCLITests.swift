import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Certus
import TestSupport

/// `certus check` end to end: exit codes, the table, JUnit and JSON files, bad manifests, flags,
/// determinism across runs and --jobs, and the committed example manifest.
final class CheckCLITests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = try TestData.makeTemporaryFolder("certus-checkcli")
        try FileManager.default.createDirectory(at: tmp.appendingPathComponent("nets"), withIntermediateDirectories: true)
        // y = (relu(x0) + relu(x1), 1): on [1, 2]^2 class 0 wins (margin x0 + x1 - 1 >= 1); at the
        // origin class 1 wins; the gradient of y0 on [1, 2]^2 is (1, 1) (L-inf constant 2).
        let b = SmallONNX(elemType: 1)
        let m = b.model(inputs: 2, outputs: 2, initializers: [b.tensor("W", [2, 2], [1, 0, 1, 0]), b.tensor("b", [2], [0, 1])],
                        nodes: [b.node("Relu", ["x"], "h"), b.node("Gemm", ["h", "W", "b"], "y")])
        try m.serializedData().write(to: tmp.appendingPathComponent("nets/relu_sum.onnx"))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func write(_ name: String, _ text: String) throws -> String {
        let p = tmp.appendingPathComponent(name).path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    let holds = "{name: holds, model: nets/relu_sum.onnx, center: [1.5, 1.5], epsilon: 0.5, label: 0, expect: holds}"
    let violated = "{name: violated, model: nets/relu_sum.onnx, center: [0, 0], epsilon: 1, label: 0, expect: violated}"
    let lip = "{name: lipschitz, model: nets/relu_sum.onnx, box: {lower: [1, 1], upper: [2, 2]}, expect: lipschitz <= 2.5, tags: [lip]}"
    let bound = "{name: bound, model: nets/relu_sum.onnx, center: [1.5, 1.5], epsilon: 0.5, label: 0, expect: bound(0) >= 0.9}"
    let failing = "{name: fails, model: nets/relu_sum.onnx, center: [0, 0], epsilon: 1, label: 0, expect: holds}"
    let missing = "{name: missing model, model: nets/none.onnx, center: [0, 0], epsilon: 1, label: 0, expect: holds}"
    let undecided = "{name: undecided, model: nets/relu_sum.onnx, center: [1.5, 1.5], epsilon: 0.5, label: 0, expect: holds, method: attack}"

    func manifest(_ entries: [String], name: String = "m.yaml") throws -> String {
        try write(name, "entries:\n" + entries.map { "  - " + $0 + "\n" }.joined())
    }

    func testExitCodesAndTable() throws {
        let ok = try TestData.runCertus(["check", try manifest([holds, violated, lip, bound])])
        XCTAssertEqual(ok.code, 0, ok.out + ok.err)
        XCTAssertTrue(ok.out.contains("4 entries: 4 pass, 0 fail, 0 error, 0 unknown, 0 timeout"), ok.out)
        XCTAssertTrue(ok.out.contains("passed (exit 0)"), ok.out)
        for name in ["holds", "violated", "lipschitz", "bound"] { XCTAssertTrue(ok.out.contains(name), ok.out) }
        XCTAssertEqual(ok.err, "", "no progress line when stderr is not a terminal")

        let fail = try TestData.runCertus(["check", try manifest([holds, failing, missing, undecided])])
        XCTAssertEqual(fail.code, 1, fail.out + fail.err)
        XCTAssertTrue(fail.out.contains("FAIL fails: violated: counterexample x = ["), fail.out)
        XCTAssertTrue(fail.out.contains("ERROR missing model: "), fail.out)

        let err = try TestData.runCertus(["check", try manifest([holds, missing, undecided])])
        XCTAssertEqual(err.code, 3, err.out + err.err)
        XCTAssertTrue(err.out.contains("nets/none.onnx' does not exist"), err.out)

        let und = try TestData.runCertus(["check", try manifest([holds, undecided])])
        XCTAssertEqual(und.code, 2, und.out + und.err)
        let warn = try TestData.runCertus(["check", try manifest([holds, undecided]), "--unknown", "warn"])
        XCTAssertEqual(warn.code, 0, warn.out + warn.err)
        XCTAssertTrue(warn.out.contains("unknown*") && warn.out.contains("UNKNOWN (warning) undecided"), warn.out)
        let timeoutWarn = try TestData.runCertus(["check", try manifest([holds, undecided]), "--timeout-policy", "warn"])
        XCTAssertEqual(timeoutWarn.code, 2, "the timeout policy does not waive unknown: " + timeoutWarn.out)
    }

    func testReportsParseBack() throws {
        let junit = tmp.appendingPathComponent("out/junit.xml").path
        let json = tmp.appendingPathComponent("report.json").path
        try FileManager.default.createDirectory(atPath: tmp.appendingPathComponent("out").path, withIntermediateDirectories: true)
        let entries = [holds, violated, lip, bound, failing, missing, undecided]
        let r = try TestData.runCertus(["check", try manifest(entries, name: "suite.yml"), "--junit", junit, "--json", json, "--jobs", "2"])
        XCTAssertEqual(r.code, 1, r.out + r.err)

        let report = try CheckReport.decode(json: Data(contentsOf: URL(fileURLWithPath: json)))
        XCTAssertEqual(report.results.count, 7)
        XCTAssertEqual(report.results.map(\.status), [.pass, .pass, .pass, .pass, .fail, .error, .unknown])
        XCTAssertEqual(report.exitCode, 1)
        XCTAssertEqual(report.suite, "suite")
        let cx = try XCTUnwrap(report.results[4].counterexample)
        XCTAssertGreaterThanOrEqual(cx.y[1], max(0, cx.x[0]) + max(0, cx.x[1]), "a real counterexample: class 1 wins")

        // JUnit: well-formed, one testcase per entry, counts that match the elements.
        final class Reader: NSObject, XMLParserDelegate {
            var cases: [String: String] = [:], suite: [String: String] = [:], failures = 0, errors = 0, skipped = 0, texts: [String] = []
            var inFailure = false
            func parser(_ p: XMLParser, didStartElement n: String, namespaceURI: String?, qualifiedName: String?, attributes a: [String: String] = [:]) {
                switch n {
                case "testsuite": suite = a
                case "testcase": cases[a["name"] ?? ""] = a["classname"]
                case "failure": failures += 1; inFailure = true; texts.append("")
                case "error": errors += 1
                case "skipped": skipped += 1
                default: break
                }
            }
            func parser(_ p: XMLParser, foundCharacters s: String) { if inFailure { texts[texts.count - 1] += s } }
            func parser(_ p: XMLParser, didEndElement n: String, namespaceURI: String?, qualifiedName: String?) { if n == "failure" { inFailure = false } }
        }
        let reader = Reader()
        let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: junit)))
        parser.delegate = reader
        XCTAssertTrue(parser.parse(), "\(String(describing: parser.parserError))")
        XCTAssertEqual(reader.cases.count, 7)
        XCTAssertEqual(reader.suite["tests"], "7")
        XCTAssertEqual(reader.suite["failures"], "\(reader.failures)")
        XCTAssertEqual(reader.failures, 2, "the failed entry and the undecided one (fail policy)")
        XCTAssertEqual(reader.errors, 1)
        XCTAssertEqual(reader.skipped, 0)
        XCTAssertEqual(reader.cases["lipschitz"], "suite.lip")
        XCTAssertEqual(reader.cases["holds"], "suite")
        XCTAssertTrue(reader.texts.contains { $0.contains("(X_0 ") }, "the counterexample is in the failure text")

        // An unwritable report path is bad input (3), after the table.
        let bad = try TestData.runCertus(["check", try manifest([holds]), "--junit", "/nonexistent/dir/j.xml"])
        XCTAssertEqual(bad.code, 3, bad.out + bad.err)
        XCTAssertTrue(bad.err.contains("/nonexistent/dir/j.xml: cannot write the JUnit report"), bad.err)
        XCTAssertTrue(bad.out.contains("1 entry: 1 pass"), bad.out)
    }

    func testBadManifestAndUsage() throws {
        let typo = try write("typo.yaml", "entries:\n  - name: a\n    model: nets/relu_sum.onnx\n    spec: s.vnnlib\n    expect: holds\n    timeuot: 5\n")
        let r = try TestData.runCertus(["check", typo])
        XCTAssertEqual(r.code, 3, r.out + r.err)
        XCTAssertEqual(r.out, "")
        XCTAssertTrue(r.err.hasPrefix("error: \(typo):6:5: entries[0] ('a').timeuot: unknown key 'timeuot' (did you mean 'timeout'?)"), r.err)

        let yaml = try write("broken.yaml", "entries:\n  - model: m\n    spec: [a, b\n    expect: holds\n")
        let y = try TestData.runCertus(["check", yaml])
        XCTAssertEqual(y.code, 3)
        XCTAssertTrue(y.err.contains("broken.yaml:") && y.err.contains("invalid YAML"), y.err)

        let json = try write("m.json", "{\"entries\": [{\"model\": \"nets/relu_sum.onnx\", \"center\": [1, 1], \"epsilon\": 0.5,\n \"label\": \"zero\", \"expect\": \"holds\"}]}")
        let j = try TestData.runCertus(["check", json])
        XCTAssertEqual(j.code, 3)
        XCTAssertTrue(j.err.contains("m.json:2:11: entries[0].label: expected a number"), j.err)

        XCTAssertEqual(try TestData.runCertus(["check", tmp.appendingPathComponent("none.yaml").path]).code, 3)
        let m = try manifest([holds, lip])
        let tags = try TestData.runCertus(["check", m, "--tags", "nope"])
        XCTAssertEqual(tags.code, 64, tags.err)
        XCTAssertTrue(tags.err.contains("nope"), tags.err)
        XCTAssertEqual(try TestData.runCertus(["check", m, "--jobs", "0"]).code, 64)
        XCTAssertEqual(try TestData.runCertus(["check", m, "--unknown", "ignore"]).code, 64)
        let sel = try TestData.runCertus(["check", m, "--tags", "lip"])
        XCTAssertEqual(sel.code, 0, sel.out + sel.err)
        XCTAssertTrue(sel.out.contains("1 entry: 1 pass"), sel.out)
    }

    /// Two runs (jobs 1 and jobs 2, in child processes) and one in-process run give the same JSON
    /// report once times and logs are cleared.
    func testDeterministicAcrossRunsJobsAndProcessModes() throws {
        let m = try manifest([holds, violated, lip, bound, failing, missing, undecided])
        var reports: [CheckReport] = []
        for (k, extra) in [["--jobs", "1"], ["--jobs", "2"], ["--jobs", "2", "--in-process"]].enumerated() {
            let json = tmp.appendingPathComponent("r\(k).json").path
            let r = try TestData.runCertus(["check", m, "--json", json] + extra)
            XCTAssertEqual(r.code, 1, r.out + r.err)
            reports.append(try CheckReport.decode(json: Data(contentsOf: URL(fileURLWithPath: json))).comparable)
        }
        XCTAssertEqual(reports[0], reports[1])
        XCTAssertEqual(reports[0], reports[2])
        XCTAssertEqual(reports[0].results.count, 7)
    }

    /// A child process that crashes or hangs is that entry's error or timeout; every other entry
    /// is still run and reported (the test hooks CERTUS_CHECK_TEST_CRASH / _HANG name the entry).
    func testCrashingAndHangingEntriesDoNotTakeTheRunDown() throws {
        let hang = "{name: hangs, model: nets/relu_sum.onnx, center: [1.5, 1.5], epsilon: 0.5, label: 0, expect: holds, timeout: 0.5}"
        let crash = "{name: crashes, model: nets/relu_sum.onnx, center: [1.5, 1.5], epsilon: 0.5, label: 0, expect: holds}"
        let m = try manifest([holds, crash, violated, hang, lip])
        let json = tmp.appendingPathComponent("crash.json").path
        setenv("CERTUS_CHECK_TEST_CRASH", "crashes", 1)
        setenv("CERTUS_CHECK_TEST_HANG", "hangs", 1)
        defer { unsetenv("CERTUS_CHECK_TEST_CRASH"); unsetenv("CERTUS_CHECK_TEST_HANG") }
        let r = try TestData.runCertus(["check", m, "--json", json, "--jobs", "2", "--kill-after", "1"])
        XCTAssertEqual(r.code, 3, r.out + r.err)
        let report = try CheckReport.decode(json: Data(contentsOf: URL(fileURLWithPath: json)))
        XCTAssertEqual(report.results.map(\.name), ["holds", "crashes", "violated", "hangs", "lipschitz"])
        XCTAssertEqual(report.results.map(\.status), [.pass, .error, .pass, .timeout, .pass])
        XCTAssertTrue(report.results[1].message.hasPrefix("crashed (signal "), report.results[1].message)
        XCTAssertTrue(report.results[1].message.contains("CERTUS_CHECK_TEST_CRASH"), "the child's last words: " + report.results[1].message)
        XCTAssertTrue(report.results[3].message.hasPrefix("killed: still running 1.0 s after its time limit of 0.5 s"), report.results[3].message)
        // In one process the hooks do nothing (they are for child processes only).
        let inProcess = try TestData.runCertus(["check", try manifest([holds, crash], name: "in.yaml"), "--in-process"])
        XCTAssertEqual(inProcess.code, 0, inProcess.out + inProcess.err)
    }

    /// The example manifest in Examples/ci passes on the bundled models (the README shows it).
    func testExampleManifestPasses() throws {
        let junit = tmp.appendingPathComponent("example.xml").path
        let r = try TestData.runCertus(["check", TestData.repoPath("Examples/ci/certus-check.yaml"), "--junit", junit])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssertTrue(r.out.contains("5 entries: 5 pass"), r.out)
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        XCTAssertTrue(xml.contains("tests=\"5\" failures=\"0\" errors=\"0\""), xml)
    }
}
