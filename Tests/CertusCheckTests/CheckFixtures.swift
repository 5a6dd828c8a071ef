import Foundation
import XCTest
import Certus
@testable import CertusONNX

/// Small models with answers known by hand, written into a temporary folder:
///
/// `relu_sum.onnx`: x in R^2, h = ReLU(x), y = (h0 + h1, 1). So
/// * on the box [1, 2]^2 (centre 1.5, epsilon 0.5) with label 0: y0 - y1 = x0 + x1 - 1 in [1, 3]:
///   the robustness property holds, row 0 (y0 - y1) has exact range [1, 3];
/// * on the ball centre (0, 0), epsilon 1, label 0: at the centre y = (0, 1), so class 1 wins:
///   violated (every x with x0 + x1 <= 1 in the positive part is a counterexample);
/// * on [1, 2]^2 the gradient of y0 is (1, 1) everywhere: its L1 norm (the L-inf Lipschitz
///   constant) is 2, its L2 norm sqrt(2); y1 is constant.
///
/// `garbage.onnx`: bytes that are not a model.
struct CheckFixtures {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("certus-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("models"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("manifests"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("specs"), withIntermediateDirectories: true)
        try CheckFixtures.reluSum().write(to: root.appendingPathComponent("models/relu_sum.onnx"))
        try Data("this is not an ONNX model".utf8).write(to: root.appendingPathComponent("models/garbage.onnx"))
        try #"{"center": [1.5, 1.5], "epsilon": 0.5, "label": 0}"#.write(to: root.appendingPathComponent("specs/holds.json"), atomically: true, encoding: .utf8)
        try """
        ; relu_sum near the origin: class 1 can win
        (declare-const X_0 Real)
        (declare-const X_1 Real)
        (declare-const Y_0 Real)
        (declare-const Y_1 Real)
        (assert (>= X_0 -1.0))
        (assert (<= X_0 1.0))
        (assert (>= X_1 -1.0))
        (assert (<= X_1 1.0))
        (assert (>= Y_1 Y_0))

        """.write(to: root.appendingPathComponent("specs/violated.vnnlib"), atomically: true, encoding: .utf8)
        try "[[1.5, 1.5]]".write(to: root.appendingPathComponent("specs/center.json"), atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// Writes a manifest under `manifests/` and returns its path.
    func manifest(_ name: String, _ text: String) throws -> String {
        let p = path("manifests/" + name)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    static func reluSum() throws -> Data {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var op = Onnx_OperatorSetIdProto(); op.version = 17
        m.opsetImport = [op]
        func info(_ name: String, _ n: Int64) -> Onnx_ValueInfoProto {
            var vi = Onnx_ValueInfoProto(); vi.name = name
            var tt = Onnx_TypeProto.Tensor(); tt.elemType = 1
            var sh = Onnx_TensorShapeProto()
            sh.dim = [1, n].map { var d = Onnx_TensorShapeProto.Dimension(); d.dimValue = $0; return d }
            tt.shape = sh
            var ty = Onnx_TypeProto(); ty.tensorType = tt
            vi.type = ty
            return vi
        }
        func tensor(_ name: String, _ dims: [Int64], _ v: [Float]) -> Onnx_TensorProto {
            var t = Onnx_TensorProto(); t.name = name; t.dims = dims; t.dataType = 1; t.floatData = v; return t
        }
        func node(_ op: String, _ inputs: [String], _ output: String) -> Onnx_NodeProto {
            var n = Onnx_NodeProto(); n.opType = op; n.input = inputs; n.output = [output]; n.name = output; return n
        }
        m.graph.input = [info("x", 2)]
        m.graph.output = [info("y", 2)]
        // Gemm computes x W + b (no transpose): W = [[1, 0], [1, 0]] gives (x0 + x1, 0).
        m.graph.initializer = [tensor("W", [2, 2], [1, 0, 1, 0]), tensor("b", [2], [0, 1])]
        m.graph.node = [node("Relu", ["x"], "h"), node("Gemm", ["h", "W", "b"], "y")]
        return try ModelFile.encode(m, encoding: .binary)
    }
}
