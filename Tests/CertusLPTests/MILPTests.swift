import XCTest
@testable import CertusLP

/// MILPs with hand-derived integer optima that differ from their LP relaxations.
final class MILPTests: XCTestCase {
    let tol = 1e-7

    /// See `makeSmallKnapsack()`: LP relaxation 22 at (1, 1, 0.5, 0), integer optimum 21 at (0, 1, 1, 1).
    func makeKnapsack() throws -> LinearProgram { try makeSmallKnapsack() }

    func testKnapsackIntegerOptimum() throws {
        let lp = try makeKnapsack()
        XCTAssertTrue(lp.hasIntegerVariables)
        let r = lp.solve()
        XCTAssertEqual(r.status, .optimal)
        XCTAssertTrue(r.isMIP)
        XCTAssertEqual(r.objective ?? .nan, 21, accuracy: tol)
        XCTAssertEqual(r.primal.count, 4)
        for (k, expected) in [0.0, 1, 1, 1].enumerated() {
            XCTAssertEqual(r.x(k), expected, accuracy: 1e-6)
        }
        XCTAssertEqual(r.activity(0), 14, accuracy: 1e-6)
        XCTAssertTrue(r.rowDuals.isEmpty, "no duals for a MILP")
    }

    func testKnapsackRelaxation() throws {
        let lp = try makeKnapsack()
        let r = lp.solve(options: LPOptions(integer: false))
        XCTAssertEqual(r.status, .optimal)
        XCTAssertFalse(r.isMIP)
        XCTAssertEqual(r.objective ?? .nan, 22, accuracy: tol)
        for (k, expected) in [1.0, 1, 0.5, 0].enumerated() {
            XCTAssertEqual(r.x(k), expected, accuracy: 1e-7)
        }
        // The MILP solve afterwards (same object) still gives the integer optimum.
        XCTAssertEqual(lp.solve().objective ?? .nan, 21, accuracy: tol)
    }

    /// Integer variables in a general (non-binary) range:
    /// max x + y  s.t.  2x + 2y <= 7, x, y integer in [0, 10]  ->  LP 3.5, MILP 3.
    func testGeneralIntegerRounding() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: 10, isInteger: true)
        let y = try lp.addVariable(lower: 0, upper: 10, isInteger: true)
        try lp.addConstraint([(x, 2), (y, 2)], lower: -.infinity, upper: 7)
        try lp.setObjective([(x, 1), (y, 1)], maximize: true)
        XCTAssertEqual(lp.solve().objective ?? .nan, 3, accuracy: tol)
        XCTAssertEqual(lp.solve(options: LPOptions(integer: false)).objective ?? .nan, 3.5, accuracy: tol)
    }

    /// 2a = 1 with integer a in [0, 1]: the relaxation is feasible (a = 0.5), the MILP is not.
    func testIntegerInfeasible() throws {
        let lp = LinearProgram()
        let a = try lp.addBinaryVariable()
        try lp.addConstraint([(a, 2)], lower: 1, upper: 1)
        try lp.setObjective([(a, 1)])
        XCTAssertEqual(lp.solve().status, .infeasible)
        let relaxed = lp.solve(options: LPOptions(integer: false))
        XCTAssertEqual(relaxed.status, .optimal)
        XCTAssertEqual(relaxed.x(0), 0.5, accuracy: tol)
    }

    /// max x over integer x >= 0 with no other constraint: unbounded.
    func testIntegerUnbounded() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: .infinity, isInteger: true)
        let y = try lp.addVariable(lower: 0, upper: 3)
        try lp.addConstraint([(x, 1), (y, -1)], lower: 0, upper: .infinity)
        try lp.setObjective([(x, 1)], maximize: true)
        XCTAssertEqual(lp.solve().status, .unbounded)
    }

    /// Relaxation unbounded (x unbounded above) but integer infeasible (2y + 2z = 1 has no
    /// integer solution, a parity argument the MIP presolver does not see): must be
    /// infeasible, not unbounded.
    func testUnboundedRelaxationButIntegerInfeasible() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: .infinity, isInteger: true)
        let y = try lp.addVariable(lower: -5, upper: 5, isInteger: true)
        let z = try lp.addVariable(lower: -5, upper: 5, isInteger: true)
        try lp.addConstraint([(y, 2), (z, 2)], lower: 1, upper: 1)
        try lp.setObjective([(x, 1), (y, 1)], maximize: true)
        XCTAssertEqual(lp.solve().status, .infeasible)
        XCTAssertEqual(lp.solve(options: LPOptions(integer: false)).status, .unbounded)
        // Same structure with an integer solution (2y + 2z = 2): unbounded.
        try lp.setConstraintBounds(0, lower: 2, upper: 2)
        XCTAssertEqual(lp.solve().status, .unbounded)
    }

    /// A 40-item 0/1 knapsack with value = weight + 1 and capacity about half the total
    /// weight: nearly a subset-sum problem, hard for branch and bound. The exact optimum is
    /// computed by dynamic programming over the (integer) capacity.
    func makeHardKnapsack() throws -> (LinearProgram, optimum: Double, capacity: Double) {
        var s: UInt64 = 7
        func next() -> Double {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Double(s >> 11) / Double(UInt64(1) << 53)
        }
        let weights = (0..<40).map { _ in 1000 + Int(next() * 1000) }
        let capacity = weights.reduce(0, +) / 2
        var best = [Int](repeating: 0, count: capacity + 1)  // best[c] = max value, weight <= c
        for w in weights {
            var c = capacity
            while c >= w { best[c] = max(best[c], best[c - w] + w + 1); c -= 1 }
        }
        let lp = LinearProgram()
        for _ in weights { try lp.addBinaryVariable() }
        try lp.addConstraint(weights.enumerated().map { ($0.offset, Double($0.element)) },
                             lower: -.infinity, upper: Double(capacity) + 0.5)
        try lp.setObjective(weights.enumerated().map { ($0.offset, Double($0.element + 1)) }, maximize: true)
        return (lp, Double(best[capacity]), Double(capacity) + 0.5)
    }

    /// A positive mipGap may stop early; that answer must be `.feasible` (never `.optimal`
    /// unless it is the true optimum), integral, within capacity, and within the gap.
    func testMipGapStopIsNotOptimal() throws {
        let (lp, optimum, capacity) = try makeHardKnapsack()
        for gap in [0.5, 0.01] {
            let r = lp.solve(options: LPOptions(mipGap: gap))
            XCTAssertTrue(r.status == .optimal || r.status == .feasible, "\(r.status)")
            let value = try XCTUnwrap(r.objective)
            XCTAssertLessThanOrEqual(value, optimum + 1e-6)
            XCTAssertGreaterThanOrEqual(value, optimum / (1 + gap) - 1e-6)
            if r.status == .optimal { XCTAssertEqual(value, optimum, accuracy: 1e-6) }
            XCTAssertLessThanOrEqual(r.activity(0), capacity + 1e-6)
            XCTAssertTrue(r.primal.allSatisfy { abs($0 - $0.rounded()) < 1e-6 })
        }
    }

    /// A time-limited MILP returns promptly; an incumbent, if reported, is feasible and not
    /// better than the optimum, and `.optimal` is only claimed for the true optimum.
    func testMILPTimeLimitReturns() throws {
        let (lp, optimum, capacity) = try makeHardKnapsack()
        let clock = ContinuousClock()
        let t0 = clock.now
        let r = lp.solve(options: LPOptions(timeLimit: 0.05))
        XCTAssertLessThan(t0.duration(to: clock.now), .seconds(1))
        XCTAssertTrue([.optimal, .timeLimit].contains(r.status), "\(r.status)")
        if let value = r.objective {
            XCTAssertLessThanOrEqual(value, optimum + 1e-6)
            if r.status == .optimal { XCTAssertEqual(value, optimum, accuracy: 1e-6) }
            XCTAssertLessThanOrEqual(r.activity(0), capacity + 1e-6)
            XCTAssertTrue(r.primal.allSatisfy { abs($0 - $0.rounded()) < 1e-6 })
        }
        // A zero limit still returns (GLPK stops before its first iteration).
        let zero = lp.solve(options: LPOptions(timeLimit: 0))
        XCTAssertEqual(zero.status, .timeLimit)
    }
}

