import XCTest
import Foundation
import Certus

/// Manifest parsing: YAML and JSON, every expectation form, inline regions, relative paths, and
/// bad manifests named with their file, line, column and field.
final class ManifestTests: XCTestCase {
    func parseYAML(_ text: String, source: String = "m.yaml") throws -> Manifest {
        try Manifest.parse(text: text, source: source, format: .yaml)
    }

    func testExpectationTextForms() throws {
        XCTAssertEqual(try Expectation.parse("holds"), .holds)
        XCTAssertEqual(try Expectation.parse(" Violated "), .violated)
        XCTAssertEqual(try Expectation.parse("lipschitz <= 2.5"), .lipschitz(max: 2.5, norm: .inf))
        XCTAssertEqual(try Expectation.parse("lipschitz(2)<=3"), .lipschitz(max: 3, norm: .l2))
        XCTAssertEqual(try Expectation.parse("lipschitz(l1) <= 1e-3"), .lipschitz(max: 0.001, norm: .l1))
        XCTAssertEqual(try Expectation.parse("lipschitz(inf) <= 7"), .lipschitz(max: 7, norm: .inf))
        XCTAssertEqual(try Expectation.parse("bound(0) >= 0.5"), .bound(row: 0, relation: .atLeast, value: 0.5))
        XCTAssertEqual(try Expectation.parse("bound( 12 ) <= -1"), .bound(row: 12, relation: .atMost, value: -1))
        for t in ["holds", "violated", "lipschitz <= 2.5", "lipschitz(2) <= 3.0", "lipschitz(1) <= 0.25", "bound(0) >= 0.5", "bound(3) <= -1.0"] {
            XCTAssertEqual(try Expectation.parse(t).description, t)
            XCTAssertEqual(try Expectation.parse(Expectation.parse(t).description), try Expectation.parse(t))
        }
        for bad in ["hold", "lipschitz >= 2", "lipschitz < 2", "lipschitz <= -1", "lipschitz <= inf", "lipschitz(3) <= 1",
                    "bound >= 1", "bound(x) >= 1", "bound(-1) >= 1", "bound(0) = 1", "bound(0) >= nan", "bound(0) >="] {
            XCTAssertThrowsError(try Expectation.parse(bad), bad)
        }
    }

