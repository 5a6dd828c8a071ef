import XCTest
import Foundation
import Certus
import TestSupport

/// Shared helpers: loading benchmark instances and re-checking counterexamples independently
/// of `CounterexampleCheck` (plain box membership, float32-ness and `Clause.isSatisfied`).
enum VerifyTestData {
    static func problem(_ model: String, _ spec: String) throws -> VerificationProblem {
        try VerificationProblem.load(model: TestData.sharedPath(model), spec: TestData.sharedPath(spec))
    }

    /// A zoo spec's recorded answer and exact clause minima (`reference/zoo/M/S.ref.json`).
    struct ExactRef: Decodable {
        struct Row: Decodable { var j: Int; var min: Double }
        struct Exact: Decodable { var rows: [Row] }
        var status: String
        var exact: Exact
    }

    /// Zoo model `model`'s spec `spec` as a problem, with its reference.
    static func zoo(_ model: String, _ spec: String) throws -> (VerificationProblem, ExactRef) {
        let p = try problem("reference/zoo/\(model)/model.onnx", "reference/zoo/\(model)/\(spec).vnnlib")
        let data = try Data(contentsOf: URL(fileURLWithPath: TestData.sharedPath("reference/zoo/\(model)/\(spec).ref.json")))
        return (p, try JSONDecoder().decode(ExactRef.self, from: data))
    }

    /// Expected answers of a benchmark folder, keyed "onnx,vnnlib".
    static func expected(_ folder: String) throws -> [String: String] {
        let text = try String(contentsOfFile: TestData.sharedPath("benchmarks/\(folder)/expected.csv"), encoding: .utf8)
        var out: [String: String] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",").map(String.init)
            if f.count == 3 { out[f[0] + "," + f[1]] = f[2] }
        }
        return out
    }

    /// Settings small enough for a debug build, for instances where the attack must fail.
    static var quickSettings: VerifierSettings {
        var s = VerifierSettings()
        s.timeout = 30
        s.attackRestarts = 3
        s.attackSteps = 30
        s.randomSamples = 64
        return s
    }

    /// Names of the zoo models (folders under reference/zoo holding a model.onnx).
    static var zooModels: [String] {
        let dir = TestData.sharedPath("reference/zoo")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: dir + "/" + $0 + "/model.onnx") }.sorted()
    }

    /// The zoo's recorded status of a spec ("sat", "unsat", "unknown").
    static func zooStatus(_ model: String, _ spec: String) throws -> String {
        struct Ref: Decodable { var status: String }
        let data = try Data(contentsOf: URL(fileURLWithPath: TestData.sharedPath("reference/zoo/\(model)/\(spec).ref.json")))
        return try JSONDecoder().decode(Ref.self, from: data).status
    }
}

/// Asserts that `result` is `sat` with a counterexample that really is one: every x a float32
/// inside the box of its case, y = model(x) (re-evaluated here), every atom of the clause holding
/// strictly, and the VNN-COMP witness text parsing back to the same numbers.
func assertCheckedCounterexample(_ result: VerificationResult, _ problem: VerificationProblem,
                                 _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(result.status, .sat, "\(name): \(result.details)", file: file, line: line)
    guard let cx = result.counterexample else { return XCTFail("\(name): no counterexample", file: file, line: line) }
    XCTAssertEqual(result.method, "attack", file: file, line: line)
    let p = problem.property
    XCTAssertTrue(p.cases.indices.contains(cx.caseIndex), file: file, line: line)
    guard p.cases.indices.contains(cx.caseIndex) else { return }
    let pc = p.cases[cx.caseIndex]
    XCTAssertEqual(cx.x.count, p.numInputs, file: file, line: line)
    for (i, v) in cx.x.enumerated() {
        XCTAssertEqual(Double(Float(v)), v, "\(name): X_\(i) = \(v) is not a float32", file: file, line: line)
        XCTAssertTrue(pc.box.lower[i] <= v && v <= pc.box.upper[i], "\(name): X_\(i) = \(v) outside [\(pc.box.lower[i]), \(pc.box.upper[i])]", file: file, line: line)
    }
    let y = try problem.graph.evaluateFirst(cx.x)
    XCTAssertEqual(y, cx.y, "\(name): reported y differs from model(x)", file: file, line: line)
    XCTAssertTrue(pc.clauses.indices.contains(cx.clauseIndex), file: file, line: line)
    guard pc.clauses.indices.contains(cx.clauseIndex) else { return }
    for atom in pc.clauses[cx.clauseIndex].atoms {
        let s = atom.slack(y) ?? .nan
        XCTAssertTrue(s < 0, "\(name): atom slack \(s) is not negative", file: file, line: line)
    }
    XCTAssertNotNil(p.violatingClause(x: cx.x, y: y), file: file, line: line)
    let text = result.resultText
    XCTAssertTrue(text.hasPrefix("sat\n("), file: file, line: line)
    let parsed = try parseVNNCompWitness(text: text, source: name)
    XCTAssertEqual(parsed.x, cx.x, file: file, line: line)
    XCTAssertEqual(parsed.y, y, file: file, line: line)
}
