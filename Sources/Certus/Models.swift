import Foundation
import CertusTensor
import CertusGraph
import CertusONNX

extension Certus {
    // MARK: models (inspect, eval, convert, supports)

    /// One output tensor of `evaluate`: its name in the model, its shape and its values,
    /// flattened row-major.
    public struct OutputValue: Codable, Sendable, Equatable {
        /// The output's name in the model.
        public var name: String
        /// Its shape (the batch dimension as 1).
        public var shape: [Int]
        /// Its values, row-major; `values.count` is the product of `shape`.
        public var values: [Double]
    }

    /// An ONNX operator Certus reads, with the opset versions its implementation follows
    /// (`certus supports`; the VNN-LIB 2.0 solver interface asks a solver for this list).
    public struct OperatorSupport: Codable, Sendable, Equatable {
        /// The ONNX op type (default domain), e.g. `"Relu"`.
        public var opType: String
        /// The lowest opset version read.
        public var minOpset: Int
        /// The highest opset version read.
        public var maxOpset: Int

        enum CodingKeys: String, CodingKey { case opType = "op_type", minOpset = "min_opset", maxOpset = "max_opset" }
    }

    /// The operators Certus can load, sorted by op type. A model with any other operator is
    /// refused at load with every unsupported operator named (node names and counts).
    public static var supportedOperators: [OperatorSupport] {
        OperatorRegistry.supportedOperators.map {
            OperatorSupport(opType: $0.opType, minOpset: $0.opsets.lowerBound, maxOpset: $0.opsets.upperBound)
        }
    }

    /// What `certus inspect` shows: the model's inputs and outputs with their shapes, its
    /// operators, parameter count and IR/opset versions.
    /// - Throws: `CertusError` of kind `.model` or `.unsupported`, as `Model.load` does.
    public static func inspect(model: Model) throws -> ModelSummary {
        ModelSummary(graph: try model.graph(), file: model.name)
    }

    /// The numbers of coordinates of the model's (flattened) first input and first output.
    /// - Throws: `CertusError` as `Model.load` does.
    public static func dimensions(of model: Model) throws -> (inputs: Int, outputs: Int) {
        let g = try model.graph()
        return (g.inputCount, g.outputCount)
    }

    /// Runs `model` on one input in Double.
    /// - Parameters:
    ///   - model: the model.
    ///   - input: the first input's values, flattened row-major (its element count must match).
    /// - Returns: every graph output, in the model's order.
    /// - Throws: `CertusError` of kind `.model` when the model cannot be read or `input` has the
    ///   wrong length (the expected count named).
    public static func evaluate(model: Model, input: [Double]) throws -> [OutputValue] {
        let graph = try model.graph()
        return try CertusError.wrapping(model: model.name) {
            let ys = try BLAS.withSingleThread { try graph.evaluate(input) }
            return zip(graph.outputs, ys).map { OutputValue(name: graph.values[$0.0].name, shape: $0.1.shape, values: $0.1.data) }
        }
    }

    /// Converts a model between binary ONNX and ONNX-JSON (protobuf's JSON mapping of
    /// `ModelProto`); each side's encoding is chosen by its extension (`.json` is JSON, anything
    /// else binary).
    /// - Returns: the encoding written, `"binary"` or `"json"`.
    /// - Throws: `CertusError` of kind `.model` for an unreadable input or an unwritable output.
    @discardableResult
    public static func convert(model input: String, to output: String) throws -> String {
        try CertusError.wrapping(model: input) { try ModelFile.convert(from: input, to: output) }
        return ModelFile.encoding(of: output).rawValue
    }
}
