import XCTest
import Foundation
import Certus
import TestSupport

/// alpha-CROWN: never looser than CROWN, and within 1% of (or tighter than) the reference.
final class AlphaCrownTests: XCTestCase {
    func testZooAlphaCrownReachesReference() throws {
        var report: [String] = []
        for (m, s) in ReferenceBoundsTests.zooCases {
            let dir = TestData.sharedPath("reference/zoo/\(m)")
            let graph = try ModelFile.load("\(dir)/model.onnx")
            let property = try PropertyLoader.load(path: "\(dir)/\(s).vnnlib", numOutputs: graph.outputCount)
            let ref = try ReferenceBoundsTests.loadRef("\(dir)/\(s).ref.json")
            let atoms = property.rows.map(\.atom)
            let engine = BoundEngine(graph: graph)
            let crown = try engine.bound(box: property.cases[0].box, atoms: atoms, settings: BoundSettings(method: .crown))
            let alpha = try engine.bound(box: property.cases[0].box, atoms: atoms, settings: BoundSettings(method: .alphaCrown))
            let refAlpha = ref.allResults["alpha-CROWN"]!
            for k in atoms.indices {
                XCTAssertGreaterThanOrEqual(alpha[k].lower, crown[k].lower - 1e-9 * max(1, abs(crown[k].lower)), "\(m)/\(s) row \(k) looser than CROWN")
                let r = refAlpha.lower[k]!
                let ok = alpha[k].lower >= r - 0.01 * max(abs(r), 1e-2)
                if !ok { report.append("\(m)/\(s) row \(k): \(alpha[k].lower) vs reference \(r)") }
                XCTAssertTrue(ok, "\(m)/\(s) row \(k): alpha-CROWN \(alpha[k].lower) vs reference \(r)")
            }
        }
        print(report.joined(separator: "\n"))
    }
}
