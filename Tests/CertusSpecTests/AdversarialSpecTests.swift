import Foundation
import XCTest
import CertusSpec

/// Hostile specs (issue 15, item 6; docs/reliability.md "Adversarial inputs"): each is generated
/// here, never stored, and either works within the documented limits of ``VNNLib`` or is refused
/// with a `SpecError` naming the file, the line:column and the limit, before memory grows with
/// the size the spec asks for.
final class AdversarialSpecTests: XCTestCase {
    private func decls(inputs: Int, outputs: Int) -> String {
        var s = ""
        for i in 0..<inputs { s += "(declare-const X_\(i) Real)\n" }
        for j in 0..<outputs { s += "(declare-const Y_\(j) Real)\n" }
        for i in 0..<inputs { s += "(assert (>= X_\(i) 0))(assert (<= X_\(i) 1))\n" }
        return s
    }

    private func refusal(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> SpecError? {
        expectSpecError({ try VNNLib.parse(bytes: Array(text.utf8), source: "hostile.vnnlib") }, file: file, line: line)
    }

    /// One flat `or` of 1,000,000 output constraints: refused at the `or` (line 5) once the
    /// count passes ``VNNLib/maxDisjuncts``, not after building a million clauses.
    func testMillionDisjunctsInOneOrAreRefused() throws {
        var text = decls(inputs: 1, outputs: 2) + "(assert (or"
        text.reserveCapacity(text.utf8.count + 1_000_000 * 14 + 4)
        for k in 0..<1_000_000 { text += k & 1 == 0 ? " (<= Y_0 Y_1)" : " (>= Y_0 Y_1)" }
        text += "))\n"
        let e = refusal(text)
        XCTAssertEqual(e?.kind, .tooLarge)
        assertContains(e?.description ?? "", ["hostile.vnnlib:5:9:", "more than \(VNNLib.maxDisjuncts) disjuncts"])
    }

    /// 20 conjoined two-way `or`s ask for 2^20 = 1,048,576 disjuncts from a 1 KB file: refused
    /// from the counts alone, before any disjunct is made.
    func testMillionDisjunctsByProductAreRefused() throws {
        let ors = String(repeating: "(assert (or (<= Y_0 0) (<= Y_1 0)))\n", count: 20)
        let e = refusal(decls(inputs: 1, outputs: 2) + ors)
        XCTAssertEqual(e?.kind, .tooLarge)
        assertContains(e?.description ?? "", ["hostile.vnnlib:", "more than \(VNNLib.maxDisjuncts) disjuncts"])
    }

    /// Found by FuzzVNNLib: a kilobyte of nested `and`/`or` (five 10-way `or`s and 50 shared
    /// atoms: 100,000 disjuncts of 55 constraints) asked for 5.5 million constraint occurrences,
    /// which took seconds and hundreds of megabytes under the former 20,000,000 limit. Now it is
    /// refused from the counts alone by ``VNNLib/maxDNFSize``.
    func testSmallSpecAskingForMillionsOfConstraintsIsRefused() throws {
        let or10 = "(or " + (0..<10).map { "(<= Y_0 \($0))" }.joined(separator: " ") + ")\n"
        let and50 = "(and " + String(repeating: "(<= Y_1 0) ", count: 50) + ")"
        let text = decls(inputs: 1, outputs: 2) + "(assert (and " + String(repeating: or10, count: 5) + and50 + "))\n"
        XCTAssertLessThan(text.utf8.count, 2000)
        let e = refusal(text)
        XCTAssertEqual(e?.kind, .tooLarge)
        assertContains(e?.description ?? "", ["hostile.vnnlib:5:9:", "more than \(VNNLib.maxDNFSize) constraints"])
    }

    /// A spec at the disjunct limit works: 200,000 clauses, each one atom, in one case.
    func testDisjunctLimitItselfWorks() throws {
        var text = decls(inputs: 1, outputs: 2) + "(assert (or"
        for k in 0..<VNNLib.maxDisjuncts { text += " (<= Y_0 \(k))" }
        text += "))\n"
        let p = try VNNLib.parse(text: text, source: "limit.vnnlib")
        XCTAssertEqual(p.cases.count, 1)
        XCTAssertEqual(p.cases[0].clauses.count, VNNLib.maxDisjuncts)
        XCTAssertEqual(p.cases[0].clauses.last?.atoms, [LinearAtom(c: [1, 0], d: Double(VNNLib.maxDisjuncts - 1))])
    }

    /// 20,000 outputs and 20,000 output constraints would store 4 * 10^8 dense coefficients
    /// (3.2 GB): refused by ``VNNLib/maxPropertyValues`` at the first constraint past the limit
    /// (line and column), before any is stored.
    func testDenseCoefficientBlowUpIsRefused() throws {
        let outputs = 20_000
        var text = decls(inputs: 1, outputs: outputs) + "(assert (or\n"
        for j in 0..<outputs { text += "(<= Y_\(j) 0)\n" }
        text += "))\n"
        let e = refusal(text)
        XCTAssertEqual(e?.kind, .tooLarge)
        // The atom that crosses 2^26 coefficients is the 3356th (3356 * 20000 > 67108864).
        let crossing = VNNLib.maxPropertyValues / outputs + 1
        let atomLine = 1 + outputs + 1 + 1 + crossing   // X decl, Y decls, bounds line, "(assert (or", atoms
        assertContains(e?.description ?? "", ["hostile.vnnlib:\(atomLine):1:", "too large", "\(VNNLib.maxPropertyValues) coefficients"])
    }

    /// 100,000 nested `(+` terms: the parser is iterative, so this is a nesting-limit error at the
    /// 501st parenthesis, not a stack overflow. At the limit the recursive compiler still works.
    func testDeeplyNestedTermsAreRefusedOrWork() throws {
        let d = decls(inputs: 1, outputs: 1)
        let deep = d + "(assert (<= " + String(repeating: "(+ ", count: 100_000) + "Y_0" + String(repeating: ")", count: 100_000) + " 0))"
        let e = refusal(deep)
        XCTAssertEqual(e?.kind, .tooLarge)
        assertContains(e?.description ?? "", ["hostile.vnnlib:4:", "nested deeper than \(VNNLib.maxNestingDepth)"])
        let depth = VNNLib.maxNestingDepth - 2  // (assert (<= ... ) takes two levels
        let ok = d + "(assert (<= " + String(repeating: "(+ ", count: depth) + "Y_0" + String(repeating: ")", count: depth) + " 0))"
        let p = try VNNLib.parse(text: ok, source: "ok.vnnlib")
        XCTAssertEqual(p.cases.first?.clauses, [Clause(atoms: [LinearAtom(c: [1], d: 0)])])
    }

    /// The same deep formula on a thread with a small (256 KiB) stack: the recursive compiler
    /// (`dnf`, `term`) must fit within ``VNNLib/maxNestingDepth`` levels on any thread that
    /// Certus parses specs on.
    func testNestingLimitFitsASmallStack() throws {
        let d = decls(inputs: 1, outputs: 1)
        let depth = VNNLib.maxNestingDepth - 2
        let andOr = d + "(assert " + String(repeating: "(and (or ", count: depth / 2 - 1) + "(<= Y_0 0)"
            + String(repeating: "))", count: depth / 2 - 1) + ")"
        let terms = d + "(assert (<= " + String(repeating: "(- ", count: depth) + "Y_0" + String(repeating: ")", count: depth) + " 0))"
        // Written by the thread, read after the semaphore (which orders the two).
        final class Results: @unchecked Sendable { var counts: [Int?] = [nil, nil] }
        let results = Results()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            results.counts[0] = (try? VNNLib.parse(text: andOr, source: "andor.vnnlib"))?.cases.first?.clauses.count
            results.counts[1] = (try? VNNLib.parse(text: terms, source: "terms.vnnlib"))?.cases.first?.clauses.count
            done.signal()
        }
        thread.stackSize = 256 << 10
        thread.start()
        done.wait()
        XCTAssertEqual(results.counts[0], 1)
        XCTAssertEqual(results.counts[1], 1)
    }

    /// JSON specs nested 100,000 arrays deep, and a `center` of 1,000,000 values: the first is a
    /// JSON error (Foundation's parser limits nesting), the second works.
    func testJSONSpecNestingAndSize() throws {
        let deep = "{\"center\": " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + ", \"epsilon\": 0.1, \"label\": 0}"
        let e = expectSpecError({ try RobustnessSpec.decode(data: Data(deep.utf8), source: "deep.json") })
        XCTAssertEqual(e?.kind, .json)
        assertContains(e?.description ?? "", ["deep.json: "])

        let n = 1_000_000
        let big = "{\"center\": [" + Array(repeating: "0.5", count: n).joined(separator: ",") + "], \"epsilon\": 0.25, \"label\": 1}"
        let spec = try RobustnessSpec.decode(data: Data(big.utf8), source: "big.json")
        let p = try spec.property(numOutputs: 3)
        XCTAssertEqual(p.numInputs, n)
        XCTAssertEqual(p.cases[0].box.lower.last, 0.25)
        XCTAssertEqual(p.cases[0].box.upper.first, 0.75)
    }
}
