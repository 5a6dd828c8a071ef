import XCTest
import Foundation
import Certus
import TestSupport

final class CounterexampleCheckTests: XCTestCase {
    /// Bounds that are not float32 values: a point on the boundary must snap inward, to a
    /// float32 that is still inside.
    func testBoundaryPointStaysInsideAfterSnapping() {
        let lower = [0.1, -0.3, 0.6, -1e-9, 1.0 / 3.0]
        let upper = [0.2, -0.1, 0.679857769, 1e-9, 0.5]
        let box = InputBox(lower: lower, upper: upper)
        for x in [lower, upper, zip(lower, upper).enumerated().map { $0.offset % 2 == 0 ? $0.element.0 : $0.element.1 }] {
            guard let s = CounterexampleCheck.snap(x, into: box) else { return XCTFail("no float32 inside \(box)") }
            XCTAssertTrue(box.contains(s), "\(s) not in box")
            for i in s.indices {
                XCTAssertEqual(Double(Float(s[i])), s[i], "not a float32")
                XCTAssertLessThanOrEqual(abs(s[i] - x[i]), Double(Float(x[i]).ulp) * 1.0001, "moved more than one ulp")
            }
        }
        // Round-to-nearest of 0.1 is above 0.1: at the lower bound it stays; at an upper bound of 0.1 it steps down.
        XCTAssertEqual(CounterexampleCheck.snapToFloat32(0.1, lower: 0.1, upper: 0.2), Double(Float(0.1)))
        XCTAssertEqual(CounterexampleCheck.snapToFloat32(0.1, lower: 0.0, upper: 0.1), Double(Float(0.1).nextDown))
        // Exactly representable bounds are kept as they are.
        XCTAssertEqual(CounterexampleCheck.snapToFloat32(0.5, lower: 0.5, upper: 0.75), 0.5)
        // Points outside are clamped into the box first.
        XCTAssertEqual(CounterexampleCheck.snapToFloat32(7, lower: 0, upper: 0.5), 0.5)
    }

    func testNoFloat32InsideOrNonFiniteGivesNil() {
        let a = 0.1, b = a.nextUp   // no float32 lies in [0.1, 0.1 + 1 Double ulp]
        XCTAssertNil(CounterexampleCheck.snapToFloat32(a, lower: a, upper: b))
        XCTAssertNil(CounterexampleCheck.snapToFloat32(.nan, lower: 0, upper: 1))
        XCTAssertNil(CounterexampleCheck.snapToFloat32(0.5, lower: 1, upper: 0))
        XCTAssertNil(CounterexampleCheck.snap([0.5], into: InputBox(lower: [0, 0], upper: [1, 1])))
    }

    /// Random points anywhere in random boxes: the snapped point is float32 and inside.
    func testRandomSnapsAreInside() {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<2000 {
            let c = rng.uniform(-10, 10), w = pow(10, rng.uniform(-6, 1))
            let l = c - w, u = c + w
            let v = rng.uniform(l - w, u + w)
            guard let s = CounterexampleCheck.snapToFloat32(v, lower: l, upper: u) else { return XCTFail("\(l) \(u)") }
            XCTAssertTrue(l <= s && s <= u)
            XCTAssertEqual(Double(Float(s)), s)
        }
    }

    /// The margin rejects a point that satisfies the clause only barely.
    func testMarginRejectsBorderlineOutputs() {
        let clause = Clause(atoms: [LinearAtom(c: [1, -1], d: 0)])
        let s = VerifierSettings()
        XCTAssertTrue(CounterexampleCheck.clauseHoldsWithMargin(clause, y: [1, 1.001], settings: s))
        XCTAssertFalse(CounterexampleCheck.clauseHoldsWithMargin(clause, y: [1, 1 + 1e-9], settings: s))
        XCTAssertFalse(CounterexampleCheck.clauseHoldsWithMargin(clause, y: [1, 1], settings: s))
        XCTAssertFalse(CounterexampleCheck.clauseHoldsWithMargin(clause, y: [.nan, 2], settings: s))
        XCTAssertTrue(CounterexampleCheck.clauseHoldsWithMargin(Clause(atoms: []), y: [0, 0], settings: s))
        XCTAssertEqual(s.safetyMargin(c: [1, -1], d: 0, y: [1, 1]), 1e-6 + 1e-5 * 2, accuracy: 1e-18)
    }

    /// SplitMix64 matches the reference implementation (Vigna's splitmix64.c, seed 0) and
    /// `nextUnit` stays in [0, 1).
    func testSplitMix64ReferenceSequence() {
        var r = SplitMix64(seed: 0)
        XCTAssertEqual(r.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(r.next(), 0x6E78_9E6A_A1B9_65F4)
        XCTAssertEqual(r.next(), 0x06C4_5D18_8009_454F)
        var u = SplitMix64(seed: 5)
        for _ in 0..<1000 { let v = u.nextUnit(); XCTAssertTrue(v >= 0 && v < 1) }
        XCTAssertEqual(SplitMix64(seed: 3).state, 3)
    }

    func testSettingsValidation() {
        XCTAssertNoThrow(try VerifierSettings().validate())
        var s = VerifierSettings(); s.timeout = 0
        XCTAssertThrowsError(try s.validate()) { XCTAssertEqual(($0 as? SettingsError)?.setting, "timeout") }
        s = VerifierSettings(); s.timeout = .nan
        XCTAssertThrowsError(try s.validate())
        s = VerifierSettings(); s.attackSteps = -1
        XCTAssertThrowsError(try s.validate()) { XCTAssertEqual(($0 as? SettingsError)?.setting, "attackSteps") }
        s = VerifierSettings(); s.exhaustiveCornerLimit = 40
        XCTAssertThrowsError(try s.validate())
        s = VerifierSettings(); s.timeout = .infinity
        XCTAssertNoThrow(try s.validate())
        XCTAssertGreaterThan(Deadline(secondsFromNow: .infinity).remainingSeconds, 1e8)
        XCTAssertTrue(Deadline(secondsFromNow: -1).hasPassed)
        XCTAssertTrue(Deadline(secondsFromNow: .nan).hasPassed)
    }
}
