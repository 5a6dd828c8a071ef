import XCTest
@testable import CertusLP

/// The LP triangle relaxation and the exact MILP (Tjeng et al.) encoding of y = relu(x),
/// x in [l, u] = [-1, 2], plus a bound-tightening loop on a two-input network.
final class ReLUTests: XCTestCase {
    let tol = 1e-7

    /// Triangle relaxation: y >= 0, y >= x, y <= u (x - l) / (u - l) = (2/3)(x + 1).
    /// Returns the problem and the indices (x, y).
    func makeTriangle() throws -> (LinearProgram, Int, Int) {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: -1, upper: 2, name: "x")
        let y = try lp.addVariable(lower: 0, upper: .infinity, name: "y")
        try lp.addConstraint([(y, 1), (x, -1)], lower: 0, upper: .infinity)            // y >= x
        try lp.addConstraint([(y, 3), (x, -2)], lower: -.infinity, upper: 2)            // 3y - 2x <= 2
        return (lp, x, y)
    }

    /// Tjeng encoding with binary a: y >= 0, y >= x, y <= x - l (1 - a) = x + 1 - a, y <= u a = 2a.
    func makeTjeng() throws -> (LinearProgram, Int, Int, Int) {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: -1, upper: 2, name: "x")
        let y = try lp.addVariable(lower: 0, upper: .infinity, name: "y")
        let a = try lp.addBinaryVariable(name: "a")
        try lp.addConstraint([(y, 1), (x, -1)], lower: 0, upper: .infinity)             // y >= x
        try lp.addConstraint([(y, 1), (x, -1), (a, 1)], lower: -.infinity, upper: 1)   // y - x + a <= 1
        try lp.addConstraint([(y, 1), (a, -2)], lower: -.infinity, upper: 0)           // y <= 2a
        return (lp, x, y, a)
    }

    /// max y - 0.5x over the triangle: on the upper face y = (2/3)(x + 1) the objective is
    /// x/6 + 2/3, increasing, so x = 2, y = 2, value 1 (a vertex on the ReLU graph: exact).
    /// min y - 0.5x: vertices (-1,0) 0.5, (0,0) 0, (2,2) 1  ->  0 at (0, 0).
    func testTriangleOverFullInterval() throws {
        let (lp, x, y) = try makeTriangle()
        try lp.setObjective([(y, 1), (x, -0.5)], maximize: true)
        var r = lp.solve()
        XCTAssertEqual(r.status, .optimal)
        XCTAssertEqual(r.objective ?? .nan, 1, accuracy: tol)
        XCTAssertEqual(r.x(x), 2, accuracy: tol)
        XCTAssertEqual(r.x(y), 2, accuracy: tol)
        try lp.setObjective([(y, 1), (x, -0.5)], maximize: false)
        r = lp.solve()
        XCTAssertEqual(r.objective ?? .nan, 0, accuracy: tol)
        XCTAssertEqual(r.x(x), 0, accuracy: tol)
        XCTAssertEqual(r.x(y), 0, accuracy: tol)
    }

    /// With the extra constraint x <= 1 (e.g. from a split), max y - 0.5x:
    /// triangle: x/6 + 2/3 at x = 1 gives 5/6 with y = 4/3 (above relu(1) = 1: loose);
    /// exact: relu(x) - x/2 on [-1, 1] is 0.5 at both x = -1 and x = 1 and smaller inside.
    func testTriangleIsLooseWhereMILPIsExact() throws {
        let (tri, tx, ty) = try makeTriangle()
        try tri.addConstraint([(tx, 1)], lower: -.infinity, upper: 1)
        try tri.setObjective([(ty, 1), (tx, -0.5)], maximize: true)
        let lpResult = tri.solve()
        XCTAssertEqual(lpResult.status, .optimal)
        XCTAssertEqual(lpResult.objective ?? .nan, 5.0 / 6.0, accuracy: tol)
        XCTAssertEqual(lpResult.x(tx), 1, accuracy: tol)
        XCTAssertEqual(lpResult.x(ty), 4.0 / 3.0, accuracy: tol)

        let (mip, x, y, a) = try makeTjeng()
        try mip.addConstraint([(x, 1)], lower: -.infinity, upper: 1)
        try mip.setObjective([(y, 1), (x, -0.5)], maximize: true)
        let exact = mip.solve()
        XCTAssertEqual(exact.status, .optimal)
        XCTAssertEqual(exact.objective ?? .nan, 0.5, accuracy: tol)
        // Whatever optimum GLPK picks, it lies on the ReLU graph with a consistent phase.
        XCTAssertEqual(exact.x(y), max(0, exact.x(x)), accuracy: 1e-6)
        XCTAssertEqual(abs(exact.x(x)), 1, accuracy: 1e-6)
        XCTAssertEqual(exact.x(a), exact.x(x) > 0 ? 1 : 0, accuracy: 1e-6)

        // The LP relaxation of the Tjeng encoding is the triangle (single neuron): 5/6.
        let relaxed = mip.solve(options: LPOptions(integer: false))
        XCTAssertEqual(relaxed.objective ?? .nan, 5.0 / 6.0, accuracy: tol)
    }

    /// Fixing the phase by bounds on the binary gives the two linear pieces:
    /// a = 0 forces y = 0 and x <= 0 (x + 1 - 0 >= y >= x), max y - 0.5x = 0.5 at x = -1;
    /// a = 1 forces y = x, x >= 0, max over x in [0, 2] of 0.5x = 1 at x = 2.
    func testTjengPhaseFixing() throws {
        let (mip, x, y, a) = try makeTjeng()
        try mip.setObjective([(y, 1), (x, -0.5)], maximize: true)
        try mip.setVariableBounds(a, lower: 0, upper: 0)
        var r = mip.solve()
        XCTAssertEqual(r.objective ?? .nan, 0.5, accuracy: tol)
        XCTAssertEqual(r.x(x), -1, accuracy: 1e-6)
        try mip.setVariableBounds(a, lower: 1, upper: 1)
        r = mip.solve()
        XCTAssertEqual(r.objective ?? .nan, 1, accuracy: tol)
        XCTAssertEqual(r.x(x), 2, accuracy: 1e-6)
        XCTAssertEqual(r.x(y), 2, accuracy: 1e-6)
    }

    /// Network: x1, x2 in [-1, 1], z = x1 + x2 (so z in [-2, 2]), y = relu(z) by the
    /// triangle y >= 0, y >= z, y <= (z + 2)/2.
    /// Hand bounds: z in [-2, 2], y in [0, 2]. After x1 in [0.5, 1], x2 in [0.5, 1]:
    /// z in [1, 2] and y >= z gives y in [1, 2]. After x1 = x2 = -1 (fixed): z = -2,
    /// y <= (z + 2)/2 = 0, so y = 0.
    func testBoundTighteningLoop() throws {
        let lp = LinearProgram()
        let x1 = try lp.addVariable(lower: -1, upper: 1)
        let x2 = try lp.addVariable(lower: -1, upper: 1)
        let z = try lp.addVariable(lower: -.infinity, upper: .infinity)
        let y = try lp.addVariable(lower: -.infinity, upper: .infinity)
        try lp.addConstraint([(z, 1), (x1, -1), (x2, -1)], lower: 0, upper: 0)
        try lp.addConstraint([(y, 1)], lower: 0, upper: .infinity)
        try lp.addConstraint([(y, 1), (z, -1)], lower: 0, upper: .infinity)
        try lp.addConstraint([(y, 2), (z, -1)], lower: -.infinity, upper: 2)

        func tighten() -> [Double] {
            var out: [Double] = []
            for v in [z, y] {
                for maximize in [false, true] {
                    let r = lp.optimize(variable: v, maximize: maximize)
                    XCTAssertEqual(r.status, .optimal)
                    out.append(r.objective ?? .nan)
                }
            }
            return out
        }
        func assertBounds(_ got: [Double], _ expected: [Double], line: UInt = #line) {
            XCTAssertEqual(got.count, expected.count, line: line)
            for (g, e) in zip(got, expected) { XCTAssertEqual(g, e, accuracy: tol, line: line) }
        }
        // Repeated passes on the same (warm-started) problem give the same bounds.
        for _ in 0..<3 { assertBounds(tighten(), [-2, 2, 0, 2]) }

        try lp.setVariableBounds(x1, lower: 0.5, upper: 1)
        try lp.setVariableBounds(x2, lower: 0.5, upper: 1)
        assertBounds(tighten(), [1, 2, 1, 2])

        try lp.setVariableBounds(x1, lower: -1, upper: -1)
        try lp.setVariableBounds(x2, lower: -1, upper: -1)
        assertBounds(tighten(), [-2, -2, 0, 0])

        // Back to the original box: the original bounds again.
        try lp.setVariableBounds(x1, lower: -1, upper: 1)
        try lp.setVariableBounds(x2, lower: -1, upper: 1)
        assertBounds(tighten(), [-2, 2, 0, 2])

        // A copy branches independently of the original.
        let branch = try lp.copy()
        try branch.setVariableBounds(x1, lower: 1, upper: 1)
        XCTAssertEqual(branch.optimize(variable: z, maximize: false).objective ?? .nan, 0, accuracy: tol)
        XCTAssertEqual(lp.optimize(variable: z, maximize: false).objective ?? .nan, -2, accuracy: tol)
        XCTAssertEqual(branch.variable(x1).lower, 1)
        XCTAssertEqual(lp.variable(x1).lower, -1)

        // Tightening z to z <= 0.5: y <= (z + 2)/2 = 1.25, reached at z = 0.5 = x1 + x2.
        try lp.setVariableBounds(z, lower: -.infinity, upper: 0.5)
        XCTAssertEqual(lp.optimize(variable: y, maximize: true).objective ?? .nan, 1.25, accuracy: tol)
        // Infeasible branch: z >= 3 cannot be reached from x1 + x2 <= 2.
        try lp.setVariableBounds(z, lower: 3, upper: .infinity)
        XCTAssertEqual(lp.optimize(variable: y, maximize: true).status, .infeasible)
    }
}
