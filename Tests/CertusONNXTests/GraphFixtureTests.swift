import XCTest
import Foundation
import Certus
import TestSupport
@testable import CertusONNX

/// End-to-end general-graph fixtures of issue 14 (item 5) against onnxruntime, their bounds
/// against sampling, and verification through the default strategy; and the check that every
/// operator of the issue's list has an onnxruntime-referenced fixture.
/// scripts/make_graph_fixtures.py writes Tests/Fixtures/ops/graphs: lstm_unrolled (an LSTM cell
/// unrolled over 3 steps in plain operators: Slice, Gather, Split, Gemm, MatMul, Sigmoid, Tanh,
/// Mul of two variables, Concat; lstm_unrolled_saturated with 3 times larger weights), lyapunov_controller (Gemm, LeakyRelu, Gather, Slice, Sin, Cos,
/// products of variables, ReduceSum of squares, Pow, Shape -> ConstantOfShape) and
/// powerflow_products (Sigmoid voltages, Sin/Cos angles, products of variables, MatMul by
/// admittance matrices, Pow), with onnxruntime's outputs on 9 inputs each.
final class GraphFixtureTests: XCTestCase {
    let folder = OpsFixtureFolder("Tests/Fixtures/ops/graphs")

    func testFixturesArePresent() throws {
        XCTAssertEqual(folder.names, ["lstm_unrolled", "lstm_unrolled_saturated", "lyapunov_controller", "powerflow_products"])
        // The shape-only subgraph (Shape -> ConstantOfShape) folds to a constant at load.
        let controller = try folder.model("lyapunov_controller")
        XCTAssertEqual(controller.metadata.opCounts["ConstantOfShape"], 1)
        XCTAssertFalse(controller.nodes.contains { ["Shape", "ConstantOfShape"].contains($0.opType) },
                       "\(controller.nodes.map(\.opType))")
    }

    /// Evaluation equals onnxruntime to 1e-6 (float32 between operators) and 1e-5 (Double),
    /// relative above 1, on the nine references of each fixture.
    func testEvaluationMatchesOnnxruntime() throws {
        for name in folder.names {
            let distinct = try folder.assertEvaluationMatches(name)
            XCTAssertGreaterThanOrEqual(distinct, 9, "\(name): the references must exercise the model")
        }
    }

    /// IBP, CROWN and alpha-CROWN contain the outputs at 300 sampled points (corners included) of
    /// boxes of radius 0.02, 0.3 and 1 around fixture inputs of scale 1 and 0.1.
    func testBoundsContainSampledOutputs() throws {
        var rng = SplitMix64(seed: 1405)
        for name in folder.names {
            let graph = try folder.model(name)
            let engine = BoundEngine(graph: graph)
            for (caseIndex, eps) in [(0, 0.02), (1, 0.3), (0, 1.0)] {
                let center = try folder.reference(name).cases[caseIndex].input
                let box = InputBox(lower: center.map { $0 - eps }, upper: center.map { $0 + eps })
                let m = graph.outputCount
                for method in [BoundMethod.ibp, .crown, .alphaCrown] {
                    let rows: [RowBound]
                    do { rows = try engine.bound(box: box, atoms: OpsFixtureFolder.unitRows(m), settings: BoundSettings(method: method)) } catch {
                        XCTFail("\(name) \(method) eps \(eps): \(error)"); continue
                    }
                    XCTAssertEqual(rows.count, m, name)
                    try OpsFixtureFolder.assertRowsContainSamples(rows, graph: graph, box: box, rng: &rng, label: "\(name) \(method) eps \(eps)")
                }
            }
        }
    }

    /// On every unit row CROWN is at least as tight as IBP (up to rounding), and on a small box
    /// (radius 0.01) strictly tighter in total: the relaxations of the products, Sin/Cos and the
    /// S-shaped gates are used, not bypassed.
    func testCrownIsAtLeastAsTightAsIBP() throws {
        for name in folder.names {
            let graph = try folder.model(name)
            let engine = BoundEngine(graph: graph)
            let m = graph.outputCount
            for (eps, strict) in [(0.01, true), (0.3, false)] {
                let center = try folder.reference(name).cases[0].input
                let box = InputBox(lower: center.map { $0 - eps }, upper: center.map { $0 + eps })
                let ibp = try engine.bound(box: box, atoms: OpsFixtureFolder.unitRows(m), settings: BoundSettings(method: .ibp))
                let crown = try engine.bound(box: box, atoms: OpsFixtureFolder.unitRows(m), settings: BoundSettings(method: .crown))
                for i in 0..<m {
                    let wi = ibp[i].upper - ibp[i].lower, wc = crown[i].upper - crown[i].lower
                    XCTAssertLessThanOrEqual(wc, wi + 1e-9 * max(1, wi), "\(name) eps \(eps) row \(i): CROWN \(crown[i]) vs IBP \(ibp[i])")
                }
                if strict {
                    let wi = ibp.map { $0.upper - $0.lower }.reduce(0, +), wc = crown.map { $0.upper - $0.lower }.reduce(0, +)
                    XCTAssertLessThan(wc, wi, "\(name) eps \(eps): CROWN total width \(wc) vs IBP \(wi)")
                }
            }
        }
    }

