import Foundation
import XCTest
import CertusSpec

/// Malformed inputs give a SpecError naming the file, the line:column and what is wrong.
final class ErrorTests: XCTestCase {
    private let decls = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"

    private func vnnlibError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> SpecError? {
        expectSpecError({ try VNNLib.parse(text: text, source: "bad.vnnlib") }, file: file, line: line)
    }

    func testUnclosedParenthesis() throws {
        let e = vnnlibError(decls + "(assert (<= X_0 1.0)\n(assert (>= X_0 0.0))\n")
        XCTAssertEqual(e?.kind, .syntax)
        XCTAssertEqual(e?.line, 3)
        XCTAssertEqual(e?.column, 1)
        assertContains(e?.description ?? "", ["bad.vnnlib:3:1:", "unbalanced parentheses", "never closed", "expected ')'"])
    }

    func testUnexpectedClosingParenthesis() throws {
        let e = vnnlibError("(declare-const X_0 Real))\n")
        assertContains(e?.description ?? "", ["bad.vnnlib:1:25:", "unbalanced parentheses", "unexpected ')'"])
    }

    func testUnknownVariable() throws {
        let e = vnnlibError(decls + "(assert (<= Z_0 1))")
        XCTAssertEqual(e?.kind, .unknownVariable)
        assertContains(e?.description ?? "", ["bad.vnnlib:3:13:", "unknown variable 'Z_0'"])
    }

    func testOutputIndexPastDeclaredOutputs() throws {
        let ys = (0..<10).map { "(declare-const Y_\($0) Real)" }.joined(separator: "\n")
        let text = "(declare-const X_0 Real)\n" + ys + "\n(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (>= Y_12 Y_0))\n"
        let e = vnnlibError(text)
        XCTAssertEqual(e?.kind, .undeclaredVariable)
        assertContains(e?.description ?? "", ["bad.vnnlib:14:13:", "undeclared variable 'Y_12'", "Y_0..Y_9"])
    }

    func testUseBeforeDeclaration() throws {
        let e = vnnlibError("(declare-const Y_0 Real)\n(assert (<= X_0 1))\n(declare-const X_0 Real)\n")
        assertContains(e?.description ?? "", ["bad.vnnlib:2:13:", "undeclared variable 'X_0'"])
    }

    func testBadNumbers() throws {
        for (token, column) in [("1.2.3", 17), ("1e", 17), ("0.5x", 17), ("1e999", 17), ("-.e3", 17), ("+.", 17)] {
            let e = vnnlibError(decls + "(assert (<= X_0 \(token)))")
            XCTAssertEqual(e?.kind, .badNumber, token)
            assertContains(e?.description ?? "", ["bad.vnnlib:3:\(column):", "bad number '\(token)'"])
        }
    }

    func testInputComparedWithOutput() throws {
        let e = vnnlibError(decls + "(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= X_0 Y_0))")
        XCTAssertEqual(e?.kind, .unsupportedConstraint)
        assertContains(e?.description ?? "", ["bad.vnnlib:5:9:", "relates input X_0 to output Y_0"])
    }

    func testMissingInputBound() throws {
        let text = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
            + "  (assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (>= X_1 0))\n(assert (<= Y_0 0))\n"
        let e = vnnlibError(text)
        XCTAssertEqual(e?.kind, .missingBound)
        assertContains(e?.description ?? "", ["bad.vnnlib:4:11:", "X_1 has no upper bound"])
        // Unconstrained input in the second box of a disjunction.
        let e2 = vnnlibError(decls + "(assert (or (and (<= X_0 1) (>= X_0 0)) (and (<= X_0 2))))\n(assert (<= Y_0 0))")
        assertContains(e2?.description ?? "", ["bad.vnnlib:3:46:", "X_0 has no lower bound"])
    }

    func testUnknownOperatorAndCommand() throws {
        let e = vnnlibError(decls + "(assert (foo X_0 1))")
        XCTAssertEqual(e?.kind, .unknownOperator)
        assertContains(e?.description ?? "", ["bad.vnnlib:3:10:", "unknown operator 'foo'", "expected and, or, <=, >="])
        let e2 = vnnlibError(decls + "(assert (<= (/ Y_0 2) 1))")
        assertContains(e2?.description ?? "", ["bad.vnnlib:3:14:", "unknown operator '/'"])
        let e3 = vnnlibError(decls + "(define-fun f () Real 1)")
        assertContains(e3?.description ?? "", ["bad.vnnlib:3:2:", "unknown command 'define-fun'"])
    }

