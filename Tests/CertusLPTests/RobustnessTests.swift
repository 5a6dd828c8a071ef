import XCTest
@testable import CertusLP
#if canImport(Glibc)
import Glibc
#endif

/// Invalid input, duals, time limits, silence and thread confinement.
final class RobustnessTests: XCTestCase {
    let tol = 1e-7

    private func assertLPError(_ kind: LPError.Kind, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertEqual((error as? LPError)?.kind, kind, "\(error)", line: line)
        }
    }

    // MARK: Invalid input

    func testInvalidInputThrowsAndLeavesProblemUsable() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: 1)
        let y = try lp.addVariable(lower: 0, upper: 1)

        // Variables.
        assertLPError(.invalidBounds) { try lp.addVariable(lower: 2, upper: 1) }
        assertLPError(.invalidBounds) { try lp.addVariable(lower: .nan, upper: 1) }
        assertLPError(.invalidBounds) { try lp.addVariable(lower: 0, upper: .nan) }
        assertLPError(.invalidBounds) { try lp.addVariable(lower: .infinity, upper: .infinity) }
        assertLPError(.invalidBounds) { try lp.addVariable(lower: -.infinity, upper: -.infinity) }
        assertLPError(.invalidName) { try lp.addVariable(lower: 0, upper: 1, name: String(repeating: "n", count: 256)) }
        assertLPError(.invalidName) { try lp.addVariable(lower: 0, upper: 1, name: "bad\nname") }
        XCTAssertEqual(lp.variableCount, 2)

        // Constraints.
        assertLPError(.nonFiniteValue) { try lp.addConstraint([(x, .nan)], lower: 0, upper: 1) }
        assertLPError(.nonFiniteValue) { try lp.addConstraint([(x, 1), (y, .infinity)], lower: 0, upper: 1) }
        assertLPError(.nonFiniteValue) { try lp.addConstraint([(x, 1e308), (x, 1e308)], lower: 0, upper: 1) }
        assertLPError(.invalidIndex) { try lp.addConstraint([(2, 1)], lower: 0, upper: 1) }
        assertLPError(.invalidIndex) { try lp.addConstraint([(-1, 1)], lower: 0, upper: 1) }
        assertLPError(.invalidBounds) { try lp.addConstraint([(x, 1)], lower: 1, upper: 0) }
        assertLPError(.invalidBounds) { try lp.addConstraint([(x, 1)], lower: .nan, upper: 0) }
        XCTAssertEqual(lp.constraintCount, 0)
        let row = try lp.addConstraint([(x, 1), (y, 1)], lower: -.infinity, upper: 1.5)

        // Objective and bound changes.
        assertLPError(.nonFiniteValue) { try lp.setObjective([(x, .nan)]) }
        assertLPError(.nonFiniteValue) { try lp.setObjective([(x, 1)], constant: .infinity) }
        assertLPError(.invalidIndex) { try lp.setObjective([(7, 1)]) }
        assertLPError(.invalidIndex) { try lp.setVariableBounds(2, lower: 0, upper: 1) }
        assertLPError(.invalidIndex) { try lp.setVariableBounds(-1, lower: 0, upper: 1) }
        assertLPError(.invalidBounds) { try lp.setVariableBounds(x, lower: 1, upper: 0) }
        assertLPError(.invalidBounds) { try lp.setVariableBounds(x, lower: 0, upper: .nan) }
        assertLPError(.invalidIndex) { try lp.setConstraintBounds(1, lower: 0, upper: 1) }
        assertLPError(.invalidBounds) { try lp.setConstraintBounds(row, lower: 2, upper: 1) }
        XCTAssertEqual(lp.variable(x), LPVariable(lower: 0, upper: 1))
        XCTAssertEqual(lp.optimize(variable: 5, maximize: true).status.isFailure, true)

        // Invalid options give .failed without calling GLPK.
        for bad in [LPOptions(timeLimit: .nan), LPOptions(timeLimit: -1), LPOptions(retries: -1),
                    LPOptions(mipGap: -0.1), LPOptions(mipGap: .nan),
                    LPOptions(feasibilityTolerance: .nan), LPOptions(feasibilityTolerance: 0)] {
            let r = lp.solve(options: bad)
            XCTAssertTrue(r.status.isFailure, "\(r.status)")
            XCTAssertNil(r.objective)
            XCTAssertTrue(r.primal.isEmpty)
        }

        // The problem is intact: max x + y s.t. x + y <= 1.5 in the unit box = 1.5,
        // and after changing the row bound to 0.5, 0.5.
        try lp.setObjective([(x, 1), (y, 1)], maximize: true)
        XCTAssertEqual(lp.solve().objective ?? .nan, 1.5, accuracy: tol)
        try lp.setConstraintBounds(row, lower: -.infinity, upper: 0.5)
        XCTAssertEqual(lp.solve().objective ?? .nan, 0.5, accuracy: tol)
    }

    // MARK: Duals

    /// max 3x + 2y  s.t.  r0: x + y <= 4,  r1: x + 3y <= 6,  0 <= x <= 3.5,  y >= 0.
    /// Optimum (3.5, 0.5) = 11.5 (vertices: (3.5,0) 10.5, (3,1) 11, (0,2) 4), non-degenerate:
    /// r0 active, r1 slack (5 < 6), x at its upper bound, y basic.
    /// d_y = 0 = 2 - l0 - 3 l1 with l1 = 0 -> l0 = 2;  d_x = 3 - l0 = 1.
    /// Strong duality: l0 * 4 + d_x * 3.5 = 8 + 3.5 = 11.5.
    func testDualValuesMaximisation() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: 3.5)
        let y = try lp.addVariable(lower: 0, upper: .infinity)
        try lp.addConstraint([(x, 1), (y, 1)], lower: -.infinity, upper: 4)
        try lp.addConstraint([(x, 1), (y, 3)], lower: -.infinity, upper: 6)
        try lp.setObjective([(x, 3), (y, 2)], maximize: true)
        for useDual in [true, false] {
            let r = lp.solve(options: LPOptions(useDual: useDual))
            XCTAssertEqual(r.status, .optimal)
            XCTAssertEqual(r.objective ?? .nan, 11.5, accuracy: tol)
            XCTAssertEqual(r.x(x), 3.5, accuracy: tol)
            XCTAssertEqual(r.x(y), 0.5, accuracy: tol)
            XCTAssertEqual(r.rowDuals.count, 2)
            XCTAssertEqual(r.dual(0), 2, accuracy: tol)
            XCTAssertEqual(r.dual(1), 0, accuracy: tol)
            XCTAssertEqual(r.reducedCosts.count, 2)
            XCTAssertEqual(r.reducedCost(x), 1, accuracy: tol)
            XCTAssertEqual(r.reducedCost(y), 0, accuracy: tol)
            XCTAssertEqual(r.dual(0) * 4 + r.reducedCost(x) * 3.5, r.objective ?? .nan, accuracy: tol)
            assertDualConsistency(lp, r)
        }
    }

    /// min x + 2y  s.t.  r0: x + y >= 2,  r1: x - y <= 1,  x, y >= 0: optimum (1.5, 0.5) = 2.5,
    /// both rows active, both variables basic (d = 0). c = A^T l: l0 + l1 = 1, l0 - l1 = 2
    /// -> l0 = 1.5 (>= 0, row at lower bound), l1 = -0.5 (<= 0, row at upper bound).
    /// Strong duality: 1.5 * 2 + (-0.5) * 1 = 2.5.
    func testDualValuesMinimisation() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: .infinity)
        let y = try lp.addVariable(lower: 0, upper: .infinity)
        try lp.addConstraint([(x, 1), (y, 1)], lower: 2, upper: .infinity)
        try lp.addConstraint([(x, 1), (y, -1)], lower: -.infinity, upper: 1)
        try lp.setObjective([(x, 1), (y, 2)])
        let r = lp.solve()
        XCTAssertEqual(r.status, .optimal)
        XCTAssertEqual(r.dual(0), 1.5, accuracy: tol)
        XCTAssertEqual(r.dual(1), -0.5, accuracy: tol)
        XCTAssertEqual(r.reducedCost(x), 0, accuracy: tol)
        XCTAssertEqual(r.reducedCost(y), 0, accuracy: tol)
        XCTAssertEqual(1.5 * 2 - 0.5 * 1, r.objective ?? .nan, accuracy: tol)
        assertDualConsistency(lp, r)
    }

    /// Generic checks: d = c - A^T l, complementary slackness (a non-zero dual only on an
    /// active bound), and objective = constant + sum l_i b_i + sum d_j bound_j.
    private func assertDualConsistency(_ lp: LinearProgram, _ r: LPResult, line: UInt = #line) {
        var atx = [Double](repeating: 0, count: lp.variableCount)
        var dualObjective = lp.objectiveConstant
        for i in 0..<lp.constraintCount {
            let row = lp.constraint(i)
            for (j, a) in row.terms { atx[j] += a * r.dual(i) }
            if abs(r.dual(i)) > 1e-9 {
                let act = r.activity(i)
                let bound = abs(act - row.lower) < 1e-7 ? row.lower : row.upper
                XCTAssertEqual(act, bound, accuracy: 1e-7, "row \(i) has a dual but is not active", line: line)
                dualObjective += r.dual(i) * bound
            }
        }
        for j in 0..<lp.variableCount {
            XCTAssertEqual(r.reducedCost(j), lp.objective[j] - atx[j], accuracy: 1e-9, line: line)
            if abs(r.reducedCost(j)) > 1e-9 {
                let v = lp.variable(j)
                let bound = abs(r.x(j) - v.lower) < 1e-7 ? v.lower : v.upper
                XCTAssertEqual(r.x(j), bound, accuracy: 1e-7, "variable \(j) has a reduced cost but is not at a bound", line: line)
                dualObjective += r.reducedCost(j) * bound
            }
        }
        XCTAssertEqual(dualObjective, r.objective ?? .nan, accuracy: 1e-7, line: line)
    }

    // MARK: Time limit

    /// A deterministic dense 120 x 120 LP: max c.x s.t. A x <= b, x >= 0, positive data.
    private func makeDenseLP(seed: UInt64 = 12345) throws -> LinearProgram {
        var s = seed
        func next() -> Double {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Double(s >> 11) / Double(UInt64(1) << 53)
        }
        let n = 120
        let lp = LinearProgram()
        for _ in 0..<n { try lp.addVariable(lower: 0, upper: .infinity) }
        for _ in 0..<n {
            try lp.addConstraint((0..<n).map { ($0, next() + 0.01) }, lower: -.infinity, upper: 1 + next())
        }
        try lp.setObjective((0..<n).map { ($0, next()) }, maximize: true)
        return lp
    }

    func testTimeLimitIsHonoured() throws {
        let lp = try makeDenseLP()
        let clock = ContinuousClock()
        // GLPK checks tm_lim = 0 before its first iteration; this LP needs iterations.
        let t0 = clock.now
        let limited = try lp.copy().solve(options: LPOptions(timeLimit: 0))
        XCTAssertLessThan(t0.duration(to: clock.now), .seconds(1))
        XCTAssertEqual(limited.status, .timeLimit)
        XCTAssertNil(limited.objective)
        XCTAssertTrue(limited.primal.isEmpty)

        let tiny = try lp.copy().solve(options: LPOptions(timeLimit: 1e-4))
        XCTAssertTrue(tiny.status == .timeLimit || tiny.status == .optimal, "\(tiny.status)")

        let full = lp.solve(options: LPOptions(timeLimit: 10))
        XCTAssertEqual(full.status, .optimal)
        XCTAssertGreaterThan(full.iterations, 0)
        let value = try XCTUnwrap(full.objective)
        if tiny.status == .optimal { XCTAssertEqual(tiny.objective ?? .nan, value, accuracy: 1e-7) }
        // Solutions honour A x <= b (re-checked independently by the wrapper, reported here).
        XCTAssertLessThanOrEqual(full.maxViolation ?? .infinity, 1e-6)
    }

    // MARK: Terminal output

    /// Nothing is written to stdout by GLPK during LP, presolved LP and MILP solves.
    func testGLPKIsSilent() throws {
        let knap = LinearProgram()
        for _ in 0..<3 { try knap.addBinaryVariable() }
        try knap.addConstraint([(0, 2), (1, 3), (2, 4)], lower: -.infinity, upper: 5)
        try knap.setObjective([(0, 3), (1, 4), (2, 5)], maximize: true)

        fflush(nil)  // all C streams
        let saved = dup(STDOUT_FILENO)
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        dup2(fds[1], STDOUT_FILENO)
        let mip = knap.solve()
        let relaxed = knap.solve(options: LPOptions(presolve: true, integer: false))
        fflush(nil)  // all C streams
        dup2(saved, STDOUT_FILENO)
        close(saved)
        close(fds[1])
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fds[0], &buffer, buffer.count)
        close(fds[0])
        XCTAssertEqual(count, 0, String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self))
        // Values (3, 4, 5), weights (2, 3, 4), capacity 5: {0, 1} is worth 7 (any set with
        // item 2 holds at most item 2 alone, 5). The relaxation fills greedily by ratio
        // 1.5, 1.33, 1.25: items 0 and 1 fill the capacity exactly, also 7.
        XCTAssertEqual(mip.objective ?? .nan, 7, accuracy: tol)
        XCTAssertEqual(relaxed.objective ?? .nan, 7, accuracy: tol)
    }

    // MARK: Threads

    private final class Box: @unchecked Sendable {
        var lp: LinearProgram?
        var addError: LPError?
        var copyError: LPError?
        var status: LPStatus?
        init(_ lp: LinearProgram) { self.lp = lp }
    }

    /// Use from a foreign thread is refused (no GLPK call), and releasing the last reference
    /// there does not crash; the owner thread can keep using its own problems.
    func testWrongThreadIsRefused() throws {
        let lp = LinearProgram()
        try lp.addVariable(lower: 0, upper: 1)
        try lp.setObjective([(0, 1)], maximize: true)
        let box = Box(lp)
        let done = expectation(description: "thread")
        let thread = Thread {
            do { try box.lp!.addVariable(lower: 0, upper: 1) } catch { box.addError = error as? LPError }
            do { _ = try box.lp!.copy() } catch { box.copyError = error as? LPError }
            box.status = box.lp!.solve().status
            // A problem owned by this thread works here.
            let own = LinearProgram()
            if (try? own.addVariable(lower: 0, upper: 2)) == nil { box.status = .failed("own") }
            try? own.setObjective([(0, 1)], maximize: true)
            if own.solve().objective != 2 { box.status = .failed("own solve") }
            done.fulfill()
        }
        thread.start()
        wait(for: [done], timeout: 5)
        XCTAssertEqual(box.addError?.kind, .wrongThread)
        XCTAssertEqual(box.copyError?.kind, .wrongThread)
        XCTAssertEqual(box.status?.isFailure, true)
        XCTAssertEqual(lp.variableCount, 1)
        XCTAssertEqual(lp.solve().objective ?? .nan, 1, accuracy: tol)

        // Last reference dropped on another thread: leaked on purpose, must not crash.
        let box2 = Box(LinearProgram())
        let released = expectation(description: "release")
        Thread { box2.lp = nil; released.fulfill() }.start()
        wait(for: [released], timeout: 5)
        XCTAssertNil(box2.lp)
    }
}

