import Foundation
import XCTest
import CertusSpec

/// Every VNN-LIB file of the shared benchmarks and references parses, with the expected structure.
final class BenchmarkVNNLibTests: XCTestCase {
    func testEveryVNNLibFileUnderSharedParses() throws {
        var count = 0
        for top in ["benchmarks", "reference"] {
            let base = SharedData.path(top)
            guard let walker = FileManager.default.enumerator(atPath: base) else {
                XCTFail("cannot list \(base)")
                continue
            }
            for case let rel as String in walker where rel.hasSuffix(".vnnlib") {
                let p = try VNNLib.load(path: base + "/" + rel)
                XCTAssertFalse(p.cases.isEmpty, rel)
                XCTAssertNoThrow(try p.validate(modelInputs: p.numInputs, modelOutputs: p.numOutputs), rel)
                for pc in p.cases {
                    XCTAssertEqual(pc.box.lower.count, p.numInputs, rel)
                    XCTAssertTrue(zip(pc.box.lower, pc.box.upper).allSatisfy { $0.isFinite && $1.isFinite && $0 <= $1 }, rel)
                    XCTAssertFalse(pc.clauses.isEmpty, rel)
                }
                count += 1
            }
        }
        // 10 acasxu + 30 mnistfc + 4 tiny + 30 zoo (more may be added later).
        XCTAssertGreaterThanOrEqual(count, 74)
    }

    private func acas(_ n: Int) throws -> Property {
        try VNNLib.load(path: SharedData.path("benchmarks/acasxu/prop_\(n).vnnlib"))
    }

    func testAcasProp1() throws {
        let p = try acas(1)
        XCTAssertEqual(p.numInputs, 5)
        XCTAssertEqual(p.numOutputs, 5)
        XCTAssertEqual(p.cases.count, 1)
        XCTAssertEqual(p.cases[0].box, InputBox(lower: [0.6, -0.5, -0.5, 0.45, -0.5],
                                                upper: [0.679857769, 0.5, 0.5, 0.5, -0.45]))
        // (assert (>= Y_0 3.991125645861615))  ->  -y0 <= -3.991125645861615
        XCTAssertEqual(p.cases[0].clauses, [Clause(atoms: [LinearAtom(c: [-1, 0, 0, 0, 0], d: -3.991125645861615)])])
        XCTAssertTrue(p.source.hasSuffix("prop_1.vnnlib"))
    }

    func testAcasProps2To4AreOneClauseOfFourAtoms() throws {
        // prop_2: Y_j <= Y_0 (COC maximal);  prop_3/4: Y_0 <= Y_j (COC minimal).
        let expected: [Int: [[Double]]] = [
            2: (1...4).map { diff(5, $0, 0) },
            3: (1...4).map { diff(5, 0, $0) },
            4: (1...4).map { diff(5, 0, $0) },
        ]
        for n in 2...4 {
            let p = try acas(n)
            XCTAssertEqual(p.cases.count, 1)
            XCTAssertEqual(p.cases[0].clauses.count, 1, "prop_\(n)")
            XCTAssertEqual(p.cases[0].clauses[0].atoms.map(\.c), expected[n], "prop_\(n)")
            XCTAssertEqual(p.cases[0].clauses[0].atoms.map(\.d), [0, 0, 0, 0], "prop_\(n)")
        }
        // prop_4 fixes X_2 = 0 (a degenerate but valid box).
        let p4 = try acas(4)
        XCTAssertEqual(p4.cases[0].box.lower[2], 0)
        XCTAssertEqual(p4.cases[0].box.upper[2], 0)
    }

    func testAcasProps5To10HaveSeveralClauses() throws {
        // (cases, clauses per case, atoms per clause)
        let shape: [Int: (Int, Int, Int)] = [5: (1, 4, 1), 6: (2, 4, 1), 7: (1, 2, 3), 8: (1, 3, 2), 9: (1, 4, 1), 10: (1, 4, 1)]
        for (n, s) in shape.sorted(by: { $0.key < $1.key }) {
            let p = try acas(n)
            XCTAssertEqual(p.cases.count, s.0, "prop_\(n)")
            for pc in p.cases {
                XCTAssertEqual(pc.clauses.count, s.1, "prop_\(n)")
                XCTAssertTrue(pc.clauses.allSatisfy { $0.atoms.count == s.2 }, "prop_\(n)")
            }
        }
        // prop_7 clause 1: Y_4 <= Y_0, Y_4 <= Y_1, Y_4 <= Y_2.
        XCTAssertEqual(try acas(7).cases[0].clauses[1].atoms.map(\.c), [diff(5, 4, 0), diff(5, 4, 1), diff(5, 4, 2)])
    }