/// The MILP driver called directly: robust root LP, then branch-and-cut without presolver
/// (GLPK's MIP presolver is never used, see `LPOptions.integer`); infeasible, integer-infeasible
/// and unbounded relaxations.
final class MILPFallbackTests: XCTestCase {
    private func fallback(_ lp: LinearProgram) -> LPResult {
        var run = SolveRun(options: LPOptions()) { Int32.max }
        return lp.solveMIP(&run)
    }

    func testFallbackKnapsack() throws {
        let lp = try makeSmallKnapsack()
        let r = fallback(lp)
        XCTAssertEqual(r.status, .optimal)
        XCTAssertEqual(r.objective ?? .nan, 21, accuracy: 1e-7)
        XCTAssertEqual(r.x(0), 0, accuracy: 1e-6)
    }

    func testFallbackInfeasibleAndUnbounded() throws {
        // Root LP infeasible: a + b >= 3 with binaries.
        let lp = LinearProgram()
        try lp.addBinaryVariable()
        try lp.addBinaryVariable()
        try lp.addConstraint([(0, 1), (1, 1)], lower: 3, upper: .infinity)
        XCTAssertEqual(fallback(lp).status, .infeasible)
        // Root LP feasible, integer infeasible: 2a = 1.
        let odd = LinearProgram()
        try odd.addBinaryVariable()
        try odd.addConstraint([(0, 2)], lower: 1, upper: 1)
        XCTAssertEqual(fallback(odd).status, .infeasible)
        // Root LP unbounded, integer feasible: max x, x integer >= 0.
        let unb = LinearProgram()
        try unb.addVariable(lower: 0, upper: .infinity, isInteger: true)
        try unb.addVariable(lower: 0, upper: 1)
        try unb.addConstraint([(0, 1), (1, 1)], lower: 0, upper: .infinity)
        try unb.setObjective([(0, 1)], maximize: true)
        XCTAssertEqual(fallback(unb).status, .unbounded)
    }
}
