import Foundation
import Certus
@testable import CertusONNX

/// Builds small single-input ONNX models in Swift for the CLI tests: input `x` of shape
/// [1, inputs], output of shape [1, outputs] (the last node's), all tensors of one element type
/// (1 float32, 11 float64).
struct SmallONNX {
    var elemType: Int32

    func model(inputs n: Int, outputs: Int, initializers: [Onnx_TensorProto], nodes: [Onnx_NodeProto]) -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var op = Onnx_OperatorSetIdProto(); op.version = 17
        m.opsetImport = [op]
        func info(_ name: String, _ dims: [Int64]) -> Onnx_ValueInfoProto {
            var vi = Onnx_ValueInfoProto(); vi.name = name
            var tt = Onnx_TypeProto.Tensor(); tt.elemType = elemType
            var sh = Onnx_TensorShapeProto()
            sh.dim = dims.map { var d = Onnx_TensorShapeProto.Dimension(); d.dimValue = $0; return d }
            tt.shape = sh
            var ty = Onnx_TypeProto(); ty.tensorType = tt
            vi.type = ty
            return vi
        }
        m.graph.input = [info("x", [1, Int64(n)])]
        m.graph.node = nodes
        m.graph.initializer = initializers
        m.graph.output = [info(nodes.last!.output[0], [1, Int64(outputs)])]
        return m
    }

    func node(_ op: String, _ inputs: [String], _ output: String) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op; n.input = inputs; n.output = [output]; n.name = output
        return n
    }

    /// A tensor of the model's element type (float32 values are the nearest floats).
    func tensor(_ name: String, _ dims: [Int64], _ values: [Double]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name; t.dims = dims; t.dataType = elemType
        if elemType == 11 { t.doubleData = values } else { t.floatData = values.map { Float($0) } }
        return t
    }
}
