import Foundation
import CertusSpec

/// libFuzzer entry point for the JSON robustness spec reader: decodes the bytes as a spec and,
/// when that succeeds, compiles it for a model with 10 outputs (box and clauses). Any
/// `SpecError` is an expected outcome; a trap, a hang or a memory blow-up is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpecJSON(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    if let spec = try? RobustnessSpec.decode(data: data, source: "fuzz.json") {
        _ = try? spec.property(numOutputs: 10)
    }
    return 0
}
