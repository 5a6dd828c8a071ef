import Foundation
import CertusSpec

/// The region of a Lipschitz analysis, read from a file: a JSON spec as for `verify`
/// (`{"center": [...], "epsilon": e}` with optional `"clip": [lo, hi]`; a `"label"` is allowed
/// and ignored) or a VNN-LIB file (each of its input boxes; the output constraints are ignored).
package enum LipschitzRegion {
    /// The boxes of the region file at `path` (one for a JSON spec; one per disjunct of a
    /// VNN-LIB input constraint).
    /// - Throws: `SpecError` naming the file and the place (missing key, wrong type, empty box, ...).
    package static func load(path: String) throws -> [InputBox] {
        let isJSON: Bool
        if path.lowercased().hasSuffix(".json") { isJSON = true }
        else if path.lowercased().hasSuffix(".vnnlib") { isJSON = false }
        else {
            let head = (try? Data(contentsOf: URL(fileURLWithPath: path)).prefix(64)) ?? Data()
            isJSON = String(decoding: head, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{")
        }
        if isJSON {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw SpecError(kind: .io, file: path, message: "cannot read file: \(error.localizedDescription)")
            }
            // A region needs no label: give the robustness-spec reader one when it is missing.
            var payload = data
            if var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], object["label"] == nil {
                object["label"] = 0
                payload = (try? JSONSerialization.data(withJSONObject: object)) ?? data
            }
            return [try RobustnessSpec.decode(data: payload, source: path).box()]
        }
        return try PropertyLoader.load(path: path, numOutputs: nil).cases.map(\.box)
    }
}
