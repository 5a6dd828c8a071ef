import Foundation
import XCTest
import CertusSpec

/// The VNN-COMP counterexample writer and reader.
final class WitnessTests: XCTestCase {
    func testFormat() {
        XCTAssertEqual(vnncompWitness(x: [0.5, -1], y: [1e-05]), "((X_0 0.5)\n(X_1 -1.0)\n(Y_0 1e-05))\n")
    }

    func testRoundTripIsBitExact() throws {
        var rng = SystemRandomNumberGenerator()
        var x: [Double] = [0.1, -0.0, 1.0 / 3.0, Double.leastNonzeroMagnitude, 1e-300, -1.7976931348623157e308, 123456789.123, 0]
        for _ in 0..<200 { x.append(Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &rng))) }
        x = x.filter(\.isFinite)
        let y = x.reversed().map { $0 / 3 }
        let text = vnncompWitness(x: x, y: Array(y))
        let back = try parseVNNCompWitness(text: text, source: "w")
        XCTAssertEqual(back.x.map(\.bitPattern), x.map(\.bitPattern))
        XCTAssertEqual(back.y.map(\.bitPattern), y.map(\.bitPattern))
        // With a result line in front, as in a VNN-COMP result file.
        XCTAssertEqual(try parseVNNCompWitness(text: "sat\n" + text, source: "w").x.count, x.count)
    }

    func testMalformedWitnesses() {
        assertContains(expectSpecError({ try parseVNNCompWitness(text: "((X_0 1)\n(X_1 abc))", source: "w.txt") })?.description ?? "",
                       ["w.txt:2:6:", "bad number 'abc'"])
        assertContains(expectSpecError({ try parseVNNCompWitness(text: "((X_0 1) (X_2 1))", source: "w.txt") })?.description ?? "",
                       ["w.txt:1:1:", "X_2"])
        assertContains(expectSpecError({ try parseVNNCompWitness(text: "((X_0 1) (X_0 2))", source: "w.txt") })?.description ?? "",
                       ["w.txt:1:11:", "assigned twice"])
        assertContains(expectSpecError({ try parseVNNCompWitness(text: "((Z_0 1))", source: "w.txt") })?.description ?? "",
                       ["w.txt:1:3:", "unknown variable 'Z_0'"])
        assertContains(expectSpecError({ try parseVNNCompWitness(text: "((X_0 1)", source: "w.txt") })?.description ?? "",
                       ["w.txt:1:1:", "unbalanced"])
    }

    /// Every shared witness: our writer reproduces the file byte for byte, x lies in a box of
    /// its spec, and y satisfies a clause of that box.
    func testSharedWitnessesViolateTheirSpecs() throws {
        var checked = 0
        for bench in ["acasxu", "mnistfc", "tiny"] {
            for w in try SharedData.files(in: "benchmarks/\(bench)/witnesses", ext: "txt") {
                let name = URL(fileURLWithPath: w).deletingPathExtension().lastPathComponent
                guard let sep = name.range(of: "__") else { XCTFail("unexpected witness name \(name)"); continue }
                let specPath = SharedData.path("benchmarks/\(bench)/\(name[sep.upperBound...]).vnnlib")
                let text = try String(contentsOfFile: w, encoding: .utf8)
                let (x, y) = try parseVNNCompWitness(text: text, source: w)
                let p = try VNNLib.load(path: specPath)
                XCTAssertEqual(x.count, p.numInputs, name)
                XCTAssertEqual(y.count, p.numOutputs, name)
                XCTAssertNotNil(p.violatingClause(x: x, y: y), name)
                XCTAssertEqual(vnncompWitness(x: x, y: y), text, name)
                checked += 1
            }
        }
        XCTAssertEqual(checked, 47 + 19 + 1) // all sat instances with a witness (see benchmarks/README.md)
    }
}
