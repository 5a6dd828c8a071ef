import Foundation
import CertusGraph
import CertusSpec
import CertusBounds

/// Proves a property by bound propagation: every clause of every case must have a row whose
/// lower bound is positive (with the rounding margin of `PropertyBoundReport.refutes`).
/// Any error (unsupported operator, NaN) propagates and the verifier treats it as unknown.
package struct BoundProver: PropertyProver {
    package var method: BoundMethod
    package var settings: BoundSettings
    /// The arithmetic the proof is for (`NumericSemantics`; the engine's error terms).
    package var semantics: NumericSemantics

    package init(method: BoundMethod, settings: BoundSettings? = nil, semantics: NumericSemantics = .real) {
        self.method = method
        self.semantics = semantics
        var s = settings ?? BoundSettings(method: method)
        s.method = method
        self.settings = s
    }

    package var name: String { method.rawValue }

    package func prove(graph: Graph, property: Property, deadline: Deadline) throws -> ProverOutcome {
        var s = settings
        s.deadline = Date(timeIntervalSinceNow: max(0, deadline.remainingSeconds))
        s.stop(with: deadline)
        let report = try BoundEngine(graph: graph, semantics: semantics).bound(property: property, settings: s)
        if report.verified { return .proven }
        return .unknown("\(method.rawValue): property lower bound \(report.propertyLower)")
    }
}

extension Verifier {
    /// The incomplete provers run after the attack, cheapest first: CROWN, then alpha-CROWN.
    /// A fixed list for callers without a problem at hand; the CLI's strategy (complete search
    /// where it fits) is `Verifier.forMethod(_:graph:property:settings:progress:)`.
    package static var standardProvers: [any PropertyProver] {
        [BoundProver(method: .crown), BoundProver(method: .alphaCrown)]
    }
}
