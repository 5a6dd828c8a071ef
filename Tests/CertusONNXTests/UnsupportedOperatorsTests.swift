import XCTest
import Foundation
import Certus
@testable import CertusONNX
import TestSupport

/// Loading a model with several unsupported operators fails with one error that names every
/// unsupported op type with its node names and counts (issue 14 item 4), for the binary and the
/// JSON encoding alike.
final class UnsupportedOperatorsTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws { tmp = try TestData.makeTemporaryFolder("certus-unsup") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// x [1, 4] -> Relu -> 2 x LSTM-typed, 1 x Hardmax, 3 x a made-up op, 1 x a com.microsoft op
    /// (the op types stay unsupported whatever else is added), chained so that the graph is valid.
    static func model() -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var op = Onnx_OperatorSetIdProto(); op.version = 17
        m.opsetImport = [op]
        func info(_ name: String) -> Onnx_ValueInfoProto {
            var vi = Onnx_ValueInfoProto(); vi.name = name
            var tt = Onnx_TypeProto.Tensor(); tt.elemType = 1
            var sh = Onnx_TensorShapeProto()
            sh.dim = [Int64(1), 4].map { var d = Onnx_TensorShapeProto.Dimension(); d.dimValue = $0; return d }
            tt.shape = sh
            var ty = Onnx_TypeProto(); ty.tensorType = tt
            vi.type = ty
            return vi
        }
        let chain: [(String, String, String)] = [   // (op, name, domain)
            ("Relu", "relu", ""), ("LSTM", "lstm_a", ""), ("Frobnicate", "frob_1", ""), ("Hardmax", "hm", ""),
            ("Frobnicate", "frob_2", ""), ("LSTM", "lstm_b", ""), ("Frobnicate", "frob_3", ""),
            ("FusedGemm", "fg", "com.microsoft"),
        ]
        var prev = "x"
        for (k, (opType, name, domain)) in chain.enumerated() {
            var n = Onnx_NodeProto()
            n.opType = opType; n.name = name; n.domain = domain
            n.input = [prev]; n.output = ["v\(k)"]
            prev = "v\(k)"
            m.graph.node.append(n)
        }
        m.graph.input = [info("x")]
        m.graph.output = [info(prev)]
        return m
    }

    func testEveryUnsupportedOperatorIsNamedAtOnce() throws {
        for encoding in [ModelFile.Encoding.binary, .json] {
            let path = tmp.appendingPathComponent("three_kinds.\(encoding == .json ? "json" : "onnx")").path
            try ModelFile.encode(Self.model(), encoding: encoding).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try ModelFile.load(path)) { error in
                guard let e = error as? ModelError else { return XCTFail("\(error)") }
                XCTAssertEqual(e.kind, .unsupportedOperator)
                let d = e.description
                XCTAssertTrue(d.contains(path), d)
                XCTAssertTrue(d.contains("unsupported operators: 'LSTM' (2 nodes: 'lstm_a', 'lstm_b')"), d)
                XCTAssertTrue(d.contains("'Frobnicate' (3 nodes: 'frob_1', 'frob_2', 'frob_3')"), d)
                XCTAssertTrue(d.contains("'Hardmax' (1 node: 'hm')"), d)
                XCTAssertTrue(d.contains("'com.microsoft.FusedGemm' (1 node: 'fg')"), d)
                XCTAssertFalse(d.contains("'Relu' ("), d)
                XCTAssertNil(e.location, "several nodes: no single location")
            }
        }
    }

    /// The list is cut after `shownNames` names per op type, the count stays exact.
    func testLongListsAreShortened() throws {
        let nodes = (0..<7).map { (name: "/Slice_\($0)", opType: "Frob") }
        let e = try XCTUnwrap(OperatorRegistry.unsupportedError(nodes, shownNames: 3))
        XCTAssertTrue(e.message.contains("'Frob' (7 nodes: '/Slice_0', '/Slice_1', '/Slice_2', ...)"), e.message)
        XCTAssertNil(OperatorRegistry.unsupportedError([]))
        let one = try XCTUnwrap(OperatorRegistry.unsupportedError([(name: "d", opType: "Frob")]))
        XCTAssertEqual(one.location, "node 'd' (Frob)")
    }

    /// Every registered operator appears in `supportedOperators` with a non-empty opset range
    /// that ends at the newest opset the loader reads.
    func testSupportedOperatorsHaveOpsetRanges() {
        let list = OperatorRegistry.supportedOperators
        XCTAssertEqual(list.map(\.opType), OperatorRegistry.supportedOpTypes)
        for (op, r) in list {
            XCTAssertGreaterThanOrEqual(r.lowerBound, 1, op)
            XCTAssertEqual(r.upperBound, OperatorRegistry.newestOpset, op)
        }
        XCTAssertEqual(list.first { $0.opType == "Gelu" }?.opsets.lowerBound, 20)
    }
}
