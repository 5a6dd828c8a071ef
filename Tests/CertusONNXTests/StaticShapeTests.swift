import XCTest
import Foundation
import Certus
import TestSupport

/// Static shapes read at load: `Shape` of a computed value is a constant, and the
/// `Shape -> Gather -> Unsqueeze -> Concat -> Reshape` computation of old `x.view(x.size(0), -1)`
/// exports folds away. Reference outputs come from onnxruntime
/// (scripts/make-static-shape-fixtures.py writes Tests/Fixtures/static_shape).
final class StaticShapeTests: XCTestCase {
    struct EvalRef: Decodable {
        struct Case: Decodable { var input: [Double]; var output: [Double] }
        var cases: [Case]
    }

    let fixtures = TestData.repoPath("Tests/Fixtures/static_shape")

    func reference(_ name: String) throws -> EvalRef {
        try JSONDecoder().decode(EvalRef.self, from: Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/\(name).eval_ref.json")))
    }

    /// Certus equals onnxruntime on every recorded input (float32 there, Double here: 1e-5 relative).
    func assertMatches(_ graph: Graph, _ ref: EvalRef, _ what: String) throws {
        XCTAssertEqual(ref.cases.count, 9, what)
        var nonzero = 0
        for c in ref.cases {
            let y = try graph.evaluateFirst(c.input)
            XCTAssertEqual(y.count, c.output.count, what)
            for (a, b) in zip(y, c.output) {
                XCTAssertTrue(TestData.close(a, b, rel: 1e-5, floor: 1e-3), "\(what): certus \(a) vs onnxruntime \(b)")
                if b != 0 { nonzero += 1 }
            }
        }
        XCTAssertGreaterThan(nonzero, 10, "\(what): the references must exercise the model")
    }

    func testFixturesMatchOnnxruntimeAndFoldTheShapeComputation() throws {
        let view = try ModelFile.load("\(fixtures)/view_flatten.onnx")
        // Shape, the index Gather, Unsqueeze and Concat are folded; the Gather on activations stays.
        XCTAssertEqual(view.nodes.map(\.opType), ["Reshape", "MatMul", "Relu", "Gather"])
        XCTAssertEqual(view.inputShape, [1, 2, 3, 4])
        XCTAssertEqual(view.values[view.outputs[0]].shape, [1, 4])
        try assertMatches(view, try reference("view_flatten"), "view_flatten")

        let slice = try ModelFile.load("\(fixtures)/shape_slice.onnx")
        XCTAssertEqual(slice.nodes.map(\.opType), ["Reshape", "Gather", "Flatten", "MatMul", "Tanh"])
        try assertMatches(slice, try reference("shape_slice"), "shape_slice")
    }

    /// The shared case (refused before with "unsupported operator 'Shape'") loads and evaluates
    /// like onnxruntime, in both encodings.
    func testSharedCaseLoadsAndEvaluates() throws {
        let path = TestData.sharedPath("cases/soundness/n_shape_gather_concat.onnx")
        let g = try ModelFile.load(path)
        XCTAssertFalse(g.nodes.contains { $0.opType == "Shape" || $0.opType == "Concat" })
        try assertMatches(g, try reference("n_shape_gather_concat"), "n_shape_gather_concat")
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("certus-shape-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: json) }
        try ModelFile.convert(from: path, to: json)
        let gj = try ModelFile.load(json)
        let x = try reference("n_shape_gather_concat").cases[0].input
        XCTAssertEqual(try gj.evaluateFirst(x), try g.evaluateFirst(x))
    }

    /// IBP and CROWN through the Gather on activations contain every sampled output.
    func testBoundsThroughGatherContainSampledOutputs() throws {
        let g = try ModelFile.load("\(fixtures)/view_flatten.onnx")
        var rng = SystemRandomNumberGenerator()
        let center = try reference("view_flatten").cases[0].input
        let box = InputBox(lower: center.map { $0 - 0.3 }, upper: center.map { $0 + 0.3 })
        let m = g.outputCount
        // Rows: each output alone, from above and from below.
        var rows: [[Double]] = []
        for j in 0..<m {
            for s in [1.0, -1.0] { var c = [Double](repeating: 0, count: m); c[j] = s; rows.append(c) }
        }
        let samples = (0..<2000).map { _ in zip(box.lower, box.upper).map { Double.random(in: $0...$1, using: &rng) } }
        let outputs = try samples.map { try g.evaluateFirst($0) }
        for method in [BoundMethod.ibp, .crown] {
            let bounds = try BoundEngine(graph: g).bound(box: box, atoms: rows.map { LinearAtom(c: $0, d: 0) },
                                                         settings: BoundSettings(method: method))
            for (k, c) in rows.enumerated() {
                let values = outputs.map { y in zip(c, y).map(*).reduce(0, +) }
                XCTAssertLessThanOrEqual(bounds[k].lower, values.min()! + 1e-9, "\(method) row \(k)")
                XCTAssertGreaterThanOrEqual(bounds[k].upper, values.max()! - 1e-9, "\(method) row \(k)")
            }
            // Output 0 and output 2 are the same activation (index 4 twice): identical bounds.
            XCTAssertEqual(bounds[0].lower, bounds[4].lower, accuracy: 1e-12, "\(method)")
            XCTAssertEqual(bounds[0].upper, bounds[4].upper, accuracy: 1e-12, "\(method)")
        }
    }

    /// Gather's backward is the transpose of its selection (repeated indices add up), and Shape's
    /// output is a constant with a zero derivative and a degenerate interval.
    func testGatherAndShapeOperatorContracts() throws {
        let idx = Tensor(shape: [2, 2], data: [2, 0, 2, -3])
        let ctx = NodeContext(name: "g", opType: "Gather", opset: 13, attributes: ["axis": .int(1)],
                              inputShapes: [[2, 3, 2], [2, 2]], constantInputs: [nil, idx])
        let op = try Gather.make(ctx)
        XCTAssertEqual(try op.outputShape([[2, 3, 2], [2, 2]]), [2, 2, 2, 2])
        let x = Tensor(shape: [2, 3, 2], data: (0..<12).map(Double.init))
        let y = try op.evaluate([x, idx])
        // y[o, i, j, k] = x[o, idx[i, j], k] with idx = [[2, 0], [2, 0]].
        var expected: [Double] = []
        for o in 0..<2 { for i in [2, 0, 2, 0] { for k in 0..<2 { expected.append(x.data[o * 6 + i * 2 + k]) } } }
        XCTAssertEqual(y.data, expected)
        let grad = try op.backward([x, idx], output: y, gradient: Tensor(shape: y.shape, repeating: 1))
        XCTAssertNil(grad[1])
        XCTAssertEqual(grad[0]?.data, [2, 2, 0, 0, 2, 2, 2, 2, 0, 0, 2, 2])
        XCTAssertEqual(op.boundKind(constantInputs: [false, true]), .affine)
        let iv = try op.interval([IntervalTensor(lower: x, upper: Tensor(shape: x.shape, data: x.data.map { $0 + 1 })),
                                  IntervalTensor(constant: idx)])
        XCTAssertEqual(iv.lower, y)
        XCTAssertEqual(iv.upper.data, y.data.map { $0 + 1 })

        let shape = try Shape.make(NodeContext(name: "s", opType: "Shape", opset: 15, attributes: ["start": .int(-2)],
                                               inputShapes: [[1, 2, 3, 4]], constantInputs: [nil]))
        XCTAssertEqual(try shape.outputShape([[1, 2, 3, 4]]), [2])
        let v = Tensor(shape: [1, 2, 3, 4], repeating: 7)
        XCTAssertEqual(try shape.evaluate([v]), Tensor(shape: [2], data: [3, 4]))
        XCTAssertEqual(try shape.backward([v], output: Tensor(shape: [2], data: [3, 4]), gradient: Tensor(shape: [2], repeating: 1))[0],
                       Tensor(shape: v.shape, repeating: 0))
        let si = try shape.interval([IntervalTensor(lower: Tensor(shape: v.shape, repeating: -1), upper: v)])
        XCTAssertEqual(si, IntervalTensor(constant: Tensor(shape: [2], data: [3, 4])))
        XCTAssertEqual(shape.boundKind(constantInputs: [false]), .affine)
        // start past end gives an empty shape, as in onnxruntime.
        let empty = Shape(start: 3, end: 1)
        XCTAssertEqual(try empty.evaluate([v]).shape, [0])
    }

    /// Gather indices that do not fit, or that are computed, are refused at load naming the node.
    func testGatherErrorsNameTheNode() throws {
        let out = NodeContext(name: "pick", opType: "Gather", opset: 13, attributes: [:],
                              inputShapes: [[3, 2], []], constantInputs: [nil, Tensor(scalar: 3)])
        XCTAssertThrowsError(try Gather.make(out)) { e in
            let d = "\(e)"
            XCTAssertTrue(d.contains("node 'pick' (Gather)") && d.contains("index 3") && d.contains("size 3"), d)
        }
        let computed = NodeContext(name: "pick", opType: "Gather", opset: 13, attributes: [:],
                                   inputShapes: [[3, 2], [1]], constantInputs: [nil, nil])
        XCTAssertThrowsError(try Gather.make(computed)) { e in
            XCTAssertEqual((e as? ModelError)?.kind, .unsupportedFeature)
            XCTAssertTrue("\(e)".contains("indices"), "\(e)")
        }
        let fractional = NodeContext(name: "pick", opType: "Gather", opset: 13, attributes: [:],
                                     inputShapes: [[3, 2], []], constantInputs: [nil, Tensor(scalar: 0.5)])
        XCTAssertThrowsError(try Gather.make(fractional))
    }
}