    /// Every field and expectation form in YAML; the same manifest in JSON decodes to the same value.
    func testYAMLAndJSONGiveTheSameManifest() throws {
        let yaml = """
        name: suite
        defaults:
          timeout: 30
          tags: [nightly]
        entries:
          - name: file spec holds
            model: ../models/a.onnx
            spec: ../specs/p.vnnlib
            expect: holds
            method: input-split
            timeout: 5
            tags: [acas, fast]
          - name: inline ball violated
            model: /abs/b.onnx
            center: [0.5, -1, 2e-3]
            epsilon: 0.1
            label: 2
            clip: [0, 1]
            expect: violated
          - name: centre from a file
            model: b.onnx
            spec:
              center: centers/c.json
              epsilon: 0
              label: 0
            expect: bound(1) >= -0.25
            method: alpha-crown
          - name: box lipschitz
            model: b.onnx
            box:
              lower: [0, 0]
              upper: [1, 1]
            expect: lipschitz(2) <= 10
            tags: one
          - model: c.onnx
            spec: {box: {lower: [-1], upper: [1]}}
            expect: bound(0) <= 4
        """
        let m = try parseYAML(yaml)
        XCTAssertEqual(m.name, "suite")
        XCTAssertEqual(m.defaults, ManifestDefaults(timeout: 30, method: nil, tags: ["nightly"]))
        XCTAssertEqual(m.entries.count, 5)
        let e = m.entries
        XCTAssertEqual(e[0].spec, .file("../specs/p.vnnlib"))
        XCTAssertEqual(e[0].expect, .holds)
        XCTAssertEqual(e[0].method, "input-split")
        XCTAssertEqual(e[0].timeout, 5)
        XCTAssertEqual(e[0].tags, ["acas", "fast"])
        XCTAssertEqual(e[0].position?.line, 6)
        XCTAssertEqual(e[1].spec, .inline(InlineSpec(center: .values([0.5, -1, 0.002]), epsilon: 0.1, label: 2, clip: [0, 1])))
        XCTAssertEqual(e[1].expect, .violated)
        XCTAssertEqual(e[2].spec, .inline(InlineSpec(center: .file("centers/c.json"), epsilon: 0, label: 0)))
        XCTAssertEqual(e[2].expect, .bound(row: 1, relation: .atLeast, value: -0.25))
        XCTAssertEqual(e[3].spec, .inline(InlineSpec(box: BoxSpec(lower: [0, 0], upper: [1, 1]))))
        XCTAssertEqual(e[3].expect, .lipschitz(max: 10, norm: .l2))
        XCTAssertEqual(e[3].tags, ["one"])
        XCTAssertEqual(e[4].name, "c.onnx bound(0) <= 4.0", "a missing name is made from the model and the expectation")
        XCTAssertEqual(e[4].expect, .bound(row: 0, relation: .atMost, value: 4))

        // The JSON manifest written by hand, and the manifest's own encoding read back as JSON.
        let json = """
        {"name": "suite", "defaults": {"timeout": 30, "tags": ["nightly"]},
         "entries": [
          {"name": "file spec holds", "model": "../models/a.onnx", "spec": "../specs/p.vnnlib", "expect": "holds",
           "method": "input-split", "timeout": 5, "tags": ["acas", "fast"]},
          {"name": "inline ball violated", "model": "/abs/b.onnx", "center": [0.5, -1, 2e-3], "epsilon": 0.1, "label": 2,
           "clip": [0, 1], "expect": "violated"},
          {"name": "centre from a file", "model": "b.onnx", "spec": {"center": "centers/c.json", "epsilon": 0, "label": 0},
           "expect": "bound(1) >= -0.25", "method": "alpha-crown"},
          {"name": "box lipschitz", "model": "b.onnx", "box": {"lower": [0, 0], "upper": [1, 1]}, "expect": "lipschitz(2) <= 10",
           "tags": "one"},
          {"model": "c.onnx", "spec": {"box": {"lower": [-1], "upper": [1]}}, "expect": "bound(0) <= 4"}
         ]}
        """
        var j = try Manifest.parse(text: json, source: "m.json", format: .json)
        var y = m
        for k in y.entries.indices { y.entries[k].position = nil; j.entries[k].position = nil }
        j.path = y.path
        XCTAssertEqual(j, y)
        let encoded = String(decoding: try JSONEncoder().encode(m), as: UTF8.self)
        var back = try Manifest.parse(text: encoded, source: "m.yaml", format: .json)
        for k in back.entries.indices { back.entries[k].position = nil }
        XCTAssertEqual(back, y)
    }

    /// Format by extension, else by the first character.
    func testFormatDetection() {
        XCTAssertEqual(Manifest.format(path: "a.json", text: "entries: []"), .json)
        XCTAssertEqual(Manifest.format(path: "a.YML", text: "{}"), .yaml)
        XCTAssertEqual(Manifest.format(path: "a.yaml", text: "{}"), .yaml)
        XCTAssertEqual(Manifest.format(path: "manifest", text: "\u{FEFF}\n  {\"entries\": []}"), .json)
        XCTAssertEqual(Manifest.format(path: "manifest", text: "# comment\nentries: []"), .yaml)
    }

