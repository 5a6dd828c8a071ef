import XCTest
import Foundation
import Certus

/// CROWN splits wide passes into pieces of rows (`BoundEngine.rowBudget`: the identity rows of
/// a wide value's neurons a batch at a time, and each pass's rows in pieces). Each row's bound
/// does not depend on the others, so a tiny budget (pieces of 16 rows, one batch per 16
/// neurons) must give the same bounds as the default, on random graphs of every operator kind
/// (generic affine nodes, products, activations).
final class RowPiecesTests: XCTestCase {
    func testBoundsDoNotDependOnTheRowBudget() throws {
        var compared = 0
        for seed in 0..<80 as Range<UInt64> {
            let net = RandomNetwork.generate(seed: seed, family: .relaxable)
            let whole = BoundEngine(graph: net.graph), pieces = BoundEngine(graph: net.graph)
            pieces.rowBudget = 8
            let m = net.graph.outputs.first.map { net.graph.values[$0].shape.reduce(1, *) } ?? 0
            guard m > 0 else { continue }
            let atoms = (0..<m).map { j in LinearAtom(c: (0..<m).map { $0 == j ? 1.0 : 0.0 }, d: 0) }
            var settings = BoundSettings(method: .crown)
            settings.threads = 2
            settings.parallelWork = 0          // split across threads too
            settings.minimumRowsPerThread = 1
            guard let a = try? whole.bound(box: net.box, atoms: atoms, settings: settings) else { continue }
            let b = try pieces.bound(box: net.box, atoms: atoms, settings: settings)
            for (x, y) in zip(a, b) {
                for (u, v) in [(x.lower, y.lower), (x.upper, y.upper)] where u.isFinite || v.isFinite {
                    XCTAssertEqual(u, v, accuracy: 1e-9 * max(1, abs(u)), "seed \(seed)")
                }
            }
            // And both contain the network's value at sampled points (a mapping error inside one
            // batch would move both engines' bounds alike).
            try assertContainsSamples(net, b, seed: seed)
            compared += 1
        }
        XCTAssertGreaterThan(compared, 40)
    }

    /// alpha-CROWN's intermediate optimisation also runs a batch of neurons at a time under a
    /// tiny budget (its early stop depends on the batch, so its bounds may differ): they must
    /// still contain the network's value at sampled points.
    func testAlphaCrownInBatchesStaysSound() throws {
        var checked = 0
        for seed in 0..<40 as Range<UInt64> {
            let net = RandomNetwork.generate(seed: seed, family: .relaxable)
            let engine = BoundEngine(graph: net.graph)
            engine.rowBudget = 8
            let m = net.graph.outputs.first.map { net.graph.values[$0].shape.reduce(1, *) } ?? 0
            guard m > 0 else { continue }
            let atoms = (0..<m).map { j in LinearAtom(c: (0..<m).map { $0 == j ? 1.0 : 0.0 }, d: 0) }
            var settings = BoundSettings(method: .alphaCrown)
            settings.alphaIterations = 10; settings.alphaIntermediateIterations = 10
            guard let b = try? engine.bound(box: net.box, atoms: atoms, settings: settings) else { continue }
            try assertContainsSamples(net, b, seed: seed)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 20)
    }

    /// The rows (one per output) contain the network's value at 200 sampled points of the box.
    func assertContainsSamples(_ net: RandomNetwork, _ rows: [RowBound], seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<200 {
            let x = zip(net.box.lower, net.box.upper).map { Double.random(in: $0.0...$0.1, using: &rng) }
            let y = try net.graph.evaluateFirst(x)
            for (j, r) in rows.enumerated() where y[j].isFinite {
                XCTAssertLessThanOrEqual(r.lower, y[j] + 1e-9 * max(1, abs(y[j])), "seed \(seed) output \(j)", file: file, line: line)
                XCTAssertGreaterThanOrEqual(r.upper, y[j] - 1e-9 * max(1, abs(y[j])), "seed \(seed) output \(j)", file: file, line: line)
            }
        }
    }
}
