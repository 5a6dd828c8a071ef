import CertusGraph
import CertusONNX
import CertusSpec
import CertusVerify

/// A model and a property that fits it, loaded from files, ready for `Verifier`.
package struct VerificationProblem: Sendable {
    /// The model.
    package var graph: Graph
    /// The property (its unsafe set), fitted to the model.
    package var property: Property

    /// Pairs a model and a property (not checked; `Verifier.verify` validates).
    package init(graph: Graph, property: Property) { self.graph = graph; self.property = property }

    /// Loads the model (`.onnx` or ONNX-JSON) and the spec (VNN-LIB, or a JSON robustness spec
    /// built with the model's output count) and checks that they fit (`Property.validate`).
    /// - Throws: `ModelError` or `SpecError` naming the file and place.
    package static func load(model: String, spec: String) throws -> VerificationProblem {
        let graph = try ModelFile.load(model)
        let property = try PropertyLoader.load(path: spec, numOutputs: graph.outputCount)
        try property.validate(modelInputs: graph.inputCount, modelOutputs: graph.outputCount)
        return VerificationProblem(graph: graph, property: property)
    }
}

extension BatchRunner {
    /// A runner that loads models with `ModelFile.load` (binary ONNX or ONNX-JSON).
    package convenience init(settings: VerifierSettings = VerifierSettings(), timeoutScale: Double = 1,
                            provers: [any PropertyProver] = []) {
        self.init(settings: settings, timeoutScale: timeoutScale, provers: provers, loadModel: { try ModelFile.load($0) })
    }
}