    /// Paths resolve against the manifest's folder; absolute ones stay.
    func testRelativePathsResolveAgainstTheManifestFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("certus-manifest-\(UUID().uuidString)/sub")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        let file = dir.appendingPathComponent("checks.yml")
        try "entries:\n  - {model: ../m.onnx, spec: p.vnnlib, expect: holds}\n".write(to: file, atomically: true, encoding: .utf8)
        let m = try Manifest.load(path: file.path)
        let base = dir.standardizedFileURL.path
        XCTAssertEqual(m.directory, base)
        XCTAssertEqual(m.resolve("../m.onnx"), dir.deletingLastPathComponent().standardizedFileURL.path + "/m.onnx")
        XCTAssertEqual(m.resolve("p.vnnlib"), base + "/p.vnnlib")
        XCTAssertEqual(m.resolve("/x/y.onnx"), "/x/y.onnx")
        XCTAssertEqual(m.suiteName, "checks")
        XCTAssertEqual(m.path, file.path)
    }

    // MARK: Bad manifests

    func testUnknownKeyIsNamedWithLineAndSuggestion() throws {
        let e = try XCTUnwrap(error("""
        entries:
          - name: a
            model: m.onnx
            spec: p.vnnlib
            expect: holds
            timeuot: 5
        """))
        XCTAssertEqual(e.position, SourcePosition(line: 6, column: 5))
        XCTAssertEqual(e.field, "entries[0] ('a').timeuot")
        XCTAssertTrue(e.message.contains("unknown key 'timeuot'") && e.message.contains("did you mean 'timeout'"), e.message)
        XCTAssertTrue(e.description.hasPrefix("m.yaml:6:5: entries[0] ('a').timeuot: unknown key"), e.description)

        // At the top level, in defaults, in an inline spec and in a box too.
        XCTAssertEqual(error("entrys: []")?.field, "entrys")
        XCTAssertEqual(error("defaults: {timeout: 3, methd: crown}\nentries: [{model: m, spec: s, expect: holds}]")?.field, "defaults.methd")
        let spec = error("entries:\n  - model: m\n    spec: {center: [1], epsilon: 0.1, lable: 0}\n    expect: holds\n")
        XCTAssertEqual(spec?.position?.line, 3)
        XCTAssertTrue(spec?.message.contains("did you mean 'label'") ?? false, spec?.message ?? "")
        XCTAssertEqual(error("entries:\n  - model: m\n    box: {lower: [0], upper: [1], uper: [2]}\n    expect: lipschitz <= 1\n")?.field,
                       "entries[0].box.uper")
    }

    func testWrongTypesAreNamed() throws {
        let e = try XCTUnwrap(error("""
        entries:
          - name: tanh
            model: m.onnx
            center: [1, 2]
            epsilon: [0.1]
            label: 0
            expect: holds
        """))
        XCTAssertEqual(e.position?.line, 5)
        XCTAssertEqual(e.field, "entries[0] ('tanh').epsilon")
        XCTAssertTrue(e.message.contains("expected a number, got a list"), e.message)

        let q = try XCTUnwrap(error("entries:\n  - {model: m, center: [1], epsilon: \"0.1\", label: 0, expect: holds}\n"))
        XCTAssertTrue(q.message.contains("quoted"), q.message)
        XCTAssertEqual(error("entries:\n  - {model: m, center: [1, x], epsilon: 1, label: 0, expect: holds}\n")?.field, "entries[0].center[1]")
        XCTAssertEqual(error("entries:\n  - {model: m, center: [1], epsilon: 1, label: 0.5, expect: holds}\n")?.field, "entries[0].label")
        XCTAssertEqual(error("entries: {a: 1}")?.message, "expected a list, got a mapping")
        XCTAssertEqual(error("entries:\n  - {model: [m], spec: s, expect: holds}\n")?.field, "entries[0].model")
        XCTAssertEqual(error("entries:\n  - {model: m, spec: s, expect: holds, timeout: -1}\n")?.field, "entries[0].timeout")
        XCTAssertEqual(error("entries:\n  - {model: m, spec: s, expect: holds, tags: [a b]}\n")?.field, "entries[0].tags")
    }

    func testMissingAndConflictingFields() throws {
        XCTAssertTrue(error("name: x")?.message.contains("missing key 'entries'") ?? false)
        XCTAssertTrue(error("entries: []")?.message.contains("empty") ?? false)
        let noModel = try XCTUnwrap(error("entries:\n  - name: a\n    spec: s\n    expect: holds\n"))
        XCTAssertEqual(noModel.position?.line, 2)
        XCTAssertTrue(noModel.message.contains("missing key 'model'"), noModel.message)
        XCTAssertTrue(error("entries:\n  - {model: m, expect: holds}\n")?.message.contains("missing the property") ?? false)
        XCTAssertTrue(error("entries:\n  - {model: m, spec: s}\n")?.message.contains("missing key 'expect'") ?? false)
        XCTAssertEqual(error("entries:\n  - {model: m, spec: s, epsilon: 1, expect: holds}\n")?.field, "entries[0].epsilon")
        XCTAssertTrue(error("entries:\n  - {model: m, center: [1], label: 0, expect: holds}\n")?.message.contains("'epsilon'") ?? false)
        XCTAssertEqual(error("entries:\n  - {model: m, box: {lower: [0], upper: [1]}, epsilon: 1, expect: lipschitz <= 1}\n")?.field,
                       "entries[0].epsilon")
        // holds / violated need an output property.
        let noLabel = try XCTUnwrap(error("entries:\n  - {model: m, center: [1], epsilon: 1, expect: holds}\n"))
        XCTAssertTrue(noLabel.message.contains("label"), noLabel.message)
        XCTAssertEqual(error("entries:\n  - {model: m, box: {lower: [1], upper: [0]}, expect: lipschitz <= 1}\n")?.field, "entries[0].box.upper")
        XCTAssertEqual(error("entries:\n  - {model: m, box: {lower: [1, 2], upper: [3]}, expect: lipschitz <= 1}\n")?.field, "entries[0].box.upper")
        XCTAssertEqual(error("entries:\n  - {model: m, center: [1], epsilon: 1, clip: [2, 1], expect: lipschitz <= 1}\n")?.field, "entries[0].clip")
        // Duplicate names and duplicate keys.
        let dup = try XCTUnwrap(error("entries:\n  - {name: a, model: m, spec: s, expect: holds}\n  - {name: a, model: m, spec: s, expect: violated}\n"))
        XCTAssertEqual(dup.position?.line, 3)
        XCTAssertTrue(dup.message.contains("duplicate entry name 'a'"), dup.message)
        let dupKey = try XCTUnwrap(error("entries:\n  - model: m\n    spec: s\n    model: n\n    expect: holds\n"))
        XCTAssertEqual(dupKey.position?.line, 4)
        XCTAssertTrue(dupKey.message.contains("duplicate key 'model' (first written at line 2)"), dupKey.message)
    }

    func testMethodMustSuitTheExpectation() throws {
        let e = try XCTUnwrap(error("entries:\n  - {model: m, spec: s, expect: bound(0) >= 1, method: bab}\n"))
        XCTAssertEqual(e.field, "entries[0].method")
        XCTAssertTrue(e.message.contains("ibp"), e.message)
        XCTAssertNotNil(error("entries:\n  - {model: m, spec: s, expect: lipschitz <= 1, method: ibp}\n"))
        XCTAssertNotNil(error("entries:\n  - {model: m, spec: s, expect: holds, method: magic}\n"))
        // A default that one entry cannot use names the default.
        let d = try XCTUnwrap(error("defaults:\n  method: input-split\nentries:\n  - {name: b, model: m, spec: s, expect: bound(0) >= 1}\n"))
        XCTAssertEqual(d.field, "defaults.method")
        XCTAssertEqual(d.position?.line, 2)
        // crown suits all three kinds.
        XCTAssertNoThrow(try parseYAML("defaults: {method: crown}\nentries:\n  - {model: m, spec: s, expect: bound(0) >= 1}\n  - {model: m, spec: s, expect: holds}\n  - {model: m, spec: s, expect: lipschitz <= 2}\n"))
    }

    func testBadExpectationIsNamedWithItsLine() throws {
        let e = try XCTUnwrap(error("entries:\n  - name: a\n    model: m\n    spec: s\n    expect: lipschitz < 3\n"))
        XCTAssertEqual(e.position, SourcePosition(line: 5, column: 13))
        XCTAssertEqual(e.field, "entries[0] ('a').expect")
        XCTAssertTrue(e.message.contains("lipschitz <= L"), e.message)
    }

    func testMalformedYAMLNamesTheLine() throws {
        let e = try XCTUnwrap(error("entries:\n  - model: m\n    spec: [a, b\n    expect: holds\n"))
        XCTAssertNotNil(e.position)
        XCTAssertGreaterThanOrEqual(e.position?.line ?? 0, 3)
        XCTAssertTrue(e.message.hasPrefix("invalid YAML"), e.message)
        XCTAssertTrue(e.description.hasPrefix("m.yaml:\(e.position!.line):"), e.description)
        let tab = try XCTUnwrap(error("entries:\n  - model: m\n\t spec: s\n"))
        XCTAssertEqual(tab.position?.line, 3)
        XCTAssertTrue(error("")?.message.contains("empty") ?? false)
        XCTAssertTrue(error("entries:\n  - &a {model: m, spec: s, expect: holds}\n  - *b\n")?.message.contains("alias") ?? false)
        XCTAssertEqual(error("- a\n- b\n")?.message, "expected a mapping (key: value), got a list")
    }

    func testMalformedJSONNamesTheLine() throws {
        let e = try XCTUnwrap(error("{\"entries\": [\n  {\"model\": \"m\", \"spec\": \"s\" \"expect\": \"holds\"}\n]}", format: .json))
        XCTAssertEqual(e.position?.line, 2)
        XCTAssertTrue(e.message.hasPrefix("invalid JSON: "), e.message)
        XCTAssertTrue(e.message.contains("expected ',' or '}'"), e.message)
        let t = try XCTUnwrap(error("{\"entries\": [{\"model\": \"m\", \"spec\": \"s\", \"expect\": \"holds\"}],\n \"nmae\": 1}", format: .json))
        XCTAssertEqual(t.position, SourcePosition(line: 2, column: 2))
        XCTAssertEqual(t.field, "nmae")
        XCTAssertEqual(error("{\"entries\": [{\"model\": \"m\", \"spec\": \"s\", \"expect\": \"holds\", \"timeout\": \"5\"}]}", format: .json)?.field,
                       "entries[0].timeout")
        XCTAssertNotNil(error("{\"entries\": [01]}", format: .json))
        XCTAssertNotNil(error("{\"entries\": []} x", format: .json))
        XCTAssertNotNil(error("{\"a\": 1, \"a\": 2}", format: .json))
    }

    /// JSON goes through Yams (JSON is YAML 1.2 flow syntax) with JSON's own rules on top: quoted
    /// text stays text ("3" is not a number), bare words other than numbers, true, false and null
    /// are refused, keys need double quotes, YAML block syntax is refused; JSON's escapes, tabs,
    /// a missing space after the colon and lines at column 1 are read as JSON reads them.
    func testJSONReadByYamsKeepsJSONRules() throws {
        let good = "{\"name\":\"caf\\u00e9 \\/ \\ud83d\\ude00\\t\",\n\t\"entries\": [\n{\"model\": \"m\", \"spec\": \"s\",\n\"expect\": \"holds\", \"timeout\": 1e1, \"tags\": [\"3\"]}\n]}"
        let m = try Manifest.parse(text: good, source: "m.json", format: .json)
        XCTAssertEqual(m.name, "caf\u{E9} / \u{1F600}\t")
        XCTAssertEqual(m.entries[0].timeout, 10)
        XCTAssertEqual(m.entries[0].tags, ["3"])
        XCTAssertEqual(m.entries[0].position?.line, 3)
        // "5" is text where a number is wanted; 5 is a number where text is wanted.
        XCTAssertTrue(error("{\"entries\": [{\"model\": \"m\", \"spec\": \"s\", \"expect\": \"holds\", \"timeout\": \"5\"}]}", format: .json)?
            .message.contains("quoted text") ?? false)
        for (text, line, words) in [("{\"entries\": [\n  yes]}", 2, "'yes' is not a JSON value"),
                                    ("{\"entries\": [01]}", 1, "'01' is not a JSON value"),
                                    ("{\"entries\": [.5]}", 1, "'.5' is not a JSON value"),
                                    ("{\n entries: []}", 2, "must be in double quotes"),
                                    ("{\"entries\": ['a']}", 1, "double quotes"),
                                    ("entries:\n  - a\n", 1, "YAML mapping")] {
            let e = try XCTUnwrap(error(text, format: .json), text)
            XCTAssertEqual(e.position?.line, line, text)
            XCTAssertTrue(e.message.hasPrefix("invalid JSON: ") && e.message.contains(words), "\(text): \(e.message)")
        }
        XCTAssertTrue(error("", format: .json)?.message.contains("empty") ?? false)
    }

    /// A manifest file that is missing or not UTF-8 is named.
    func testUnreadableManifestFile() throws {
        XCTAssertThrowsError(try Manifest.load(path: "/nonexistent/checks.yaml")) { e in
            XCTAssertTrue("\(e)".hasPrefix("/nonexistent/checks.yaml: cannot read"), "\(e)")
        }
        let f = FileManager.default.temporaryDirectory.appendingPathComponent("certus-bad-\(UUID().uuidString).yaml")
        try Data([0xFF, 0xFE, 0x00, 0x41]).write(to: f)
        defer { try? FileManager.default.removeItem(at: f) }
        XCTAssertThrowsError(try Manifest.load(path: f.path)) { e in XCTAssertTrue("\(e)".contains("not UTF-8"), "\(e)") }
    }
}
