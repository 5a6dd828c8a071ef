import XCTest
import Foundation
import Certus
import TestSupport

/// `OutputSoftmax`: a final Softmax is dropped for bounding when the property compares its outputs
/// pairwise, kept otherwise; counterexamples are confirmed on the model as given.
final class OutputSoftmaxTests: XCTestCase {
    /// A graph built operator by operator through the registry (as the ONNX loader does).
    struct Builder {
        var values: [ValueInfo] = []
        var constants: [Int: Tensor] = [:]
        var nodes: [Node] = []

        init(input shape: [Int]) { values.append(ValueInfo(name: "x", shape: shape)) }

        mutating func constant(_ t: Tensor) -> Int {
            values.append(ValueInfo(name: "c\(values.count)", shape: t.shape))
            constants[values.count - 1] = t
            return values.count - 1
        }

        @discardableResult
        mutating func node(_ opType: String, _ inputs: [Int], _ attributes: [String: AttributeValue] = [:], opset: Int = 13) throws -> Int {
            let shapes = inputs.map { values[$0].shape }
            let ctx = NodeContext(name: "\(opType.lowercased())_\(nodes.count)", opType: opType, opset: opset, attributes: attributes,
                                  inputShapes: shapes, constantInputs: inputs.map { constants[$0] })
            let op = try OperatorRegistry.make(ctx)
            values.append(ValueInfo(name: "v\(values.count)", shape: try op.outputShape(shapes)))
            nodes.append(Node(name: ctx.name, opType: opType, op: op, inputs: inputs, output: values.count - 1))
            return values.count - 1
        }

        func graph(output: Int) -> Graph {
            Graph(values: values, constants: constants, nodes: nodes, input: 0, outputs: [output], metadata: ModelMetadata())
        }
    }

    /// z = W2 sigmoid(W1 x) on x in R^2, three classes; with `softmax`, y = Softmax(z) over axis 1.
    /// At x = (1, -1) class 0 leads by about 1.4; at x = (-1, 1) class 1 leads.
    func classifier(softmax: Bool) throws -> Graph {
        var b = Builder(input: [1, 2])
        let w1 = b.constant(Tensor(shape: [3, 2], data: [1, 0, 0, 1, 1, 1]))
        let w2 = b.constant(Tensor(shape: [3, 3], data: [2, 0, 1, 0, 2, 0, -1, -1, 1]))
        let h = try b.node("Sigmoid", [try b.node("Gemm", [0, w1], ["transB": .int(1)])])
        let z = try b.node("Gemm", [h, w2], ["transB": .int(1)])
        guard softmax else { return b.graph(output: z) }
        let y = try b.node("Softmax", [z], ["axis": .int(1)])
        return b.graph(output: y)
    }

    /// Unsafe: some class j != label scores at least as much as `label`: one clause
    /// `y_label - y_j <= 0` per j, over the box `centre ± eps`.
    func argmaxProperty(label: Int, centre: [Double], eps: Double, classes: Int = 3) -> Property {
        let clauses = (0..<classes).filter { $0 != label }.map { j -> Clause in
            var c = [Double](repeating: 0, count: classes)
            c[label] = 1; c[j] = -1
            return Clause(atoms: [LinearAtom(c: c, d: 0)])
        }
        return Property(numInputs: centre.count, numOutputs: classes,
                        cases: [PropertyCase(box: InputBox(lower: centre.map { $0 - eps }, upper: centre.map { $0 + eps }),
                                             clauses: clauses)], source: "argmax")
    }

    var noAttack: VerifierSettings {
        var s = VerifierSettings()
        s.attackRestarts = 0
        s.randomSamples = 0
        s.cornerSampling = false
        return s
    }

    /// The fact the rewrite rests on, checked by sampling: every pairwise atom (either direction,
    /// any scale) has the same truth value on the softmax outputs as on the logits.
    func testPairwiseAtomsAgreeOnSoftmaxAndLogits() throws {
        let withSoftmax = try classifier(softmax: true), logits = try classifier(softmax: false)
        var checked = 0
        let grid = stride(from: -3.0, through: 3.0, by: 0.125)
        for x in grid.flatMap({ a in grid.map { [a, $0] } }) {
            let y = try withSoftmax.evaluateFirst(x), z = try logits.evaluateFirst(x)
            XCTAssertEqual(y.reduce(0, +), 1, accuracy: 1e-12)
            for i in 0..<3 { for j in 0..<3 where i != j {
                for a in [1.0, -2.5, 1e-3] {
                    var c = [0.0, 0, 0]; c[i] = a; c[j] = -a
                    let atom = LinearAtom(c: c, d: 0)
                    guard abs(z[i] - z[j]) > 1e-9 else { continue }   // a tie in Double, not a counterexample to the fact
                    XCTAssertEqual(atom.isSatisfied(by: y), atom.isSatisfied(by: z), "x = \(x), atom \(c)")
                    checked += 1
                }
            }}
        }
        XCTAssertGreaterThan(checked, 10_000)
    }

