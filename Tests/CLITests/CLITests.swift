import XCTest
import Foundation
import Certus
import TestSupport

/// The `certus` executable end to end: output format and exit codes.
final class CLITests: XCTestCase {
    let acas = TestData.sharedPath("benchmarks/acasxu/ACASXU_run2a_1_7_batch_2000.onnx")
    var tmp: URL!

    override func setUpWithError() throws { tmp = try TestData.makeTemporaryFolder("certus-cli") }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// Help for the tool and for every subcommand prints usage and exits 0 (it once ended as an
    /// internal error, exit 70); `help SUBCOMMAND` too; an unknown option is a usage error (64).
    func testHelpExitsZeroForEveryCommand() throws {
        let root = try TestData.runCertus(["--help"])
        XCTAssertEqual(root.code, 0, root.err)
        XCTAssertTrue(root.out.contains("USAGE: certus"), root.out)
        let names = ["inspect", "eval", "convert", "verify", "run", "bounds", "benchmark", "battery"]
        for name in names {
            let r = try TestData.runCertus([name, "--help"])
            XCTAssertEqual(r.code, 0, "\(name) --help: \(r.err)")
            XCTAssertTrue(r.out.contains("USAGE: certus \(name)"), "\(name): \(r.out)")
            XCTAssertTrue(root.out.contains(name), "\(name) missing from certus --help")
        }
        let h = try TestData.runCertus(["help", "verify"])
        XCTAssertEqual(h.code, 0, h.err)
        XCTAssertTrue(h.out.contains("USAGE: certus verify"), h.out)
        XCTAssertEqual(try TestData.runCertus(["verify", "--no-such-option"]).code, 64)
    }

    func testInspectTextAndJSON() throws {
        let r = try TestData.runCertus(["inspect", TestData.repoPath("Models/acasxu_1_1.onnx")])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("input:      'input' [1, 1, 1, 5]"), r.out)
        XCTAssertTrue(r.out.contains("output:     'linear_7_Add' [1, 5]"), r.out)
        XCTAssertTrue(r.out.contains("MatMul 7") && r.out.contains("opset 8"), r.out)
        let j = try TestData.runCertus(["inspect", TestData.sharedPath("reference/zoo/conv_bn_relu/model.onnx"), "--json"])
        XCTAssertEqual(j.code, 0, j.err)
        let obj = try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["parameters"] as? Int, 1164)   // zoo README: 1164 params
        XCTAssertEqual((obj["op_counts"] as? [String: Int])?["Conv"], 1)
        XCTAssertEqual(((obj["inputs"] as? [[String: Any]])?.first?["shape"] as? [Int]), [1, 1, 8, 8])
    }

    /// `certus eval` on a witness reproduces onnxruntime's outputs, from --input and --input-file.
    func testEvalMatchesWitness() throws {
        let w = TestData.sharedPath("benchmarks/acasxu/witnesses/ACASXU_run2a_1_7_batch_2000__prop_3.txt")
        let (x, y) = TestData.parseWitness(try String(contentsOfFile: w, encoding: .utf8))
        let r = try TestData.runCertus(["eval", acas, "--input", x.map { "\($0)" }.joined(separator: ","), "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        struct EvalJSON: Decodable { struct Out: Decodable { var name: String; var shape: [Int]; var values: [Double] }; var outputs: [Out] }
        // JSONDecoder reads decimals exactly (JSONSerialization on Linux may be off by an ulp).
        let out = try JSONDecoder().decode(EvalJSON.self, from: Data(r.out.utf8)).outputs[0]
        XCTAssertEqual(out.name, "linear_7_Add")
        let values = out.values
        XCTAssertEqual(values.count, 5)
        for (a, b) in zip(values, y) { XCTAssertTrue(TestData.close(a, b, rel: 1e-4), "\(a) vs \(b)") }

        let file = tmp.appendingPathComponent("x.json").path
        try "[[\(x.map { "\($0)" }.joined(separator: ", "))]]".write(toFile: file, atomically: true, encoding: .utf8)
        let t = try TestData.runCertus(["eval", acas, "--input-file", file])
        XCTAssertEqual(t.code, 0, t.err)
        XCTAssertTrue(t.out.hasPrefix("linear_7_Add [1, 5]: "), t.out)
        let printed = t.out.split(separator: ":").last!.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
        XCTAssertEqual(printed, values)
    }

    func testConvertRoundTripThroughCLI() throws {
        let json = tmp.appendingPathComponent("m.json").path, back = tmp.appendingPathComponent("m.onnx").path
        XCTAssertEqual(try TestData.runCertus(["convert", acas, json]).code, 0)
        XCTAssertEqual(try TestData.runCertus(["convert", json, back]).code, 0)
        let x = "0.1,-0.2,0.3,0.4,-0.5"
        let a = try TestData.runCertus(["eval", acas, "--input", x]).out
        XCTAssertEqual(try TestData.runCertus(["eval", json, "--input", x]).out, a)
        XCTAssertEqual(try TestData.runCertus(["eval", back, "--input", x]).out, a)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: back)), try Data(contentsOf: URL(fileURLWithPath: acas)))
    }

    func testBadInputGivesMessageAndExitCode3() throws {
        let missing = try TestData.runCertus(["eval", tmp.appendingPathComponent("none.onnx").path, "--input", "1"])
        XCTAssertEqual(missing.code, 3)
        XCTAssertTrue(missing.err.contains("none.onnx: no such file"), missing.err)

        let short = try TestData.runCertus(["eval", acas, "--input", "1,2,3"])
        XCTAssertEqual(short.code, 3)
        XCTAssertTrue(short.err.contains("expected 5 values") && short.err.contains("got 3"), short.err)

        let nan = try TestData.runCertus(["eval", acas, "--input", "1,2,x,4,5"])
        XCTAssertEqual(nan.code, 3)
        XCTAssertTrue(nan.err.contains("value 3") && nan.err.contains("'x'"), nan.err)

        let truncated = tmp.appendingPathComponent("t.onnx").path
        try Data(contentsOf: URL(fileURLWithPath: acas)).prefix(1000).write(to: URL(fileURLWithPath: truncated))
        let t = try TestData.runCertus(["inspect", truncated])
        XCTAssertEqual(t.code, 3)
        XCTAssertTrue(t.err.contains("t.onnx") && t.err.contains("truncated"), t.err)
        XCTAssertTrue(t.out.isEmpty)

        let badFile = tmp.appendingPathComponent("in.json").path
        try "[1, 2,\n 3 oops]".write(toFile: badFile, atomically: true, encoding: .utf8)
        let bf = try TestData.runCertus(["eval", acas, "--input-file", badFile])
        XCTAssertEqual(bf.code, 3)
        XCTAssertTrue(bf.err.contains("in.json") && bf.err.contains("line 2"), bf.err)

        let usage = try TestData.runCertus(["eval", acas])
        XCTAssertNotEqual(usage.code, 0)
        XCTAssertGreaterThanOrEqual(usage.code, 3)
    }
}
