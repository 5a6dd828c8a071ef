import XCTest
import Foundation
import Certus
import TestSupport
@testable import CertusONNX

/// The affine and shape-only operators of issue 14 (Dropout, Slice, ReduceSum, ReduceMean,
/// Expand, Tile, Pad, Split, GlobalAveragePool, ConstantOfShape) against onnxruntime, and their bounds against sampling.
/// scripts/make_ops_fixtures.py writes Tests/Fixtures/ops: tiny models x -> Mul -> Tanh -> OP
/// over several opsets, with onnxruntime's outputs on 9 inputs each.
final class OpsFixtureTests: XCTestCase {
    let folder = OpsFixtureFolder("Tests/Fixtures/ops")
    var fixtures: String { folder.path }
    var names: [String] { folder.names }


    func reference(_ name: String) throws -> OpsFixtureFolder.EvalRef { try folder.reference(name) }

    /// Every operator of this part has fixtures, and every fixture keeps its operator as a node.
    func testEveryOperatorHasFixtures() throws {
        XCTAssertGreaterThanOrEqual(names.count, 24, "\(names)")
        var seen = Set<String>()
        for name in names {
            let g = try ModelFile.load("\(fixtures)/\(name).onnx")
            seen.formUnion(g.nodes.map(\.opType))
            for folded in ["ConstantOfShape", "Range"] where g.metadata.opCounts[folded] != nil {   // folded at load
                XCTAssertFalse(g.nodes.contains { $0.opType == folded }, name)
                seen.insert(folded)
            }
        }
        for op in ["Dropout", "Slice", "ReduceSum", "ReduceMean", "Expand", "Tile", "Pad", "Split", "GlobalAveragePool", "ConstantOfShape", "Cast", "Where", "Range"] {
            XCTAssertTrue(seen.contains(op), "\(op) is not exercised by any fixture: \(seen.sorted())")
        }
    }

    /// Evaluation equals onnxruntime to 1e-6 (relative above 1): with float32 storage between
    /// operators as onnxruntime has, and in Double to float32's precision.
    func testEvaluationMatchesOnnxruntime() throws {
        for name in names {
            let distinct = try folder.assertEvaluationMatches(name)
            XCTAssertGreaterThanOrEqual(distinct, 9, "\(name): the references must exercise the model")
        }
    }

