import XCTest
import Foundation
import Certus
@testable import CertusONNX
import TestSupport

/// Checks at load: non-finite weights and constants are refused naming the tensor (and node);
/// a UTF-8 byte-order mark before ONNX-JSON is skipped.
final class LoadCheckTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws { tmp = try TestData.makeTemporaryFolder("certus-load") }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func write(_ data: Data, _ name: String) throws -> String {
        let p = tmp.appendingPathComponent(name).path
        try data.write(to: URL(fileURLWithPath: p))
        return p
    }

    func loadError(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> ModelError? {
        do {
            _ = try ModelFile.load(path)
            XCTFail("expected an error loading \(path)", file: file, line: line)
        } catch let e as ModelError {
            return e
        } catch {
            XCTFail("expected a ModelError, got \(error)", file: file, line: line)
        }
        return nil
    }

    /// x [1, 2] -> nodes; the output is the last node's.
    func model(_ nodes: [Onnx_NodeProto], _ initializers: [Onnx_TensorProto] = []) -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var op = Onnx_OperatorSetIdProto(); op.version = 17
        m.opsetImport = [op]
        var vi = Onnx_ValueInfoProto(); vi.name = "x"
        var tt = Onnx_TypeProto.Tensor(); tt.elemType = 1
        var sh = Onnx_TensorShapeProto()
        sh.dim = ([1, 2] as [Int64]).map { var d = Onnx_TensorShapeProto.Dimension(); d.dimValue = $0; return d }
        tt.shape = sh
        var ty = Onnx_TypeProto(); ty.tensorType = tt
        vi.type = ty
        m.graph.input = [vi]
        m.graph.node = nodes
        m.graph.initializer = initializers
        var out = Onnx_ValueInfoProto(); out.name = nodes.last!.output[0]
        m.graph.output = [out]
        return m
    }

    func node(_ op: String, _ inputs: [String], _ output: String, _ name: String, _ attrs: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op; n.input = inputs; n.output = [output]; n.name = name; n.attribute = attrs
        return n
    }

    func floatTensor(_ name: String, _ dims: [Int64], _ values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name; t.dims = dims; t.dataType = 1; t.floatData = values
        return t
    }

    /// The shared cases: a NaN weight (onnxruntime gives NaN, Certus once printed 1.5) is
    /// refused, naming the file, the tensor and the element; an infinite weight loads and
    /// evaluates as onnxruntime does (values from onnxruntime 1.x on this file: [[inf]] at
    /// (0.5, 0.5), [[-0.625]] at (-0.5, 0.25)).
    func testSharedNaNWeightIsRefusedAndInfiniteWeightEvaluates() throws {
        let e = loadError(TestData.sharedPath("cases/soundness/nan_weight.onnx"))
        XCTAssertEqual(e?.kind, .invalidModel)
        let d = e?.description ?? ""
        XCTAssertTrue(d.contains("nan_weight.onnx") && d.contains("tensor 'W1'") && d.contains("non-finite value (nan")
                      && d.contains("element [2, 0]"), d)
        let g = try ModelFile.load(TestData.sharedPath("cases/soundness/inf_weight.onnx"))
        XCTAssertEqual(try g.evaluateFirst([0.5, 0.5]), [.infinity])
        XCTAssertEqual(try g.evaluateFirst([-0.5, 0.25])[0], -0.625, accuracy: 1e-6)
    }

    /// Every storage of a non-finite number is refused: float_data, raw_data (float32 and
    /// float64), a Constant node's tensor (naming the node), float attributes, and the JSON encoding.
    func testNonFiniteValuesInEveryStorageAreRefused() throws {
        let gemm = node("Gemm", ["x", "W"], "y", "fc", [])
        var transB = Onnx_AttributeProto(); transB.name = "transB"; transB.type = .int; transB.i = 1
        var fc = gemm; fc.attribute = [transB]

        // float_data, binary and JSON.
        let m1 = model([fc], [floatTensor("W", [1, 2], [1, .nan])])
        let d1 = loadError(try write(try ModelFile.encode(m1, encoding: .binary), "a.onnx"))?.description ?? ""
        XCTAssertTrue(d1.contains("tensor 'W'") && d1.contains("nan") && d1.contains("element [0, 1]"), d1)
        let d1j = loadError(try write(try ModelFile.encode(m1, encoding: .json), "a.json"))?.description ?? ""
        XCTAssertTrue(d1j.contains("tensor 'W'") && d1j.contains("nan"), d1j)
        // An infinite weight is an IEEE value and loads, in both encodings.
        let mInf = model([fc], [floatTensor("W", [1, 2], [1, -.infinity])])
        XCTAssertNoThrow(try ModelFile.load(try write(try ModelFile.encode(mInf, encoding: .binary), "inf.onnx")))
        XCTAssertNoThrow(try ModelFile.load(try write(try ModelFile.encode(mInf, encoding: .json), "inf.json")))

        // raw_data, float64.
        var raw = Onnx_TensorProto(); raw.name = "Wd"; raw.dims = [1, 2]; raw.dataType = 11
        raw.rawData = [0.5, Double.nan].withUnsafeBufferPointer { Data(buffer: $0) }
        var m2 = model([node("Gemm", ["x", "Wd"], "y", "fc", [transB])], [raw])
        m2.graph.input[0].type.tensorType.elemType = 11
        let d2 = loadError(try write(try ModelFile.encode(m2, encoding: .binary), "b.onnx"))?.description ?? ""
        XCTAssertTrue(d2.contains("tensor 'Wd'") && d2.contains("nan") && d2.contains("element [0, 1]"), d2)

        // A Constant node's value.
        var value = Onnx_AttributeProto(); value.name = "value"; value.type = .tensor
        value.t = floatTensor("bias_value", [2], [.nan, 0])
        let m3 = model([node("Constant", [], "b", "make_bias", [value]), node("Add", ["x", "b"], "y", "add")])
        let d3 = loadError(try write(try ModelFile.encode(m3, encoding: .binary), "c.onnx"))?.description ?? ""
        XCTAssertTrue(d3.contains("node 'make_bias' (Constant)") && d3.contains("tensor 'bias_value'")
                      && d3.contains("non-finite"), d3)

        // A float attribute (LeakyRelu alpha) and a Constant's value_floats.
        var alpha = Onnx_AttributeProto(); alpha.name = "alpha"; alpha.type = .float; alpha.f = .infinity
        let m4 = model([node("LeakyRelu", ["x"], "y", "lrelu", [alpha])])
        let d4 = loadError(try write(try ModelFile.encode(m4, encoding: .binary), "d.onnx"))?.description ?? ""
        XCTAssertTrue(d4.contains("node 'lrelu' (LeakyRelu) attribute 'alpha'") && d4.contains("non-finite"), d4)
        var floats = Onnx_AttributeProto(); floats.name = "value_floats"; floats.type = .floats; floats.floats = [1, .nan]
        let m5 = model([node("Constant", [], "b", "cf", [floats]), node("Add", ["x", "b"], "y", "add")])
        let d5 = loadError(try write(try ModelFile.encode(m5, encoding: .binary), "e.onnx"))?.description ?? ""
        XCTAssertTrue(d5.contains("attribute 'value_floats'") && d5.contains("position 1"), d5)

        // Finite extremes load: the largest float32 and the smallest subnormal.
        let ok = model([fc], [floatTensor("W", [1, 2], [.greatestFiniteMagnitude, .leastNonzeroMagnitude])])
        XCTAssertNoThrow(try ModelFile.load(try write(try ModelFile.encode(ok, encoding: .binary), "ok.onnx")))
    }

    /// A byte-order mark before ONNX-JSON is skipped, with or without the .json extension.
    func testByteOrderMarkBeforeONNXJSON() throws {
        let source = TestData.sharedPath("benchmarks/tiny/test_small.onnx")
        let json = try ModelFile.encode(try ModelFile.readProto(source), encoding: .json)
        let bom = Data([0xEF, 0xBB, 0xBF])
        let withExt = try write(bom + json, "bom.json")
        let noExt = try write(bom + Data("\n".utf8) + json, "bom_model")
        XCTAssertEqual(ModelFile.encoding(of: noExt, data: try Data(contentsOf: URL(fileURLWithPath: noExt))), .json)
        let reference = try ModelFile.load(source)
        for p in [withExt, noExt] {
            let g = try ModelFile.load(p)
            for x in [-1.0, 0.25, 1] { XCTAssertEqual(try g.evaluateFirst([x]), try reference.evaluateFirst([x]), p) }
        }
        // A mark elsewhere is still an error (it is not JSON), reported with a line and column.
        let middle = try write(Data("{\"irVersion\": \"8\",\n ".utf8) + bom + Data("\"graph\": {}}".utf8), "mid.json")
        let e = loadError(middle)
        XCTAssertEqual(e?.kind, .decode)
    }
}
