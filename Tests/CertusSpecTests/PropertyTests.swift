import Foundation
import XCTest
import CertusSpec

/// Property helpers and the format-picking loader.
final class PropertyTests: XCTestCase {
    func testClauseAndAtomSatisfaction() {
        let clause = Clause(atoms: [LinearAtom(c: [1, -1], d: 0), LinearAtom(c: [0, 1], d: 2)])
        XCTAssertTrue(clause.isSatisfied(by: [1, 1]))            // 0 <= 0, 1 <= 2
        XCTAssertFalse(clause.isSatisfied(by: [1.5, 1]))         // 0.5 > 0
        XCTAssertTrue(clause.isSatisfied(by: [1.5, 1], tolerance: 0.5))
        XCTAssertFalse(clause.isSatisfied(by: [1, 3]))
        XCTAssertFalse(clause.isSatisfied(by: [1]))              // wrong length
        XCTAssertFalse(clause.isSatisfied(by: [.nan, 0]))
        XCTAssertEqual(clause.atoms[0].slack([3, 1]), 2)
        XCTAssertNil(clause.atoms[0].slack([3]))
    }

    func testBoxContainment() {
        let box = InputBox(lower: [0, -1], upper: [1, 1])
        XCTAssertTrue(box.contains([0, -1]))
        XCTAssertTrue(box.contains([1, 1]))
        XCTAssertFalse(box.contains([1.0000000000000002, 0]))
        XCTAssertFalse(box.contains([0.5, -1.5]))
        XCTAssertFalse(box.contains([0.5]))
        XCTAssertFalse(box.contains([.nan, 0]))
    }

    func testViolatingClauseFindsCaseAndClause() {
        let p = Property(numInputs: 1, numOutputs: 2, cases: [
            PropertyCase(box: InputBox(lower: [0], upper: [1]), clauses: [Clause(atoms: [LinearAtom(c: [1, 0], d: -5)])]),
            PropertyCase(box: InputBox(lower: [2], upper: [3]), clauses: [
                Clause(atoms: [LinearAtom(c: [1, 0], d: -5)]),
                Clause(atoms: [LinearAtom(c: [0, 1], d: 0)]),
            ]),
        ], source: "mem")
        XCTAssertNil(p.violatingClause(x: [0.5], y: [0, -1]))     // box 0 clause needs y0 <= -5
        XCTAssertNil(p.violatingClause(x: [1.5], y: [-9, -1]))    // in no box
        XCTAssertTrue(p.violatingClause(x: [0.5], y: [-9, 1])! == (0, 0))
        XCTAssertTrue(p.violatingClause(x: [2.5], y: [0, -1])! == (1, 1))
        XCTAssertTrue(p.violatingClause(x: [2.5], y: [0, 0.5], tolerance: 0.5)! == (1, 1))
        XCTAssertEqual(p.rows.map(\.caseIndex), [0, 1, 1])
        XCTAssertEqual(p.rows.map(\.clauseIndex), [0, 0, 1])
    }

    func testRobustnessPropertyRowsAndBox() throws {
        let spec = RobustnessSpec(center: [0.5, -0.25], epsilon: 0.25, label: 1, source: "mem")
        let p = try spec.property(numOutputs: 3)
        XCTAssertEqual(p.cases, [PropertyCase(box: InputBox(lower: [0.25, -0.5], upper: [0.75, 0]), clauses: [
            Clause(atoms: [LinearAtom(c: [-1, 1, 0], d: 0)]),
            Clause(atoms: [LinearAtom(c: [0, 1, -1], d: 0)]),
        ])])
        // y_1 is not the strict max: unsafe.
        XCTAssertNotNil(p.violatingClause(x: [0.5, 0], y: [2, 2, 0]))
        XCTAssertNil(p.violatingClause(x: [0.5, 0], y: [1, 2, 0]))
        var clipped = spec
        clipped.clip = 0...0.6
        XCTAssertEqual(try clipped.box(), InputBox(lower: [0.25, 0], upper: [0.6, 0]))
    }

    private func temp(_ name: String, _ contents: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("certus-spec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testLoaderPicksFormat() throws {
        let vnn = "(declare-const X_0 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)(assert (<= X_0 1))(assert (>= X_0 0))(assert (>= Y_1 Y_0))"
        let json = #"  {"center": [0.5], "epsilon": 0.5, "label": 0}"#
        let expected = [PropertyCase(box: InputBox(lower: [0], upper: [1]), clauses: [Clause(atoms: [LinearAtom(c: [1, -1], d: 0)])])]

        let p1 = try PropertyLoader.load(path: try temp("s.vnnlib", vnn), numOutputs: nil)
        let p2 = try PropertyLoader.load(path: try temp("s.json", json), numOutputs: 2)
        let p3 = try PropertyLoader.load(path: try temp("s.txt", "\n" + json), numOutputs: 2)
        let p4 = try PropertyLoader.load(path: try temp("s.spec", "; c\n" + vnn), numOutputs: 2)
        for p in [p1, p2, p3, p4] { XCTAssertEqual(p.cases, expected, p.source) }
        XCTAssertEqual(PropertyLoader.format(path: "a.JSON", data: Data("(".utf8)), .json)
        XCTAssertEqual(PropertyLoader.format(path: "a.vnnlib", data: Data("{".utf8)), .vnnlib)
        XCTAssertEqual(PropertyLoader.format(path: "a", data: Data(" \n{".utf8)), .json)
        XCTAssertEqual(PropertyLoader.format(path: "a", data: Data("(".utf8)), .vnnlib)

        let jsonPath = try temp("r.json", json)
        assertContains(expectSpecError({ try PropertyLoader.load(path: jsonPath, numOutputs: nil) })?.description ?? "",
                       [jsonPath, "number of outputs"])
        let vnnPath = try temp("r.vnnlib", vnn)
        assertContains(expectSpecError({ try PropertyLoader.load(path: vnnPath, numOutputs: 10) })?.description ?? "",
                       [vnnPath, "2 output(s)", "model has 10"])
        // A vnnlib file given a JSON extension fails with a JSON message naming the file.
        let wrong = try temp("w.json", vnn)
        assertContains(expectSpecError({ try PropertyLoader.load(path: wrong, numOutputs: 2) })?.description ?? "",
                       [wrong, "invalid JSON"])
    }

    func testLoaderOnSharedFiles() throws {
        let acas = try PropertyLoader.load(path: SharedData.path("benchmarks/acasxu/prop_3.vnnlib"), numOutputs: 5)
        XCTAssertEqual(acas.rows.count, 4)
        let mnist = try PropertyLoader.load(path: SharedData.path("reference/vnncomp/mnist-net_256x2_eps0.02.json"), numOutputs: 10)
        XCTAssertEqual(mnist.cases[0].clauses.count, 9)
    }
}
