import XCTest
import Foundation
import Certus
import TestSupport
@testable import CertusONNX

/// A folder of operator fixtures written by the scripts/make_*_fixtures.py generators: NAME.onnx
/// beside NAME.eval_ref.json (onnxruntime's outputs on nine random inputs), shared by
/// OpsFixtureTests, PiecewiseOpsFixtureTests and SmoothOpsTests.
struct OpsFixtureFolder {
    struct EvalRef: Decodable {
        struct Case: Decodable { var input: [Double]; var output: [Double] }
        var cases: [Case]
    }

    /// The folder's absolute path.
    let path: String

    /// `relative` to the repository root, e.g. "Tests/Fixtures/ops".
    init(_ relative: String) { path = TestData.repoPath(relative) }

    /// The fixtures directly in the folder, sorted.
    var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { $0.hasSuffix(".onnx") }.map { String($0.dropLast(5)) }.sorted()
    }

    func model(_ name: String) throws -> Graph { try ModelFile.load("\(path)/\(name).onnx") }

    func reference(_ name: String) throws -> EvalRef {
        try JSONDecoder().decode(EvalRef.self, from: Data(contentsOf: URL(fileURLWithPath: "\(path)/\(name).eval_ref.json")))
    }

    /// Evaluation of fixture `name` equals onnxruntime's to 1e-6 (relative above 1) with float32
    /// storage between operators, and (when `inDouble`) to 1e-5 in Double; nine cases.
    /// - Returns: the number of distinct reference output values (how much the cases exercise it).
    @discardableResult
    func assertEvaluationMatches(_ name: String, inDouble: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let graph = try model(name)
        let ref = try reference(name)
        XCTAssertEqual(ref.cases.count, 9, name, file: file, line: line)
        var distinct = Set<Double>()
        for c in ref.cases {
            let y32 = try graph.evaluateFirstFloat32(c.input)
            let y = try graph.evaluateFirst(c.input)
            XCTAssertEqual(y32.count, c.output.count, name, file: file, line: line)
            for (k, (a, b)) in zip(y32, c.output).enumerated() {
                XCTAssertLessThanOrEqual(abs(a - b), 1e-6 * max(1, abs(b)), "\(name)[\(k)]: certus \(a) vs onnxruntime \(b)", file: file, line: line)
                if inDouble {
                    XCTAssertLessThanOrEqual(abs(y[k] - b), 1e-5 * max(1, abs(b)), "\(name)[\(k)] (Double): certus \(y[k]) vs onnxruntime \(b)",
                                             file: file, line: line)
                }
                distinct.insert(b)
            }
        }
        return distinct.count
    }

    /// Every row of `rows` (one per output, in order) is finite, ordered, and contains the outputs
    /// of `graph` at `samples` points of `box` (its two extreme corners first), up to 1e-9 relative.
    static func assertRowsContainSamples(_ rows: [RowBound], graph: Graph, box: InputBox, samples: Int = 300,
                                         rng: inout SplitMix64, label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for r in rows { XCTAssertTrue(r.lower.isFinite && r.upper.isFinite && r.lower <= r.upper, "\(label): \(r)", file: file, line: line) }
        for s in 0..<samples {
            let x = box.lower.indices.map { j -> Double in
                s < 2 ? (s == 0 ? box.lower[j] : box.upper[j]) : Double.random(in: box.lower[j]...box.upper[j], using: &rng)
            }
            let y = try graph.evaluateFirst(x)
            for (i, r) in rows.enumerated() {
                let slack = 1e-9 * max(1, abs(y[i]))
                XCTAssertTrue(r.lower - slack <= y[i] && y[i] <= r.upper + slack,
                              "\(label): output \(i) = \(y[i]) outside [\(r.lower), \(r.upper)]", file: file, line: line)
            }
        }
    }

    /// One row per output, y_i (of `m` outputs), for bounding every output alone.
    static func unitRows(_ m: Int) -> [LinearAtom] {
        (0..<m).map { i in LinearAtom(c: (0..<m).map { $0 == i ? 1 : 0 }, d: 0) }
    }

    /// `backward` (the J^T the bound engine's affine path uses) agrees with central finite
    /// differences (step 1e-6) of the evaluation, to `tolerance` relative above 1, for a random
    /// output weighting at fixture `name`'s first input.
    func assertGradientMatchesFiniteDifferences(_ name: String, tolerance: Double, rng: inout SplitMix64,
                                                file: StaticString = #filePath, line: UInt = #line) throws {
        let graph = try model(name)
        let x = try reference(name).cases[0].input
        let w = (0..<graph.outputCount).map { _ in Double.random(in: -1...1, using: &rng) }
        let (_, dx) = try graph.gradient(at: x, outputWeights: w)
        let h = 1e-6
        for j in x.indices {
            var xp = x, xm = x
            xp[j] += h; xm[j] -= h
            let fp = zip(w, try graph.evaluateFirst(xp)).map { $0 * $1 }.reduce(0, +)
            let fm = zip(w, try graph.evaluateFirst(xm)).map { $0 * $1 }.reduce(0, +)
            let fd = (fp - fm) / (2 * h)
            XCTAssertEqual(dx[j], fd, accuracy: tolerance * max(1, abs(fd)), "\(name): d/dx[\(j)]", file: file, line: line)
        }
    }
}
