import Foundation
import CertusONNX

/// libFuzzer entry point for the binary ONNX reader: decodes the bytes as a `ModelProto`
/// (protobuf) and builds the graph IR (initializers, topological order, operators, shapes,
/// constant folding). Any `ModelError` is an expected outcome; a trap, a hang or an allocation
/// over the `-rss_limit_mb` is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNXBinary(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    _ = try? ModelFile.load(data: Data(bytes: start, count: count), encoding: .binary, file: "fuzz.onnx")
    return 0
}
