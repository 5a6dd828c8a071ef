import Foundation
import XCTest
import CertusSpec

/// Small synthetic specs exercising the DNF conversion, boxes and number syntax.
final class DNFTests: XCTestCase {
    /// X_0 in [0, 1], Y_0..Y_2.
    private let head = """
    (declare-const X_0 Real)
    (declare-const Y_0 Real)
    (declare-const Y_1 Real)
    (declare-const Y_2 Real)
    (assert (<= X_0 1))
    (assert (>= X_0 0))

    """

    private func parse(_ text: String) throws -> Property { try VNNLib.parse(text: text, source: "t.vnnlib") }
    private func atom(_ c: [Double], _ d: Double) -> LinearAtom { LinearAtom(c: c, d: d) }

    func testTwoTopLevelOrsAreCrossMultiplied() throws {
        let p = try parse(head + """
        (assert (or (<= Y_0 1) (>= Y_1 2)))
        (assert (or (and (<= Y_2 3)) (<= Y_0 Y_1)))
        """)
        XCTAssertEqual(p.cases.count, 1)
        XCTAssertEqual(p.cases[0].box, InputBox(lower: [0], upper: [1]))
        let a = atom([1, 0, 0], 1), b = atom([0, -1, 0], -2), c = atom([0, 0, 1], 3), d = atom([1, -1, 0], 0)
        XCTAssertEqual(p.cases[0].clauses.map(\.atoms), [[a, c], [a, d], [b, c], [b, d]])
    }

    func testNestedAndOr() throws {
        // (A or (B and (C or D))) and E  ->  A E | B C E | B D E
        let p = try parse(head + "(assert (and (or (<= Y_0 1) (and (<= Y_1 2) (or (<= Y_2 3) (<= Y_2 4)))) (<= Y_0 5)))")
        let A = atom([1, 0, 0], 1), B = atom([0, 1, 0], 2), C = atom([0, 0, 1], 3), D = atom([0, 0, 1], 4), E = atom([1, 0, 0], 5)
        XCTAssertEqual(p.cases[0].clauses.map(\.atoms), [[A, E], [B, C, E], [B, D, E]])
    }

    func testAtomsKeepTextualOrderAcrossAsserts() throws {
        // A conjunct after an `or` comes after that `or`'s atoms in each clause.
        let p = try parse(head + "(assert (<= Y_2 9))\n(assert (or (<= Y_0 1) (<= Y_1 2)))\n(assert (>= Y_2 -9))")
        let first = atom([0, 0, 1], 9), last = atom([0, 0, -1], 9)
        XCTAssertEqual(p.cases[0].clauses.map(\.atoms), [[first, atom([1, 0, 0], 1), last], [first, atom([0, 1, 0], 2), last]])
    }

    func testInputConstraintsInsideDisjunctsGiveSeveralBoxes() throws {
        let p = try parse("""
        (declare-const X_0 Real)
        (declare-const X_1 Real)
        (declare-const Y_0 Real)
        (assert (>= X_1 -2)) (assert (<= X_1 2))
        (assert (or
            (and (<= X_0 0) (>= X_0 -1) (<= Y_0 0))
            (and (<= X_0 1) (>= X_0 0.5) (<= Y_0 1))
            (and (>= X_0 -1) (<= X_0 0) (>= Y_0 5))
            (and (>= X_0 3) (<= X_0 2) (>= Y_0 7))
        ))
        """)
        // Disjuncts 1 and 3 share a box (grouped, first-appearance order); disjunct 4's box is empty (dropped).
        XCTAssertEqual(p.cases.count, 2)
        XCTAssertEqual(p.cases[0].box, InputBox(lower: [-1, -2], upper: [0, 2]))
        XCTAssertEqual(p.cases[0].clauses, [Clause(atoms: [atom([1], 0)]), Clause(atoms: [atom([-1], -5)])])
        XCTAssertEqual(p.cases[1].box, InputBox(lower: [0.5, -2], upper: [1, 2]))
        XCTAssertEqual(p.cases[1].clauses, [Clause(atoms: [atom([1], 1)])])
        XCTAssertEqual(p.rows.map(\.caseIndex), [0, 0, 1])
        XCTAssertEqual(p.rows.map(\.clauseIndex), [0, 1, 0])
    }