    /// (1) An argmax property on the Softmax-ended net is proven by CROWN and alpha-CROWN, which
    /// cannot bound the Softmax itself; the answers match the logits net on several boxes.
    func testPairwisePropertyIsProvenOnTheLogits() throws {
        let withSoftmax = try classifier(softmax: true), logits = try classifier(softmax: false)
        let robust = argmaxProperty(label: 0, centre: [1, -1], eps: 0.1)

        // Without the rewrite CROWN stops at the Softmax's IBP interval (it has no relaxation); the
        // rewrite on the logits is at least as tight.
        let through = try BoundEngine(graph: withSoftmax).bound(property: robust, settings: BoundSettings(method: .crown))
        let (g, note) = OutputSoftmax.graphForBounds(withSoftmax, property: robust)
        let onLogits = try BoundEngine(graph: g).bound(property: robust, settings: BoundSettings(method: .crown))
        XCTAssertTrue(onLogits.verified, "\(onLogits.propertyLower)")
        XCTAssertLessThanOrEqual(through.propertyLower, 1, "\(through.propertyLower)")
        XCTAssertEqual(g.nodes.count, withSoftmax.nodes.count - 1)
        XCTAssertFalse(g.nodes.contains { $0.op is Softmax })
        XCTAssertEqual(g.outputs, [withSoftmax.nodes.last!.inputs[0]])
        XCTAssertTrue(note?.contains("removed") ?? false, "\(note ?? "nil")")
        for x in [[1.0, -1], [0.3, 0.2], [-1, 1]] {
            XCTAssertEqual(try g.evaluateFirst(x), try logits.evaluateFirst(x))
        }

        for method in [VerificationMethod.crown, .alphaCrown] {
            let r = try Verifier.forMethod(method, graph: withSoftmax, property: robust).verify(graph: withSoftmax, property: robust)
            XCTAssertEqual(r.status, .unsat, "\(method): \(r.details)")
            XCTAssertTrue(r.details.contains { $0.contains("final Softmax 'softmax_3' removed") }, "\(r.details)")
        }
        // Same answers as on the logits net: robust boxes, violated boxes, both labels.
        let problems = [argmaxProperty(label: 0, centre: [1, -1], eps: 0.1), argmaxProperty(label: 0, centre: [1, -1], eps: 0.3),
                        argmaxProperty(label: 1, centre: [-1, 1], eps: 0.2), argmaxProperty(label: 0, centre: [0, 0], eps: 1),
                        argmaxProperty(label: 2, centre: [1, -1], eps: 0.1), argmaxProperty(label: 1, centre: [-1, 1], eps: 3)]
        var statuses: [VerificationStatus] = []
        for p in problems {
            let a = try Verifier.forMethod(.crown, graph: withSoftmax, property: p).verify(graph: withSoftmax, property: p)
            let b = try Verifier.forMethod(.crown, graph: logits, property: p).verify(graph: logits, property: p)
            XCTAssertEqual(a.status, b.status, "\(p.cases[0].box): \(a.details) vs \(b.details)")
            statuses.append(a.status)
        }
        XCTAssertTrue(statuses.contains(.unsat) && statuses.contains(.sat), "\(statuses)")
    }

