import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Certus

/// `CheckRunner` over the hand-analysed fixture model (see `CheckFixtures`): statuses against
/// answers known independently, counterexamples re-checked by hand, entry isolation, policies,
/// exit codes, JUnit well-formedness and determinism across runs and worker counts.
final class CheckRunnerTests: XCTestCase {
    var fx: CheckFixtures!

    override func setUpWithError() throws { fx = try CheckFixtures() }
    override func tearDownWithError() throws { fx.remove() }

    /// 22 entries mixing every expectation, pass and fail, errors and an undecided entry.
    static let mixed = """
    name: fixtures
    defaults:
      timeout: 120
    entries:
      - name: holds from a JSON spec
        model: ../models/relu_sum.onnx
        spec: ../specs/holds.json
        expect: holds
        tags: [verify]
      - name: violated from a VNN-LIB spec
        model: ../models/relu_sum.onnx
        spec: ../specs/violated.vnnlib
        expect: violated
        tags: [verify]
      - name: expected to hold but violated
        model: ../models/relu_sum.onnx
        spec: ../specs/violated.vnnlib
        expect: holds
        tags: [verify]
      - name: expected violated but holds
        model: ../models/relu_sum.onnx
        spec: ../specs/holds.json
        expect: violated
        tags: [verify]
      - name: inline ball holds
        model: ../models/relu_sum.onnx
        center: [1.5, 1.5]
        epsilon: 0.5
        label: 0
        expect: holds
        method: crown
      - name: centre from a file holds
        model: ../models/relu_sum.onnx
        spec: {center: ../specs/center.json, epsilon: 0.5, label: 0}
        expect: holds
        method: input-split
      - name: inline box violated
        model: ../models/relu_sum.onnx
        box: {lower: [-1, -1], upper: [1, 1]}
        label: 0
        expect: violated
      - name: lipschitz within 2.5
        model: ../models/relu_sum.onnx
        box: {lower: [1, 1], upper: [2, 2]}
        expect: lipschitz <= 2.5
        tags: [lip]
      - name: lipschitz above 1.5
        model: ../models/relu_sum.onnx
        box: {lower: [1, 1], upper: [2, 2]}
        expect: lipschitz <= 1.5
        tags: [lip]
      - name: L2 lipschitz within 1.5
        model: ../models/relu_sum.onnx
        spec: ../specs/holds.json
        expect: lipschitz(2) <= 1.5
        method: crown
        tags: [lip]
      - name: L2 lipschitz above 1.3
        model: ../models/relu_sum.onnx
        spec: ../specs/holds.json
        expect: lipschitz(2) <= 1.3
        tags: [lip]
      - name: margin at least 0.9
        model: ../models/relu_sum.onnx
        spec: ../specs/holds.json
        expect: bound(0) >= 0.9
      - name: margin at least 1.1
        model: ../models/relu_sum.onnx
        spec: ../specs/holds.json
        expect: bound(0) >= 1.1
      - name: margin at most 3.1
        model: ../models/relu_sum.onnx
        spec: ../specs/holds.json
        expect: bound(0) <= 3.1
        method: alpha-crown
      - name: margin at most 2.9
        model: ../models/relu_sum.onnx
        spec: ../specs/holds.json
        expect: bound(0) <= 2.9
        method: ibp
      - name: output 1 at least 0.999
        model: ../models/relu_sum.onnx
        box: {lower: [1, 1], upper: [2, 2]}
        expect: bound(1) >= 0.999
      - name: row that does not exist
        model: ../models/relu_sum.onnx
        spec: ../specs/holds.json
        expect: bound(5) >= 0
      - name: missing model
        model: ../models/nope.onnx
        spec: ../specs/holds.json
        expect: holds
      - name: garbage model
        model: ../models/garbage.onnx
        spec: ../specs/holds.json
        expect: holds
      - name: centre of the wrong size
        model: ../models/relu_sum.onnx
        center: [1, 2, 3]
        epsilon: 0.1
        label: 0
        expect: holds
      - name: missing spec file
        model: ../models/relu_sum.onnx
        spec: ../specs/nope.vnnlib
        expect: lipschitz <= 3
      - name: attack alone cannot prove
        model: ../models/relu_sum.onnx
        spec: ../specs/holds.json
        expect: holds
        method: attack
    """

