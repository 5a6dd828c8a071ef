import XCTest
import Foundation
import Certus

/// Problems a new user's trial of `certus check` found, each pinned: entry errors name the
/// manifest line, 0-based entry numbers in messages, JSON's trailing commas, a manifest that is
/// not a regular file, a symbolic link's folder, control characters in the table, and the report
/// of a manifest that cannot be read.
final class CheckTrialFixesTests: XCTestCase {
    var fx: CheckFixtures!

    override func setUpWithError() throws { fx = try CheckFixtures() }
    override func tearDownWithError() throws { fx.remove() }

    /// Every error of an entry's files starts with `manifest:line (entry 'name'): `, also when the
    /// error comes from the model or spec reader (which names only its own file).
    func testEveryEntryErrorNamesTheManifestLineAndEntry() throws {
        try "not a vnnlib file (((".write(toFile: fx.path("specs/garbage.vnnlib"), atomically: true, encoding: .utf8)
        try #"{"center": [1, 2, 3], "epsilon": 0.1, "label": 0}"#.write(toFile: fx.path("specs/three.json"), atomically: true, encoding: .utf8)
        let text = """
        entries:
          - {name: missing model, model: ../models/nope.onnx, spec: ../specs/holds.json, expect: holds}
          - {name: garbage model, model: ../models/garbage.onnx, spec: ../specs/holds.json, expect: holds}
          - {name: malformed spec, model: ../models/relu_sum.onnx, spec: ../specs/garbage.vnnlib, expect: holds}
          - {name: spec of the wrong size, model: ../models/relu_sum.onnx, spec: ../specs/three.json, expect: holds}
          - {name: lipschitz garbage model, model: ../models/garbage.onnx, spec: ../specs/holds.json, expect: lipschitz <= 1}
          - {name: "bell\\u0007 in the name", model: ../models/garbage.onnx, spec: ../specs/holds.json, expect: holds}

        """
        let path = try fx.manifest("errors.yaml", text)
        var o = CheckOptions()
        o.jobs = 1
        let report = try CheckRunner(manifest: Manifest.load(path: path), options: o).run()
        XCTAssertEqual(report.results.map(\.status), Array(repeating: .error, count: 6))
        let names = ["missing model", "garbage model", "malformed spec", "spec of the wrong size", "lipschitz garbage model", "bell\\u{7} in the name"]
        for (k, r) in report.results.enumerated() {
            let prefix = "\(path):\(k + 2) (entry '\(names[k])'): "
            XCTAssertTrue(r.message.hasPrefix(prefix), "expected the prefix \(prefix) in: \(r.message)")
            XCTAssertEqual(r.message.components(separatedBy: "(entry '").count, 2, "the place once: \(r.message)")
        }
        XCTAssertTrue(report.results[1].message.contains("garbage.onnx"), report.results[1].message)
        XCTAssertTrue(report.results[2].message.contains("garbage.vnnlib"), report.results[2].message)
        XCTAssertFalse(report.results.contains { $0.message.unicodeScalars.contains { $0.value < 0x20 } })
    }

    /// Entry numbers in manifest messages are 0-based, as in the field paths (`entries[1]`).
    func testDuplicateNameNamesTheOtherEntryAsInFieldPaths() throws {
        let dup = try XCTUnwrap(error("entries:\n  - {name: a, model: m, spec: s, expect: holds}\n  - {name: a, model: m, spec: s, expect: violated}\n",
                                      format: .yaml))
        XCTAssertEqual(dup.field, "entries[1] ('a').name")
        XCTAssertTrue(dup.message.hasPrefix("duplicate entry name 'a' (also entries[0])"), dup.message)
        let d = try XCTUnwrap(error("defaults:\n  method: input-split\nentries:\n  - {name: a, model: m, spec: s, expect: holds}\n  - {name: b, model: m, spec: s, expect: bound(0) >= 1}\n",
                                    format: .yaml))
        XCTAssertTrue(d.message.contains("(the default, used by entries[1] 'b')"), d.message)
    }

    /// JSON has no trailing commas (YAML's flow syntax, which reads JSON here, has): refused with
    /// the comma's line and column; a comma inside a string is text.
    func testJSONTrailingCommasAreRefused() throws {
        let entry = "{\"model\": \"m\", \"spec\": \"s\", \"expect\": \"holds\"}"
        for (text, line, column) in [("{\"entries\":[{\"model\": \"m\", \"spec\": \"s\", \"expect\":\"holds\",}]}", 1, 57),
                                     ("{\"entries\": [\(entry),\n]}", 1, 0),
                                     ("{\"entries\": [\(entry)],\n  \"name\": \"x\" ,  }", 2, 15)] {
            let e = try XCTUnwrap(error(text, format: .json), text)
            XCTAssertTrue(e.message.hasPrefix("invalid JSON: a comma before"), e.message)
            let expectedColumn = column == 0 ? text.split(separator: "\n")[0].count : column
            XCTAssertEqual(e.position, SourcePosition(line: line, column: expectedColumn), "\(text): \(e.description)")
        }
        let m = try Manifest.parse(text: "{\"name\": \"a ,] \\\" ,}\", \"entries\": [\(entry)]}", source: "m.json", format: .json)
        XCTAssertEqual(m.name, "a ,] \" ,}")
        // Nor comments (which would hide a trailing comma from the check above).
        let comment = try XCTUnwrap(error("{\"entries\": [\(entry), # more\n]}", format: .json))
        XCTAssertEqual(comment.position, SourcePosition(line: 1, column: entry.count + 16))
        XCTAssertTrue(comment.message.contains("no comments"), comment.message)
        XCTAssertNoThrow(try Manifest.parse(text: "{\"name\": \"#1\", \"entries\": [\(entry)]}", source: "m.json", format: .json))
        // YAML keeps YAML's rules.
        XCTAssertNoThrow(try Manifest.parse(text: "entries: [{model: m, spec: s, expect: holds,},]\n", source: "m.yaml", format: .yaml))
    }

