import XCTest
import Foundation
@testable import CertusLP

/// Numbers GLPK cannot take (it aborts the process on its own arithmetic failures: "glp_set_rii:
/// invalid scale factor" with coefficients of 1e200) are refused when the problem is built, with
/// `LPError`, and the problem stays usable. Numbers at the limits are accepted and solved.
///
/// Every solve that could abort runs in a child process (`IsolatedLPSolves`), so a regression
/// fails these tests instead of killing the test run.
final class MagnitudeTests: XCTestCase {
    private func assertLPError(_ kind: LPError.Kind, mentions words: [String] = [], line: UInt = #line,
                               _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected LPError.\(kind)", line: line)
        } catch let error as LPError {
            XCTAssertEqual(error.kind, kind, "\(error)", line: line)
            for w in words { XCTAssertTrue(error.message.contains(w), "'\(w)' not in: \(error.message)", line: line) }
        } catch {
            XCTFail("unexpected error \(error)", line: line)
        }
    }

    /// Coefficients of 1e200 and 1e-300 (each alone, and 1e200 next to 1e-200 as in the crashing
    /// network LPs) are out of range; inf and NaN are non-finite; nothing reaches GLPK and the
    /// problem still solves afterwards.
    func testExtremeCoefficientsAreRefused() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: 10)
        let y = try lp.addVariable(lower: -1, upper: 1)
        for a in [1e200, -1e200, 1e-300, -1e-300, 1e61, 9.9e-61, Double.greatestFiniteMagnitude, Double.leastNonzeroMagnitude] {
            assertLPError(.outOfRange, mentions: ["constraint 0", "variable \(x)", "GLPK"]) {
                try lp.addConstraint([(x, a), (y, 1)], lower: 1, upper: .infinity)
            }
        }
        assertLPError(.outOfRange) { try lp.addConstraint([(x, 1e200), (y, 1e-200)], lower: -.infinity, upper: 0) }
        for a in [Double.infinity, -.infinity, .nan] {
            assertLPError(.nonFiniteValue) { try lp.addConstraint([(x, a)], lower: 1, upper: .infinity) }
        }
        // Terms that cancel to zero are dropped, not refused; terms that sum into range are fine.
        XCTAssertEqual(try lp.addConstraint([(x, 1e200), (x, -1e200), (y, 1)], lower: -1, upper: 1), 0)
        XCTAssertEqual(lp.constraint(0).terms.count, 1)
        XCTAssertEqual(lp.constraintCount, 1)
        try lp.addConstraint([(x, 1), (y, 1)], lower: 2, upper: .infinity)
        try lp.setObjective([(x, 1)])
        let r = lp.solve()
        XCTAssertEqual(r.status, .optimal)
        XCTAssertEqual(r.objective ?? .nan, 1, accuracy: 1e-9)
    }

    /// Finite bounds beyond 1e60 are out of range for variables and constraints, when added and
    /// when changed; infinite bounds (no bound) and tiny bounds stay accepted.
    func testExtremeBoundsAreRefused() throws {
        let lp = LinearProgram()
        for (lo, up) in [(-1e200, 1.0), (0, 1e200), (-1e61, 1e61), (-Double.greatestFiniteMagnitude, 0)] {
            assertLPError(.outOfRange, mentions: ["variable 0", "bound"]) { try lp.addVariable(lower: lo, upper: up) }
        }
        XCTAssertEqual(lp.variableCount, 0)
        let x = try lp.addVariable(lower: -.infinity, upper: .infinity)
        let y = try lp.addVariable(lower: 1e-300, upper: 1e60)
        assertLPError(.outOfRange) { try lp.setVariableBounds(x, lower: 0, upper: 1e200) }
        XCTAssertEqual(lp.variable(x).upper, .infinity)
        assertLPError(.outOfRange, mentions: ["constraint 0"]) { try lp.addConstraint([(x, 1)], lower: 1e300, upper: .infinity) }
        let c = try lp.addConstraint([(x, 1), (y, -1)], lower: -1e60, upper: 0)
        assertLPError(.outOfRange) { try lp.setConstraintBounds(c, lower: -1e200, upper: 0) }
        XCTAssertEqual(lp.constraint(c).lower, -1e60)
        assertLPError(.outOfRange) { _ = try lp.addBinaryVariable(); try lp.setVariableBounds(2, lower: 0, upper: 1e100) }
    }

    /// Objective coefficients and constant beyond 1e60 are out of range (the objective is left as
    /// it was); tiny objective coefficients are accepted (they take no part in GLPK's scaling).
    func testExtremeObjectiveIsRefused() throws {
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: 1)
        try lp.setObjective([(x, 2)], constant: 1)
        assertLPError(.outOfRange, mentions: ["objective"]) { try lp.setObjective([(x, 1e200)]) }
        assertLPError(.outOfRange, mentions: ["objective constant"]) { try lp.setObjective([(x, 1)], constant: -1e200) }
        assertLPError(.nonFiniteValue) { try lp.setObjective([(x, .nan)]) }
        XCTAssertEqual(lp.objective, [2])
        XCTAssertEqual(lp.objectiveConstant, 1)
        try lp.setObjective([(x, 1e-300)], constant: 1e60)
        XCTAssertEqual(lp.objective, [1e-300])
    }

    /// The solves below run in a child process; this parent checks that it ended normally and
    /// that every check in it passed.
    func testSolvesAtTheLimitsInAChildProcess() throws {
        try IsolatedLPSolves.runChild(test: "testLimitSolves")
        try IsolatedLPSolves.runChild(test: "testRandomLimitProblems")
    }
}

