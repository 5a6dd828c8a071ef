import Foundation
import CertusGraph
import CertusONNX

/// What `certus inspect` shows about a model, computed by the library.
public struct ModelSummary: Codable, Sendable {
    /// A graph input or output: its name and shape (the batch dimension as 1).
    public struct TensorSummary: Codable, Sendable {
        /// The tensor's name in the model.
        public var name: String
        /// Its shape.
        public var shape: [Int]
    }
    /// The model file as given.
    public var file: String
    /// The ONNX IR version.
    public var irVersion: Int
    /// The default-domain opset version.
    public var opset: Int
    /// The producer name written in the model (may be empty).
    public var producer: String
    /// The analysed input (the first graph input that is not an initializer).
    public var inputs: [TensorSummary]
    /// The graph outputs.
    public var outputs: [TensorSummary]
    /// Operator type -> number of nodes, as written in the file.
    public var opCounts: [String: Int]
    /// Number of parameters (elements of all initializers).
    public var parameters: Int
    /// Computing nodes left after constant folding.
    public var nodes: Int

    enum CodingKeys: String, CodingKey {
        case file, irVersion = "ir_version", opset, producer, inputs, outputs, opCounts = "op_counts", parameters, nodes
    }

    /// The summary of a loaded graph (`file` is only reported).
    package init(graph: Graph, file: String) {
        self.file = file
        irVersion = graph.metadata.irVersion
        opset = graph.metadata.opset
        producer = graph.metadata.producer
        inputs = [TensorSummary(name: graph.inputName, shape: graph.inputShape)]
        outputs = graph.outputs.map { TensorSummary(name: graph.values[$0].name, shape: graph.values[$0].shape) }
        opCounts = graph.metadata.opCounts
        parameters = graph.metadata.parameterCount
        nodes = graph.nodes.count
    }
}

/// Parsing of concrete model inputs given on the command line or in a file.
public enum InputValues {
    /// Parses "v1,v2,..." (commas and/or whitespace). Errors name the position of a bad value.
    public static func parse(list text: String) throws -> [Double] {
        let items = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" || $0 == "\t" })
        return try items.enumerated().map { i, s in
            guard let v = Double(s), v.isFinite else {
                throw ModelError(.input, location: "--input value \(i + 1)", "'\(s)' is not a finite number")
            }
            return v
        }
    }

    /// Reads a JSON array of numbers (nested arrays are flattened row-major) from a file.
    /// Values are decoded with `JSONDecoder`, which reads decimal text exactly (Foundation's
    /// `JSONSerialization` on Linux can be off by one ulp).
    public static func load(file path: String) throws -> [Double] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(.io, file: path, "no such file or it cannot be read")
        }
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw ModelError(.input, file: path, location: ModelFile.jsonLocation(error, data), "malformed JSON: \(ModelFile.jsonReasonPublic(error))")
        }
        do {
            return try JSONDecoder().decode(NestedNumbers.self, from: data).flattened
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context) {
            let where_ = "$" + context.codingPath.map { "[\($0.intValue ?? 0)]" }.joined()
            throw ModelError(.input, file: path, location: "element \(where_)", "is not a number or an array of numbers")
        } catch {
            throw ModelError(.input, file: path, "\(error)")
        }
    }
}

/// A number or a (nested) array of numbers.
enum NestedNumbers: Decodable {
    case number(Double)
    case array([NestedNumbers])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Double.self) {
            self = .number(v)
        } else {
            self = .array(try c.decode([NestedNumbers].self))
        }
    }

    var flattened: [Double] {
        switch self {
        case .number(let v): return [v]
        case .array(let a): return a.flatMap(\.flattened)
        }
    }
}