    /// A pipe, a device, a directory or this process's own descriptors are refused with a message
    /// that says why (each entry's child process reads the manifest again by its path).
    func testManifestMustBeARegularFile() throws {
        let fifo = fx.path("manifests/fifo.yaml")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        for (path, kind) in [(fifo, "a pipe"), (fx.path("manifests"), "a directory"), ("/dev/null", "a character device"),
                             ("/dev/stdin", "a file descriptor of this process")] {
            XCTAssertThrowsError(try Manifest.load(path: path), path) { e in
                let text = "\(e)"
                XCTAssertTrue(text.hasPrefix("\(path): the manifest must be a regular file, but this is \(kind)"), text)
                XCTAssertTrue(text.contains("child process"), text)
            }
        }
    }

    /// A manifest reached through a symbolic link resolves relative paths against the link's
    /// folder (as the README says).
    func testSymlinkedManifestResolvesAgainstTheLinksFolder() throws {
        let target = try fx.manifest("real.yaml", "entries:\n  - {model: ../models/relu_sum.onnx, spec: ../specs/holds.json, expect: holds}\n")
        let linkDir = fx.path("elsewhere/deeper")
        try FileManager.default.createDirectory(atPath: linkDir, withIntermediateDirectories: true)
        let link = linkDir + "/link.yaml"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let m = try Manifest.load(path: link)
        XCTAssertEqual(m.resolve("../models/relu_sum.onnx"), URL(fileURLWithPath: fx.path("elsewhere/models/relu_sum.onnx")).standardizedFileURL.path)
    }

    /// The table shows control characters in names and messages escaped, as the progress line
    /// and the JUnit report do.
    func testTableEscapesControlCharacters() throws {
        var r = CheckEntryResult(index: 0, name: "red \u{1B}[31mname\u{7}", tags: [], model: "m.onnx", spec: "s", expect: "holds",
                                 method: "auto", timeLimit: 1)
        r.status = .fail; r.outcome = .fail; r.message = "bad\u{1B}]0;title\u{7} message\nsecond line"
        let table = CheckReport(suite: "s", manifest: "m", selectedTags: nil, policies: CheckPolicies(), results: [r], timeSeconds: 1).table()
        for line in table.split(separator: "\n") {
            XCTAssertFalse(line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "a raw control character in: \(line.debugDescription)")
        }
        XCTAssertTrue(table.contains("FAIL red \\u{1B}[31mname\\u{7}: bad\\u{1B}]0;title\\u{7} message\\u{A}second line"), table)
        XCTAssertTrue(table.contains("red \\u{1B}[31mname\\u{7}"), table)
    }

    /// The report of a manifest that cannot be read: JUnit with one `<error>` testcase naming the
    /// problem, JSON with an `error` object, exit code 3; both read back.
    func testManifestProblemReport() throws {
        let message = "m.yaml:6:5: entries[0] ('a').timeuot: unknown key 'timeuot' <&>"
        let report = CheckReport.manifestProblem(manifest: "ci/m.yaml", message: message)
        XCTAssertEqual(report.exitCode, CheckExitCode.error)
        XCTAssertFalse(report.passed)
        XCTAssertEqual(report.suite, "m")
        let doc = try JUnitDocument(xml: report.junitXML())
        XCTAssertEqual(doc.cases.count, 1)
        XCTAssertEqual(doc.cases[0].name, "manifest")
        XCTAssertEqual(doc.cases[0].error?.message, message)
        XCTAssertEqual(doc.suites.first?["tests"], "1")
        XCTAssertEqual(doc.suites.first?["errors"], "1")
        let back = try CheckReport.decode(json: report.jsonData())
        XCTAssertEqual(back, report)
        XCTAssertEqual(back.error, CheckReportError(kind: "manifest", message: message))
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        XCTAssertEqual((obj["error"] as? [String: Any])?["message"] as? String, message)
        // A run's report has no error and reads back without one.
        var r = CheckEntryResult(index: 0, name: "a", tags: [], model: "m", spec: "s", expect: "holds", method: "auto", timeLimit: 1)
        r.status = .pass; r.outcome = .pass
        let ok = CheckReport(suite: "s", manifest: "m", selectedTags: nil, policies: CheckPolicies(), results: [r], timeSeconds: 1)
        XCTAssertNil(try CheckReport.decode(json: ok.jsonData()).error)
        let okObj = try XCTUnwrap(JSONSerialization.jsonObject(with: ok.jsonData()) as? [String: Any])
        XCTAssertNil(okObj["error"])
    }
}
