import XCTest
import Foundation
import Certus
@testable import CertusONNX
import TestSupport

/// Bad input gives one clear ModelError naming the file, the place and the problem.
final class ErrorTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws { tmp = try TestData.makeTemporaryFolder("certus-err") }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func loadError(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> ModelError? {
        do {
            _ = try ModelFile.load(path)
            XCTFail("expected an error loading \(path)", file: file, line: line)
            return nil
        } catch let e as ModelError {
            return e
        } catch {
            XCTFail("expected a ModelError, got \(error)", file: file, line: line)
            return nil
        }
    }

    func write(_ data: Data, _ name: String) throws -> String {
        let p = tmp.appendingPathComponent(name).path
        try data.write(to: URL(fileURLWithPath: p))
        return p
    }

    /// A one-input model: input x [1, n] -> nodes... -> output named by the last node.
    func model(inputShape: [Int64], nodes: [Onnx_NodeProto], initializers: [Onnx_TensorProto] = [], opset: Int64 = 17) -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var op = Onnx_OperatorSetIdProto(); op.version = opset
        m.opsetImport = [op]
        var g = Onnx_GraphProto()
        g.name = "g"
        var vi = Onnx_ValueInfoProto(); vi.name = "x"
        var tt = Onnx_TypeProto.Tensor(); tt.elemType = 1
        var sh = Onnx_TensorShapeProto()
        sh.dim = inputShape.map { var d = Onnx_TensorShapeProto.Dimension(); d.dimValue = $0; return d }
        tt.shape = sh
        var ty = Onnx_TypeProto(); ty.tensorType = tt
        vi.type = ty
        g.input = [vi]
        g.node = nodes
        g.initializer = initializers
        var out = Onnx_ValueInfoProto(); out.name = nodes.last!.output[0]
        g.output = [out]
        m.graph = g
        return m
    }

    func node(_ op: String, _ inputs: [String], _ output: String, name: String) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op; n.input = inputs; n.output = [output]; n.name = name
        return n
    }

    func tensor(_ name: String, _ dims: [Int64], _ values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name; t.dims = dims; t.dataType = 1; t.floatData = values
        return t
    }

    func testMissingFile() {
        let e = loadError(tmp.appendingPathComponent("nope.onnx").path)
        XCTAssertEqual(e?.kind, .io)
        XCTAssertTrue(e?.description.contains("nope.onnx: no such file") ?? false, "\(String(describing: e))")
    }

    func testTruncatedProtobuf() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: TestData.sharedPath("benchmarks/acasxu/ACASXU_run2a_1_1_batch_2000.onnx")))
        for cut in [full.count / 2, full.count - 3, 100] {
            let p = try write(full.prefix(cut), "trunc\(cut).onnx")
            let e = loadError(p)
            XCTAssertEqual(e?.kind, .decode, "cut \(cut)")
            XCTAssertTrue(e?.description.contains(p) ?? false)
            XCTAssertTrue(e?.description.contains("truncated") ?? false, "\(String(describing: e))")
        }
    }

    func testCorruptBytes() throws {
        var rng = SystemRandomNumberGenerator()
        for i in 0..<20 {
            let bytes = (0..<(64 + i * 13)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let p = try write(Data(bytes), "garbage\(i).onnx")
            XCTAssertEqual(loadError(p)?.kind, .decode)
        }
        let text = try write(Data("hello, not a model".utf8), "text.onnx")
        XCTAssertNotNil(loadError(text))
        let empty = try write(Data(), "empty.onnx")
        XCTAssertTrue(loadError(empty)?.description.contains("empty") ?? false)
    }

    func testMalformedJSONNamesLineAndColumn() throws {
        let p = try write(Data("{\n  \"irVersion\": \"3\",\n  \"graph\": { \"node\": [ }\n}\n".utf8), "bad.json")
        let e = loadError(p)
        XCTAssertEqual(e?.kind, .decode)
        let d = e?.description ?? ""
        XCTAssertTrue(d.contains("bad.json") && d.contains("malformed JSON"), d)
        XCTAssertTrue(d.contains("line 3"), d)
    }

    func testJSONWithWrongSchema() throws {
        let p = try write(Data("{\"graph\": {\"node\": 5}}".utf8), "schema.json")
        let e = loadError(p)
        XCTAssertEqual(e?.kind, .decode)
        XCTAssertTrue(e?.description.contains("ModelProto") ?? false)
    }

    func testUnsupportedOperatorIsNamed() throws {
        let m = model(inputShape: [1, 1, 4, 4], nodes: [node("LpPool", ["x"], "y", name: "pool_1")])
        let p = try write(try ModelFile.encode(m, encoding: .binary), "lppool.onnx")
        let e = loadError(p)
        XCTAssertEqual(e?.kind, .unsupportedOperator)
        let d = e?.description ?? ""
        XCTAssertTrue(d.contains("lppool.onnx") && d.contains("'LpPool'") && d.contains("node 'pool_1'"), d)
        XCTAssertTrue(d.contains("supported operators: ") && d.contains("Gemm") && d.contains("Conv"), d)
        // The same through the JSON encoding.
        let pj = try write(try ModelFile.encode(m, encoding: .json), "lppool.json")
        XCTAssertEqual(loadError(pj)?.kind, .unsupportedOperator)
    }

    func testShapeMismatchNamesNode() throws {
        let w = tensor("W", [3, 2], [1, 2, 3, 4, 5, 6])
        let m = model(inputShape: [1, 4], nodes: [node("Gemm", ["x", "W"], "y", name: "fc1")], initializers: [w])
        let p = try write(try ModelFile.encode(m, encoding: .binary), "shape.onnx")
        let e = loadError(p)
        XCTAssertEqual(e?.kind, .shape)
        let d = e?.description ?? ""
        XCTAssertTrue(d.contains("node 'fc1' (Gemm)") && d.contains("[1, 4]") && d.contains("[3, 2]"), d)
    }

    func testInitializerSizeMismatch() throws {
        let w = tensor("W", [4, 2], [1, 2, 3])
        let m = model(inputShape: [1, 4], nodes: [node("MatMul", ["x", "W"], "y", name: "mm")], initializers: [w])
        let p = try write(try ModelFile.encode(m, encoding: .binary), "init.onnx")
        let d = loadError(p)?.description ?? ""
        XCTAssertTrue(d.contains("tensor 'W'") && d.contains("3 values") && d.contains("8"), d)
    }

    func testMissingNodeInputIsNamed() throws {
        let m = model(inputShape: [1, 4], nodes: [node("Add", ["x", "ghost"], "y", name: "add")])
        let p = try write(try ModelFile.encode(m, encoding: .binary), "ghost.onnx")
        let d = loadError(p)?.description ?? ""
        XCTAssertTrue(d.contains("'ghost'") && d.contains("node 'add'"), d)
    }

    /// An omitted optional input before a present one loads where the operator has a default
    /// (Clip's min; fixtures under Tests/Fixtures/ops check the values against onnxruntime) and
    /// is refused by name and position where it has none.
    func testOmittedInputWithoutADefaultIsNamed() throws {
        let m2 = model(inputShape: [1, 4], nodes: [node("Gemm", ["x", "", "b"], "y", name: "gemm")],
                       initializers: [tensor("b", [4], [1, 2, 3, 4])])
        let p2 = try write(try ModelFile.encode(m2, encoding: .binary), "omitted2.onnx")
        let d2 = loadError(p2)?.description ?? ""
        XCTAssertTrue(d2.contains("node 'gemm'") && d2.contains("input 1 is omitted") && d2.contains("no default"), d2)
    }

    func testWrongInputLength() throws {
        let g = try ModelFile.load(TestData.sharedPath("benchmarks/acasxu/ACASXU_run2a_1_1_batch_2000.onnx"))
        XCTAssertThrowsError(try g.evaluate([1, 2, 3])) { error in
            let d = "\(error)"
            XCTAssertTrue(d.contains("expected 5 values") && d.contains("got 3") && d.contains("input 'input'"), d)
        }
    }

    /// A model built here (Conv with stride and padding, BatchNorm, residual Add, Reshape via a
    /// constant) loads, folds its constants, and matches a direct computation.
    func testConstantFoldingAndReshape() throws {
        var shapeNode = node("Constant", [], "shape", name: "c")
        var attr = Onnx_AttributeProto(); attr.name = "value"; attr.type = .tensor
        var st = Onnx_TensorProto(); st.name = "s"; st.dims = [2]; st.dataType = 7; st.int64Data = [1, -1]
        attr.t = st
        shapeNode.attribute = [attr]
        let m = model(inputShape: [1, 2, 2], nodes: [
            shapeNode, node("Reshape", ["x", "shape"], "flat", name: "r"), node("Neg", ["flat"], "y", name: "n"),
        ])
        let p = try write(try ModelFile.encode(m, encoding: .binary), "fold.onnx")
        let g = try ModelFile.load(p)
        XCTAssertEqual(g.nodes.map(\.opType), ["Reshape", "Neg"])
        XCTAssertEqual(try g.evaluate([1, 2, 3, 4])[0], Tensor(shape: [1, 4], data: [-1, -2, -3, -4]))
    }
}