/// The Swift-side re-check that guards every reported solution.
final class SolutionCheckTests: XCTestCase {
    /// max x + y s.t. x + y <= 1.5, x in [0, 1], y integer in [0, 1], objective constant 2.
    func makeProblem() throws -> LinearProgram {
        let lp = LinearProgram()
        try lp.addVariable(lower: 0, upper: 1)
        try lp.addVariable(lower: 0, upper: 1, isInteger: true)
        try lp.addConstraint([(0, 1), (1, 1)], lower: -.infinity, upper: 1.5)
        try lp.setObjective([(0, 1), (1, 1)], constant: 2, maximize: true)
        return lp
    }

    func testCheckAcceptsAFeasiblePoint() throws {
        let lp = try makeProblem()
        switch lp.checkPoint([0.5, 1], objective: 3.5, integer: true, LPOptions()) {
        case .success(let (activity, violation)):
            XCTAssertEqual(activity, [1.5])
            XCTAssertEqual(violation, 0)
        case .failure(let f):
            XCTFail(f.message)
        }
        // The solver agrees with the hand optimum 3.5 (x = 0.5, y = 1).
        let r = lp.solve()
        XCTAssertEqual(r.status, .optimal)
        XCTAssertEqual(r.objective ?? .nan, 3.5, accuracy: 1e-9)
    }

    func testCheckRejectsBadPoints() throws {
        let lp = try makeProblem()
        let options = LPOptions()
        let bad: [([Double], Double, Bool, String)] = [
            ([1, 1], 4, true, "row violated: 2 > 1.5"),
            ([1.2, 0], 3.2, true, "variable bound violated"),
            ([0.5, 0.5], 3, true, "y not integral"),
            ([0.5, 1], 3.6, true, "objective mismatch (3.5 expected)"),
            ([.nan, 1], 3.5, true, "NaN value"),
        ]
        for (x, objective, integer, why) in bad {
            if case .success = lp.checkPoint(x, objective: objective, integer: integer, options) {
                XCTFail("accepted: \(why)")
            }
        }
        // Integrality is not required for the LP relaxation.
        if case .failure(let f) = lp.checkPoint([0.5, 0.5], objective: 3, integer: false, options) {
            XCTFail(f.message)
        }
    }
}
