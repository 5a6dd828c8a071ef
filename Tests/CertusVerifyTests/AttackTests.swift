import XCTest
import Foundation
import Certus
import TestSupport

/// The attack finds counterexamples on instances known to be sat, and never claims sat on
/// instances known to be unsat. Answers are compared with ../shared expected answers.
final class AttackTests: XCTestCase {
    func testTinySatInstance() throws {
        XCTAssertEqual(try VerifyTestData.expected("tiny")["test_sat.onnx,test_prop.vnnlib"], "sat")
        let p = try VerifyTestData.problem("benchmarks/tiny/test_sat.onnx", "benchmarks/tiny/test_prop.vnnlib")
        let r = try Verifier.verify(graph: p.graph, property: p.property)
        try assertCheckedCounterexample(r, p, "test_sat")
    }

    /// Five ACAS Xu sat instances (props 2, 3, 4, from several networks).
    func testACASXuSatSample() throws {
        let expected = try VerifyTestData.expected("acasxu")
        let sample = [("2_1", "prop_2"), ("3_7", "prop_2"), ("4_5", "prop_2"), ("1_8", "prop_3"), ("1_9", "prop_4")]
        for (net, prop) in sample {
            let onnx = "ACASXU_run2a_\(net)_batch_2000.onnx"
            XCTAssertEqual(expected[onnx + "," + prop + ".vnnlib"], "sat", "\(net) \(prop) should be a sat instance")
            let p = try VerifyTestData.problem("benchmarks/acasxu/" + onnx, "benchmarks/acasxu/\(prop).vnnlib")
            let r = try Verifier.verify(graph: p.graph, property: p.property)
            try assertCheckedCounterexample(r, p, "\(net) \(prop)")
        }
    }

    /// ACAS Xu 1_9 property 7: the counterexamples lie on faces of the box (two inputs at their
    /// lower bounds) in a region too thin for uniform points or gradient steps (every output
    /// within 2e-4 of the others). Face sampling finds one with any seed; without it, the
    /// same attack makes only uniform, vertex and gradient points there.
    func testFaceSamplingFindsACASXu19Property7() throws {
        XCTAssertEqual(try VerifyTestData.expected("acasxu")["ACASXU_run2a_1_9_batch_2000.onnx,prop_7.vnnlib"], "sat")
        let p = try VerifyTestData.problem("benchmarks/acasxu/ACASXU_run2a_1_9_batch_2000.onnx", "benchmarks/acasxu/prop_7.vnnlib")
        for seed in [0, 1, 2, 3, 4] as [UInt64] {
            var s = VerifierSettings()
            s.seed = seed
            s.attackRestarts = 0
            s.timeout = 30
            let r = try Verifier(settings: s, provers: []).verify(graph: p.graph, property: p.property)
            try assertCheckedCounterexample(r, p, "1_9 prop_7 seed \(seed)")
        }
        // The uniform and vertex points alone do not hold one.
        var s = VerifierSettings()
        s.attackRestarts = 0
        s.faceSamples = 0
        let r = try Verifier(settings: s, provers: []).verify(graph: p.graph, property: p.property)
        XCTAssertNotEqual(r.status, .sat, "without face points the sampling stage should not reach the thin region")
    }

    func testMNISTSatSample() throws {
        let expected = try VerifyTestData.expected("mnistfc")
        let graph = try ModelFile.load(TestData.sharedPath("benchmarks/mnistfc/mnist-net_256x2.onnx"))
        for spec in ["prop_7_0.03.vnnlib", "prop_1_0.05.vnnlib"] {
            XCTAssertEqual(expected["mnist-net_256x2.onnx," + spec], "sat")
            let property = try PropertyLoader.load(path: TestData.sharedPath("benchmarks/mnistfc/" + spec), numOutputs: 10)
            let p = VerificationProblem(graph: graph, property: property)
            let r = try Verifier.verify(graph: graph, property: property)
            try assertCheckedCounterexample(r, p, spec)
        }
    }

    /// Zoo `c` specs are violated (found by the reference attack / MILP); both spec forms.
    func testZooCSpecsAreSat() throws {
        let models = VerifyTestData.zooModels
        XCTAssertGreaterThanOrEqual(models.count, 10)
        for m in models {
            XCTAssertEqual(try VerifyTestData.zooStatus(m, "c"), "sat", m)
            for ext in ["vnnlib", "json"] {
                let p = try VerifyTestData.problem("reference/zoo/\(m)/model.onnx", "reference/zoo/\(m)/c.\(ext)")
                let r = try Verifier.verify(graph: p.graph, property: p.property)
                try assertCheckedCounterexample(r, p, "\(m)/c.\(ext)")
            }
        }
    }

