import XCTest
import Foundation
import Certus
import TestSupport

/// `certus verify` and `certus run` end to end: output format, result file, JSON, exit codes.
final class VerifyCLITests: XCTestCase {
    let tiny = TestData.sharedPath("benchmarks/tiny")
    var tmp: URL!

    override func setUpWithError() throws { tmp = try TestData.makeTemporaryFolder("certus-verify") }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// sat: exit 1, first line "sat", then a witness that parses back to a real counterexample;
    /// --result-file holds exactly the printed text.
    func testVerifySatPrintsWitnessAndWritesResultFile() throws {
        let model = TestData.repoPath("Models/acasxu_1_7.onnx"), spec = TestData.repoPath("Specs/acasxu_prop_3.vnnlib")
        let resultFile = tmp.appendingPathComponent("result.txt").path
        let r = try TestData.runCertus(["verify", model, spec, "--result-file", resultFile])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.out.hasPrefix("sat\n(("), r.out)
        XCTAssertEqual(try String(contentsOfFile: resultFile, encoding: .utf8), r.out)
        let (x, y) = try parseVNNCompWitness(text: r.out, source: "stdout")
        XCTAssertEqual(x.count, 5)
        XCTAssertEqual(y.count, 5)
        let graph = try ModelFile.load(model)
        let property = try PropertyLoader.load(path: spec, numOutputs: 5)
        for v in x { XCTAssertEqual(Double(Float(v)), v) }
        XCTAssertEqual(try graph.evaluateFirst(x), y)
        XCTAssertNotNil(property.violatingClause(x: x, y: y))
        XCTAssertEqual(r.out.split(separator: "\n").count, 1 + 5 + 5)
    }

    func testVerifyJSONFields() throws {
        let r = try TestData.runCertus(["verify", tiny + "/test_sat.onnx", tiny + "/test_prop.vnnlib", "--json", "--seed", "3"])
        XCTAssertEqual(r.code, 1, r.err)
        struct Out: Decodable {
            struct CX: Decodable { var x: [Double]; var y: [Double]; var case_index: Int; var clause_index: Int }
            var status: String; var counterexample: CX?; var time_s: Double; var method: String; var details: [String]
        }
        let o = try JSONDecoder().decode(Out.self, from: Data(r.out.utf8))
        XCTAssertEqual(o.status, "sat")
        XCTAssertEqual(o.method, "attack")
        XCTAssertGreaterThanOrEqual(o.time_s, 0)
        let cx = try XCTUnwrap(o.counterexample)
        let graph = try ModelFile.load(tiny + "/test_sat.onnx")
        XCTAssertEqual(try graph.evaluateFirst(cx.x), cx.y)
        let property = try PropertyLoader.load(path: tiny + "/test_prop.vnnlib", numOutputs: 5)
        XCTAssertTrue(property.cases[cx.case_index].clauses[cx.clause_index].isSatisfied(by: cx.y))

        // A property that holds (Y = 24X + 54.5 <= 78.5 < 100): bounds prove it.
        let u = try TestData.runCertus(["verify", tiny + "/test_small.onnx", tiny + "/test_small.vnnlib", "--json", "--restarts", "2"])
        XCTAssertEqual(u.code, 0, u.err)
        let uo = try JSONDecoder().decode(Out.self, from: Data(u.out.utf8))
        XCTAssertEqual(uo.status, "unsat")
        XCTAssertEqual(uo.method, "crown")
        XCTAssertNil(uo.counterexample)
        XCTAssertFalse(uo.details.isEmpty)
    }

    /// unsat: exit 0 and the single word (also in the result file); unknown: exit 2.
    func testVerifyUnsatAndUnknownExitCodes() throws {
        let resultFile = tmp.appendingPathComponent("r.txt").path
        let r = try TestData.runCertus(["verify", tiny + "/test_tiny.onnx", tiny + "/test_tiny.vnnlib", "--result-file", resultFile])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(r.out, "unsat\n")
        XCTAssertEqual(try String(contentsOfFile: resultFile, encoding: .utf8), "unsat\n")
        // A JSON robustness spec works too (bundled tanh model, spec a holds; alpha-CROWN proves it).
        let j = try TestData.runCertus(["verify", TestData.repoPath("Models/mlp_tanh.onnx"), TestData.repoPath("Specs/mlp_tanh_a.json"), "--restarts", "3"])
        XCTAssertEqual(j.code, 0, j.err)
        XCTAssertEqual(j.out, "unsat\n")
        // zoo mlp_tanh/b holds (input splitting proves it) but neither the attack nor alpha-CROWN decides it.
        let zoo = TestData.sharedPath("reference/zoo/mlp_tanh")
        let u = try TestData.runCertus(["verify", zoo + "/model.onnx", zoo + "/b.json", "--restarts", "3", "--method", "alpha-crown"])
        XCTAssertEqual(u.code, 2, u.err)
        XCTAssertEqual(u.out, "unknown\n")
    }

    /// `--method`: every value parses; auto and input-split prove zoo mlp_tanh/b (input splitting),
    /// and so does bab (GenBaB's branching on the Tanh neurons; relu-split is its old name);
    /// attack, alpha-crown and the ReLU-only milp (a Tanh net) cannot; an
    /// unknown value is a usage error. The progress line stays silent when stderr is not a terminal.
    func testMethodOption() throws {
        let zoo = TestData.sharedPath("reference/zoo/mlp_tanh")
        let args = ["verify", zoo + "/model.onnx", zoo + "/b.vnnlib", "--restarts", "2", "--timeout", "30"]
        struct Out: Decodable { var status: String; var method: String }
        for (method, status, decidedBy) in [("auto", "unsat", "input-split"), ("input-split", "unsat", "input-split"),
                                            ("bab", "unsat", "bab"), ("relu-split", "unsat", "bab"),
                                            ("attack", "unknown", "none"), ("crown", "unknown", "none"), ("alpha-crown", "unknown", "none")] {
            let r = try TestData.runCertus(args + ["--method", method, "--json"])
            XCTAssertEqual(r.code, status == "unsat" ? 0 : 2, "\(method): \(r.err)")
            let o = try JSONDecoder().decode(Out.self, from: Data(r.out.utf8))
            XCTAssertEqual(o.status, status, method)
            XCTAssertEqual(o.method, decidedBy, method)
            XCTAssertTrue(r.err.isEmpty, "\(method): stderr not silent: \(r.err)")
        }
        // Text mode, stderr a pipe: still no progress line.
        let t = try TestData.runCertus(args + ["--method", "input-split"])
        XCTAssertEqual(t.code, 0, t.err)
        XCTAssertEqual(t.out, "unsat\n")
        XCTAssertFalse(t.err.contains("open") || t.err.contains("\r"), t.err)
        for method in ["milp"] {
            let r = try TestData.runCertus(args + ["--method", method])
            XCTAssertEqual(r.code, 2, r.err)
            XCTAssertEqual(r.out, "unknown\n")
        }
        let bad = try TestData.runCertus(args + ["--method", "magic"])
        XCTAssertEqual(bad.code, 64, bad.err)
        // run takes --method too.
        let run = try TestData.runCertus(["run", tiny + "/instances.csv", "--expected", tiny + "/expected.csv",
                                          "--timeout-scale", "0.1", "--restarts", "2", "--method", "input-split"])
        XCTAssertEqual(run.code, 0, run.err)
        XCTAssertTrue(run.out.split(separator: "\n").contains { $0.hasPrefix("correct ") && $0.hasSuffix(" 5") }, run.out)
        XCTAssertFalse(run.err.contains("open,"), run.err)
    }

    func testVerifyBadInputExitCode3() throws {
        let bad = tmp.appendingPathComponent("bad.vnnlib").path
        try "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= Y_0 oops))\n"
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try TestData.runCertus(["verify", tiny + "/test_nano.onnx", bad])
        XCTAssertEqual(r.code, 3)
        XCTAssertTrue(r.err.contains("bad.vnnlib:5:17:"), r.err)
        XCTAssertTrue(r.out.isEmpty, r.out)

        let mismatch = try TestData.runCertus(["verify", tiny + "/test_nano.onnx", tiny + "/test_prop.vnnlib"])
        XCTAssertEqual(mismatch.code, 3)
        XCTAssertTrue(mismatch.err.contains("test_prop.vnnlib") && mismatch.err.contains("output"), mismatch.err)

        let missing = try TestData.runCertus(["verify", tmp.appendingPathComponent("none.onnx").path, tiny + "/test_nano.vnnlib"])
        XCTAssertEqual(missing.code, 3)
        XCTAssertTrue(missing.err.contains("none.onnx"), missing.err)

        let usage = try TestData.runCertus(["verify", tiny + "/test_nano.onnx", tiny + "/test_nano.vnnlib", "--timeout", "-1"])
        XCTAssertEqual(usage.code, 64)
    }

    /// `certus run` over the tiny benchmark with its expected answers.
    func testRunTinyWithExpected() throws {
        let jsonOut = tmp.appendingPathComponent("records.json").path
        let r = try TestData.runCertus(["run", tiny + "/instances.csv", "--expected", tiny + "/expected.csv",
                                        "--timeout-scale", "0.1", "--restarts", "2", "--json-out", jsonOut])
        XCTAssertEqual(r.code, 0, r.err)
        func count(_ key: String) -> Int? {
            for line in r.out.split(separator: "\n") where line.hasPrefix(key + " ") {
                return Int(line.split(separator: " ").last ?? "")
            }
            return nil
        }
        XCTAssertEqual(count("instances"), 5, r.out)
        XCTAssertEqual(count("sat"), 1, r.out)
        XCTAssertEqual(count("unsat"), 4, r.out)
        XCTAssertEqual(count("unknown"), 0, r.out)
        XCTAssertEqual(count("correct"), 5, r.out)
        XCTAssertEqual(count("wrong"), 0, r.out)
        XCTAssertEqual(count("unsolved"), 0, r.out)
        XCTAssertTrue(r.out.contains("median time (s)"), r.out)
        // Progress: one line per instance on stderr.
        let progress = r.err.split(separator: "\n").filter { $0.hasPrefix("[") }
        XCTAssertEqual(progress.count, 5, r.err)
        XCTAssertTrue(progress[3].contains("test_sat.onnx test_prop.vnnlib: sat"), r.err)

        struct Rec: Decodable { var onnx: String; var vnnlib: String; var status: String; var time_s: Double; var expected: String? }
        let recs = try JSONDecoder().decode([Rec].self, from: Data(contentsOf: URL(fileURLWithPath: jsonOut)))
        XCTAssertEqual(recs.map(\.onnx), ["test_nano.onnx", "test_tiny.onnx", "test_small.onnx", "test_sat.onnx", "test_unsat.onnx"])
        XCTAssertEqual(recs.map(\.status), ["unsat", "unsat", "unsat", "sat", "unsat"])
        XCTAssertEqual(recs.map { $0.expected ?? "-" }, ["unsat", "unsat", "unsat", "sat", "unsat"])
        XCTAssertTrue(recs.allSatisfy { $0.time_s >= 0 })
    }

    /// A wrong expectation makes the run exit 1; a bad list exits 3 with the line number.
    func testRunWrongAndBadInput() throws {
        let list = tmp.appendingPathComponent("list.csv").path, expected = tmp.appendingPathComponent("expected.csv").path
        try "\(tiny)/test_sat.onnx,\(tiny)/test_prop.vnnlib,5\n".write(toFile: list, atomically: true, encoding: .utf8)
        try "\(tiny)/test_sat.onnx,\(tiny)/test_prop.vnnlib,unsat\n".write(toFile: expected, atomically: true, encoding: .utf8)
        let w = try TestData.runCertus(["run", list, "--expected", expected])
        XCTAssertEqual(w.code, 1, w.err)
        XCTAssertTrue(w.out.split(separator: "\n").contains { $0.hasPrefix("wrong ") && $0.hasSuffix(" 1") }, w.out)
        XCTAssertTrue(w.err.contains("WRONG"), w.err)

        try "onnx,vnnlib,timeout\n\nfoo.onnx,bar.vnnlib\n".write(toFile: list, atomically: true, encoding: .utf8)
        let b = try TestData.runCertus(["run", list])
        XCTAssertEqual(b.code, 3)
        XCTAssertTrue(b.err.contains("list.csv:3:"), b.err)

        try "missing.onnx,test_prop.vnnlib,5\n".write(toFile: list, atomically: true, encoding: .utf8)
        let m = try TestData.runCertus(["run", list])
        XCTAssertEqual(m.code, 3)
        XCTAssertTrue(m.err.contains("missing.onnx"), m.err)
    }
}
