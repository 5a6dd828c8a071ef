import XCTest
import Foundation
import Certus
import TestSupport

final class BatchTests: XCTestCase {
    func testInstanceListParsing() throws {
        let text = "\n a.onnx , specs/p.vnnlib , 60\n\n/abs/b.onnx,q.vnnlib,1.5\n"
        let list = try InstanceList.parse(text: text, source: "list.csv", baseDirectory: "/data/bench")
        XCTAssertEqual(list.count, 2)
        XCTAssertEqual(list[0].onnx, "a.onnx")
        XCTAssertEqual(list[0].onnxPath, "/data/bench/a.onnx")
        XCTAssertEqual(list[0].vnnlibPath, "/data/bench/specs/p.vnnlib")
        XCTAssertEqual(list[0].timeout, 60)
        XCTAssertEqual(list[0].line, 2)
        XCTAssertEqual(list[1].onnxPath, "/abs/b.onnx")
        XCTAssertEqual(list[1].timeout, 1.5)
        XCTAssertEqual(list[1].line, 4)
        // With a header.
        XCTAssertEqual(try InstanceList.parse(text: "onnx,vnnlib,timeout\n" + text, source: "l", baseDirectory: "/").count, 2)

        func error(_ t: String) -> InstanceListError? {
            do { _ = try InstanceList.parse(text: t, source: "list.csv", baseDirectory: "/"); return nil } catch { return error as? InstanceListError }
        }
        XCTAssertEqual(error("a.onnx,b.vnnlib,60\na.onnx,b.vnnlib\n")?.line, 2)
        XCTAssertEqual(error("a.onnx,b.vnnlib,60\n\na.onnx,b.vnnlib,soon\n")?.line, 3)
        XCTAssertEqual(error("a.onnx,b.vnnlib,-4\n")?.line, 1)
        XCTAssertEqual(error("a.onnx,,4\n")?.line, 1)
        XCTAssertNotNil(error("onnx,vnnlib,timeout\n\n"))
        XCTAssertEqual(error("x,y,z\n")?.description, "list.csv:1: timeout 'z' is not a positive number of seconds")
        XCTAssertThrowsError(try InstanceList.load(path: "/nonexistent/list.csv")) { XCTAssertTrue("\($0)".contains("/nonexistent/list.csv")) }
    }

    func testExpectedParsing() throws {
        let e = try ExpectedAnswers.parse(text: "onnx,vnnlib,expected\na.onnx,p.vnnlib,sat\nb.onnx,p.vnnlib,UNSAT\n\nc.onnx,p.vnnlib,unknown\n", source: "e.csv")
        XCTAssertEqual(e.answers.count, 3)
        XCTAssertEqual(e.answers["b.onnx,p.vnnlib"], .unsat)
        XCTAssertThrowsError(try ExpectedAnswers.parse(text: "a.onnx,p.vnnlib,sat\na.onnx,p.vnnlib,maybe\n", source: "e.csv")) {
            XCTAssertEqual(($0 as? InstanceListError)?.line, 2)
        }
        XCTAssertThrowsError(try ExpectedAnswers.parse(text: "a.onnx,p.vnnlib,sat\na.onnx,p.vnnlib,unsat\n", source: "e.csv"))
        XCTAssertEqual(BatchRecord.verdict(status: .sat, expected: .sat), .correct)
        XCTAssertEqual(BatchRecord.verdict(status: .sat, expected: .unsat), .wrong)
        XCTAssertEqual(BatchRecord.verdict(status: .unsat, expected: .sat), .wrong)
        XCTAssertEqual(BatchRecord.verdict(status: .timeout, expected: .sat), .unsolved)
        XCTAssertEqual(BatchRecord.verdict(status: .sat, expected: .unknown), .unchecked)
        XCTAssertEqual(BatchRecord.verdict(status: .unknown, expected: nil), .unchecked)
    }

    /// The tiny benchmark against its expected answers: test_sat found, the four unsat ones unsolved.
    func testRunTinyBenchmark() throws {
        let list = try InstanceList.load(path: TestData.sharedPath("benchmarks/tiny/instances.csv"))
        let expected = try ExpectedAnswers.load(path: TestData.sharedPath("benchmarks/tiny/expected.csv"))
        XCTAssertEqual(list.count, 5)
        var s = VerifyTestData.quickSettings
        s.attackRestarts = 2
        var loads = 0
        let runner = BatchRunner(settings: s, timeoutScale: 0.1, loadModel: { loads += 1; return try ModelFile.load($0) })
        var seen: [Int] = []
        let (records, summary) = runner.run(list, expected: expected) { i, n, _ in seen.append(i); XCTAssertEqual(n, 5) }
        XCTAssertEqual(seen, [1, 2, 3, 4, 5])
        XCTAssertEqual(loads, 5)
        XCTAssertEqual(records.map(\.status), [.unknown, .unknown, .unknown, .sat, .unknown])
        XCTAssertEqual(records.map(\.timeLimit), [6, 6, 6, 6, 6])
        XCTAssertEqual(summary.sat, 1)
        XCTAssertEqual(summary.unknown, 4)
        XCTAssertEqual(summary.correct, 1)
        XCTAssertEqual(summary.wrong, 0)
        XCTAssertEqual(summary.unsolved, 4)
        XCTAssertEqual(summary.errors, 0)
        XCTAssertEqual(summary.totalTime, records.map(\.timeSeconds).reduce(0, +), accuracy: 1e-9)
        XCTAssertEqual(summary.medianTime, records.map(\.timeSeconds).sorted()[2])
        // The model cache: a second run of the same runner loads nothing again.
        _ = runner.run(list[3], expected: nil)
        XCTAssertEqual(loads, 5)
    }

    func testBadInstanceIsRecordedNotThrown() throws {
        let list = try InstanceList.parse(text: "missing.onnx,test_nano.vnnlib,10\ntest_nano.onnx,test_prop.vnnlib,10\n",
                                          source: "x.csv", baseDirectory: TestData.sharedPath("benchmarks/tiny"))
        let (records, summary) = BatchRunner(settings: VerifyTestData.quickSettings).run(list)
        XCTAssertEqual(summary.errors, 2)
        XCTAssertTrue(records[0].error?.contains("missing.onnx") ?? false, "\(records[0])")
        XCTAssertEqual(records[1].status, .unknown)
        XCTAssertTrue(records[1].error?.contains("test_prop.vnnlib") ?? false, "\(records[1])")
    }
}
