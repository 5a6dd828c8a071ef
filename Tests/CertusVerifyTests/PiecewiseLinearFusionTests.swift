import XCTest
import Foundation
import Certus
import TestSupport

/// ReLU sums of one variable (`Unsqueeze(z, -1) - t → Relu → MatMul(m) (+ c)`, the ml4acopf
/// power-flow proxies' Sigmoid, Sin and Cos) are bounded as one piecewise-linear function
/// (`PiecewiseLinearFusion`, `PiecewiseLinear`): the fused graph computes the same function,
/// its bounds contain sampled outputs, a saturating sum is bounded by its exact range, and the
/// ml4acopf generation-bound properties that need that are proven.
/// Fixtures: scripts/make_relusum_fixtures.py (Tests/Fixtures/ops/pwl/relusum_*.onnx, with
/// onnxruntime outputs; their evaluation and sampled bounds are also checked by
/// PiecewiseOpsFixtureTests with every other model of that folder).
final class PiecewiseLinearFusionTests: XCTestCase {
    func model(_ name: String) throws -> Graph {
        try ModelFile.load(TestData.repoPath("Tests/Fixtures/ops/pwl/\(name).onnx"))
    }

    func testFusionReplacesReluSumsAndKeepsTheFunction() throws {
        var rng = SplitMix64(seed: 5)
        for (name, breakpoints) in [("relusum_sigmoid", 25), ("relusum_mixed", 6)] {
            let graph = try model(name)
            let fused = PiecewiseLinearFusion.fuse(graph)
            let pwl = fused.nodes.compactMap { $0.op as? PiecewiseLinear }
            XCTAssertEqual(pwl.count, 1, name)
            XCTAssertEqual(pwl.first?.breakpoints.count, breakpoints, name)   // repeated breakpoints merged
            XCTAssertFalse(fused.nodes.contains { $0.opType == "Relu" || $0.opType == "Unsqueeze" }, name)
            XCTAssertEqual(fused.nodes.count, graph.nodes.count - (name == "relusum_sigmoid" ? 4 : 3), name)
            // The bound engine fuses under real semantics only, and only in a network that is not
            // piecewise linear throughout (relusum_sigmoid has a product; relusum_mixed keeps its
            // ReLUs, whose LPs are exact).
            let engine = BoundEngine(graph: graph)
            XCTAssertEqual(engine.graph.nodes.contains { $0.op is PiecewiseLinear }, name == "relusum_sigmoid", name)
            XCTAssertEqual(engine.isPiecewiseLinear, name == "relusum_mixed", name)
            XCTAssertFalse(BoundEngine(graph: graph, semantics: .float32).graph.nodes.contains { $0.op is PiecewiseLinear }, name)
            for _ in 0..<200 {
                let x = (0..<graph.inputCount).map { _ in Double.random(in: -4...4, using: &rng) }
                let a = try graph.evaluateFirst(x), b = try fused.evaluateFirst(x)
                for (p, q) in zip(a, b) { XCTAssertEqual(p, q, accuracy: 1e-12 * max(1, abs(p)), name) }
            }
        }
    }

    /// A graph that only looks like the pattern is left alone: the ReLU's output also read
    /// elsewhere, or a MatMul weight that is not a vector.
    func testNearMissesAreNotFused() throws {
        let graph = try model("relusum_mixed")
        guard let relu = graph.nodes.firstIndex(where: { $0.opType == "Relu" }) else { return XCTFail("no Relu") }
        var shared = graph
        shared.outputs.append(graph.nodes[relu].output)
        XCTAssertFalse(PiecewiseLinearFusion.fuse(shared).nodes.contains { $0.op is PiecewiseLinear })
    }