    static let expected: [String: CheckStatus] = [
        "holds from a JSON spec": .pass, "violated from a VNN-LIB spec": .pass,
        "expected to hold but violated": .fail, "expected violated but holds": .fail,
        "inline ball holds": .pass, "centre from a file holds": .pass, "inline box violated": .pass,
        "lipschitz within 2.5": .pass, "lipschitz above 1.5": .fail,
        "L2 lipschitz within 1.5": .pass, "L2 lipschitz above 1.3": .fail,
        "margin at least 0.9": .pass, "margin at least 1.1": .fail, "margin at most 3.1": .pass, "margin at most 2.9": .fail,
        "output 1 at least 0.999": .pass, "row that does not exist": .error, "missing model": .error, "garbage model": .error,
        "centre of the wrong size": .error, "missing spec file": .error, "attack alone cannot prove": .unknown,
    ]

    func check(_ text: String = mixed, jobs: Int = 2, policies: CheckPolicies = CheckPolicies(), tags: [String]? = nil) throws -> CheckReport {
        let path = try fx.manifest("mixed.yaml", text)
        var o = CheckOptions()
        o.jobs = jobs
        o.policies = policies
        o.tags = tags
        return try CheckRunner(manifest: Manifest.load(path: path), options: o).run()
    }

    func testMixedManifestGivesTheKnownAnswers() throws {
        let report = try check()
        XCTAssertEqual(report.results.count, 22)
        XCTAssertEqual(report.results.map(\.index), Array(0..<22), "ordered by entry")
        for r in report.results {
            XCTAssertEqual(r.status, CheckRunnerTests.expected[r.name], "\(r.name): \(r.message)")
        }
        var byName: [String: CheckEntryResult] = [:]
        for r in report.results { byName[r.name] = r }

        // Counterexamples re-checked by hand: x in [-1, 1]^2, y = (relu(x0) + relu(x1), 1), y1 >= y0.
        for name in ["violated from a VNN-LIB spec", "expected to hold but violated", "inline box violated"] {
            let r = try XCTUnwrap(byName[name])
            XCTAssertEqual(r.answer, .sat, name)
            let cx = try XCTUnwrap(r.counterexample, name)
            XCTAssertEqual(cx.x.count, 2)
            XCTAssertTrue(cx.x.allSatisfy { $0 >= -1 && $0 <= 1 }, "\(cx.x)")
            let y0 = max(0, cx.x[0]) + max(0, cx.x[1])
            XCTAssertEqual(cx.y[0], y0, accuracy: 1e-6)
            XCTAssertEqual(cx.y[1], 1, accuracy: 1e-6)
            XCTAssertGreaterThanOrEqual(cx.y[1], cx.y[0], name)
        }
        XCTAssertTrue(byName["expected to hold but violated"]!.message.hasPrefix("violated: counterexample x = ["))
        XCTAssertEqual(byName["holds from a JSON spec"]?.answer, .unsat)
        XCTAssertEqual(byName["expected violated but holds"]?.answer, .unsat)
        XCTAssertEqual(byName["attack alone cannot prove"]?.answer, .unknown)

        // Lipschitz: the gradient of y0 is (1, 1) on [1, 2]^2: L-inf constant 2, L2 constant sqrt 2.
        let lip = try XCTUnwrap(byName["lipschitz within 2.5"])
        XCTAssertEqual(try XCTUnwrap(lip.attained), 2, accuracy: 1e-9)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(lip.bound), 2 - 1e-9)
        XCTAssertLessThanOrEqual(try XCTUnwrap(lip.bound), 2.5)
        XCTAssertTrue(byName["lipschitz above 1.5"]!.message.contains("is attained at x = ["), byName["lipschitz above 1.5"]!.message)
        XCTAssertEqual(try XCTUnwrap(byName["L2 lipschitz above 1.3"]?.attained), 2.0.squareRoot(), accuracy: 1e-9)