/// Solves that would abort the process if the range checks failed. They run only in the child
/// process `MagnitudeTests` starts (environment variable `CERTUS_LP_CHILD`); in the normal test
/// run they do nothing.
final class IsolatedLPSolves: XCTestCase {
    static let childVariable = "CERTUS_LP_CHILD"
    var isChild: Bool { ProcessInfo.processInfo.environment[Self.childVariable] == "1" }

    /// Runs `IsolatedLPSolves/<test>` in this test executable as a child process and fails unless
    /// it exits normally with status 0 (a crash gives a signal, a failed assertion status 1).
    static func runChild(test: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["CertusLPTests.IsolatedLPSolves/\(test)"]
        var env = ProcessInfo.processInfo.environment
        env[childVariable] = "1"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, "child \(test) was killed by signal \(p.terminationStatus):\n\(text.suffix(2000))",
                       file: file, line: line)
        XCTAssertEqual(p.terminationStatus, 0, "child \(test) failed:\n\(text.suffix(4000))", file: file, line: line)
        XCTAssertTrue(text.contains("Executed 1 test"), "child \(test) did not run:\n\(text.suffix(2000))", file: file, line: line)
    }

    /// Coefficients at 1e60 and 1e-60: `a x >= a` alone is solved exactly (x = 1). Both ends in one
    /// row, or a MILP with a big-M of 1e30, are solved without an abort; GLPK's answer is not
    /// reliable there (after scaling, the objective of `max x` s.t. `1e60 x + 1e-60 y <= 1e60`
    /// falls below its dual tolerance and x = 0 comes back as optimal; the big-M relaxation's point
    /// fails the re-check), so only the re-check of any reported optimum is asserted.
    func testLimitSolves() throws {
        guard isChild else { return }
        // min x  s.t.  a x >= a (x >= 1), x in [0, 10], for a at both limits: optimum 1.
        for a in [LinearProgram.maxMagnitude, LinearProgram.minCoefficientMagnitude, -LinearProgram.maxMagnitude] {
            let lp = LinearProgram()
            let x = try lp.addVariable(lower: 0, upper: 10)
            if a > 0 { try lp.addConstraint([(x, a)], lower: a, upper: .infinity) } else { try lp.addConstraint([(x, a)], lower: -.infinity, upper: a) }
            try lp.setObjective([(x, 1)])
            let r = lp.solve()
            XCTAssertEqual(r.status, .optimal, "a = \(a)")
            XCTAssertEqual(r.objective ?? .nan, 1, accuracy: 1e-6, "a = \(a)")
        }
        let lp = LinearProgram()
        let x = try lp.addVariable(lower: 0, upper: 2)
        let y = try lp.addVariable(lower: 0, upper: 1)
        try lp.addConstraint([(x, 1e60), (y, 1e-60)], lower: -.infinity, upper: 1e60)
        try lp.setObjective([(x, 1)], maximize: true)
        let milp = LinearProgram()
        let yv = try milp.addVariable(lower: 0, upper: 5)
        let av = try milp.addBinaryVariable()
        try milp.addConstraint([(yv, 1), (av, -1e30)], lower: -.infinity, upper: 0)
        try milp.setObjective([(yv, 1), (av, -1)], maximize: true)
        for r in [lp.solve(), lp.solve(options: LPOptions(presolve: true)), milp.solve(), milp.solve(options: LPOptions(integer: false))]
        where r.status == .optimal {
            XCTAssertLessThanOrEqual(r.maxViolation ?? .infinity, 1e-6)
        }
    }

    /// Random small LPs and MILPs with coefficients, bounds and objective entries spread over the
    /// whole accepted range (half of them exactly at its ends): no abort, and any optimum reported
    /// passed the solver's own re-check.
    func testRandomLimitProblems() throws {
        guard isChild else { return }
        var rng = SplitMix(seed: 20261130)
        let lo = log10(LinearProgram.minCoefficientMagnitude), hi = log10(LinearProgram.maxMagnitude)
        /// A signed magnitude in [10^a, 10^b], exactly an end half of the time.
        func magnitude(_ a: Double, _ b: Double) -> Double {
            let sign: Double = rng.next() % 2 == 0 ? 1 : -1
            let low = a == lo ? LinearProgram.minCoefficientMagnitude : pow(10, a)
            let high = b == hi ? LinearProgram.maxMagnitude : pow(10, b)
            switch rng.next() % 4 {
            case 0: return sign * low
            case 1: return sign * high
            default: return sign * min(max(pow(10, a + (b - a) * rng.unit()), low), high)
            }
        }
        var optimal = 0
        for trial in 0..<300 {
            let lp = LinearProgram()
            let n = 2 + Int(rng.next() % 6), m = 2 + Int(rng.next() % 6)
            let integer = trial % 2 == 1
            for _ in 0..<n {
                if integer && rng.next() % 2 == 0 { try lp.addBinaryVariable(); continue }
                let a = magnitude(-3, hi), b = magnitude(-3, hi)
                try lp.addVariable(lower: min(a, b), upper: rng.next() % 4 == 0 ? .infinity : max(a, b))
            }
            for _ in 0..<m {
                let terms = (0..<n).filter { _ in rng.next() % 3 != 0 }.map { ($0, magnitude(lo, hi)) }
                let a = magnitude(-3, hi), b = magnitude(-3, hi)
                try lp.addConstraint(terms, lower: rng.next() % 3 == 0 ? -.infinity : min(a, b), upper: max(a, b))
            }
            try lp.setObjective((0..<n).map { ($0, magnitude(lo, hi)) })
            let r = lp.solve(options: LPOptions(timeLimit: 2))
            if r.status == .optimal {
                optimal += 1
                XCTAssertNotNil(r.maxViolation, "trial \(trial)")
                XCTAssertLessThanOrEqual(r.maxViolation ?? .infinity, 1e-6, "trial \(trial)")
            }
        }
        XCTAssertGreaterThan(optimal, 10, "too few problems were solved to mean anything")
    }
}

/// A small deterministic generator (SplitMix64) so the random problems are the same every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