    /// On a wide box the sigmoid sum saturates: every method's bound of y_j = low_j + scale_j f(z)
    /// (outputs 0 to 3; output 4 is a product) lies within the sum's exact range (its values at
    /// the outermost breakpoints), which the samples approach, and a property "y_j above that
    /// range" is proven by CROWN alone.
    func testSaturatingSumsAreBoundedByTheirRange() throws {
        let graph = try model("relusum_sigmoid")
        let engine = BoundEngine(graph: graph)
        let scale = [2.0, 0.5, 3.0, 1.0], low = [0.1, -1.0, 0.0, 2.0]
        func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        let fMin = Double(Float(sigmoid(-6))), fMaxApprox = sigmoid(6)
        let box = InputBox(lower: [-5, -5, -5], upper: [5, 5, 5])
        let atoms = (0..<4).map { i in LinearAtom(c: (0..<5).map { $0 == i ? 1 : 0 }, d: 0) }
        var rng = SplitMix64(seed: 9)
        for method in [BoundMethod.ibp, .crown, .alphaCrown] {
            let rows = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: method))
            for j in 0..<4 {
                XCTAssertGreaterThanOrEqual(rows[j].lower, low[j] + scale[j] * fMin - 1e-6, "\(method) y\(j)")
                XCTAssertLessThanOrEqual(rows[j].upper, low[j] + scale[j] * fMaxApprox + 1e-6, "\(method) y\(j)")
            }
            var sampledMax = [Double](repeating: -.infinity, count: 4)
            for _ in 0..<2000 {
                let x = (0..<3).map { _ in Double.random(in: -5...5, using: &rng) }
                let y = try graph.evaluateFirst(x)
                for j in 0..<4 {
                    XCTAssertTrue(rows[j].lower <= y[j] && y[j] <= rows[j].upper, "\(method) y\(j) = \(y[j]) outside \(rows[j])")
                    sampledMax[j] = max(sampledMax[j], y[j])
                }
            }
            // The bound is the range itself, not just an enclosure: the samples come within 1e-3.
            for j in 0..<4 { XCTAssertLessThan(rows[j].upper - sampledMax[j], 1e-3 * scale[j], "\(method) y\(j)") }
        }
        // Unsafe: y_0 >= low_0 + scale_0 (f(6) + 1e-6), the ml4acopf generation-bound shape.
        let threshold = low[0] + scale[0] * (fMaxApprox + 1e-6)
        let property = Property(numInputs: 3, numOutputs: 5, cases: [PropertyCase(box: box, clauses: [
            Clause(atoms: [LinearAtom(c: [-1, 0, 0, 0, 0], d: -threshold)])])], source: "saturation")
        let r = try Verifier.forMethod(.crown, graph: graph, property: property).verify(graph: graph, property: property)
        XCTAssertEqual(r.status, .unsat, "\(r.details)")
    }

    /// A network that is piecewise linear throughout keeps its ReLU sums unfused, so the MILP
    /// encodes them exactly and agrees with the relu-split proof (the soundness battery found
    /// `milp` answering unknown on such networks while the sums were fused).
    func testPiecewiseLinearNetworksKeepTheirExactEncodings() throws {
        let graph = try model("relusum_mixed")
        let box = InputBox(lower: [-1, -1, -1], upper: [1, 1, 1])
        let c: [Double] = [1, 0]
        let low = try BoundEngine(graph: graph).bound(box: box, atoms: [LinearAtom(c: c, d: 0)], settings: BoundSettings(method: .crown))[0].lower
        var best = Double.infinity
        var rng = SplitMix64(seed: 11)
        for _ in 0..<4000 { best = min(best, try graph.evaluateFirst((0..<3).map { _ in Double.random(in: -1...1, using: &rng) })[0]) }
        // Unsafe: y_0 <= t with t below CROWN's bound (unsat: an exact method that cannot encode
        // the network would say unknown), and just above the sampled minimum (sat).
        for (t, expectUnsat) in [(low - 1e-3, true), (best + 1e-3, false)] {
            let p = Property(numInputs: 3, numOutputs: 2, cases: [PropertyCase(box: box, clauses: [Clause(atoms: [LinearAtom(c: c, d: t)])])], source: "t")
            for method in [VerificationMethod.milp, .reluSplit] {
                let r = try Verifier.forMethod(method, graph: graph, property: p).verify(graph: graph, property: p)
                if expectUnsat { XCTAssertEqual(r.status, .unsat, "\(method) t \(t): \(r.details)") }
                else { XCTAssertEqual(r.status, .sat, "\(method) t \(t): \(r.details)") }
            }
        }
    }

    /// ml4acopf 118-bus generation bounds (`118_ieee_prop3`: 216 atoms Y_k >= ub + 1e-6 or
    /// Y_k <= lb - 1e-6 on the generator outputs low + scale sigmoid(.), the sigmoid a 54-piece
    /// ReLU sum): CROWN proves every atom false (the reference answer is unsat; before the
    /// fusion CROWN's worst row was -8.35), and the rows contain the outputs at random points.
    func testML4ACOPFGenerationBoundsAreProven() throws {
        let p = try VerifyTestData.problem("benchmarks/ml4acopf2024/118_ieee_ml4acopf-linear-nonresidual.onnx",
                                           "benchmarks/ml4acopf2024/118_ieee_prop3.vnnlib")
        XCTAssertEqual(try VerifyTestData.expected("ml4acopf2024")["118_ieee_ml4acopf-linear-nonresidual.onnx,118_ieee_prop3.vnnlib"], "unsat")
        let engine = BoundEngine(graph: p.graph)
        let report = try engine.bound(property: p.property, settings: BoundSettings(method: .crown))
        XCTAssertTrue(report.verified, "worst row \(report.propertyLower)")
        var rng = SplitMix64(seed: 3)
        let box = p.property.cases[0].box
        for _ in 0..<20 {
            let x = box.lower.indices.map { Double.random(in: box.lower[$0]...box.upper[$0], using: &rng) }
            let y = try p.graph.evaluateFirst(x)
            for row in report.rows {
                let v = zip(row.c, y).reduce(0) { $0 + $1.0 * $1.1 } - row.d
                XCTAssertTrue(row.lower <= v + 1e-9 && v <= row.upper + 1e-9, "row \(row.clause): \(v) outside [\(row.lower), \(row.upper)]")
            }
        }
    }
}
