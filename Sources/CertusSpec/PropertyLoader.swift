import Foundation

/// Loads a property from either spec format.
public enum PropertyLoader {
    /// The format a spec file is read as.
    public enum Format: Equatable, Sendable {
        /// VNN-LIB text.
        case vnnlib
        /// JSON robustness spec (`{"center", "epsilon", "label"[, "clip"]}`).
        case json
    }

    /// Chooses the format: by extension (`.vnnlib`, `.json`, case-insensitive), otherwise
    /// JSON when the first non-whitespace byte of `data` is `{`, else VNN-LIB.
    public static func format(path: String, data: Data) -> Format {
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        if ext == "vnnlib" { return .vnnlib }
        if ext == "json" { return .json }
        for b in data {
            switch b {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0B, 0x0C:
                continue
            case 0xEF, 0xBB, 0xBF: // UTF-8 byte-order mark
                continue
            default:
                return b == UInt8(ascii: "{") ? .json : .vnnlib
            }
        }
        return .vnnlib
    }

    /// Refuses text that is not UTF-8 (a UTF-16 file, binary data) with a message that says so,
    /// rather than a parse error about invisible characters.
    /// - Throws: `SpecError` (`.invalidSpec`) naming the file and the byte offset.
    static func checkUTF8(_ data: Data, path: String) throws {
        if data.starts(with: [0xFF, 0xFE]) || data.starts(with: [0xFE, 0xFF]) {
            throw SpecError(kind: .invalidSpec, file: path, message:
                "the file is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8")
        }
        if let k = data.firstIndex(of: 0) {
            throw SpecError(kind: .invalidSpec, file: path, message:
                "the file holds a NUL byte at offset \(k - data.startIndex) (UTF-16 or binary data?); specs are UTF-8 text")
        }
        if String(bytes: data, encoding: .utf8) == nil {
            throw SpecError(kind: .invalidSpec, file: path, message: "the file is not valid UTF-8 text; save it as UTF-8")
        }
    }

    /// Loads the spec at `path` as a ``Property``.
    ///
    /// - Parameter numOutputs: the model's flattened output length. Required for JSON
    ///   robustness specs (they do not say how many outputs there are); for VNN-LIB
    ///   it is checked against the declared `Y_j` count when given.
    /// - Throws: `SpecError` for unreadable files, parse errors, a missing `numOutputs`
    ///   for JSON, or a VNN-LIB output count different from `numOutputs`.
    public static func load(path: String, numOutputs: Int?) throws -> Property {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SpecError(kind: .io, file: path, message: "cannot read file: \(error.localizedDescription)")
        }
        try checkUTF8(data, path: path)
        switch format(path: path, data: data) {
        case .vnnlib:
            let p = try VNNLib.parse(bytes: [UInt8](data), source: path)
            if let n = numOutputs, n != p.numOutputs {
                throw SpecError(kind: .mismatch, file: path, message:
                    "the spec declares \(p.numOutputs) output(s) (Y_0..Y_\(p.numOutputs - 1)) but the model has \(n)")
            }
            return p
        case .json:
            guard let n = numOutputs else {
                throw SpecError(kind: .invalidSpec, file: path, message:
                    "a JSON robustness spec needs the model's number of outputs to build its clauses")
            }
            return try RobustnessSpec.decode(data: data, source: path).property(numOutputs: n)
        }
    }
}