        // Bounds of y0 - y1 = x0 + x1 - 1 on [1, 2]^2 (exact range [1, 3]): sound and tight here.
        let lower = try XCTUnwrap(byName["margin at least 0.9"]?.bound)
        XCTAssertLessThanOrEqual(lower, 1)
        XCTAssertGreaterThanOrEqual(lower, 0.9)
        XCTAssertEqual(byName["margin at least 1.1"]?.bound, lower)
        XCTAssertTrue(byName["margin at least 1.1"]!.message.contains("not >= 1.1"), byName["margin at least 1.1"]!.message)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(byName["margin at most 3.1"]?.bound), 3)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(byName["margin at most 2.9"]?.bound), 3)
        XCTAssertEqual(byName["margin at most 2.9"]?.method, "ibp")

        // Errors name the file or the row; the run went on past them.
        XCTAssertTrue(byName["missing model"]!.message.contains("'../models/nope.onnx' does not exist"), byName["missing model"]!.message)
        XCTAssertTrue(byName["missing model"]!.message.contains("mixed.yaml:"), byName["missing model"]!.message)
        XCTAssertTrue(byName["garbage model"]!.message.contains("garbage.onnx"), byName["garbage model"]!.message)
        XCTAssertTrue(byName["row that does not exist"]!.message.contains("bound(5) does not exist: the property has 1 rows"),
                      byName["row that does not exist"]!.message)
        XCTAssertTrue(byName["centre of the wrong size"]!.message.contains("3 input"), byName["centre of the wrong size"]!.message)
        XCTAssertTrue(byName["missing spec file"]!.message.contains("nope.vnnlib"), byName["missing spec file"]!.message)
        XCTAssertFalse(report.results.contains { $0.message.contains("internal error") })

        XCTAssertEqual(report.summary, {
            var s = CheckSummary(results: [])
            s.total = 22; s.pass = 10; s.fail = 6; s.error = 5; s.unknown = 1
            return s
        }())
        XCTAssertEqual(report.exitCode, CheckExitCode.failed)
        XCTAssertEqual(report.results.first?.tags, ["verify"])
        XCTAssertEqual(report.suite, "fixtures")
    }

    /// The same manifest, twice at jobs 1 and twice at jobs 2: equal reports once times and logs
    /// are cleared, equal JSON, equal JUnit without its time attributes, equal tables without times.
    func testDeterministicAcrossRunsAndJobs() throws {
        let a = try check(jobs: 1), b = try check(jobs: 2), c = try check(jobs: 2), d = try check(jobs: 1)
        XCTAssertEqual(a.comparable, b.comparable)
        XCTAssertEqual(b.comparable, c.comparable)
        XCTAssertEqual(a.comparable, d.comparable)
        XCTAssertEqual(try a.comparable.jsonData(), try b.comparable.jsonData())
        func untimed(_ xml: String) -> String {
            xml.replacingOccurrences(of: #"time="[0-9.]+""#, with: #"time="""#, options: .regularExpression)
               .replacingOccurrences(of: #"log:[^<]*"#, with: "", options: .regularExpression)
        }
        XCTAssertEqual(untimed(a.junitXML()), untimed(b.junitXML()))
        XCTAssertEqual(a.table(times: false), b.table(times: false))
        // The printed bounds and counterexamples are the same text.
        XCTAssertEqual(a.results.map(\.message), c.results.map(\.message))
        // And the comparison can fail: a changed answer shows.
        var changed = b
        changed.results[11].bound = (changed.results[11].bound ?? 0) + 1e-12
        XCTAssertNotEqual(a.comparable, changed.comparable)
    }

    /// `--unknown` and `--timeout-policy`: undecided entries fail the run by default (exit 2),
    /// are warnings under warn (exit 0); failures (1) and errors (3) are never waived.
    func testPoliciesAndExitCodes() throws {
        let text = """
        entries:
          - {name: pass, model: ../models/relu_sum.onnx, spec: ../specs/holds.json, expect: holds}
          - {name: undecided, model: ../models/relu_sum.onnx, spec: ../specs/holds.json, expect: holds, method: attack}
        """
        let strict = try check(text)
        XCTAssertEqual(strict.results.map(\.status), [.pass, .unknown])
        XCTAssertEqual(strict.results.map(\.outcome), [.pass, .fail])
        XCTAssertEqual(strict.exitCode, CheckExitCode.undecided)
        let lenient = try check(text, policies: CheckPolicies(unknown: .warn))
        XCTAssertEqual(lenient.results.map(\.outcome), [.pass, .warn])
        XCTAssertEqual(lenient.exitCode, CheckExitCode.passed)
        XCTAssertEqual(lenient.summary.warnings, 1)
        XCTAssertEqual(try check(text, policies: CheckPolicies(timeout: .warn)).exitCode, CheckExitCode.undecided)

        // Precedence over synthetic results: fail > error > undecided > pass.
        func report(_ statuses: [CheckStatus], _ p: CheckPolicies = CheckPolicies()) -> Int32 {
            let rs = statuses.enumerated().map { k, s -> CheckEntryResult in
                var r = CheckEntryResult(index: k, name: "e\(k)", tags: [], model: "m", spec: "s", expect: "holds", method: "auto", timeLimit: 1)
                r.status = s; r.outcome = p.outcome(for: s); return r
            }
            return CheckReport(suite: "s", manifest: "m", selectedTags: nil, policies: p, results: rs, timeSeconds: 0).exitCode
        }
        XCTAssertEqual(report([.pass, .pass]), 0)
        XCTAssertEqual(report([.pass, .timeout]), 2)
        XCTAssertEqual(report([.pass, .timeout], CheckPolicies(timeout: .warn)), 0)
        XCTAssertEqual(report([.unknown], CheckPolicies(timeout: .warn)), 2)
        XCTAssertEqual(report([.timeout, .unknown], CheckPolicies(unknown: .warn, timeout: .warn)), 0)
        XCTAssertEqual(report([.error, .unknown]), 3)
        XCTAssertEqual(report([.error, .unknown], CheckPolicies(unknown: .warn)), 3)
        XCTAssertEqual(report([.error, .fail, .unknown]), 1)
        XCTAssertEqual(report([.pass, .fail], CheckPolicies(unknown: .warn, timeout: .warn)), 1)
    }

    func testTagSelection() throws {
        let r = try check(tags: ["lip"])
        XCTAssertEqual(r.results.map(\.name), ["lipschitz within 2.5", "lipschitz above 1.5", "L2 lipschitz within 1.5", "L2 lipschitz above 1.3"])
        XCTAssertEqual(r.results.map(\.index), [7, 8, 9, 10], "indices stay the manifest's")
        XCTAssertEqual(r.selectedTags, ["lip"])
        XCTAssertThrowsError(try check(tags: ["lipz"])) { e in XCTAssertTrue("\(e)".contains("lipz"), "\(e)") }
        var o = CheckOptions(); o.jobs = 0
        XCTAssertThrowsError(try CheckRunner(manifest: Manifest.parse(text: CheckRunnerTests.mixed, source: "m", format: .yaml), options: o))
    }

    /// Entries run elsewhere (the CLI's child processes) hand back results; the run keeps their
    /// order, recomputes the outcome with its own policies, and reports progress once per start
    /// and once per end.
    func testExecuteSeamAndProgress() throws {
        let path = try fx.manifest("seam.yaml", CheckRunnerTests.mixed)
        var o = CheckOptions(); o.jobs = 3; o.policies = CheckPolicies(unknown: .warn)
        let runner = try CheckRunner(manifest: Manifest.load(path: path), options: o)
        let events = Events()
        let report = runner.run(execute: { k in
            var r = runner.blankResult(at: k)
            r.status = k % 2 == 0 ? .unknown : .pass
            r.outcome = .fail     // recomputed by the run
            r.message = "synthetic \(k)"
            return r
        }, progress: { p in events.add(p) })
        XCTAssertEqual(report.results.map(\.index), Array(0..<22))
        XCTAssertEqual(report.results.map(\.outcome), (0..<22).map { $0 % 2 == 0 ? .warn : .pass })
        XCTAssertEqual(report.exitCode, CheckExitCode.passed)
        let all = events.all
        XCTAssertEqual(all.count, 44)
        XCTAssertEqual(all.last?.finished, 22)
        XCTAssertEqual(all.filter { $0.justFinished != nil }.map(\.finished), Array(1...22))
        XCTAssertTrue(all.allSatisfy { $0.total == 22 && $0.running.count <= 3 })
    }

    // MARK: JUnit

    func testJUnitParsesBackWithOneTestcasePerEntry() throws {
        let report = try check(policies: CheckPolicies(unknown: .warn))
        let doc = try JUnitDocument(xml: report.junitXML())
        XCTAssertEqual(doc.suites.count, 1)
        XCTAssertEqual(doc.rootName, "testsuites")
        XCTAssertEqual(doc.cases.count, 22)
        XCTAssertEqual(doc.cases.map(\.name), report.results.map(\.name))
        XCTAssertEqual(doc.suites.first?["tests"], "22")
        XCTAssertEqual(doc.suites.first?["failures"], "6")
        XCTAssertEqual(doc.suites.first?["errors"], "5")
        XCTAssertEqual(doc.suites.first?["skipped"], "1")
        XCTAssertEqual(doc.cases.filter { $0.failure != nil }.count, 6)
        XCTAssertEqual(doc.cases.filter { $0.error != nil }.count, 5)
        XCTAssertEqual(doc.cases.filter { $0.skipped != nil }.map(\.name), ["attack alone cannot prove"])
        XCTAssertEqual(doc.cases.first?.classname, "fixtures.verify")
        XCTAssertEqual(doc.cases[11].classname, "fixtures")
        let cx = try XCTUnwrap(doc.cases.first { $0.name == "expected to hold but violated" }?.failure)
        XCTAssertTrue(cx.text.contains("(X_0 ") && cx.text.contains("(Y_1 "), cx.text)
        XCTAssertTrue(cx.message.hasPrefix("violated: counterexample"), cx.message)
        let b = try XCTUnwrap(doc.cases.first { $0.name == "margin at least 1.1" }?.failure)
        XCTAssertTrue(b.text.contains("certified bound: "), b.text)
        XCTAssertTrue(doc.cases.allSatisfy { !$0.systemOut.isEmpty })
    }

    /// Names and messages with XML's special characters and control characters still give a
    /// document that parses, with the text intact (control characters written as \u{..}).
    func testJUnitEscapesEverything() throws {
        let nasty = "a<b>&\"c\" 'd' ]]> \u{1}\u{7} é\ttab\nline"
        var r = CheckEntryResult(index: 0, name: nasty, tags: ["t&<"], model: "m<1>.onnx", spec: "s&.vnnlib", expect: "holds",
                                 method: "auto", timeLimit: 1)
        r.status = .fail; r.outcome = .fail; r.message = nasty; r.details = [nasty]
        let report = CheckReport(suite: "s\"<>", manifest: "m&", selectedTags: ["x&"], policies: CheckPolicies(), results: [r], timeSeconds: 1)
        let doc = try JUnitDocument(xml: report.junitXML())
        let expected = "a<b>&\"c\" 'd' ]]> \\u{1}\\u{7} é\ttab\nline"
        XCTAssertEqual(doc.cases.first?.name, expected)
        XCTAssertEqual(doc.cases.first?.classname, "s\"<>.t&<")
        XCTAssertEqual(doc.cases.first?.failure?.message, expected)
        XCTAssertTrue(doc.cases.first?.failure?.text.contains("m<1>.onnx") ?? false)
    }

    /// The JSON report reads back to the same report.
    func testJSONReportRoundTrips() throws {
        let report = try check(tags: ["verify"])
        let back = try CheckReport.decode(json: report.jsonData())
        XCTAssertEqual(back, report)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        XCTAssertEqual(obj["exit_code"] as? Int, 1)
        let first = try XCTUnwrap((obj["results"] as? [[String: Any]])?.first)
        for key in ["index", "name", "status", "outcome", "answer", "method", "decided_by", "time_s", "time_limit_s", "message", "expect", "model", "spec"] {
            XCTAssertNotNil(first[key], key)
        }
    }
}

private final class Events: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [CheckProgress] = []
    func add(_ p: CheckProgress) { lock.lock(); list.append(p); lock.unlock() }
    var all: [CheckProgress] { lock.lock(); defer { lock.unlock() }; return list }
}

