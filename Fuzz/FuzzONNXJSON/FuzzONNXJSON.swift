import Foundation
import CertusONNX

/// libFuzzer entry point for the ONNX-JSON reader (protobuf's JSON mapping of `ModelProto`):
/// JSON syntax check, schema decoding and graph building. Any `ModelError` is an expected
/// outcome; a trap, a hang or an allocation over the `-rss_limit_mb` is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNXJSON(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    _ = try? ModelFile.load(data: Data(bytes: start, count: count), encoding: .json, file: "fuzz.json")
    return 0
}