    func testEmptyFileAndNoAssertions() throws {
        for text in ["", "   \n", "; only a comment\n"] {
            let e = vnnlibError(text)
            XCTAssertEqual(e?.kind, .empty)
            assertContains(e?.description ?? "", ["bad.vnnlib:", "empty"])
        }
        let e = vnnlibError(decls)
        XCTAssertEqual(e?.kind, .empty)
        assertContains(e?.description ?? "", ["bad.vnnlib:3:1:", "no (assert ...) found"])
    }

    func testOtherStructuralErrors() throws {
        assertContains(vnnlibError(decls + "(assert (<= Y_0 1) (<= Y_0 2))")?.description ?? "",
                       ["3:1:", "'assert' expects exactly 1 formula"])
        assertContains(vnnlibError(decls + "(assert (<= Y_0 1 2))")?.description ?? "",
                       ["3:9:", "'<=' expects 2 operands, found 3"])
        assertContains(vnnlibError(decls + "(assert (<= 1 2))")?.description ?? "", ["3:9:", "has no variable"])
        assertContains(vnnlibError(decls + "(assert (<= (* Y_0 Y_0) 2))")?.description ?? "", ["3:13:", "nonlinear"])
        assertContains(vnnlibError("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(assert (<= (- X_0 X_1) 0))")?.description ?? "",
                       ["4:9:", "several inputs"])
        assertContains(vnnlibError("(declare-const W Real)")?.description ?? "", ["1:16:", "unsupported variable name 'W'"])
        assertContains(vnnlibError("(declare-const X_0 Int)")?.description ?? "", ["1:20:", "unsupported sort 'Int'", "Real"])
        assertContains(vnnlibError("(declare-const X_0 Real)(declare-const X_0 Real)")?.description ?? "", ["1:40:", "declared twice"])
        assertContains(vnnlibError("(declare-const X_1 Real)(declare-const Y_0 Real)(assert (<= Y_0 0))")?.description ?? "",
                       ["bad.vnnlib:", "X_0 is missing"])
        assertContains(vnnlibError(decls + "assert")?.description ?? "", ["3:1:", "expected '('"])
        assertContains(vnnlibError(decls + "(assert \"x)")?.description ?? "", ["3:9:", "unterminated string"])
        assertContains(vnnlibError(decls + "(assert X_0)")?.description ?? "", ["3:9:", "expected a constraint"])
    }

    func testDeepNestingIsRejectedNotCrashing() throws {
        let depth = 100_000
        let text = decls + "(assert " + String(repeating: "(and ", count: depth) + "(<= Y_0 0)" + String(repeating: ")", count: depth + 1)
        let e = vnnlibError(text)
        XCTAssertEqual(e?.kind, .tooLarge)
        assertContains(e?.description ?? "", ["bad.vnnlib:3:", "nested deeper than"])
        // Moderate nesting is fine.
        let ok = decls + "(assert (<= X_0 1))(assert (>= X_0 0))(assert " + String(repeating: "(or (and ", count: 100)
            + "(<= Y_0 0)" + String(repeating: "))", count: 100) + ")"
        XCTAssertEqual(try VNNLib.parse(text: ok, source: "ok").cases.first?.clauses.count, 1)
    }

    func testExplosiveDNFIsRejected() throws {
        let ys = (0..<2).map { "(declare-const Y_\($0) Real)" }.joined()
        let ors = String(repeating: "(assert (or (<= Y_0 0) (<= Y_1 0)))\n", count: 40) // 2^40 disjuncts
        let e = vnnlibError("(declare-const X_0 Real)" + ys + "(assert (<= X_0 1))(assert (>= X_0 0))\n" + ors)
        XCTAssertEqual(e?.kind, .tooLarge)
        assertContains(e?.description ?? "", ["bad.vnnlib:", "disjuncts"])
    }

    /// Every prefix of a real spec either parses or throws a SpecError (no crash).
    func testTruncatedFilesNeverCrash() throws {
        let path = SharedData.path("benchmarks/acasxu/prop_6.vnnlib")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var failures = 0
        for n in stride(from: 0, through: bytes.count, by: 3) {
            do { _ = try VNNLib.parse(bytes: Array(bytes[0..<n]), source: "prefix") } catch is SpecError { failures += 1 }
        }
        XCTAssertGreaterThan(failures, 0)
        // Random byte corruption.
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("()_XY0123456789.-+e ;\n<=>andor".utf8)
        for _ in 0..<300 {
            var b = bytes
            for _ in 0..<5 { b[Int.random(in: 0..<b.count, using: &rng)] = alphabet.randomElement(using: &rng)! }
            do { _ = try VNNLib.parse(bytes: b, source: "fuzz") } catch is SpecError {}
        }
    }

    // MARK: JSON robustness specs