    /// The JSON form of each fixture (ModelFile.convert) loads to the same model and evaluates
    /// bit for bit like the binary one on the nine reference inputs.
    func testJSONFormEvaluatesLikeBinary() throws {
        let tmp = try TestData.makeTemporaryFolder("graphs-json")
        defer { try? FileManager.default.removeItem(at: tmp) }
        for name in folder.names {
            let json = tmp.appendingPathComponent("\(name).json").path
            try ModelFile.convert(from: "\(folder.path)/\(name).onnx", to: json)
            XCTAssertEqual(ModelFile.encoding(of: json), .json)
            XCTAssertEqual(try ModelFile.readProto(json), try ModelFile.readProto("\(folder.path)/\(name).onnx"), name)
            let binary = try folder.model(name), text = try ModelFile.load(json)
            for c in try folder.reference(name).cases {
                XCTAssertEqual(try binary.evaluateFirst(c.input).map(\.bitPattern), try text.evaluateFirst(c.input).map(\.bitPattern), name)
            }
        }
    }

    /// The analytic gradients agree with central finite differences at each fixture's first input.
    func testGradientMatchesFiniteDifferences() throws {
        var rng = SplitMix64(seed: 1406)
        for name in folder.names { try folder.assertGradientMatchesFiniteDifferences(name, tolerance: 1e-5, rng: &rng) }
    }

    /// End to end through `Verifier.forMethod(.auto, ...)` on a box of radius 0.05 around each
    /// fixture's first input, for every output i: "y_i <= t" with t 1% below IBP's lower bound of
    /// y_i is proven unsafe-free (unsat); with t just above y_i at a sampled point it is never
    /// unsat, and when it is sat the counterexample lies in the box and violates the property in
    /// the graph's own evaluation.
    func testVerifiedEndToEnd() throws {
        var rng = SplitMix64(seed: 1407)
        var sat = 0
        for name in folder.names {
            let graph = try folder.model(name)
            let center = try folder.reference(name).cases[0].input
            let box = InputBox(lower: center.map { $0 - 0.05 }, upper: center.map { $0 + 0.05 })
            let m = graph.outputCount
            let ibp = try BoundEngine(graph: graph).bound(box: box, atoms: OpsFixtureFolder.unitRows(m), settings: BoundSettings(method: .ibp))
            var settings = VerifierSettings()
            settings.timeout = 10
            for i in 0..<m {
                var c = [Double](repeating: 0, count: m); c[i] = 1
                func property(_ t: Double) -> Property {   // unsafe: y_i <= t
                    Property(numInputs: box.count, numOutputs: m, cases: [PropertyCase(box: box, clauses: [Clause(atoms: [LinearAtom(c: c, d: t)])])],
                             source: name)
                }
                let holds = property(ibp[i].lower - 0.01 * max(1, abs(ibp[i].lower)))
                let proven = try Verifier.forMethod(.auto, graph: graph, property: holds, settings: settings).verify(graph: graph, property: holds)
                XCTAssertEqual(proven.status, .unsat, "\(name) y_\(i): \(proven.details)")

                let x = box.lower.indices.map { Double.random(in: box.lower[$0]...box.upper[$0], using: &rng) }
                let t = try graph.evaluateFirst(x)[i] + 1e-4
                let violated = property(t)
                let r = try Verifier.forMethod(.auto, graph: graph, property: violated, settings: settings).verify(graph: graph, property: violated)
                XCTAssertNotEqual(r.status, .unsat, "\(name) y_\(i): a violated property was proven")
                if r.status == .sat {
                    sat += 1
                    let cx = try XCTUnwrap(r.counterexample, name)
                    for j in cx.x.indices { XCTAssertTrue(box.lower[j] <= cx.x[j] && cx.x[j] <= box.upper[j], "\(name): x[\(j)] outside the box") }
                    let y = try graph.evaluateFirst(cx.x)
                    XCTAssertLessThanOrEqual(y[i], t, "\(name) y_\(i): the counterexample does not violate the property")
                }
            }
        }
        XCTAssertGreaterThan(sat, 0, "the attack finds none of the violations")
    }

