import XCTest
import Foundation
import Certus
import TestSupport
@testable import CertusONNX

/// The piecewise-linear operators of issue 14 (Clip, Max, Min, Floor, Sign, ReduceMax,
/// ReduceMin, MaxPool) against onnxruntime, and bounds against sampling.
/// scripts/make_pwl_fixtures.py writes Tests/Fixtures/ops/pwl: tiny models x -> Mul -> OP over
/// several opsets, and pwl_net (Gemm layers with Clip, Max, Min, Floor and Sign between them),
/// with onnxruntime's outputs on 9 inputs each.
final class PiecewiseOpsFixtureTests: XCTestCase {
    let folder = OpsFixtureFolder("Tests/Fixtures/ops/pwl")
    var fixtures: String { folder.path }
    var names: [String] { folder.names }


    func reference(_ name: String) throws -> OpsFixtureFolder.EvalRef { try folder.reference(name) }

    func testEveryOperatorHasFixtures() throws {
        XCTAssertGreaterThanOrEqual(names.count, 17, "\(names)")
        var seen = Set<String>()
        for name in names { seen.formUnion(try ModelFile.load("\(fixtures)/\(name).onnx").nodes.map(\.opType)) }
        for op in ["Clip", "Max", "Min", "Floor", "Sign", "ReduceMax", "ReduceMin", "MaxPool"] {
            XCTAssertTrue(seen.contains(op), "\(op) is not exercised: \(seen.sorted())")
        }
    }

    /// Evaluation equals onnxruntime to 1e-6 (relative above 1) with float32 storage between
    /// operators, and to 1e-5 in Double.
    func testEvaluationMatchesOnnxruntime() throws {
        for name in names {
            // Floor/Sign after float32 rounding may step differently in Double (pwl_net).
            let distinct = try folder.assertEvaluationMatches(name, inDouble: name != "pwl_net")
            // Sign gives -1 and 1 on random inputs; Clip with min > max is the constant max;
            // MaxPool windows without an input cell are the lowest float32 (onnxruntime's value).
            let needed = ["clip_opset13_inverted", "maxpool_opset12_empty_windows"].contains(name) ? 1 : (name == "sign_opset13" ? 2 : 3)
            XCTAssertGreaterThanOrEqual(distinct, needed, "\(name): the references must exercise the model")
        }
    }

    /// IBP (every fixture) and CROWN and alpha-CROWN (fixtures with relaxations) contain the
    /// outputs at 300 sampled points of boxes around the fixture inputs (corners included); Max/Min
    /// of variables, ReduceMax/Min and MaxPool are bounded through their decompositions.
    func testBoundsContainSampledOutputs() throws {
        var rng = SplitMix64(seed: 1414)
        for name in names {
            let graph = try ModelFile.load("\(fixtures)/\(name).onnx")
            let engine = BoundEngine(graph: graph)
            for (caseIndex, eps) in [(0, 0.05), (1, 0.5), (2, 1.5)] {
                let center = try reference(name).cases[caseIndex].input
                let box = InputBox(lower: center.map { $0 - eps }, upper: center.map { $0 + eps })
                let m = graph.outputCount
                let atoms = OpsFixtureFolder.unitRows(m)
                for method in [BoundMethod.ibp, .crown, .alphaCrown] {
                    let rows = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: method))
                    XCTAssertEqual(rows.count, m, name)
                    try OpsFixtureFolder.assertRowsContainSamples(rows, graph: graph, box: box, rng: &rng, label: "\(name) \(method) eps \(eps)")
                }
            }
        }
    }

    /// Networks with maxima of several variables are verified, not refused: a threshold just below IBP's
    /// lower bound of output 0 is proven by every bound-based strategy, and a threshold above a
    /// sampled value of output 0 never is.
    func testIBPOnlyOperatorsAreVerified() throws {
        var rng = SplitMix64(seed: 77)
        for name in ["reducemax_opset13", "maxpool_opset8", "max_opset13_vars"] {
            let graph = try folder.model(name)
            let center = try reference(name).cases[0].input
            let box = InputBox(lower: center.map { $0 - 0.3 }, upper: center.map { $0 + 0.3 })
            let m = graph.outputCount
            var c = [Double](repeating: 0, count: m); c[0] = 1
            let ibp = try BoundEngine(graph: graph).bound(box: box, atoms: [LinearAtom(c: c, d: 0)], settings: BoundSettings(method: .ibp))[0]
            func property(_ t: Double) -> Property {   // unsafe: y_0 <= t
                Property(numInputs: box.count, numOutputs: m, cases: [PropertyCase(box: box, clauses: [Clause(atoms: [LinearAtom(c: c, d: t)])])],
                         source: name)
            }
            let holds = property(ibp.lower - 0.01 * max(1, abs(ibp.lower)))
            for method in [VerificationMethod.crown, .alphaCrown, .auto] {
                let r = try Verifier.forMethod(method, graph: graph, property: holds).verify(graph: graph, property: holds)
                XCTAssertEqual(r.status, .unsat, "\(name) \(method): \(r.details)")
            }
            let x = box.lower.indices.map { Double.random(in: box.lower[$0]...box.upper[$0], using: &rng) }
            let violated = property(try graph.evaluateFirst(x)[0] + 1e-3)
            for method in [VerificationMethod.crown, .auto] {
                let r = try Verifier.forMethod(method, graph: graph, property: violated).verify(graph: graph, property: violated)
                XCTAssertNotEqual(r.status, .unsat, "\(name) \(method): a violated property was proven")
            }
        }
    }

    /// On pwl_net, CROWN is at least as tight as IBP (both intersected) and alpha-CROWN at least
    /// as tight as CROWN, up to rounding, on a small box: the relaxations are used, not bypassed.
    func testNetworkBoundsTighten() throws {
        let graph = try ModelFile.load("\(fixtures)/pwl_net.onnx")
        let engine = BoundEngine(graph: graph)
        let center = try reference("pwl_net").cases[1].input
        let box = InputBox(lower: center.map { $0 - 0.02 }, upper: center.map { $0 + 0.02 })
        let atoms = (0..<2).map { i in LinearAtom(c: (0..<2).map { $0 == i ? 1 : 0 }, d: 0) }
        let ibp = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: .ibp))
        let crown = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: .crown))
        let alpha = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: .alphaCrown))
        for i in 0..<2 {
            XCTAssertLessThanOrEqual(crown[i].upper - crown[i].lower, ibp[i].upper - ibp[i].lower + 1e-9)
            XCTAssertLessThanOrEqual(alpha[i].upper - alpha[i].lower, crown[i].upper - crown[i].lower + 1e-9)
        }
    }

    /// A used MaxPool Indices output is refused with the output's name.
    func testUsedMaxPoolIndicesIsRefused() throws {
        var m = try ModelFile.readProto("\(fixtures)/maxpool_opset8.onnx")
        m.graph.output[0].name = "idx"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("idx-\(UUID().uuidString).onnx").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ModelFile.encode(m, encoding: .binary).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ModelFile.load(path)) { e in
            XCTAssertTrue("\(e)".contains("node 'pool' (MaxPool)") && "\(e)".contains("'idx' is used"), "\(e)")
        }
    }
}