    /// Instances that hold: the answer must never be sat (nothing can prove unsat yet, so unknown).
    func testUnsatInstancesAreNeverSat() throws {
        var cases: [(String, String)] = [
            ("benchmarks/acasxu/ACASXU_run2a_1_1_batch_2000.onnx", "benchmarks/acasxu/prop_1.vnnlib"),
            ("benchmarks/tiny/test_nano.onnx", "benchmarks/tiny/test_nano.vnnlib"),
            ("benchmarks/tiny/test_tiny.onnx", "benchmarks/tiny/test_tiny.vnnlib"),
            ("benchmarks/tiny/test_small.onnx", "benchmarks/tiny/test_small.vnnlib"),
            ("benchmarks/tiny/test_unsat.onnx", "benchmarks/tiny/test_prop.vnnlib"),
        ]
        let tiny = try VerifyTestData.expected("tiny"), acas = try VerifyTestData.expected("acasxu")
        XCTAssertEqual(acas["ACASXU_run2a_1_1_batch_2000.onnx,prop_1.vnnlib"], "unsat")
        for k in ["test_nano.onnx,test_nano.vnnlib", "test_tiny.onnx,test_tiny.vnnlib", "test_small.onnx,test_small.vnnlib", "test_unsat.onnx,test_prop.vnnlib"] {
            XCTAssertEqual(tiny[k], "unsat", k)
        }
        for m in VerifyTestData.zooModels {
            XCTAssertEqual(try VerifyTestData.zooStatus(m, "a"), "unsat", m)
            cases.append(("reference/zoo/\(m)/model.onnx", "reference/zoo/\(m)/a.vnnlib"))
        }
        for (model, spec) in cases {
            let p = try VerifyTestData.problem(model, spec)
            let r = try Verifier.verify(graph: p.graph, property: p.property, settings: VerifyTestData.quickSettings)
            XCTAssertEqual(r.status, .unknown, "\(model) \(spec): \(r.details)")
            XCTAssertNil(r.counterexample)
            XCTAssertEqual(r.method, "none")
            XCTAssertTrue(r.resultText == "unknown\n")
            XCTAssertTrue(r.details.first?.hasPrefix("attack:") ?? false, "\(r.details)")
        }
    }

    /// Same seed, same work and same answer; the seed reaches the random generator.
    func testAttackIsDeterministicForASeed() throws {
        let p = try VerifyTestData.problem("reference/zoo/mlp_relu_small/model.onnx", "reference/zoo/mlp_relu_small/b.vnnlib")
        var s = VerifyTestData.quickSettings
        s.seed = 42
        let a = Attack(settings: s).run(graph: p.graph, property: p.property, deadline: .distant)
        let b = Attack(settings: s).run(graph: p.graph, property: p.property, deadline: .distant)
        XCTAssertEqual(a, b)
        XCTAssertGreaterThan(a.evaluations, 64)
        XCTAssertGreaterThan(a.gradientSteps, 0)
        XCTAssertTrue(a.bestLoss > 0 && a.bestLoss.isFinite, "\(a.bestLoss)")   // b holds: margin stays positive
        // With sampling only (PGD converges to the same minimum from anywhere), the best sampled
        // loss depends on the seed.
        s.attackRestarts = 0
        s.cornerSampling = false
        let c = Attack(settings: s).run(graph: p.graph, property: p.property, deadline: .distant)
        s.seed = 43
        let d = Attack(settings: s).run(graph: p.graph, property: p.property, deadline: .distant)
        XCTAssertEqual(c.evaluations, d.evaluations)
        XCTAssertNotEqual(c.bestLoss, d.bestLoss, "a different seed should sample different points")

        // A sat instance found by the random restarts alone: the same counterexample twice.
        let q = try VerifyTestData.problem("reference/zoo/mlp_tanh/model.onnx", "reference/zoo/mlp_tanh/c.vnnlib")
        var t = VerifierSettings()
        t.seed = 7
        let r1 = try Verifier.verify(graph: q.graph, property: q.property, settings: t)
        let r2 = try Verifier.verify(graph: q.graph, property: q.property, settings: t)
        XCTAssertEqual(r1.counterexample, r2.counterexample)
        XCTAssertNotNil(r1.counterexample)
    }

    func testTimeLimitGivesTimeout() throws {
        let p = try VerifyTestData.problem("benchmarks/acasxu/ACASXU_run2a_1_1_batch_2000.onnx", "benchmarks/acasxu/prop_1.vnnlib")
        var s = VerifierSettings()
        s.timeout = 0.3
        s.attackUntilDeadline = true
        let start = Date()
        let r = try Verifier.verify(graph: p.graph, property: p.property, settings: s)
        XCTAssertEqual(r.status, .timeout, "\(r.details)")
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        XCTAssertGreaterThanOrEqual(r.timeSeconds, 0.3)
        XCTAssertEqual(r.status.exitCode, 2)
    }

    /// Every published witness (onnxruntime float32, inside the box) passes our acceptance
    /// check: the safety margin is not stricter than real counterexamples need.
    func testSharedWitnessesPassTheAcceptanceCheck() throws {
        var graphs: [String: Graph] = [:]
        var checked = 0
        for folder in ["acasxu", "mnistfc", "tiny"] {
            let files = TestData.files(in: "benchmarks/\(folder)/witnesses", ext: "txt")
            for w in files {
                let stem = URL(fileURLWithPath: w).deletingPathExtension().lastPathComponent
                let parts = stem.components(separatedBy: "__")
                guard parts.count == 2 else { continue }
                let model = TestData.sharedPath("benchmarks/\(folder)/\(parts[0]).onnx")
                if graphs[model] == nil { graphs[model] = try ModelFile.load(model) }
                let g = graphs[model]!
                let property = try PropertyLoader.load(path: TestData.sharedPath("benchmarks/\(folder)/\(parts[1]).vnnlib"), numOutputs: g.outputCount)
                let (x, _) = try parseVNNCompWitness(text: String(contentsOfFile: w, encoding: .utf8), source: w)
                let cx = try CounterexampleCheck.confirm(graph: g, property: property, candidate: x, settings: VerifierSettings())
                XCTAssertNotNil(cx, stem)
                XCTAssertEqual(cx?.x, x, "\(stem): witness values are float32 inside the box, snapping must keep them")
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 47 + 19 + 1)
    }
}
