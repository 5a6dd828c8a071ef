import XCTest
import Foundation
import Certus

/// The properties the bundled sector classifier must keep, checked through the `Certus` front
/// door. Each test fails when a retrained model loses its property; `testBrokenModelIsCaught`
/// shows that on a deliberately broken model (one output weight perturbed by
/// scripts/make-modelgate-models.py).
final class ModelGateTests: XCTestCase {
    /// This package's folder (the models and specs are beside `Package.swift`).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    let sector = Certus.Model.file(path("Models/sector.onnx"))
    let broken = Certus.Model.file(path("Models/sector_broken.onnx"))
    /// The classes' prototypes: class k wins in the sector around prototypes[k].
    let prototypes: [[Double]] = [[1, 0], [-0.5, 0.8660254], [-0.5, -0.8660254]]

    /// Fails with the counterexample (or the verifier's log) unless the property is proven.
    func assertProven(_ model: Certus.Model, _ spec: Certus.Spec, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try Certus.verify(model: model, spec: spec, options: .init(timeout: 60))
        XCTAssertEqual(r.status, .unsat, r.counterexample.map { "counterexample: \($0.witness)" } ?? r.details.joined(separator: "\n"),
                       file: file, line: line)
    }

    /// Every sector keeps its class within 0.3 (L-inf) of its prototype.
    func testEverySectorIsRobust() throws {
        for (label, center) in prototypes.enumerated() {
            try assertProven(sector, .robustness(.ball(center: center, epsilon: 0.3), label: label))
        }
    }

    /// The same property for sector 0, written as a VNN-LIB file.
    func testSpecFile() throws {
        try assertProven(sector, .file(Self.path("Specs/sector0_robust.vnnlib")))
    }

    /// A safety envelope: near prototype 0, output 0 stays above 0.5 and beats output 1 by 0.5.
    func testSafetyEnvelope() throws {
        let near = Certus.Region.box(lower: [0.8, -0.2], upper: [1.2, 0.2])
        try assertProven(sector, .outputs(near, satisfy: [.output(0, atLeast: 0.5), .difference(0, minus: 1, atLeast: 0.5)]))
        // Certified bounds of the same rows: y_0 - 0.5 and (y_0 - y_1) - 0.5 stay positive.
        let b = try Certus.bounds(model: sector, spec: .outputs(near, satisfy: [.output(0, atLeast: 0.5)]))
        XCTAssertTrue(b.verified)
        XCTAssertGreaterThan(b.rows[0].lower, 0)
    }

    /// Output 0 changes by at most 2 per unit of L-inf input change around prototype 0.
    func testLipschitzBudget() throws {
        var o = Certus.LipschitzOptions(norm: .inf, method: .alphaCrown, timeout: 60)
        o.outputs = [0]
        let r = try Certus.lipschitz(model: sector, region: .ball(center: prototypes[0], epsilon: 0.3), options: o)
        XCTAssertLessThanOrEqual(r.upper, 2, "certified \(r.upper), attained \(r.lower)")
        XCTAssertLessThanOrEqual(r.lower, r.upper)
    }

    /// The negative test: the broken model loses sector 0, and Certus says so with a checked
    /// counterexample (a point of the ball where another class wins).
    func testBrokenModelIsCaught() throws {
        let spec = Certus.Spec.robustness(.ball(center: prototypes[0], epsilon: 0.3), label: 0)
        let r = try Certus.verify(model: broken, spec: spec, options: .init(timeout: 60))
        XCTAssertEqual(r.status, .sat, "the broken model was not caught: \(r.details)")
        let cx = try XCTUnwrap(r.counterexample)
        XCTAssertTrue(zip(cx.x, prototypes[0]).allSatisfy { abs($0.0 - $0.1) <= 0.3 }, "\(cx.x)")
        XCTAssertGreaterThanOrEqual(max(cx.y[1], cx.y[2]), cx.y[0], "\(cx.y)")
        // The sectors the perturbation left alone still hold.
        try assertProven(broken, .robustness(.ball(center: prototypes[2], epsilon: 0.3), label: 2))
    }
}
