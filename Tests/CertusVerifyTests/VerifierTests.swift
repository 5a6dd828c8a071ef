import XCTest
import Foundation
import Certus
import TestSupport

/// A scripted prover for testing the seam.
struct ScriptedProver: PropertyProver {
    enum Script: Sendable { case outcome(ProverOutcome), fail }
    var name: String
    var script: Script
    func prove(graph: Graph, property: Property, deadline: Deadline) throws -> ProverOutcome {
        switch script {
        case .outcome(let o): return o
        case .fail: throw SettingsError(setting: "prover", message: "scripted failure")
        }
    }
}

final class VerifierTests: XCTestCase {
    /// Attack effort switched off, so only provers can decide.
    var noAttack: VerifierSettings {
        var s = VerifierSettings()
        s.attackRestarts = 0
        s.randomSamples = 0
        s.cornerSampling = false
        return s
    }

    func unsatProblem() throws -> VerificationProblem {
        try VerifyTestData.problem("benchmarks/tiny/test_small.onnx", "benchmarks/tiny/test_small.vnnlib")
    }

    func testProvenIsTheOnlyWayToUnsat() throws {
        let p = try unsatProblem()
        let proven = Verifier(settings: noAttack, provers: [ScriptedProver(name: "stub", script: .outcome(.proven))])
        let r = try proven.verify(graph: p.graph, property: p.property)
        XCTAssertEqual(r.status, .unsat)
        XCTAssertEqual(r.method, "stub")
        XCTAssertEqual(r.status.exitCode, 0)
        for script: ScriptedProver.Script in [.fail, .outcome(.unknown("no idea")), .outcome(.counterexample([0.5]))] {
            let v = Verifier(settings: noAttack, provers: [ScriptedProver(name: "stub", script: script)])
            let q = try v.verify(graph: p.graph, property: p.property)
            XCTAssertEqual(q.status, .unknown, "\(script): \(q.details)")
            XCTAssertNil(q.counterexample)
        }
        // A failing prover does not stop the next one.
        let chain = Verifier(settings: noAttack, provers: [ScriptedProver(name: "broken", script: .fail),
                                                           ScriptedProver(name: "good", script: .outcome(.proven))])
        let c = try chain.verify(graph: p.graph, property: p.property)
        XCTAssertEqual(c.status, .unsat)
        XCTAssertEqual(c.method, "good")
        XCTAssertTrue(c.details.contains { $0.contains("broken: error") }, "\(c.details)")
    }

    /// Prover counterexamples are re-checked: NaN, outside the box, or not violating give unknown;
    /// a real one gives sat (snapped to float32).
    func testProverCounterexamplesAreRechecked() throws {
        // An instance whose box centre is not a counterexample (the attack with 100 restarts fails on it).
        let p = try VerifyTestData.problem("benchmarks/acasxu/ACASXU_run2a_1_5_batch_2000.onnx", "benchmarks/acasxu/prop_2.vnnlib")
        let w = TestData.sharedPath("benchmarks/acasxu/witnesses/ACASXU_run2a_1_5_batch_2000__prop_2.txt")
        let (x, _) = try parseVNNCompWitness(text: String(contentsOfFile: w, encoding: .utf8), source: w)
        var outside = x; outside[0] = 10
        var nan = x; nan[1] = .nan
        for bad in [outside, nan, [Double](repeating: 0, count: 5), [1, 2]] {
            let v = Verifier(settings: noAttack, provers: [ScriptedProver(name: "stub", script: .outcome(.counterexample(bad)))])
            let r = try v.verify(graph: p.graph, property: p.property)
            XCTAssertEqual(r.status, .unknown, "\(bad)")
        }
        let v = Verifier(settings: noAttack, provers: [ScriptedProver(name: "stub", script: .outcome(.counterexample(x)))])
        let r = try v.verify(graph: p.graph, property: p.property)
        XCTAssertEqual(r.status, .sat)
        XCTAssertEqual(r.method, "stub")
        XCTAssertEqual(r.counterexample?.x, x)
        XCTAssertEqual(r.counterexample?.y, try p.graph.evaluateFirst(x))
    }

    /// The attack runs first: on a violated property a (wrong) proof is never reached.
    func testAttackRunsBeforeProvers() throws {
        let p = try VerifyTestData.problem("benchmarks/tiny/test_sat.onnx", "benchmarks/tiny/test_prop.vnnlib")
        let v = Verifier(provers: [ScriptedProver(name: "liar", script: .outcome(.proven))])
        let r = try v.verify(graph: p.graph, property: p.property)
        XCTAssertEqual(r.status, .sat)
        XCTAssertEqual(r.method, "attack")
    }

    func testMismatchedSpecThrows() throws {
        let g = try ModelFile.load(TestData.sharedPath("benchmarks/tiny/test_nano.onnx"))
        let prop = try PropertyLoader.load(path: TestData.sharedPath("benchmarks/acasxu/prop_1.vnnlib"), numOutputs: nil)
        XCTAssertThrowsError(try Verifier.verify(graph: g, property: prop)) { e in
            XCTAssertEqual((e as? SpecError)?.kind, .mismatch)
            XCTAssertTrue("\(e)".contains("prop_1.vnnlib"), "\(e)")
        }
        XCTAssertThrowsError(try VerificationProblem.load(model: TestData.sharedPath("benchmarks/tiny/test_nano.onnx"),
                                                          spec: TestData.sharedPath("benchmarks/acasxu/prop_1.vnnlib")))
        var bad = VerifierSettings(); bad.timeout = -1
        let ok = try unsatProblem()
        XCTAssertThrowsError(try Verifier.verify(graph: ok.graph, property: ok.property, settings: bad))
    }

    /// A property whose clause is empty (no output constraint) is violated by any point of the box.
    func testEmptyClauseIsViolatedAnywhere() throws {
        let g = try ModelFile.load(TestData.sharedPath("benchmarks/tiny/test_nano.onnx"))
        let prop = Property(numInputs: 1, numOutputs: 1,
                            cases: [PropertyCase(box: InputBox(lower: [-1], upper: [1]), clauses: [Clause(atoms: [])])], source: "inline")
        let r = try Verifier.verify(graph: g, property: prop)
        XCTAssertEqual(r.status, .sat)
        XCTAssertEqual(r.counterexample?.x.count, 1)
        // No cases at all: nothing to find, and no proof either.
        let none = Property(numInputs: 1, numOutputs: 1, cases: [], source: "inline")
        XCTAssertEqual(try Verifier.verify(graph: g, property: none).status, .unknown)
    }
}