    func testTightestBoundWinsAndAllEmptyGivesNoCases() throws {
        let p = try parse(head + "(assert (<= X_0 0.75)) (assert (>= X_0 -3)) (assert (<= Y_0 0))")
        XCTAssertEqual(p.cases[0].box, InputBox(lower: [0], upper: [0.75]))
        let none = try parse(head + "(assert (>= X_0 2)) (assert (<= Y_0 0))")
        XCTAssertTrue(none.cases.isEmpty)
        XCTAssertNil(none.violatingClause(x: [0.5], y: [-1, 0, 0]))
    }

    func testCommentsMultiLineAndNumberSyntax() throws {
        let p = try parse("""
        ; leading comment
        (declare-const X_0 Real) ; trailing comment
        (declare-const X_1 Real)
        (declare-const X_2 Real)
        (declare-const Y_0 Real)(declare-const Y_1 Real)
        (assert
           (<=
              X_0      ; comment inside a statement
              +2))
        (assert (>= X_0 -1.5e-3))
        (assert (<= X_1 .5)) (assert (> X_1 -.5E+1))
        (assert (= X_2 1e-2))
        (assert (< 7 Y_1))     ; constant on the left, strict treated as non-strict
        (assert (= Y_0 2.))
        """)
        XCTAssertEqual(p.numInputs, 3)
        XCTAssertEqual(p.cases[0].box, InputBox(lower: [-0.0015, -5, 0.01], upper: [2, 0.5, 0.01]))
        XCTAssertEqual(p.cases[0].clauses, [Clause(atoms: [atom([0, -1], -7), atom([1, 0], 2), atom([-1, 0], -2)])])
    }

    func testLinearTermsAndNoNegativeZero() throws {
        let p = try parse(head + """
        (assert (<= (+ Y_0 (* -2 Y_1)) 3))
        (assert (>= (- Y_0 Y_1) 0.5))
        (assert (<= (- Y_2) (* 2 1.5)))
        (assert (>= Y_0 0))
        """)
        XCTAssertEqual(p.cases[0].clauses[0].atoms, [atom([1, -2, 0], 3), atom([-1, 1, 0], -0.5), atom([0, 0, -1], 3), atom([-1, 0, 0], 0)])
        for a in p.cases[0].clauses[0].atoms {
            XCTAssertFalse(a.d.sign == .minus && a.d == 0, "negative zero d")
            XCTAssertFalse(a.c.contains { $0 == 0 && $0.sign == .minus }, "negative zero in c")
        }
        // A scaled input bound: 2 X_0 + 1 <= 2  ->  X_0 <= 0.5;  (- X_0) <= 0 -> X_0 >= 0.
        let q = try parse("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= (+ X_0 X_0 1) 2))(assert (<= (- X_0) 0))(assert (<= Y_0 0))")
        XCTAssertEqual(q.cases[0].box, InputBox(lower: [0], upper: [0.5]))
        XCTAssertEqual(q.cases[0].box.lower[0].sign, .plus)
    }

    func testInputOnlySpecGivesAlwaysUnsafeClause() throws {
        let p = try parse(head)
        XCTAssertEqual(p.cases[0].clauses, [Clause(atoms: [])])
        XCTAssertTrue(Clause(atoms: []).isSatisfied(by: [1, 2, 3]))
        XCTAssertNotNil(p.violatingClause(x: [0.5], y: [0, 0, 0]))
    }

    func testIgnoredSMTCommandsAndDeclareFun() throws {
        let p = try parse("(set-logic QF_LRA)(declare-fun X_0 () Real)(declare-const Y_0 Real)(assert (<= X_0 1))(assert (>= X_0 0))(assert (<= Y_0 0))(check-sat)(get-model)(exit)")
        XCTAssertEqual(p.cases.count, 1)
        XCTAssertEqual(p.numInputs, 1)
    }
}