    /// (2) Properties the rewrite does not cover keep the Softmax (and its clear error).
    func testOtherPropertiesKeepTheSoftmax() throws {
        let withSoftmax = try classifier(softmax: true)
        let box = InputBox(lower: [0.9, -1.1], upper: [1.1, -0.9])
        func property(_ atoms: [LinearAtom]) -> Property {
            Property(numInputs: 2, numOutputs: 3, cases: [PropertyCase(box: box, clauses: [Clause(atoms: atoms)])], source: "t")
        }
        let kept: [(LinearAtom, String)] = [
            (LinearAtom(c: [-1, 0, 0], d: -0.5), "offset"),            // y_0 >= 0.5
            (LinearAtom(c: [1, -1, 0], d: 0.01), "offset"),            // y_0 - y_1 <= 0.01
            (LinearAtom(c: [1, 0, 0], d: 0), "1 non-zero"),            // y_0 <= 0
            (LinearAtom(c: [2, -1, 0], d: 0), "not a and -a"),         // 2 y_0 - y_1 <= 0
            (LinearAtom(c: [1, -1, 1], d: 0), "3 non-zero"),
        ]
        for (atom, why) in kept {
            // Alone, and after a pairwise atom (every atom must be pairwise).
            for p in [property([atom]), property([LinearAtom(c: [0, 1, -1], d: 0), atom])] {
                let (g, note) = OutputSoftmax.graphForBounds(withSoftmax, property: p)
                XCTAssertEqual(g.outputs, withSoftmax.outputs, "\(atom)")
                XCTAssertEqual(g.nodes.count, withSoftmax.nodes.count)
                XCTAssertTrue(note?.contains("kept") == true && note?.contains(why) == true, "\(atom): \(note ?? "nil")")
            }
        }
        // y_0 >= 0.99 (at most about 0.76 in this box): with the Softmax kept, CROWN ends at its
        // IBP interval, which here is enough to prove it.
        let threshold = property([LinearAtom(c: [-1, 0, 0], d: -0.99)])
        let r = try Verifier(settings: noAttack, provers: [BoundProver(method: .crown)]).verify(graph: withSoftmax, property: threshold)
        XCTAssertEqual(r.status, .unsat, "\(r.details)")
        // Dense check that it holds: y_0 < 0.99 on the box.
        let region = threshold.cases[0].box
        var rng = SplitMix64(seed: 99)
        for _ in 0..<2000 {
            var x: [Double] = []
            for j in region.lower.indices { x.append(Double.random(in: region.lower[j]...region.upper[j], using: &rng)) }
            let y0: Double = try withSoftmax.evaluateFirst(x)[0]
            XCTAssertLessThan(y0, 0.99)
        }

        // A Softmax that is not last: nothing to remove, no note.
        var b = Builder(input: [1, 3])
        let s = try b.node("Softmax", [0], ["axis": .int(1)])
        let shift = b.constant(Tensor(shape: [1, 3], data: [0, 0.1, 0]))
        let sum = try b.node("Add", [s, shift])
        let shifted = b.graph(output: sum)
        let pairwise = Property(numInputs: 3, numOutputs: 3, cases: [PropertyCase(box: InputBox(lower: [0, 0, 0], upper: [1, 1, 1]),
                                clauses: [Clause(atoms: [LinearAtom(c: [1, -1, 0], d: 0)])])], source: "t")
        let (g2, note2) = OutputSoftmax.graphForBounds(shifted, property: pairwise)
        XCTAssertEqual(g2.outputs, shifted.outputs)
        XCTAssertNil(note2)

        // Two softmax groups (shape [2, 2], axis 1): a comparison within a row is rewritten, one
        // across rows is not.
        var b2 = Builder(input: [2, 2])
        let y2 = try b2.node("Softmax", [try b2.node("Sigmoid", [0])], ["axis": .int(1)])
        let rows = b2.graph(output: y2)
        func onRows(_ c: [Double]) -> Property {
            Property(numInputs: 4, numOutputs: 4, cases: [PropertyCase(box: InputBox(lower: [0, 0, 0, 0], upper: [1, 1, 1, 1]),
                     clauses: [Clause(atoms: [LinearAtom(c: c, d: 0)])])], source: "t")
        }
        XCTAssertNotEqual(OutputSoftmax.graphForBounds(rows, property: onRows([0, 0, 1, -1])).graph.outputs, rows.outputs)
        let across = OutputSoftmax.graphForBounds(rows, property: onRows([1, 0, -1, 0]))
        XCTAssertEqual(across.graph.outputs, rows.outputs)
        XCTAssertTrue(across.note?.contains("different softmax groups") ?? false, "\(across.note ?? "nil")")
        // The same comparison with the Softmax over axis 0 (columns) is within one group.
        var b3 = Builder(input: [2, 2])
        let y3 = try b3.node("Softmax", [try b3.node("Sigmoid", [0])], ["axis": .int(0)])
        let columns = b3.graph(output: y3)
        XCTAssertNotEqual(OutputSoftmax.graphForBounds(columns, property: onRows([1, 0, -1, 0])).graph.outputs, columns.outputs)
        XCTAssertEqual(OutputSoftmax.graphForBounds(columns, property: onRows([0, 0, 1, -1])).graph.outputs, columns.outputs)
        // Opset < 13 flattens from the axis: axis 0 normalises all four together, axis 1 each row.
        for (axis, rewritten) in [(0, true), (1, false)] {
            var b4 = Builder(input: [2, 2])
            let y4 = try b4.node("Softmax", [try b4.node("Sigmoid", [0])], ["axis": .int(axis)], opset: 11)
            let legacy = b4.graph(output: y4)
            XCTAssertEqual(OutputSoftmax.graphForBounds(legacy, property: onRows([1, 0, -1, 0])).graph.outputs != legacy.outputs,
                           rewritten, "opset 11, axis \(axis)")
        }
    }

