import XCTest
import Foundation
import Certus
import TestSupport

/// `certus verify --semantics real|float32` end to end on a planted float32-only violation
/// (Tests/Fixtures/float32/cancel_add: (x + 2^24) - 2^24 - x, 0 over the reals, -x in float32).
final class SemanticsCLITests: XCTestCase {
    let model = TestData.repoPath("Tests/Fixtures/float32/cancel_add.onnx")
    let spec = TestData.repoPath("Tests/Fixtures/float32/cancel_add.vnnlib")

    /// real (the default): unsat, the JSON says `real`; float32: sat with the float32 output in
    /// the witness, a comment line naming the semantics, and `semantics: float32` in the JSON.
    func testSemanticsOptionDecidesAndIsReported() throws {
        let real = try TestData.runCertus(["verify", model, spec, "--json"])
        XCTAssertEqual(real.code, 0, real.out + real.err)
        let r = try Certus.jsonDecoder().decode(VerificationResult.self, from: Data(real.out.utf8))
        XCTAssertEqual(r.status, .unsat)
        XCTAssertEqual(r.semantics, .real)
        XCTAssertTrue(real.out.contains("\"semantics\" : \"real\""), real.out)

        let f = try TestData.runCertus(["verify", model, spec, "--semantics", "float32"])
        XCTAssertEqual(f.code, 1, f.out + f.err)
        XCTAssertTrue(f.out.hasPrefix("sat\n(("), f.out)
        XCTAssertTrue(f.out.contains("; semantics: float32"), f.out)
        let (x, y) = try parseVNNCompWitness(text: f.out, source: "stdout")
        let graph = try ModelFile.load(model)
        XCTAssertEqual(try graph.evaluateFirstFloat32(x), y)
        XCTAssertLessThanOrEqual(y[0], -0.0625)
        XCTAssertEqual(try graph.evaluateFirst(x), [0])   // the real-valued network does not violate it

        let fj = try TestData.runCertus(["verify", model, spec, "--semantics", "float32", "--json"])
        let rj = try Certus.jsonDecoder().decode(VerificationResult.self, from: Data(fj.out.utf8))
        XCTAssertEqual(rj.semantics, .float32)
        XCTAssertEqual(rj.status, .sat)

        let bad = try TestData.runCertus(["verify", model, spec, "--semantics", "float16"])
        XCTAssertEqual(bad.code, 64, bad.out + bad.err)
        // MILP refuses float32: never unsat (the attack still finds the violation here).
        let milp = try TestData.runCertus(["verify", model, spec, "--semantics", "float32", "--method", "milp", "--restarts", "0"])
        XCTAssertNotEqual(milp.code, 0, milp.out + milp.err)
    }

    /// `certus run --semantics float32`: the child instances get it (the planted instance is sat)
    /// and the summary names it.
    func testRunPassesSemantics() throws {
        let dir = try TestData.makeTemporaryFolder("certus-sem")
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = dir.appendingPathComponent("instances.csv").path
        try "\(model),\(spec),20\n".write(toFile: csv, atomically: true, encoding: .utf8)
        for (sem, word) in [("real", "unsat"), ("float32", "sat")] {
            let r = try TestData.runCertus(["run", csv, "--semantics", sem])
            XCTAssertEqual(r.code, 0, r.out + r.err)
            XCTAssertTrue(r.out.split(separator: "\n").contains { $0.hasPrefix(word + " ") && $0.hasSuffix(" 1") }, "\(sem): \(r.out)")
            XCTAssertEqual(r.out.contains("semantics"), sem == "float32", r.out)
        }
    }
}
