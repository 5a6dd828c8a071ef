import XCTest
import Foundation
import Certus
import CertusGraph
import CertusSpec
import CertusBounds
import TestSupport

/// The rounding guard's benchmark switch (`BoundEngine.roundingGuard`, issue 15's cost
/// measurement): it is on by default, switching it off only removes the guard (each bound moves
/// up by at most a few 2^-40 of its terms' magnitude, and never down), and the float32 semantics
/// keeps it.
final class RoundingGuardSwitchTests: XCTestCase {
    private func cases() throws -> [(String, Graph, Property)] {
        let shared = TestData.sharedPath("")
        return try BoundsBenchmark.standardCases(shared: shared)
            .filter { $0.name.contains("prop_1") || $0.name.contains("prop_3") || $0.name.contains("256x2") || $0.name.contains("256x4 eps 0.05") }
            .map { c in
                let g = try ModelFile.load(c.model)
                return (c.name, g, try PropertyLoader.load(path: c.spec, numOutputs: g.outputCount))
            }
    }

    func testSwitchOnlyRemovesTheGuard() throws {
        var rows = 0, moved = 0
        for (name, graph, property) in try cases() {
            for method in [BoundMethod.ibp, .crown, .alphaCrown] {
                let guarded = BoundEngine(graph: graph)
                XCTAssertTrue(guarded.roundingGuard, "on by default")
                var settings = BoundSettings(method: method)
                settings.alphaIterations = 5; settings.alphaIntermediateIterations = 3
                settings.floatSearch = false   // the same parameters in both engines
                let a = try guarded.bound(property: property, settings: settings)
                let plain = BoundEngine(graph: graph)
                plain.roundingGuard = false
                let b = try plain.bound(property: property, settings: settings)
                XCTAssertEqual(a.rows.count, b.rows.count)
                for (x, y) in zip(a.rows, b.rows) {
                    rows += 1
                    if x.lower != y.lower { moved += 1 }
                    // Never tighter with the guard (one pass each; alpha-CROWN keeps the best of
                    // its iterations per neuron, which the guard may pick differently); the gap is
                    // rounding-sized.
                    if method != .alphaCrown {
                        XCTAssertLessThanOrEqual(x.lower, y.lower, "\(name) \(method)")
                        XCTAssertGreaterThanOrEqual(x.upper, y.upper, "\(name) \(method)")
                    }
                    XCTAssertEqual(x.lower, y.lower, accuracy: 1e-9 * Swift.max(1, Swift.abs(y.lower)), "\(name) \(method)")
                    XCTAssertEqual(x.upper, y.upper, accuracy: 1e-9 * Swift.max(1, Swift.abs(y.upper)), "\(name) \(method)")
                }
            }
        }
        XCTAssertGreaterThan(rows, 50)
        // The switch does something: many bounds lose their guard.
        XCTAssertGreaterThan(moved, rows / 4, "rows \(rows), moved \(moved)")
    }

    /// Under float32 semantics the guard stays on (its error terms reuse the guard's magnitudes).
    func testFloat32KeepsTheGuard() throws {
        let (_, graph, property) = try cases()[0]
        let a = BoundEngine(graph: graph, semantics: .float32)
        let b = BoundEngine(graph: graph, semantics: .float32)
        b.roundingGuard = false
        let ra = try a.bound(property: property), rb = try b.bound(property: property)
        XCTAssertEqual(ra.rows.map(\.lower), rb.rows.map(\.lower))
        XCTAssertEqual(ra.rows.map(\.upper), rb.rows.map(\.upper))
    }
}