    /// (3) A counterexample found by a prover on the logits is confirmed on the model as given:
    /// the reported outputs are the softmax probabilities.
    func testCounterexampleIsConfirmedOnTheOriginalModel() throws {
        let withSoftmax = try classifier(softmax: true)
        let violated = argmaxProperty(label: 0, centre: [0, 0], eps: 1)   // (-1, 1) is in the box; class 1 leads there
        /// Records the graph it is given and answers with a fixed candidate.
        final class Recorder: PropertyProver, @unchecked Sendable {
            var seen: Graph?
            let candidate: [Double]
            init(candidate: [Double]) { self.candidate = candidate }
            var name: String { "recorder" }
            func prove(graph: Graph, property: Property, deadline: Deadline) throws -> ProverOutcome {
                seen = graph
                return .counterexample(candidate)
            }
        }
        let recorder = Recorder(candidate: [-1, 1])
        let r = try Verifier(settings: noAttack, provers: [recorder]).verify(graph: withSoftmax, property: violated)
        XCTAssertEqual(r.status, .sat, "\(r.details)")
        XCTAssertFalse(recorder.seen?.nodes.contains { $0.op is Softmax } ?? true, "the prover should get the logits")
        let cx = try XCTUnwrap(r.counterexample)
        XCTAssertEqual(cx.y, try withSoftmax.evaluateFirst(cx.x))
        XCTAssertEqual(cx.y.reduce(0, +), 1, accuracy: 1e-12)
        XCTAssertTrue(cx.y[1] > cx.y[0], "\(cx.y)")

        // A real prover searching the logits: input splitting finds a violation, confirmed likewise.
        let search = try Verifier(settings: noAttack, provers: [InputSplitProver(settings: noAttack)])
            .verify(graph: withSoftmax, property: violated)
        XCTAssertEqual(search.status, .sat, "\(search.details)")
        XCTAssertEqual(search.method, "input-split")
        let cx2 = try XCTUnwrap(search.counterexample)
        XCTAssertEqual(cx2.y, try withSoftmax.evaluateFirst(cx2.x))
        XCTAssertNotNil(violated.violatingClause(x: cx2.x, y: cx2.y))
    }

    /// (4) The sigmoid_mnist net with a final Softmax: an instance expected unsat is proven by
    /// CROWN on its logits.
    func testSigmoidMnistSoftmaxNetIsProven() throws {
        let folder = "benchmarks/sigmoid_mnist"
        let expected = try VerifyTestData.expected("sigmoid_mnist")
        XCTAssertEqual(expected["logsig_200_50_onnx.onnx,mnist255_img1_eps3.vnnlib"], "unsat")
        let p = try VerifyTestData.problem("\(folder)/logsig_200_50_onnx.onnx", "\(folder)/mnist255_img1_eps3.vnnlib")
        XCTAssertTrue(p.graph.nodes.last?.op is Softmax)
        // CROWN without the attack, to stay short in a debug build (the attack only spends its time
        // share here; the release CLI's `verify --method alpha-crown` and `--method crown`, which
        // run it, answer unsat too).
        var s = noAttack
        s.timeout = 120
        let r = try Verifier(settings: s, provers: [BoundProver(method: .crown)]).verify(graph: p.graph, property: p.property)
        XCTAssertEqual(r.status, .unsat, "\(r.details)")
        XCTAssertEqual(r.method, "crown")
        XCTAssertTrue(r.details.contains { $0.contains("removed") }, "\(r.details)")
    }
}
