import XCTest
import Foundation
import Certus
import TestSupport

/// Valid float64 models with huge weights (1e200, 1e300) through `certus verify` with every
/// method: GLPK once aborted the process on their LPs ("glp_set_rii: invalid scale factor",
/// exit 134). Each property below has a violating point, so the right answers are sat or
/// unknown; unsat, a crash or an internal error are wrong. Run through the executable, so an
/// abort fails the test instead of the test run.
final class LPOverflowCLITests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws { tmp = try TestData.makeTemporaryFolder("certus-lpovf") }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    static let methods = ["input-split", "relu-split", "milp", "auto"]

    /// Runs every method on the model and spec; each must end with sat (exit 1) or unknown/timeout
    /// (exit 2). A sat witness must evaluate (in the library) to non-NaN outputs that violate the
    /// property.
    func assertSatOrUnknown(model: String, spec: String, numOutputs: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let graph = try ModelFile.load(model)
        let property = try PropertyLoader.load(path: spec, numOutputs: numOutputs)
        for method in Self.methods {
            let r = try TestData.runCertus(["verify", model, spec, "--method", method, "--timeout", "5", "--json"])
            let what = "\((model as NSString).lastPathComponent) --method \(method)"
            XCTAssertTrue([1, 2].contains(r.code), "\(what): exit \(r.code)\n\(r.err.suffix(1500))", file: file, line: line)
            XCTAssertFalse(r.err.contains("glp_"), "\(what): GLPK message\n\(r.err.suffix(1500))", file: file, line: line)
            guard let obj = try? JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any],
                  let status = obj["status"] as? String else {
                XCTFail("\(what): no JSON result: \(r.out.prefix(500))", file: file, line: line)
                continue
            }
            XCTAssertTrue(["sat", "unknown", "timeout"].contains(status), "\(what): \(status)", file: file, line: line)
            if status == "sat", let cx = obj["counterexample"] as? [String: Any], let x = cx["x"] as? [Double] {
                let y = try graph.evaluateFirst(x)
                XCTAssertFalse(y.contains { $0.isNaN }, "\(what): witness output \(y)", file: file, line: line)
                XCTAssertNotNil(property.violatingClause(x: x, y: y), "\(what): witness \(x) gives \(y)", file: file, line: line)
            }
        }
    }

    /// The shared overflow case: W1 holds 1e300, W2 ±1e10 (y >= 0.05 is reached, e.g. near x = (0, 1)).
    func testSharedOverflowModelEveryMethod() throws {
        let dir = TestData.sharedPath("cases/soundness")
        try assertSatOrUnknown(model: dir + "/overflow64.onnx", spec: dir + "/overflow64_sat_needle.vnnlib", numOutputs: 1)
    }

    /// Built here: x (n inputs) -> Gemm(W1, b1) -> Relu -> Gemm(W2, b2), float64, with
    /// z0 = 1e200 (x0 + x1), z1 = 1e200 (x1 - x0), z2 = 0.1 * sum(x) - 0.3 and
    /// y = 1e200 relu(z0) - 1e200 relu(z1) + relu(z2).
    /// n = 2, y >= 0.5: at x = (1e-250, 0) y = 1e150. n = 24, y <= -1e300: at x0 = -2e-100 and the
    /// other inputs 0, y = -2e300 (the model that made the default method abort).
    func testHugeWeightModelsBuiltHereEveryMethod() throws {
        for (n, atom) in [(2, "(>= Y_0 0.5)"), (24, "(<= Y_0 -1e300)")] {
            var w1 = [Double](repeating: 0, count: n * 3)   // n x 3, row-major
            w1[0 * 3 + 0] = 1e200; w1[1 * 3 + 0] = 1e200
            w1[0 * 3 + 1] = -1e200; w1[1 * 3 + 1] = 1e200
            for i in 0..<n { w1[i * 3 + 2] = 0.1 }
            let b = SmallONNX(elemType: 11)
            let m = b.model(inputs: n, outputs: 1, initializers: [
                b.tensor("W1", [Int64(n), 3], w1), b.tensor("b1", [3], [0, 0, -0.3]),
                b.tensor("W2", [3, 1], [1e200, -1e200, 1]), b.tensor("b2", [1], [0]),
            ], nodes: [b.node("Gemm", ["x", "W1", "b1"], "z"), b.node("Relu", ["z"], "h"), b.node("Gemm", ["h", "W2", "b2"], "y")])
            let path = tmp.appendingPathComponent("huge\(n).onnx").path
            try m.serializedData().write(to: URL(fileURLWithPath: path))
            var spec = (0..<n).map { "(declare-const X_\($0) Real)\n" }.joined() + "(declare-const Y_0 Real)\n"
            for i in 0..<n { spec += "(assert (>= X_\(i) -1.0))\n(assert (<= X_\(i) 1.0))\n" }
            spec += "(assert \(atom))\n"
            let specPath = tmp.appendingPathComponent("huge\(n).vnnlib").path
            try spec.write(toFile: specPath, atomically: true, encoding: .utf8)
            // The violating points named above, evaluated by the library.
            let graph = try ModelFile.load(path)
            var x = [Double](repeating: 0, count: n)
            if n == 2 { x[0] = 1e-250 } else { x[0] = -2e-100 }
            let y = try graph.evaluateFirst(x)[0]
            XCTAssertEqual(y, n == 2 ? 1e150 : -2e300, accuracy: n == 2 ? 1e136 : 1e286)
            try assertSatOrUnknown(model: path, spec: specPath, numOutputs: 1)
        }
    }
}