    /// Branching closes what one bound cannot: on a box of radius 0.2 around each fixture's
    /// first input, "y_i <= t" (i: an output whose alpha-CROWN bound is not exact) with t halfway
    /// between alpha-CROWN's lower bound of y_i and the least y_i found by sampling 2000 points
    /// and descending from the best ones (projected gradient steps) is proven by `.auto`, which
    /// splits the inputs (one alpha-CROWN bound cannot: t is above it).
    func testBranchingProvesBeyondAlphaCrown() throws {
        var rng = SplitMix64(seed: 1408)
        for (name, i) in [("lstm_unrolled", 0), ("lyapunov_controller", 1), ("powerflow_products", 0)] {
            let graph = try folder.model(name)
            let center = try folder.reference(name).cases[0].input
            let box = InputBox(lower: center.map { $0 - 0.2 }, upper: center.map { $0 + 0.2 })
            let m = graph.outputCount
            var c = [Double](repeating: 0, count: m); c[i] = 1
            let alpha = try BoundEngine(graph: graph).bound(box: box, atoms: [LinearAtom(c: c, d: 0)], settings: BoundSettings(method: .alphaCrown))[0].lower
            var starts: [(Double, [Double])] = []
            for s in 0..<2000 {
                let x = box.lower.indices.map { j -> Double in
                    s < 2 ? (s == 0 ? box.lower[j] : box.upper[j]) : Double.random(in: box.lower[j]...box.upper[j], using: &rng)
                }
                starts.append((try graph.evaluateFirst(x)[i], x))
            }
            var least = Double.infinity
            for (_, start) in starts.sorted(by: { $0.0 < $1.0 }).prefix(5) {
                var x = start
                for k in 0..<100 {
                    let (_, dx) = try graph.gradient(at: x, outputWeights: c)
                    let step = 0.02 * pow(0.97, Double(k))
                    x = x.indices.map { j in min(box.upper[j], max(box.lower[j], x[j] - step * (dx[j] > 0 ? 1 : dx[j] < 0 ? -1 : 0))) }
                    least = min(least, try graph.evaluateFirst(x)[i])
                }
            }
            XCTAssertGreaterThan(least - alpha, 1e-3 * max(1, abs(least)), "\(name): alpha-CROWN \(alpha) is (nearly) exact here, sampled \(least)")
            let t = alpha + 0.5 * (least - alpha)
            let property = Property(numInputs: box.count, numOutputs: m,
                                    cases: [PropertyCase(box: box, clauses: [Clause(atoms: [LinearAtom(c: c, d: t)])])], source: name)
            var settings = VerifierSettings()
            settings.timeout = 15
            let r = try Verifier.forMethod(.auto, graph: graph, property: property, settings: settings).verify(graph: graph, property: property)
            XCTAssertEqual(r.status, .unsat, "\(name) y_\(i): alpha-CROWN \(alpha), least found \(least): \(r.details.suffix(5))")
            let above = Property(numInputs: box.count, numOutputs: m,
                                 cases: [PropertyCase(box: box, clauses: [Clause(atoms: [LinearAtom(c: c, d: least + 1e-6 * max(1, abs(least)))])])], source: name)
            let refuted = try Verifier.forMethod(.auto, graph: graph, property: above, settings: settings).verify(graph: graph, property: above)
            XCTAssertNotEqual(refuted.status, .unsat, "\(name) y_\(i): a threshold above a value found was proven")
        }
    }

    /// Every operator named in issue 14 item 1 appears in at least one committed fixture with
    /// onnxruntime references (NAME.onnx beside NAME.eval_ref.json, anywhere under
    /// Tests/Fixtures), read from the raw model (nodes folded at load disappear from the graph);
    /// MatMul, Mul and Div also with two distinct computed (non-constant) operands. Every such
    /// fixture loads.
    func testEveryIssue14OperatorHasAReferencedFixture() throws {
        let root = TestData.repoPath("Tests/Fixtures")
        let files = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".onnx") && FileManager.default.fileExists(atPath: "\(root)/\($0.dropLast(5)).eval_ref.json") }
        XCTAssertGreaterThanOrEqual(files.count, 60, "\(files)")
        var seen = Set<String>(), twoVariables = Set<String>()
        for file in files {
            let path = "\(root)/\(file)"
            XCTAssertNoThrow(try ModelFile.load(path), file)
            let g = try ModelFile.readProto(path).graph
            var constant = Set(g.initializer.map(\.name))
            for node in g.node {
                seen.insert(node.opType)
                let computed = Set(node.input.filter { !$0.isEmpty && !constant.contains($0) })
                if node.opType == "Constant" || node.opType == "Shape" || computed.isEmpty { constant.formUnion(node.output) }
                if ["MatMul", "Mul", "Div"].contains(node.opType) && computed.count == 2 { twoVariables.insert(node.opType) }
            }
        }
        let issueList = ["Slice", "Gather", "Split", "Pad", "Expand", "Tile", "Where", "Equal", "Less", "Greater", "Not", "Shape",
                         "ConstantOfShape", "Range", "Cast", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "Pow", "Sqrt",
                         "Reciprocal", "Exp", "Log", "Abs", "Sign", "Clip", "Min", "Max", "MaxPool", "GlobalAveragePool", "Softmax",
                         "LayerNormalization", "Dropout", "MatMul", "Mul", "Div"]
        for op in issueList { XCTAssertTrue(seen.contains(op), "\(op) has no onnxruntime-referenced fixture") }
        for op in ["MatMul", "Mul", "Div"] { XCTAssertTrue(twoVariables.contains(op), "\(op) of two variables has no fixture") }
        // And the operators the issue names for its example graphs.
        for op in ["Sin", "Cos", "Sigmoid", "Tanh", "LeakyRelu", "Concat", "Gemm"] { XCTAssertTrue(seen.contains(op), op) }
    }
}