    private func jsonError(_ json: String, numOutputs: Int = 3, file: StaticString = #filePath, line: UInt = #line) -> SpecError? {
        expectSpecError({ try RobustnessSpec.decode(data: Data(json.utf8), source: "spec.json").property(numOutputs: numOutputs) },
                        file: file, line: line)
    }

    func testMalformedJSONSpecs() throws {
        let cases: [(String, [String])] = [
            (#"{"center": [0.1, 0.2], "label": 1}"#, ["missing key 'epsilon'"]),
            (#"{"epsilon": 0.1, "label": 1}"#, ["missing key 'center'"]),
            (#"{"center": [0.1], "epsilon": 0.1}"#, ["missing key 'label'"]),
            (#"{"center": "abc", "epsilon": 0.1, "label": 1}"#, ["wrong type for 'center'", "array of numbers"]),
            (#"{"center": [0.1, "x"], "epsilon": 0.1, "label": 1}"#, ["wrong type for 'center[1]'", "a number"]),
            (#"{"center": [0.1], "epsilon": "big", "label": 1}"#, ["wrong type for 'epsilon'", "a number"]),
            (#"{"center": [0.1], "epsilon": 0.1, "label": 1.5}"#, ["'label' must be an integer", "1.5"]),
            (#"{"center": [0.1], "epsilon": 0.1, "label": "one"}"#, ["wrong type for 'label'", "an integer"]),
            (#"{"center": [0.1], "epsilon": -0.1, "label": 1}"#, ["'epsilon' must be a finite number >= 0", "-0.1"]),
            (#"{"center": [], "epsilon": 0.1, "label": 1}"#, ["'center' is empty"]),
            (#"{"center": [0.1], "epsilon": 0.1, "label": -1}"#, ["'label' must be >= 0"]),
            (#"{"center": [0.1], "epsilon": 0.1, "label": 1, "clip": [0]}"#, ["'clip' must be [lo, hi]"]),
            (#"{"center": [0.1], "epsilon": 0.1, "label": 1, "clip": [1, 0]}"#, ["'clip' must be [lo, hi]", "lo <= hi"]),
            (#"{"center": [0.1], "epsilon": 0.1, "label": 1, "clip": null, "#, ["invalid JSON"]),
            (#"[0.1, 0.2]"#, ["top level", "JSON object"]),
            ("", ["invalid JSON"]),
            (#"{"center": [5.0], "epsilon": 0.1, "label": 1, "clip": [0, 1]}"#, ["clipped box is empty at input 0"]),
            (#"{"center": [0.1], "epsilon": 0.1, "label": 3}"#, ["label 3 is out of range", "3 outputs"]),
        ]
        for (json, fragments) in cases {
            let e = jsonError(json)
            assertContains(e?.description ?? "", ["spec.json: "] + fragments)
        }
        assertContains(jsonError(#"{"center": [0.1], "epsilon": 0.1, "label": 0}"#, numOutputs: 1)?.description ?? "",
                       ["spec.json", "at least 2 outputs"])
    }

    func testUnreadableFiles() throws {
        let missing = "/nonexistent/dir/spec.vnnlib"
        assertContains(expectSpecError({ try VNNLib.load(path: missing) })?.description ?? "", [missing, "cannot read file"])
        assertContains(expectSpecError({ try RobustnessSpec.load(path: "/nonexistent/s.json") })?.description ?? "",
                       ["/nonexistent/s.json", "cannot read file"])
        assertContains(expectSpecError({ try PropertyLoader.load(path: missing, numOutputs: 5) })?.description ?? "",
                       [missing, "cannot read file"])
    }

    func testValidateMismatch() throws {
        let path = SharedData.path("benchmarks/acasxu/prop_1.vnnlib")
        let p = try VNNLib.load(path: path)
        XCTAssertNoThrow(try p.validate(modelInputs: 5, modelOutputs: 5))
        let e = expectSpecError({ try p.validate(modelInputs: 784, modelOutputs: 5) })
        XCTAssertEqual(e?.kind, .mismatch)
        assertContains(e?.description ?? "", ["prop_1.vnnlib", "5 input(s)", "784 input"])
        let e2 = expectSpecError({ try p.validate(modelInputs: 5, modelOutputs: 10) })
        assertContains(e2?.description ?? "", ["prop_1.vnnlib", "5 output(s)", "10 output"])
        var broken = p
        broken.cases[0].clauses[0].atoms[0].c = [1, 2]
        assertContains(expectSpecError({ try broken.validate(modelInputs: 5, modelOutputs: 5) })?.description ?? "",
                       ["prop_1.vnnlib", "2 coefficients, expected 5"])
    }
}
