import XCTest
import Foundation
import Certus
import TestSupport
@testable import certus

/// Non-finite numbers, bad models and the shared soundness cases through the `certus`
/// executable: every `--json` output is valid JSON (non-finite numbers as "inf", "-inf", "nan"),
/// and no error ends with 0 or 1 (1 means sat).
final class NonFiniteCLITests: XCTestCase {
    let cases = TestData.sharedPath("cases/soundness")

    /// JSON as the CLI writes it, decoded back with the same convention.
    func decode<T: Decodable>(_ type: T.Type, _ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> T {
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try dec.decode(T.self, from: Data(text.utf8))
    }

    /// The text a non-finite number must have in JSON, or the number itself.
    func jsonForm(_ v: Double) -> String { v.isNaN ? "nan" : v == .infinity ? "inf" : v == -.infinity ? "-inf" : "\(v)" }

    /// inf_weight.onnx evaluates (exit 0) and its JSON writes the infinite output as "inf"
    /// (onnxruntime gives [[inf]] at (0.5, 0.5)).
    func testInfiniteWeightEvaluatesToValidJSON() throws {
        let r = try TestData.runCertus(["eval", "\(cases)/inf_weight.onnx", "--input", "0.5,0.5", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        let values = ((obj?["outputs"] as? [[String: Any]])?.first?["values"] as? [Any]) ?? []
        XCTAssertEqual(values.count, 1)
        XCTAssertEqual(values.first as? String, "inf")
    }

    /// nan_weight.onnx is refused at load (exit 3, the tensor named, nothing on stdout), with
    /// and without --json, by every command that loads a model.
    func testNaNWeightIsBadInput() throws {
        for file in ["nan_weight.onnx"] {
            let model = "\(cases)/\(file)"
            for args in [["eval", model, "--input", "0.5,0.5", "--json"], ["eval", model, "--input", "0.5,0.5"],
                         ["inspect", model, "--json"], ["bounds", model, "\(cases)/c15_subulp_box.vnnlib", "--json"]] {
                let r = try TestData.runCertus(args)
                XCTAssertEqual(r.code, 3, "\(args): \(r.err)")
                XCTAssertTrue(r.err.contains(file) && r.err.contains("tensor 'W1'") && r.err.contains("non-finite"), r.err)
                XCTAssertTrue(r.out.isEmpty, r.out)
            }
        }
    }

    /// A valid float64 model whose evaluation overflows: the JSON holds the same non-finite value
    /// the library computes, written as a string; the text output uses the same words.
    func testEvalOverflowWritesNonFiniteValuesAsStrings() throws {
        let model = "\(cases)/overflow64.onnx"
        let graph = try ModelFile.load(model)
        var seen = Set<String>()
        for x in [[0.5, 0.5], [-0.5, 0.5], [1e-300, 0.25], [0.0, 1.0]] {
            let arg = x.map { "\($0)" }.joined(separator: ",")
            let expected = try graph.evaluateFirst(x)
            let r = try TestData.runCertus(["eval", model, "--input", arg, "--json"])
            XCTAssertEqual(r.code, 0, r.err)
            let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
            let values = ((obj?["outputs"] as? [[String: Any]])?.first?["values"] as? [Any]) ?? []
            XCTAssertEqual(values.count, expected.count)
            for (v, e) in zip(values, expected) where !e.isFinite {
                XCTAssertEqual(v as? String, jsonForm(e), "\(x)")
                seen.insert(jsonForm(e))
            }
            // JSONDecoder reads decimals exactly (JSONSerialization on Linux may be off by an ulp).
            struct Eval: Decodable { struct Out: Decodable { var values: [Double] }; var outputs: [Out] }
            let decoded = try decode(Eval.self, r.out).outputs[0].values
            XCTAssertEqual(decoded.map(jsonForm), expected.map(jsonForm), "\(x)")
            let t = try TestData.runCertus(["eval", model, "--input", arg])
            XCTAssertEqual(t.code, 0, t.err)
            XCTAssertEqual(t.out, "y [1, 1]: " + expected.map(jsonForm).joined(separator: " ") + "\n")
        }
        XCTAssertFalse(seen.isEmpty, "some input must overflow")
    }

    struct BoundsReport: Decodable {
        struct Row: Decodable { var lower: Double; var upper: Double }
        var rows: [Row]; var property_lower: Double; var verified: Bool
    }

    /// The bounds of a model that overflows are written as JSON (infinite bounds as strings) and
    /// the property, which has a counterexample, is not verified.
    func testBoundsOverflowWritesValidJSON() throws {
        for method in ["ibp", "crown", "alpha-crown"] {
            let r = try TestData.runCertus(["bounds", "\(cases)/overflow64.onnx", "\(cases)/overflow64_sat_needle.vnnlib",
                                            "--method", method, "--json"])
            XCTAssertEqual(r.code, 0, "\(method): \(r.err)")
            let rep = try decode(BoundsReport.self, r.out)
            XCTAssertFalse(rep.verified, method)
            XCTAssertEqual(rep.rows.count, 1, method)
            XCTAssertFalse(rep.rows[0].lower > 0, "\(method): \(rep.rows[0])")
            XCTAssertTrue(r.out.contains("\"-inf\""), "\(method): \(r.out)")
        }
    }

    /// The other shared parsing cases read through the CLI: a spec with a byte-order mark, and the
    /// static Shape pattern (evaluated like onnxruntime).
    func testByteOrderMarkAndShapePatternThroughCLI() throws {
        let b = try TestData.runCertus(["bounds", "\(cases)/identity3.onnx", "\(cases)/j_bom.vnnlib", "--method", "ibp", "--json"])
        XCTAssertEqual(b.code, 0, b.err)
        XCTAssertTrue(b.err.isEmpty, b.err)
        XCTAssertEqual(try decode(BoundsReport.self, b.out).rows.count, 3)

        struct Ref: Decodable { struct Case: Decodable { var input: [Double]; var output: [Double] }; var cases: [Case] }
        let ref = try JSONDecoder().decode(Ref.self, from: Data(contentsOf: URL(fileURLWithPath:
            TestData.repoPath("Tests/Fixtures/static_shape/n_shape_gather_concat.eval_ref.json"))))
        struct Eval: Decodable { struct Out: Decodable { var values: [Double] }; var outputs: [Out] }
        for c in ref.cases.prefix(3) {
            let r = try TestData.runCertus(["eval", "\(cases)/n_shape_gather_concat.onnx", "--input",
                                            c.input.map { "\($0)" }.joined(separator: ","), "--json"])
            XCTAssertEqual(r.code, 0, r.err)
            let y = try decode(Eval.self, r.out).outputs[0].values
            XCTAssertEqual(y.count, c.output.count)
            for (a, e) in zip(y, c.output) { XCTAssertTrue(TestData.close(a, e, rel: 1e-5), "\(a) vs onnxruntime \(e)") }
        }
    }

    /// Every shared case through every command that prints JSON: an exit code in the documented
    /// set (bounds: 0 for every spec that fits a loadable model, 3 otherwise), and whenever the code
    /// is not an error (0, 1, 2) a stdout that parses as JSON.
    func testEveryJSONCommandOnTheSharedCases() throws {
        let models = try FileManager.default.contentsOfDirectory(atPath: cases).filter { $0.hasSuffix(".onnx") }.sorted()
        let specs = try FileManager.default.contentsOfDirectory(atPath: cases)
            .filter { $0.hasSuffix(".vnnlib") || $0.hasSuffix(".json") }.sorted()
        XCTAssertGreaterThanOrEqual(models.count, 10)
        var runs = 0
        func check(_ args: [String], allowed: Set<Int32>) throws {
            let r = try TestData.runCertus(args)
            runs += 1
            XCTAssertTrue(allowed.contains(r.code), "\(args.joined(separator: " ")): exit \(r.code), \(r.err)")
            if r.code <= 2 {
                XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(r.out.utf8)), "\(args): \(r.out)")
            } else {
                XCTAssertTrue(r.out.isEmpty && r.err.hasPrefix("error: "), "\(args): \(r.out) \(r.err)")
                XCTAssertFalse(r.err.unicodeScalars.contains { $0.properties.generalCategory == .format }, r.err)
            }
        }
        for m in models {
            let path = "\(cases)/\(m)"
            try check(["inspect", path, "--json"], allowed: [0, 3])
            let n = (try? ModelFile.load(path))?.inputCount ?? 2
            try check(["eval", path, "--input", Array(repeating: "0.5", count: n).joined(separator: ","), "--json"], allowed: [0, 3])
            // bounds with every spec that fits the model (the library decides which), and one that does not.
            let graph = try? ModelFile.load(path)
            let fitting = specs.filter { s in
                guard let g = graph, let p = try? PropertyLoader.load(path: "\(cases)/\(s)", numOutputs: g.outputCount) else { return false }
                return (try? p.validate(modelInputs: g.inputCount, modelOutputs: g.outputCount)) != nil
            }
            for s in fitting {
                try check(["bounds", path, "\(cases)/\(s)", "--method", "crown", "--json"], allowed: [0])
            }
            if let misfit = specs.first(where: { !fitting.contains($0) }) {
                try check(["bounds", path, "\(cases)/\(misfit)", "--method", "crown", "--json"], allowed: [3])
            }
        }
        XCTAssertGreaterThan(runs, 40)
    }

    /// Unexpected errors are internal errors (70), never 0 or 1; input problems are 3.
    func testErrorClassification() {
        XCTAssertEqual(Failure.classify(ModelError(.io, file: "m.onnx", "no such file")).code, 3)
        XCTAssertEqual(Failure.classify(SpecError(kind: .syntax, file: "s.vnnlib", message: "x")).code, 3)
        XCTAssertEqual(Failure.classify(CLIError("cannot write")).code, 3)
        let encoding = EncodingError.invalidValue(Double.nan, .init(codingPath: [], debugDescription: "NaN"))
        let internalError = Failure.classify(encoding)
        XCTAssertEqual(internalError.code, 70)
        XCTAssertTrue(internalError.message.hasPrefix("internal error: "), internalError.message)
        XCTAssertEqual(Failure.classify(LPError(.tooLarge, "too many variables")).code, 70)
        for code: Int32 in [Exit.badInput, Exit.internalError] { XCTAssertFalse([0, 1, 2].contains(code)) }
        // The shared encoder writes every non-finite number.
        let data = try? JSONOutput.encoder().encode([1, .infinity, -.infinity, .nan] as [Double])
        XCTAssertEqual(data.map { String(decoding: $0, as: UTF8.self).filter { !$0.isWhitespace } }, "[1,\"inf\",\"-inf\",\"nan\"]")
    }
}