    /// IBP and CROWN bounds of every output over a small box around each fixture's first inputs
    /// contain the outputs at 300 sampled points (corners of the box included), and are finite.
    func testBoundsContainSampledOutputs() throws {
        var rng = SplitMix64(seed: 14)
        for name in names {
            let graph = try ModelFile.load("\(fixtures)/\(name).onnx")
            let engine = BoundEngine(graph: graph)
            for (caseIndex, eps) in [(0, 0.05), (1, 0.5)] {
                let center = try reference(name).cases[caseIndex].input
                let box = InputBox(lower: center.map { $0 - eps }, upper: center.map { $0 + eps })
                let m = graph.outputCount
                let atoms = OpsFixtureFolder.unitRows(m)
                for method in [BoundMethod.ibp, .crown] {
                    let rows = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: method))
                    XCTAssertEqual(rows.count, m, name)
                    try OpsFixtureFolder.assertRowsContainSamples(rows, graph: graph, box: box, rng: &rng, label: "\(name) \(method) eps \(eps)")
                }
            }
        }
    }

    /// `backward` (the J^T the bound engine's affine path uses) agrees with central finite
    /// differences of the evaluation, for a random output weighting at each fixture's first input.
    func testGradientMatchesFiniteDifferences() throws {
        var rng = SplitMix64(seed: 1414)
        for name in names { try folder.assertGradientMatchesFiniteDifferences(name, tolerance: 1e-6, rng: &rng) }
    }

    /// The refusals of this part name the node and the reason.
    func testRefusalsNameNodeAndReason() throws {
        func ctx(_ op: String, _ shapes: [[Int]], _ consts: [Tensor?], opset: Int = 13, attrs: [String: AttributeValue] = [:], outputs: Int = 1) -> NodeContext {
            NodeContext(name: "n", opType: op, opset: opset, attributes: attrs, inputShapes: shapes, constantInputs: consts, outputCount: outputs)
        }
        func refused(_ c: NodeContext, _ piece: String, line: UInt = #line) {
            XCTAssertThrowsError(try OperatorRegistry.make(c), line: line) { e in
                XCTAssertTrue("\(e)".contains("node 'n'") && "\(e)".contains(piece), "\(e)", line: line)
            }
        }
        let v = Tensor(shape: [1], data: [1])
        refused(ctx("Slice", [[1, 4], [1], [1]], [nil, nil, v]), "starts (input 1) must be a constant")
        refused(ctx("Slice", [[1, 4], [1], [1], [1], [1]], [nil, v, v, v, Tensor(shape: [1], data: [0])]), "step 0")
        refused(ctx("Pad", [[1, 4], [4]], [nil, Tensor(shape: [4], data: [0, 1, 0, 1])], attrs: ["mode": .string("reflect")]), "mode 'reflect'")
        refused(ctx("Dropout", [[1, 4], [], []], [nil, Tensor(scalar: 0.5), Tensor(scalar: 1)]), "training_mode")
        refused(ctx("Dropout", [[1, 4], [], []], [nil, Tensor(scalar: 0.5), nil]), "training_mode")
        refused(ctx("Split", [[1, 5]], [nil], attrs: ["axis": .int(1)], outputs: 2), "equal parts")
        refused(ctx("Split", [[1, 5], [2]], [nil, Tensor(shape: [2], data: [2, 2])], attrs: ["axis": .int(1)], outputs: 2), "do not add up")
        refused(ctx("Expand", [[1, 3], [2]], [nil, Tensor(shape: [2], data: [2, 2])]), "cannot be broadcast")
        refused(ctx("Tile", [[1, 3], [1]], [nil, Tensor(shape: [1], data: [2])]), "one non-negative count per axis")
        refused(ctx("ReduceSum", [[1, 3], [1]], [nil, Tensor(shape: [1], data: [2])]), "out of range")
        refused(ctx("ReduceMean", [[1, 3], [1]], [nil, nil], opset: 18), "axes (input 1) must be a constant")
        refused(ctx("Cast", [[1, 3]], [nil], attrs: ["to": .int(7)]), "computed value is piecewise constant")
        refused(ctx("Cast", [[1, 3]], [nil], attrs: ["to": .int(10)]), "element type 10 is not supported")
        refused(ctx("Where", [[1, 3], [1, 3], [1, 3]], [nil, nil, nil]), "the condition (input 0) must be a constant")
        refused(ctx("Equal", [[1, 3], [1, 3]], [nil, Tensor(shape: [1, 3], data: [1, 2, 3])]), "only constants are supported")
        refused(ctx("Not", [[1, 3]], [nil]), "only constants are supported")
        refused(ctx("Range", [[], [], []], [Tensor(scalar: 0), nil, Tensor(scalar: 1)]), "limit (input 1) must be a constant")
        refused(ctx("Range", [[], [], []], [Tensor(scalar: 0), Tensor(scalar: 3), Tensor(scalar: 0)]), "delta is 0")
        XCTAssertThrowsError(try Cast(to: 3).evaluate([Tensor(shape: [1], data: [300])]))
        XCTAssertEqual(try Cast(to: 7).evaluate([Tensor(shape: [4], data: [2.7, -1.5, -0.2, 0])]).data, [2, -1, 0, 0])
        XCTAssertEqual(try Cast(to: 9).evaluate([Tensor(shape: [3], data: [0.5, 0, -2])]).data, [1, 0, 1])
        refused(ctx("ReduceMean", [[1, 3], [1]], [nil, Tensor(shape: [1], data: [1])], opset: 13), "only from opset 18")
        refused(ctx("ReduceSum", [[1, 3], [1]], [nil, Tensor(shape: [1], data: [1])], opset: 11), "only from opset 13")
    }

    /// A used Dropout mask is refused with the output's name (the IR gives a node one output).
    func testUsedDropoutMaskIsRefused() throws {
        var m = try ModelFile.readProto("\(fixtures)/dropout_opset13.onnx")
        m.graph.output[0].name = "mask"   // the fixture declares the mask but leaves it unused
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mask-\(UUID().uuidString).onnx").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ModelFile.encode(m, encoding: .binary).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ModelFile.load(path)) { e in
            XCTAssertTrue("\(e)".contains("node 'dropout' (Dropout)") && "\(e)".contains("'mask' is used"), "\(e)")
        }
    }
}
