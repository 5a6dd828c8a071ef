import XCTest
@testable import CertusLP

/// `LPOptions.shouldStop`: the simplex in resumed slices and branch and cut with GLPK's
/// terminate callback give the same answers while no stop is requested, and a requested stop
/// ends a MILP search with `.timeLimit`, never `.optimal`.
final class StopTests: XCTestCase {
    /// A random feasible, bounded LP: min c·x over |x_j| <= 1 and m rows a_i·x <= b_i with b_i >= 0.
    func randomLP(seed: UInt64, n: Int, m: Int) throws -> LinearProgram {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> Double {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Double(state % 2_000_001) / 1_000_000 - 1
        }
        let lp = LinearProgram()
        for _ in 0..<n { try lp.addVariable(lower: -1, upper: 1) }
        for _ in 0..<m {
            try lp.addConstraint((0..<n).map { ($0, next()) }, lower: -.infinity, upper: abs(next()) + 0.1)
        }
        try lp.setObjective((0..<n).map { ($0, next()) })
        return lp
    }

    /// Slices of 1 ms: the simplex is stopped and resumed from its basis many times.
    func testPolledStopThatNeverFiresChangesNothing() throws {
        for seed in 1...4 as ClosedRange<UInt64> {
            let a = try randomLP(seed: seed, n: 150, m: 200), b = try randomLP(seed: seed, n: 150, m: 200)
            var options = LPOptions()
            let plain = a.solve(options: options)
            options.shouldStop = { false }
            options.stopPollInterval = 0.001
            let polled = b.solve(options: options)
            print("seed \(seed): \(plain.attempts) run(s) without polling, \(polled.attempts) with 1 ms slices")
            XCTAssertEqual(plain.status, .optimal)
            XCTAssertEqual(polled.status, .optimal)
            XCTAssertEqual(plain.objective ?? .nan, polled.objective ?? .nan, accuracy: 1e-9 * (1 + abs(plain.objective ?? 0)))
        }
        let knapsack = try makeSmallKnapsack()
        var options = LPOptions()
        options.shouldStop = { false }
        let r = knapsack.solve(options: options)
        XCTAssertEqual(r.status, .optimal)
        XCTAssertEqual(r.objective ?? .nan, 21, accuracy: 1e-7)
    }

    /// A stop requested from the start ends branch and cut at its first callback: the knapsack's
    /// LP relaxation (22) is solved, the integer optimum (21) is not claimed.
    func testRequestedStopEndsBranchAndCut() throws {
        let lp = try makeSmallKnapsack()
        var options = LPOptions()
        options.shouldStop = { true }
        let r = lp.solve(options: options)
        XCTAssertTrue(r.isMIP)
        XCTAssertEqual(r.status, .timeLimit, "\(r.status)")
        // Without the stop the same object still solves to the optimum.
        XCTAssertEqual(lp.solve().objective ?? .nan, 21, accuracy: 1e-7)
    }
}