    func testAcasProp6HasTwoBoxesWithTheSameClauses() throws {
        let p = try acas(6)
        XCTAssertEqual(p.cases.count, 2)
        XCTAssertEqual(p.cases[0].box.lower, [-0.129289109, 0.11140846, -0.499999896, -0.5, -0.5])
        XCTAssertEqual(p.cases[0].box.upper, [0.700434925, 0.499999896, -0.499204121, 0.5, 0.5])
        XCTAssertEqual(p.cases[1].box.lower, [-0.129289109, -0.499999896, -0.499999896, -0.5, -0.5])
        XCTAssertEqual(p.cases[1].box.upper, [0.700434925, -0.11140846, -0.499204121, 0.5, 0.5])
        let clauses = (1...4).map { Clause(atoms: [LinearAtom(c: diff(5, $0, 0), d: 0)]) }
        XCTAssertEqual(p.cases[0].clauses, clauses)
        XCTAssertEqual(p.cases[1].clauses, clauses)
    }

    func testMnistfcSpecs() throws {
        let files = try SharedData.files(in: "benchmarks/mnistfc", ext: "vnnlib")
        XCTAssertEqual(files.count, 30)
        for f in files {
            let text = try String(contentsOfFile: f, encoding: .utf8)
            // "; Mnist property with label: 8."
            guard let r = text.range(of: "label: ") else { XCTFail("no label comment in \(f)"); continue }
            let label = Int(text[r.upperBound...].prefix { $0.isNumber })!
            let eps = f.contains("_0.03.") ? 0.03 : 0.05
            let p = try VNNLib.parse(text: text, source: f)
            XCTAssertEqual(p.numInputs, 784)
            XCTAssertEqual(p.numOutputs, 10)
            XCTAssertEqual(p.cases.count, 1)
            let box = p.cases[0].box
            // Clipped to [0, 1]: every bound inside, width at most 2 eps, and some coordinates visibly clipped.
            XCTAssertTrue(box.lower.allSatisfy { $0 >= 0 } && box.upper.allSatisfy { $0 <= 1 }, f)
            XCTAssertTrue(zip(box.lower, box.upper).allSatisfy { (lo: Double, hi: Double) -> Bool in hi - lo <= 2 * eps + 1e-6 }, f)
            var clipped = 0
            for i in 0..<784 {
                let lo = box.lower[i], hi = box.upper[i]
                let atEdge = lo == 0 || hi == 1
                if atEdge && hi - lo < 2 * eps - 1e-6 { clipped += 1 }
            }
            XCTAssertGreaterThan(clipped, 0, f)
            XCTAssertEqual(p.cases[0].clauses.count, 9)
            let others = (0..<10).filter { $0 != label }
            XCTAssertEqual(p.cases[0].clauses, others.map { Clause(atoms: [LinearAtom(c: diff(10, label, $0), d: 0)]) }, f)
        }
    }

    func testTinySpecs() throws {
        let nano = try VNNLib.load(path: SharedData.path("benchmarks/tiny/test_nano.vnnlib"))
        XCTAssertEqual(nano.cases, [PropertyCase(box: InputBox(lower: [-1], upper: [1]),
                                                 clauses: [Clause(atoms: [LinearAtom(c: [1], d: -1)])])])
        for name in ["test_tiny", "test_small"] {
            // X bounds and the output atom share one disjunct: (or (and (>= X_0 -1) (<= X_0 1) (>= Y_0 100)))
            let p = try VNNLib.load(path: SharedData.path("benchmarks/tiny/\(name).vnnlib"))
            XCTAssertEqual(p.cases, [PropertyCase(box: InputBox(lower: [-1], upper: [1]),
                                                  clauses: [Clause(atoms: [LinearAtom(c: [-1], d: -100)])])], name)
        }
        let prop = try VNNLib.load(path: SharedData.path("benchmarks/tiny/test_prop.vnnlib"))
        XCTAssertEqual(prop.cases.count, 1)
        XCTAssertEqual(prop.cases[0].box.upper, [-0.29855281193475053, 0.009549296585513092, 0.49999999998567607, 0.5, 0.5])
        XCTAssertEqual(prop.cases[0].clauses[0].atoms.map(\.c), (1...4).map { diff(5, 0, $0) })
    }

    func testMnistParseIsFast() throws {
        let path = SharedData.path("benchmarks/mnistfc/prop_0_0.03.vnnlib")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        _ = try VNNLib.parse(text: text, source: path)
        let start = Date()
        let runs = 5
        for _ in 0..<runs { _ = try VNNLib.parse(text: text, source: path) }
        let perParse = Date().timeIntervalSince(start) / Double(runs)
        #if DEBUG
        let limit = 0.3
        #else
        let limit = 0.05
        #endif
        XCTAssertLessThan(perParse, limit, "mnistfc parse took \(perParse * 1000) ms")
    }
}
