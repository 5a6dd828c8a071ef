import CertusSpec

/// libFuzzer entry point for the VNN-LIB reader: parses the bytes as a `.vnnlib` file
/// (S-expression tree, DNF conversion, boxes and clauses). Any `SpecError` is an expected
/// outcome; a trap, a hang or an allocation over the `-rss_limit_mb` is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVNNLib(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: count))
    _ = try? VNNLib.parse(bytes: bytes, source: "fuzz.vnnlib")
    return 0
}
