import XCTest
@testable import CertusLP

/// Hand-derived LP optima, statuses and bound handling.
final class LPBasicTests: XCTestCase {
    let tol = 1e-7

    /// max/min 3x + 2y  s.t.  x + y <= 4,  x + 3y <= 6,  0 <= x <= 3,  y >= 0.
    /// Vertices: (0,0) 0, (3,0) 9, (3,1) 11, (0,2) 4  ->  max 11 at (3,1), min 0 at (0,0).
    func makeSmallLP(maximize: Bool) throws -> LinearProgram {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: 3, name: "x")
        let y = try lp.addVariable(lower: 0, upper: .infinity, name: "y")
        XCTAssertEqual([x, y], [0, 1])
        XCTAssertEqual(try lp.addConstraint([(x, 1), (y, 1)], lower: -.infinity, upper: 4), 0)
        XCTAssertEqual(try lp.addConstraint([(x, 1), (y, 3)], lower: -.infinity, upper: 6), 1)
        try lp.setObjective([(x, 3), (y, 2)], maximize: maximize)
        return lp
    }

    func testSmallLPMaximum() throws {
        let lp = try makeSmallLP(maximize: true)
        for useDual in [true, false] {
            let r = lp.solve(options: LPOptions(useDual: useDual))
            XCTAssertEqual(r.status, .optimal)
            XCTAssertEqual(r.objective ?? .nan, 11, accuracy: tol)
            XCTAssertEqual(r.primal.count, 2)
            XCTAssertEqual(r.x(0), 3, accuracy: tol)
            XCTAssertEqual(r.x(1), 1, accuracy: tol)
            XCTAssertEqual(r.activity(0), 4, accuracy: tol)
            XCTAssertEqual(r.activity(1), 6, accuracy: tol)
            XCTAssertFalse(r.isMIP)
        }
    }

    func testSmallLPMinimum() throws {
        let lp = try makeSmallLP(maximize: false)
        let r = lp.solve()
        XCTAssertEqual(r.status, .optimal)
        XCTAssertEqual(r.objective ?? .nan, 0, accuracy: tol)
        XCTAssertEqual(r.x(0), 0, accuracy: tol)
        XCTAssertEqual(r.x(1), 0, accuracy: tol)
    }

    /// min x + 2y  s.t.  x + y >= 2,  x - y <= 1,  x, y >= 0.
    /// x + y = 2 and x - y = 1 meet at (1.5, 0.5) with value 2.5; the other vertex (0, 2) has 4;
    /// y = 0 would need x >= 2 > 1.  So the minimum is 2.5 at (1.5, 0.5).
    func testMinimisationWithGreaterEqualRow() throws {
        for presolve in [false, true] {
            let lp = LinearProgram()
            let x = try lp.addVariable(lower: 0, upper: .infinity)
            let y = try lp.addVariable(lower: 0, upper: .infinity)
            try lp.addConstraint([(x, 1), (y, 1)], lower: 2, upper: .infinity)
            try lp.addConstraint([(x, 1), (y, -1)], lower: -.infinity, upper: 1)
            try lp.setObjective([(x, 1), (y, 2)])
            let r = lp.solve(options: LPOptions(presolve: presolve))
            XCTAssertEqual(r.status, .optimal)
            XCTAssertEqual(r.objective ?? .nan, 2.5, accuracy: tol)
            XCTAssertEqual(r.x(0), 1.5, accuracy: tol)
            XCTAssertEqual(r.x(1), 0.5, accuracy: tol)
        }
    }

    /// x + y >= 5 with x, y in [0, 1] has no solution (x + y <= 2).
    func testInfeasibleByBounds() throws {
        for (useDual, presolve) in [(true, false), (false, false), (true, true)] {
            let lp = LinearProgram()
            let x = try lp.addVariable(lower: 0, upper: 1)
            let y = try lp.addVariable(lower: 0, upper: 1)
            try lp.addConstraint([(x, 1), (y, 1)], lower: 5, upper: .infinity)
            try lp.setObjective([(x, 1)], maximize: true)
            let r = lp.solve(options: LPOptions(useDual: useDual, presolve: presolve))
            XCTAssertEqual(r.status, .infeasible, "useDual=\(useDual) presolve=\(presolve)")
            XCTAssertNil(r.objective)
            XCTAssertTrue(r.primal.isEmpty)
        }
    }

    /// x + y <= 1 and x + y >= 2 with free x, y: contradictory rows.
    func testInfeasibleByRows() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: -.infinity, upper: .infinity)
        let y = try lp.addVariable(lower: -.infinity, upper: .infinity)
        try lp.addConstraint([(x, 1), (y, 1)], lower: -.infinity, upper: 1)
        try lp.addConstraint([(x, 1), (y, 1)], lower: 2, upper: .infinity)
        try lp.setObjective([(x, 1), (y, -1)])
        XCTAssertEqual(lp.solve().status, .infeasible)
        XCTAssertEqual(lp.solve(options: LPOptions(presolve: true)).status, .infeasible)
    }

    /// Primal infeasible (y <= -1 with y >= 0) AND dual infeasible (min -x, x unbounded above):
    /// must be reported as infeasible, not unbounded, even without retries (the dual simplex
    /// and the presolver leave primal feasibility undecided here; one primal run settles it).
    func testInfeasibleAndDualInfeasibleIsInfeasible() throws {
        for (useDual, presolve) in [(true, false), (false, false), (true, true), (false, true)] {
          for retries in [0, 2] {
            let lp = LinearProgram()
            let x = try lp.addVariable(lower: 0, upper: .infinity)
            let y = try lp.addVariable(lower: 0, upper: .infinity)
            try lp.addConstraint([(y, 1)], lower: -.infinity, upper: -1)
            try lp.addConstraint([(x, 1), (y, 1)], lower: 0, upper: .infinity)
            try lp.setObjective([(x, -1)])
            let r = lp.solve(options: LPOptions(useDual: useDual, retries: retries, presolve: presolve))
            XCTAssertEqual(r.status, .infeasible, "useDual=\(useDual) presolve=\(presolve) retries=\(retries)")
          }
        }
    }

    /// max x + y  s.t.  x - y <= 1,  x, y >= 0: the ray (1, 1) is feasible, so unbounded.
    func testUnbounded() throws {
        for (useDual, presolve) in [(true, false), (false, false), (true, true)] {
            let lp = LinearProgram()
            let x = try lp.addVariable(lower: 0, upper: .infinity)
            let y = try lp.addVariable(lower: 0, upper: .infinity)
            try lp.addConstraint([(x, 1), (y, -1)], lower: -.infinity, upper: 1)
            try lp.setObjective([(x, 1), (y, 1)], maximize: true)
            let r = lp.solve(options: LPOptions(useDual: useDual, presolve: presolve))
            XCTAssertEqual(r.status, .unbounded, "useDual=\(useDual) presolve=\(presolve)")
            XCTAssertNil(r.objective)
            // The same feasible region is bounded in the other direction: min x + y = 0.
            try lp.setObjective([(x, 1), (y, 1)], maximize: false)
            let r2 = lp.solve(options: LPOptions(useDual: useDual, presolve: presolve))
            XCTAssertEqual(r2.status, .optimal)
            XCTAssertEqual(r2.objective ?? .nan, 0, accuracy: tol)
        }
    }

    /// min x + y  s.t.  x + 2y = 4,  x - y = 1: unique solution (2, 1), value 3.
    func testEqualityConstraints() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: 10)
        let y = try lp.addVariable(lower: 0, upper: 10)
        try lp.addConstraint([(x, 1), (y, 2)], lower: 4, upper: 4)
        try lp.addConstraint([(x, 1), (y, -1)], lower: 1, upper: 1)
        for maximize in [false, true] {
            try lp.setObjective([(x, 1), (y, 1)], maximize: maximize)
            let r = lp.solve()
            XCTAssertEqual(r.status, .optimal)
            XCTAssertEqual(r.objective ?? .nan, 3, accuracy: tol)
            XCTAssertEqual(r.x(0), 2, accuracy: tol)
            XCTAssertEqual(r.x(1), 1, accuracy: tol)
        }
    }

    /// Free variables may go negative: min x + y s.t. x - y = 1, x + y >= -3
    /// gives x + y = -3, x - y = 1, i.e. (-1, -2) with value -3.
    func testFreeVariables() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: -.infinity, upper: .infinity)
        let y = try lp.addVariable(lower: -.infinity, upper: .infinity)
        try lp.addConstraint([(x, 1), (y, -1)], lower: 1, upper: 1)
        try lp.addConstraint([(x, 1), (y, 1)], lower: -3, upper: .infinity)
        try lp.setObjective([(x, 1), (y, 1)])
        let r = lp.solve()
        XCTAssertEqual(r.status, .optimal)
        XCTAssertEqual(r.objective ?? .nan, -3, accuracy: tol)
        XCTAssertEqual(r.x(0), -1, accuracy: tol)
        XCTAssertEqual(r.x(1), -2, accuracy: tol)
        // Maximising instead is unbounded along (1, 1).
        try lp.setObjective([(x, 1), (y, 1)], maximize: true)
        XCTAssertEqual(lp.solve().status, .unbounded)
    }

    /// x fixed at 2; x + y <= 5, 0 <= y <= 10.  max x + y = 5 at (2, 3); min = 2 at (2, 0).
    /// With an objective constant of 1.5 the values shift by 1.5.
    func testFixedVariableAndConstant() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 2, upper: 2)
        let y = try lp.addVariable(lower: 0, upper: 10)
        try lp.addConstraint([(x, 1), (y, 1)], lower: -.infinity, upper: 5)
        try lp.setObjective([(x, 1), (y, 1)], constant: 1.5, maximize: true)
        var r = lp.solve()
        XCTAssertEqual(r.status, .optimal)
        XCTAssertEqual(r.objective ?? .nan, 6.5, accuracy: tol)
        XCTAssertEqual(r.x(0), 2, accuracy: tol)
        XCTAssertEqual(r.x(1), 3, accuracy: tol)
        try lp.setObjective([(x, 1), (y, 1)], maximize: false)
        r = lp.solve()
        XCTAssertEqual(r.objective ?? .nan, 2, accuracy: tol)
        XCTAssertEqual(r.x(1), 0, accuracy: tol)
    }

    /// A problem without constraints (and one without anything) is still solved.
    func testEmptyProblems() throws {
        let empty = LinearProgram()
        try empty.setObjective([], constant: 4)
        let r0 = empty.solve()
        XCTAssertEqual(r0.status, .optimal)
        XCTAssertEqual(r0.objective ?? .nan, 4, accuracy: tol)
        XCTAssertEqual(r0.primal, [])

        let lp = LinearProgram()
        let x = try lp.addVariable(lower: -1, upper: 2)
        try lp.setObjective([(x, -3)])
        for options in [LPOptions(), LPOptions(useDual: false), LPOptions(presolve: true)] {
            let r = lp.solve(options: options)
            XCTAssertEqual(r.status, .optimal)
            XCTAssertEqual(r.objective ?? .nan, -6, accuracy: tol)
            XCTAssertEqual(r.x(0), 2, accuracy: tol)
        }
    }

    /// Duplicate indices are summed and zero coefficients dropped: x + x <= 2 means x <= 1.
    func testDuplicateTermsAreMerged() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: 5)
        let y = try lp.addVariable(lower: 0, upper: 5)
        try lp.addConstraint([(x, 1), (y, 0), (x, 1)], lower: -.infinity, upper: 2)
        XCTAssertEqual(lp.constraint(0).terms.count, 1)
        XCTAssertEqual(lp.constraint(0).terms.first?.1, 2)
        try lp.setObjective([(x, 0.5), (x, 0.5)], maximize: true)
        let r = lp.solve()
        XCTAssertEqual(r.objective ?? .nan, 1, accuracy: tol)
    }

    /// Integer variables get their bounds rounded inward; an integer-free interval throws.
    func testIntegerBoundRounding() throws {
        let lp = LinearProgram()
        let k = try lp.addVariable(lower: -1.5, upper: 2.7, isInteger: true)
        XCTAssertEqual(lp.variable(k).lower, -1)
        XCTAssertEqual(lp.variable(k).upper, 2)
        let snapped = try lp.addVariable(lower: 0.9999999999, upper: 3.0000000001, isInteger: true)
        XCTAssertEqual(lp.variable(snapped).lower, 1)
        XCTAssertEqual(lp.variable(snapped).upper, 3)
        XCTAssertThrowsError(try lp.addVariable(lower: 0.2, upper: 0.8, isInteger: true)) {
            XCTAssertEqual(($0 as? LPError)?.kind, .invalidBounds)
        }
        XCTAssertEqual(lp.variableCount, 2)
    }
}
