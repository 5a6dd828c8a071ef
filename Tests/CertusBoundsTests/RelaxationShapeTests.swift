import XCTest
import Foundation
import Certus

/// Relaxations are not only sound (SoundnessTests) but have the documented shape.
final class RelaxationShapeTests: XCTestCase {
    func testReluTriangleAndAdaptiveSlope() {
        let r = Relu().relaxation(l: -1, u: 3, lowerParameter: nil, upperParameter: nil)
        XCTAssertEqual(r.aU, 0.75); XCTAssertEqual(r.bU, 0.75); XCTAssertEqual(r.aL, 1)   // u > -l: slope 1
        XCTAssertEqual(Relu().relaxation(l: -3, u: 1, lowerParameter: nil, upperParameter: nil).aL, 0)
        XCTAssertEqual(Relu().relaxation(l: -3, u: 1, lowerParameter: 0.3, upperParameter: nil).aL, 0.3)
    }

    func testSShapedSecantAndTangent() {
        // Convex piece (u <= 0): secant above, midpoint tangent below.
        let r = Sigmoid().relaxation(l: -3, u: -1, lowerParameter: nil, upperParameter: nil)
        let s = Sigmoid()
        XCTAssertEqual(r.aU, (s.apply(-1) - s.apply(-3)) / 2, accuracy: 1e-12)
        XCTAssertEqual(r.aL, s.derivative(-2, s.apply(-2)), accuracy: 1e-12)
        XCTAssertEqual(r.aL * -2 + r.bL, s.apply(-2), accuracy: 1e-12)   // touches at the midpoint
    }

    func testSinOnAHalfPeriodIsNotConstant() {
        // sin is concave on [0.1, 2.5]: secant below, tangent above, both with slopes.
        let r = Sin().relaxation(l: 0.1, u: 2.5, lowerParameter: nil, upperParameter: nil)
        let slope = (sin(2.5) - sin(0.1)) / 2.4
        XCTAssertEqual(r.aL, slope, accuracy: 1e-12)
        XCTAssertEqual(r.aU, cos(1.3), accuracy: 1e-12)
        // cos on [pi/2 + 0.1, pi] is convex there (cos <= 0 and decreasing): secant above.
        let c = Cos().relaxation(l: .pi / 2 + 0.1, u: .pi, lowerParameter: nil, upperParameter: nil)
        XCTAssertEqual(c.aU, (cos(.pi) - cos(.pi / 2 + 0.1)) / (.pi / 2 - 0.1), accuracy: 1e-12)
        XCTAssertNotEqual(c.aL, 0)
    }

    func testGeluRegions() {
        let g = Gelu()
        // Convex piece [-1, 1]: secant above, tangent below at the midpoint (0): f'(0) = 0.5.
        let r = g.relaxation(l: -1, u: 1, lowerParameter: nil, upperParameter: nil)
        XCTAssertEqual(r.aL, 0.5, accuracy: 1e-12)
        XCTAssertEqual(r.aU, (g.apply(1) - g.apply(-1)) / 2, accuracy: 1e-12)
        // Concave piece [2, 4]: secant below.
        let c = g.relaxation(l: 2, u: 4, lowerParameter: nil, upperParameter: nil)
        XCTAssertEqual(c.aL, (g.apply(4) - g.apply(2)) / 2, accuracy: 1e-12)
    }
}
