import XCTest
import Foundation
import Certus
@testable import CertusBounds
import CertusGraph
import CertusLipschitz
import CertusVerify

/// The bound engine's fast paths for CROWN's default relaxations (`BackwardFastPaths.swift`) on
/// Jacobian graphs, against the general code of `BoundEngine.backward` on the same passes: a
/// product with parameters that are all NaN takes the general per-element loop with CROWN's
/// default planes, and a recorded pass neither stops at zero-slope nodes nor leaves out zero
/// columns. Every value whose bounds a relaxation needs, and the graph's output, is bounded.
final class JacobianFastPathTests: XCTestCase {
    func testFastPathsGiveTheGeneralPassesBounds() throws {
        var checked = 0, zeroColumnPasses = 0
        for seed in UInt64(0)..<6 {
            let model = LipschitzTests.mlp(seed: seed, act: Relu(), sizes: [5, 32, 32, 3])
            let seeds = (0..<3).map { j in (0..<3).map { $0 == j ? 1.0 : 0.0 } }
            let jac = try JacobianGraph(model: model, seeds: seeds, quantity: .absoluteSum)
            let engine = BoundEngine(graph: jac.graph)
            var rng = SplitMix64(seed: 100 + seed)
            let center = (0..<5).map { _ in Double(rng.next() >> 11) / Double(1 << 53) - 0.5 }
            let eps = seed % 2 == 0 ? 0.05 : 0.3
            let box = ValueBounds(lower: center.map { $0 - eps }, upper: center.map { $0 + eps })
            var relax: [Int: BoundEngine.Relaxation] = [:]
            let bounds = try engine.intermediateBounds(box: box, settings: BoundSettings(method: .crown), relaxations: &relax)
            let targets = engine.needsBounds.sorted() + [jac.graph.outputs[0]]
            for v in targets where engine.producer[v] != nil {
                let n = engine.size(v)
                var A = Matrix(zeros: 2 * n, n)
                for j in 0..<n { A[j, j] = 1; A[n + j, j] = -1 }
                // Every product's parameters NaN: the general loop, CROWN's default planes.
                var nanParameters: [Int: NodeParameters] = [:]
                for (i, node) in engine.graph.nodes.enumerated() where engine.kinds[i] == .bilinear {
                    let cols = engine.size(node.output)
                    let nan = Matrix(rows: 2 * n, cols: cols, data: [Double](repeating: .nan, count: 2 * n * cols))
                    nanParameters[i] = NodeParameters(lower: nan, upper: nan)
                }
                var r1 = relax, r2 = relax, r3 = relax
                let fast = try engine.backward(target: v, A: A, box: box, bounds: bounds, relaxations: &r1)
                let recorded = try engine.backward(target: v, A: A, box: box, bounds: bounds, relaxations: &r2,
                                                   record: BoundEngine.BackwardRecord())
                let general = try engine.backward(target: v, A: A, box: box, bounds: bounds, relaxations: &r3,
                                                  parameters: nanParameters, record: BoundEngine.BackwardRecord())
                // The product's fast path is the general loop's arithmetic, bit for bit.
                XCTAssertEqual(recorded, general, "seed \(seed), value \(v)")
                // Stopping at zero-slope nodes adds the same terms; leaving zero columns out of
                // BLAS products may only reorder them (a last-bit difference).
                for k in fast.indices {
                    if fast[k] != recorded[k] { zeroColumnPasses += 1 }
                    XCTAssertEqual(fast[k], recorded[k], accuracy: 1e-12 * Swift.max(1, Swift.abs(recorded[k])),
                                   "seed \(seed), value \(v), row \(k)")
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 30)
        print("fast-path passes checked: \(checked), rows differing in the last bits: \(zeroColumnPasses)")
    }
}
