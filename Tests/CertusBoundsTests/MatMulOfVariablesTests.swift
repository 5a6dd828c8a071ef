import XCTest
import Foundation
import Certus
import TestSupport

/// MatMul of two variable matrices (attention's Q K^T) is bounded through its decomposition
/// (`MatMul.decomposition`: expanded operands, elementwise products, a sum over k): the bound
/// engine's graph computes the same function, CROWN and alpha-CROWN contain the network's value at
/// sampled points (McCormick planes of correlated operands can be looser than IBP, as the
/// reference's CROWN is), and branch and bound decides through operand splits.
final class MatMulOfVariablesTests: XCTestCase {
    /// x [3, 2] -> B = x W1^T [3, 2], A = (x W2^T)^T [2, 3] -> Y = A B [2, 2] -> flattened [1, 4].
    func network(seed: UInt64) -> Graph {
        var rng = SplitMix64(seed: seed)
        func u() -> Double { Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1 }
        let values = [ValueInfo(name: "x", shape: [3, 2]), ValueInfo(name: "W1", shape: [2, 2]), ValueInfo(name: "B", shape: [3, 2]),
                      ValueInfo(name: "W2", shape: [2, 2]), ValueInfo(name: "C", shape: [3, 2]), ValueInfo(name: "A", shape: [2, 3]),
                      ValueInfo(name: "Y", shape: [2, 2]), ValueInfo(name: "y", shape: [1, 4])]
        let constants: [Int: Tensor] = [1: Tensor(shape: [2, 2], data: (0..<4).map { _ in u() }),
                                        3: Tensor(shape: [2, 2], data: (0..<4).map { _ in u() })]
        let nodes = [Node(name: "b", opType: "Gemm", op: Gemm(transB: true), inputs: [0, 1], output: 2),
                     Node(name: "c", opType: "Gemm", op: Gemm(transB: true), inputs: [0, 3], output: 4),
                     Node(name: "a", opType: "Transpose", op: Transpose(perm: [1, 0]), inputs: [4], output: 5),
                     Node(name: "qk", opType: "MatMul", op: MatMul(), inputs: [5, 2], output: 6),
                     Node(name: "flat", opType: "Flatten", op: Flatten(axis: 0), inputs: [6], output: 7)]
        return Graph(values: values, constants: constants, nodes: nodes, input: 0, outputs: [7], metadata: ModelMetadata())
    }

    func testBoundsThroughTheDecomposition() throws {
        for seed in 0..<10 as Range<UInt64> {
            let graph = network(seed: seed)
            let engine = BoundEngine(graph: graph)
            XCTAssertFalse(engine.graph.nodes.contains { $0.op is MatMul }, "the product of two variables was not decomposed")
            var rng = SplitMix64(seed: 1000 + seed)
            let box = InputBox(lower: [Double](repeating: -1, count: 6), upper: [Double](repeating: 1, count: 6))
            let points = (0..<300).map { _ in (0..<6).map { _ in Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1 } }
            for x in points.prefix(20) {
                let want = try graph.evaluateFirst(x), got = try engine.graph.evaluateFirst(x)
                for (a, b) in zip(want, got) { XCTAssertEqual(a, b, accuracy: 1e-12 * max(1, abs(a)), "seed \(seed)") }
            }
            // Unit rows and dense random rows (where linear bounds can use cancellations).
            let atoms = (0..<4).map { j in LinearAtom(c: (0..<4).map { $0 == j ? 1.0 : 0.0 }, d: 0) }
                + (0..<4).map { _ in LinearAtom(c: (0..<4).map { _ in Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1 }, d: 0) }
            for method in [BoundMethod.crown, .alphaCrown] {
                let rows = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: method))
                for x in points {
                    let y = try graph.evaluateFirst(x)
                    for (j, a) in atoms.enumerated() {
                        let v = zip(a.c, y).reduce(0) { $0 + $1.0 * $1.1 }
                        XCTAssertLessThanOrEqual(rows[j].lower, v + 1e-9, "seed \(seed) \(method) row \(j)")
                        XCTAssertGreaterThanOrEqual(rows[j].upper, v - 1e-9, "seed \(seed) \(method) row \(j)")
                    }
                }
            }
        }
    }

    /// Branch and bound splits the products' operands: a threshold halfway between IBP's bound
    /// and the sampled minimum of Y[0, 0] is decided (unsat, or sat with a checked
    /// counterexample) where CROWN alone leaves it open.
    func testBranchAndBoundDecidesThroughOperandSplits() throws {
        var decided = 0, tried = 0
        for seed in 0..<6 as Range<UInt64> {
            let graph = network(seed: seed)
            var rng = SplitMix64(seed: 2000 + seed)
            var sampled = Double.infinity
            for _ in 0..<20_000 {
                let x = (0..<6).map { _ in Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1 }
                sampled = min(sampled, try graph.evaluateFirst(x)[0])
            }
            let box = InputBox(lower: [Double](repeating: -1, count: 6), upper: [Double](repeating: 1, count: 6))
            let row = LinearAtom(c: [1, 0, 0, 0], d: 0)
            let crown = try BoundEngine(graph: graph).bound(box: box, atoms: [row], settings: BoundSettings(method: .crown))[0].lower
            guard crown < sampled - 0.05 else { continue }
            tried += 1
            let threshold = (crown + sampled) / 2
            // Unsafe: Y[0, 0] <= threshold.
            let property = Property(numInputs: 6, numOutputs: 4,
                                    cases: [PropertyCase(box: box, clauses: [Clause(atoms: [LinearAtom(c: [1, 0, 0, 0], d: threshold)])])],
                                    source: "test")
            var s = VerifierSettings()
            s.timeout = 5
            let r = try Verifier.forMethod(.branchAndBound, graph: graph, property: property, settings: s).verify(graph: graph, property: property)
            if r.status == .unsat || r.status == .sat { decided += 1 }
        }
        XCTAssertGreaterThan(tried, 0)
        XCTAssertGreaterThanOrEqual(decided, (tried + 1) / 2, "branch and bound decided \(decided) of \(tried)")
    }
}
