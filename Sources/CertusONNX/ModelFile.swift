import Foundation
import SwiftProtobuf
import CertusGraph

/// Reading and writing ONNX model files in either encoding: binary protobuf (`.onnx`) or
/// ONNX-style JSON (protobuf's canonical JSON mapping of `ModelProto`, `.json`).
package enum ModelFile {
    package enum Encoding: String, Sendable { case binary, json }

    /// The UTF-8 byte-order mark, skipped at the start of an ONNX-JSON file.
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// The encoding for a path: by extension, else by sniffing the first non-blank byte
    /// (`{`, after an optional UTF-8 byte-order mark, means JSON).
    package static func encoding(of path: String, data: Data? = nil) -> Encoding {
        let ext = (path as NSString).pathExtension.lowercased()
        if ext == "json" { return .json }
        if ext == "onnx" || ext == "pb" { return .binary }
        if let data, let first = (data.starts(with: byteOrderMark) ? data.dropFirst(byteOrderMark.count) : data)
            .drop(while: { [0x20, 0x09, 0x0A, 0x0D].contains($0) }).first, first == UInt8(ascii: "{") {
            return .json
        }
        return .binary
    }

    static func read(_ path: String) throws -> Data {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelError(.io, file: path, "no such file")
        }
        guard !isDir.boolValue else { throw ModelError(.io, file: path, "is a directory, not a model file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(.io, file: path, "cannot read the file")
        }
        return data
    }

    /// Decodes a `ModelProto` from a file in either encoding.
    static func readProto(_ path: String) throws -> Onnx_ModelProto {
        let data = try read(path)
        return try decode(data, encoding: encoding(of: path, data: data), file: path)
    }

    static func decode(_ data: Data, encoding: Encoding, file: String) throws -> Onnx_ModelProto {
        guard !data.isEmpty else { throw ModelError(.decode, file: file, "the file is empty") }
        switch encoding {
        case .binary:
            do {
                var options = BinaryDecodingOptions()
                options.messageDepthLimit = 200
                let model = try Onnx_ModelProto(serializedBytes: data, options: options)
                guard model.hasGraph else {
                    throw ModelError(.decode, file: file, "not an ONNX model: the protobuf holds no graph (corrupt file, or not ONNX)")
                }
                return model
            } catch let e as ModelError {
                throw e
            } catch {
                throw ModelError(.decode, file: file, "corrupt or truncated ONNX protobuf (\(binaryReason(error)), \(data.count) bytes)")
            }
        case .json:
            // A leading UTF-8 byte-order mark is not JSON; editors on some systems write one.
            let data = data.starts(with: byteOrderMark) ? Data(data.dropFirst(byteOrderMark.count)) : data
            // Validate the JSON syntax first: Foundation reports the line and column of a syntax error.
            do {
                _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            } catch {
                throw ModelError(.decode, file: file, location: jsonLocation(error, data), "malformed JSON: \(jsonReason(error))")
            }
            do {
                var options = JSONDecodingOptions()
                options.ignoreUnknownFields = true
                let model = try Onnx_ModelProto(jsonUTF8Data: data, options: options)
                guard model.hasGraph else { throw ModelError(.decode, file: file, "JSON holds no 'graph': not an ONNX model") }
                return model
            } catch let e as ModelError {
                throw e
            } catch {
                throw ModelError(.decode, file: file, "JSON does not match the ONNX ModelProto schema: \(error)")
            }
        }
    }

    /// Serialises a model in the given encoding.
    static func encode(_ model: Onnx_ModelProto, encoding: Encoding) throws -> Data {
        switch encoding {
        case .binary: return try model.serializedBytes()
        case .json:
            var text = try model.jsonString()
            text.append("\n")
            return Data(text.utf8)
        }
    }

    /// Converts a model file between encodings, chosen by the output's extension.
    package static func convert(from input: String, to output: String) throws {
        let model = try readProto(input)
        _ = try GraphBuilder.build(model, file: input)   // refuse to convert what cannot be loaded
        let data = try encode(model, encoding: encoding(of: output))
        do {
            try data.write(to: URL(fileURLWithPath: output))
        } catch {
            throw ModelError(.io, file: output, "cannot write: \(error.localizedDescription)")
        }
    }

    /// Loads a model file into the graph IR.
    package static func load(_ path: String) throws -> Graph {
        let model = try readProto(path)
        return try GraphBuilder.build(model, file: path)
    }

    /// Loads a model from bytes already in memory, named `file` in errors (the fuzz targets'
    /// entry point; `load(_:)` reads the file and calls the same decoder and builder).
    /// - Throws: `ModelError` for bytes that are not an ONNX model in `encoding`, or a model
    ///   that cannot be built.
    package static func load(data: Data, encoding: Encoding, file: String) throws -> Graph {
        let model = try decode(data, encoding: encoding, file: file)
        return try GraphBuilder.build(model, file: file)
    }

    static func binaryReason(_ error: Error) -> String {
        if let e = error as? BinaryDecodingError {
            switch e {
            case .truncated: return "the data ends in the middle of a field: truncated"
            case .malformedProtobuf: return "malformed protobuf"
            case .invalidUTF8: return "a string field is not valid UTF-8"
            case .messageDepthLimit: return "nesting too deep"
            default: return "\(e)"
            }
        }
        return "\(error)"
    }

    package static func jsonReasonPublic(_ error: Error) -> String { jsonReason(error) }

    /// "line L, column C" of a JSONSerialization error that reports a character offset.
    package static func jsonLocation(_ error: Error, _ data: Data) -> String? {
        let text = jsonReason(error)
        guard let r = text.range(of: "character ") else { return nil }
        let digits = text[r.upperBound...].prefix(while: { $0.isNumber })
        guard let offset = Int(digits), offset <= data.count else { return nil }
        var line = 1, column = 1
        for b in data.prefix(offset) {
            if b == UInt8(ascii: "\n") { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
        }
        return "line \(line), column \(column)"
    }

    static func jsonReason(_ error: Error) -> String {
        let ns = error as NSError
        if let d = ns.userInfo[NSDebugDescriptionErrorKey] as? String { return d }
        return "\(error)"
    }
}
