import XCTest
import Foundation
import Certus
@testable import CertusONNX
import TestSupport

final class ConvertTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws { tmp = try TestData.makeTemporaryFolder("certus-convert") }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    /// .onnx -> .json -> .onnx keeps the ModelProto and the outputs bit for bit.
    func testRoundTripsPreserveModelAndOutputs() throws {
        let sources = [
            "benchmarks/acasxu/ACASXU_run2a_1_1_batch_2000.onnx", "benchmarks/tiny/test_nano.onnx",
            "reference/zoo/conv_bn_relu/model.onnx", "reference/zoo/mlp_gelu_erf/model.onnx",
            "reference/zoo/resnet_relu/model.onnx", "reference/zoo/mlp_gelu/model.json",
            "benchmarks/json/test_small.floatdata.json",
        ]
        for (i, s) in sources.enumerated() {
            let src = TestData.sharedPath(s)
            let isJSON = s.hasSuffix(".json")
            let mid = tmp.appendingPathComponent("m\(i).\(isJSON ? "onnx" : "json")").path
            let back = tmp.appendingPathComponent("m\(i)_back.\(isJSON ? "json" : "onnx")").path
            try ModelFile.convert(from: src, to: mid)
            try ModelFile.convert(from: mid, to: back)
            XCTAssertEqual(ModelFile.encoding(of: mid), isJSON ? .binary : .json)
            XCTAssertEqual(try ModelFile.readProto(src), try ModelFile.readProto(mid), s)
            XCTAssertEqual(try ModelFile.readProto(src), try ModelFile.readProto(back), s)
            let g0 = try ModelFile.load(src), g1 = try ModelFile.load(mid), g2 = try ModelFile.load(back)
            for k in 0..<4 {
                let x = (0..<g0.inputCount).map { j in sin(Double(j * 7 + k)) * 0.5 }
                let y0 = try g0.evaluateFirst(x)
                XCTAssertEqual(y0.map(\.bitPattern), try g1.evaluateFirst(x).map(\.bitPattern), s)
                XCTAssertEqual(y0.map(\.bitPattern), try g2.evaluateFirst(x).map(\.bitPattern), s)
            }
        }
    }

    /// The JSON writer emits the canonical mapping: camelCase keys and int64 as strings.
    func testJSONOutputUsesCanonicalMapping() throws {
        let out = tmp.appendingPathComponent("acas.json").path
        try ModelFile.convert(from: TestData.sharedPath("benchmarks/acasxu/ACASXU_run2a_1_1_batch_2000.onnx"), to: out)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(text.contains("\"irVersion\":\"3\""))
        XCTAssertTrue(text.contains("\"opType\":\"MatMul\""))
        XCTAssertTrue(text.contains("\"rawData\""))
    }

    /// Proto field names (snake_case) are accepted as well as the JSON names.
    func testProtoFieldNamesAccepted() throws {
        let text = try String(contentsOfFile: TestData.sharedPath("benchmarks/json/test_small.floatdata.json"), encoding: .utf8)
        let snake = text.replacingOccurrences(of: "\"irVersion\"", with: "\"ir_version\"")
            .replacingOccurrences(of: "\"opType\"", with: "\"op_type\"")
            .replacingOccurrences(of: "\"floatData\"", with: "\"float_data\"")
            .replacingOccurrences(of: "\"dataType\"", with: "\"data_type\"")
            .replacingOccurrences(of: "\"elemType\"", with: "\"elem_type\"")
            .replacingOccurrences(of: "\"dimValue\"", with: "\"dim_value\"")
        XCTAssertNotEqual(snake, text)
        let path = tmp.appendingPathComponent("snake.json").path
        try snake.write(toFile: path, atomically: true, encoding: .utf8)
        let a = try ModelFile.load(path)
        let b = try ModelFile.load(TestData.sharedPath("benchmarks/tiny/test_small.onnx"))
        XCTAssertEqual(try a.evaluateFirst([0.3]), try b.evaluateFirst([0.3]))
    }
}
