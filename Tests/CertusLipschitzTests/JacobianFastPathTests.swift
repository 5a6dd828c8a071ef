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
    /// The Jacobian graph (3 seeds) of a random 5-32-32-3 ReLU MLP, its engine, and a box of
    /// half-width 0.05 (even seeds) or 0.3 around a random centre.
    static func jacobianCase(seed: UInt64, boxSeed: UInt64) throws -> (JacobianGraph, BoundEngine, ValueBounds) {
        let model = LipschitzTests.mlp(seed: seed, act: Relu(), sizes: [5, 32, 32, 3])
        let seeds = (0..<3).map { j in (0..<3).map { $0 == j ? 1.0 : 0.0 } }
        let jac = try JacobianGraph(model: model, seeds: seeds, quantity: .absoluteSum)
        var rng = SplitMix64(seed: boxSeed)
        let center = (0..<5).map { _ in Double(rng.next() >> 11) / Double(1 << 53) - 0.5 }
        let eps = seed % 2 == 0 ? 0.05 : 0.3
        return (jac, BoundEngine(graph: jac.graph), ValueBounds(lower: center.map { $0 - eps }, upper: center.map { $0 + eps }))
    }

    func testFastPathsGiveTheGeneralPassesBounds() throws {
        var checked = 0, zeroColumnPasses = 0
        for seed in UInt64(0)..<6 {
            let (jac, engine, box) = try Self.jacobianCase(seed: seed, boxSeed: 100 + seed)
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

    /// The dense-layer fast paths of intermediate bounds (`DenseStart.swift`) against the general
    /// code on Jacobian graphs (Gemm with a bias in the forward part, MatMul with the constant
    /// Jacobians in the backward part): the unit rows' first step as a selection of the weight's
    /// rows (`neuronBoundRows`, in pieces) against the pass from `Matrix.plusMinusRows`
    /// (`backward`), and IBP through the dense map with |W| made once against the operator's
    /// `interval` and `affineMagnitudes`, which must agree far inside the rounding guard.
    func testDenseStartGivesTheGeneralPassesBounds() throws {
        var passes = 0, intervals = 0, differing = 0
        for seed in UInt64(0)..<4 {
            let (_, engine, box) = try Self.jacobianCase(seed: seed, boxSeed: 200 + seed)
            var relax: [Int: BoundEngine.Relaxation] = [:]
            var settings = BoundSettings(method: .crown)
            settings.threads = 2; settings.parallelWork = 0; settings.minimumRowsPerThread = 1
            let bounds = try engine.intermediateBounds(box: box, settings: settings, relaxations: &relax)
            for v in engine.needsBounds.sorted() {
                guard let i = engine.producer[v], engine.selectionStep(node: i) != nil else { continue }
                let n = engine.size(v), neurons = Array(0..<n)
                var r1 = relax, r2 = relax
                let fast = try engine.neuronBoundRows(target: v, neurons: neurons, box: box, bounds: bounds,
                                                      relaxations: &r1, settings: settings)
                let general = try engine.backward(target: v, A: Matrix.plusMinusRows(neurons, width: n), box: box,
                                                  bounds: bounds, relaxations: &r2)
                XCTAssertEqual(fast.count, general.count)
                for k in general.indices {
                    // Zero columns left out of BLAS products piece by piece may reorder a sum's
                    // terms (a last-bit difference); nothing else may differ.
                    if fast[k] != general[k] { differing += 1 }
                    XCTAssertEqual(fast[k], general[k], accuracy: 1e-12 * Swift.max(1, Swift.abs(general[k])),
                                   "seed \(seed), value \(v), row \(k)")
                }
                passes += 1
            }
            for (i, node) in engine.graph.nodes.enumerated() where engine.kinds[i] == .affine {
                let ins = node.inputs.map { v -> IntervalTensor in
                    if let t = engine.graph.constants[v] { return IntervalTensor(constant: t) }
                    let b = bounds[v]!, shape = engine.graph.values[v].shape
                    return IntervalTensor(lower: Tensor(shape: shape, data: b.lower), upper: Tensor(shape: shape, data: b.upper))
                }
                guard let dense = try engine.denseInterval(node: i, inputs: ins) else { continue }
                let r = try node.op.interval(ins)
                let (magL, magU) = try engine.affineMagnitudes(node: i, inputs: ins)
                // The same real interval, rounded in another order (W's BLAS product instead of
                // the operator's own): the ends agree far inside the rounding guard (2^-40 of
                // the magnitude), which covers either; the magnitudes agree to rounding.
                for j in r.lower.data.indices {
                    let slack = 0x1p-46 * magL[j]
                    XCTAssertEqual(dense.interval.lower.data[j], r.lower.data[j], accuracy: slack, "seed \(seed), node \(node.name)")
                    XCTAssertEqual(dense.interval.upper.data[j], r.upper.data[j], accuracy: slack, "seed \(seed), node \(node.name)")
                    XCTAssertEqual(dense.magnitude[j], magL[j], accuracy: 1e-12 * magL[j])
                    XCTAssertEqual(dense.magnitude[j], magU[j], accuracy: 1e-12 * magU[j])
                }
                intervals += 1
            }
        }
        XCTAssertGreaterThan(passes, 10)
        XCTAssertGreaterThan(intervals, 20)
        print("dense-start passes checked: \(passes), IBP nodes: \(intervals), rows differing in the last bits: \(differing)")
    }
}