/// A JUnit document read back with Foundation's XMLParser (a validating reader: malformed XML fails).
struct JUnitDocument {
    struct Element { var message: String; var type: String; var text: String }
    struct Case {
        var name = "", classname = ""
        var failure: Element?, error: Element?, skipped: Element?
        var systemOut = ""
    }
    var rootName = ""
    var suites: [[String: String]] = []
    var cases: [Case] = []

    init(xml: String) throws {
        let d = Delegate()
        let p = XMLParser(data: Data(xml.utf8))
        p.delegate = d
        guard p.parse() else {
            throw NSError(domain: "JUnit", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "not well-formed XML: \(p.parserError.map { "\($0)" } ?? "?") at line \(p.lineNumber)\n\(xml)"])
        }
        rootName = d.root; suites = d.suites; cases = d.cases
    }

    private final class Delegate: NSObject, XMLParserDelegate {
        var root = "", suites: [[String: String]] = [], cases: [Case] = []
        var current: Case?, element: String?, attrs: [String: String] = [:], text = ""

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            if root.isEmpty { root = name }
            switch name {
            case "testsuite": suites.append(attributes)
            case "testcase": current = Case(name: attributes["name"] ?? "", classname: attributes["classname"] ?? "")
            case "failure", "error", "skipped", "system-out": element = name; attrs = attributes; text = ""
            default: break
            }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if element != nil { text += string } }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            let e = Element(message: attrs["message"] ?? "", type: attrs["type"] ?? "", text: text)
            switch name {
            case "failure": current?.failure = e
            case "error": current?.error = e
            case "skipped": current?.skipped = e
            case "system-out": current?.systemOut = text
            case "testcase": if let c = current { cases.append(c) }; current = nil
            default: break
            }
            if name == element { element = nil }
        }
    }
}
