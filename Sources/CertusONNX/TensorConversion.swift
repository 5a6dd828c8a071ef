import Foundation
import CertusTensor
import CertusGraph

/// Converts ONNX `TensorProto`s to `Double` tensors.
enum TensorConversion {
    static func typeName(_ t: Int32) -> String {
        let names: [Int32: String] = [1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
                                      8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64",
                                      14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16"]
        return names[t] ?? "type \(t)"
    }

    /// "element [i, j, ...]" (the multi-index of flat index `k` in `shape`), or "the scalar value".
    static func position(_ k: Int, in shape: [Int]) -> String {
        guard !shape.isEmpty else { return "the scalar value" }
        var rest = k
        var idx = [Int](repeating: 0, count: shape.count)
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] > 0 {
            idx[d] = rest % shape[d]
            rest /= shape[d]
        }
        return "element [" + idx.map(String.init).joined(separator: ", ") + "]"
    }

    /// The tensor's values widened to `Double`.
    ///
    /// - Throws: `ModelError` naming the tensor for external or segmented data, a size that
    ///   does not match the shape, an unsupported data type, or a NaN value (weights and
    ///   constants may be infinite, as IEEE and onnxruntime allow, but never NaN; see the README).
    static func tensor(_ t: Onnx_TensorProto) throws -> Tensor {
        let where_ = "tensor '\(t.name)'"
        func fail(_ m: String, _ kind: ModelError.Kind = .invalidModel) -> ModelError { ModelError(kind, location: where_, m) }
        if t.dataLocation == .external || !t.externalData.isEmpty {
            throw fail("external data files are not supported; save the model with its weights inside", .unsupportedFeature)
        }
        if t.hasSegment { throw fail("segmented tensors are not supported", .unsupportedFeature) }
        let shape = try t.dims.map { d -> Int in
            guard d >= 0, d < Int64(Int32.max) else { throw fail("invalid dimension \(d)") }
            return Int(d)
        }
        // Checked product: a wrapped one could pass as small for dimensions such as [65536, 65536, 65536, 65536].
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p < 1 << 31 else { throw fail("tensor of shape \(shape) is too large (2^31 elements or more)") }
            count = p
        }
        let raw = t.rawData
        var values: [Double]
        func fromRaw<T>(_ width: Int, _ conv: (UnsafeRawBufferPointer, Int) -> T, _ d: (T) -> Double) throws -> [Double] {
            guard raw.count == count * width else {
                throw fail("raw data has \(raw.count) bytes but shape \(shape) of \(typeName(t.dataType)) needs \(count * width)")
            }
            return raw.withUnsafeBytes { p in (0..<count).map { d(conv(p, $0 * width)) } }
        }
        switch t.dataType {
        case 1: // FLOAT
            values = t.hasRawData
                ? try fromRaw(4, { p, o in Float(bitPattern: p.loadUnaligned(fromByteOffset: o, as: UInt32.self).littleEndian) }, Double.init)
                : t.floatData.map(Double.init)
        case 11: // DOUBLE
            values = t.hasRawData
                ? try fromRaw(8, { p, o in Double(bitPattern: p.loadUnaligned(fromByteOffset: o, as: UInt64.self).littleEndian) }, { $0 })
                : t.doubleData
        case 7: // INT64
            values = t.hasRawData
                ? try fromRaw(8, { p, o in Int64(littleEndian: p.loadUnaligned(fromByteOffset: o, as: Int64.self)) }, Double.init)
                : t.int64Data.map(Double.init)
        case 6: // INT32
            values = t.hasRawData
                ? try fromRaw(4, { p, o in Int32(littleEndian: p.loadUnaligned(fromByteOffset: o, as: Int32.self)) }, Double.init)
                : t.int32Data.map(Double.init)
        case 3, 5: // INT8, INT16
            let w = t.dataType == 3 ? 1 : 2
            values = t.hasRawData
                ? try fromRaw(w, { p, o in w == 1 ? Int(p.load(fromByteOffset: o, as: Int8.self))
                                                  : Int(Int16(littleEndian: p.loadUnaligned(fromByteOffset: o, as: Int16.self))) }, Double.init)
                : t.int32Data.map(Double.init)
        case 2, 4, 9: // UINT8, UINT16, BOOL
            let w = t.dataType == 4 ? 2 : 1
            values = t.hasRawData
                ? try fromRaw(w, { p, o in w == 1 ? Int(p.load(fromByteOffset: o, as: UInt8.self))
                                                  : Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt16.self))) }, Double.init)
                : t.int32Data.map(Double.init)
        default:
            throw fail("data type \(typeName(t.dataType)) is not supported", .unsupportedFeature)
        }
        guard values.count == count else {
            throw fail("has \(values.count) values but shape \(shape) needs \(count)")
        }
        if let k = values.firstIndex(where: { $0.isNaN }) {
            throw fail("holds a non-finite value (nan at \(position(k, in: shape))); "
                       + "weights and constants must not be NaN")
        }
        return Tensor(shape: shape, data: values)
    }
}
