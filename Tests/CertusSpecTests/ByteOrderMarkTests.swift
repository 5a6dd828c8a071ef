import Foundation
import XCTest
import CertusSpec

/// A UTF-8 byte-order mark at the start of a spec is skipped; messages never show invisible
/// characters (they are escaped as \u{XXXX}).
final class ByteOrderMarkTests: XCTestCase {
    let bom = Data([0xEF, 0xBB, 0xBF])

    func temporaryFile(_ data: Data, _ name: String) throws -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("certus-bom-\(UUID().uuidString)-\(name)").path
        try data.write(to: URL(fileURLWithPath: p))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: p) }
        return p
    }

    /// The shared case (refused before: "expected '(' ... found '<invisible>'") reads as the same
    /// file without its mark.
    func testSharedVNNLibWithByteOrderMark() throws {
        let path = SharedData.path("cases/soundness/j_bom.vnnlib")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertTrue(data.starts(with: bom), "the shared case starts with a byte-order mark")
        let withMark = try PropertyLoader.load(path: path, numOutputs: 3)
        let without = try VNNLib.parse(bytes: [UInt8](data.dropFirst(3)), source: path)
        XCTAssertEqual(withMark, without)
        XCTAssertEqual(withMark.numInputs, 3)
        XCTAssertEqual(withMark.cases.count, 1)
        XCTAssertEqual(withMark.cases[0].clauses.count, 2)
        XCTAssertEqual(withMark.cases[0].box.upper[1], 200)
        // A file without extension is sniffed as VNN-LIB too.
        let noExt = try temporaryFile(data, "spec")
        XCTAssertEqual(try PropertyLoader.load(path: noExt, numOutputs: 3).cases, withMark.cases)
    }

    /// Positions after a mark count from the first visible character, as editors show them.
    func testPositionsAfterTheMarkAndEscapedMessages() throws {
        let text = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= Z_0 1))\n"
        let e = expectSpecError({ try VNNLib.parse(bytes: [0xEF, 0xBB, 0xBF] + Array(text.utf8), source: "m.vnnlib") })
        XCTAssertEqual(e?.line, 3)
        XCTAssertEqual(e?.column, 13)

        // A mark that is not at the start, a zero-width space and a control character are shown escaped.
        for (bad, shown) in [("\u{FEFF}(assert (<= X_0 1))", "\\u{FEFF}"), ("(assert (<= X\u{200B}_0 1))", "X\\u{200B}_0"),
                             ("(assert (<= X_0 \u{7}))", "\\u{7}")] {
            let t = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n" + bad + "\n"
            let err = expectSpecError({ try VNNLib.parse(text: "\u{FEFF}" + t, source: "m.vnnlib") })
            let d = err?.description ?? ""
            XCTAssertTrue(d.contains(shown), d)
            XCTAssertFalse(d.unicodeScalars.contains { $0.value == 0xFEFF || $0.value == 0x200B || $0.value == 7 }, d)
        }
        XCTAssertEqual(VisibleText.escaped("a\tb\u{A0}c\u{2028}é"), "a\\u{9}b\\u{A0}c\\u{2028}é")
        XCTAssertEqual(VisibleText.escaped("line\n\tnext", keepingLayout: true), "line\n\tnext")
    }

    /// JSON robustness specs and counterexample files with a mark are read too.
    func testJSONSpecAndWitnessWithByteOrderMark() throws {
        let json = Data("{\"center\": [0.5, -0.25], \"epsilon\": 0.1, \"label\": 1}".utf8)
        let p = try temporaryFile(bom + json, "spec.json")
        let q = try temporaryFile(json, "plain.json")
        XCTAssertEqual(try PropertyLoader.load(path: p, numOutputs: 3).cases, try PropertyLoader.load(path: q, numOutputs: 3).cases)
        let noExt = try temporaryFile(bom + json, "spec")
        XCTAssertEqual(PropertyLoader.format(path: noExt, data: bom + json), .json)
        XCTAssertEqual(try PropertyLoader.load(path: noExt, numOutputs: 3).cases.count, 1)

        let w = try parseVNNCompWitness(text: "\u{FEFF}sat\n((X_0 0.5)\n(Y_0 -1.0))\n", source: "w.txt")
        XCTAssertEqual(w.x, [0.5])
        XCTAssertEqual(w.y, [-1.0])
    }

    /// A UTF-16 file (with either byte-order mark, or without one: NUL bytes) and invalid UTF-8
    /// are refused with a message that names the encoding, not an invisible character.
    func testNonUTF8SpecsAreRefusedByName() throws {
        let text = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= Y_0 1))\n"
        XCTAssertNoThrow(try PropertyLoader.load(path: try temporaryFile(Data(text.utf8), "ok.vnnlib"), numOutputs: 1))
        for (name, data) in [("le.vnnlib", Data([0xFF, 0xFE]) + text.data(using: .utf16LittleEndian)!),
                             ("be.vnnlib", Data([0xFE, 0xFF]) + text.data(using: .utf16BigEndian)!),
                             ("nobom.vnnlib", text.data(using: .utf16LittleEndian)!),
                             ("latin1.vnnlib", Data(text.utf8) + Data([0x3B, 0x20, 0xE9, 0x0A]))] {
            let path = try temporaryFile(data, name)
            let e = expectSpecError({ _ = try PropertyLoader.load(path: path, numOutputs: 1) })
            let d = e?.description ?? ""
            XCTAssertTrue(d.contains(path) && (d.contains("UTF-16") || d.contains("UTF-8")), d)
            XCTAssertFalse(d.contains("\u{FFFD}"), d)
        }
    }
}
