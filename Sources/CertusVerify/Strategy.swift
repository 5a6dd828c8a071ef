import CertusGraph
import CertusSpec
import CertusBounds

/// Which decision procedures run after the attack (`certus verify --method`).
public enum VerificationMethod: String, Sendable, Equatable, Codable, CaseIterable {
    /// Chosen by the problem: CROWN, alpha-CROWN, then input splitting when the input has at
    /// most `VerifierSettings.inputSplitMaxDimension` free coordinates, ReLU splitting otherwise
    /// (when available in this build).
    case auto
    /// The falsification attack only (it may use the whole time limit).
    case attack
    /// The attack, then one CROWN bound.
    case crown
    /// The attack, then one alpha-CROWN bound.
    case alphaCrown = "alpha-crown"
    /// The attack, then input-splitting branch and bound with CROWN (complete for small inputs).
    case inputSplit = "input-split"
    /// The attack, then ReLU-splitting branch and bound.
    case reluSplit = "relu-split"
    /// The attack, then an exact MILP.
    case milp
}

/// A method that needs a prover this build does not have.
public struct MethodUnavailable: Error, CustomStringConvertible, Equatable, Sendable {
    public var method: VerificationMethod
    public init(method: VerificationMethod) { self.method = method }
    public var description: String { "method '\(method.rawValue)' is not available in this build" }
}

extension Verifier {
    /// Provers that other modules contribute, by method (ReLU splitting and MILP live elsewhere).
    /// THE one place to plug them in: e.g.
    /// `Verifier.extraProvers[.milp] = { settings, progress in MILPProver(settings: settings) }`.
    /// A method listed here replaces "not available"; `.reluSplit` is also used by `auto` for
    /// inputs too large to split.
    nonisolated(unsafe) public static var extraProvers: [VerificationMethod: @Sendable (VerifierSettings, ProgressHandler?) -> any PropertyProver] = [:]

    /// A verifier for `method` on this problem: `provers(for:...)`, and when input splitting is
    /// among them the up-front attack capped at `settings.inputSplit.attackRestartsBeforeSearch`
    /// restarts (the search checks points and attacks sub-boxes itself, where the attack is far
    /// more effective; a failed 100-restart attack costs more than most ACAS Xu proofs).
    /// - Throws: `MethodUnavailable` (see `provers(for:...)`).
    public static func forMethod(_ method: VerificationMethod, graph: Graph, property: Property,
                                 settings: VerifierSettings = VerifierSettings(),
                                 progress: ProgressHandler? = nil) throws -> Verifier {
        let list = try provers(for: graph, property: property, method: method, settings: settings, progress: progress)
        var s = settings
        if list.contains(where: { $0 is InputSplitProver }) {
            s.attackRestarts = min(s.attackRestarts, s.inputSplit.attackRestartsBeforeSearch)
        }
        return Verifier(settings: s, provers: list)
    }

    /// Whether `method` can run in this build (`relu-split` and `milp` need a registered prover).
    public static func isAvailable(_ method: VerificationMethod) -> Bool {
        switch method {
        case .reluSplit, .milp: return extraProvers[method] != nil
        default: return true
        }
    }

    /// Number of input coordinates that some case's box leaves free (non-zero width): what input
    /// splitting has to split.
    public static func freeInputDimension(of property: Property) -> Int {
        property.cases.map { pc in zip(pc.box.lower, pc.box.upper).filter { $0.0 < $0.1 }.count }.max() ?? 0
    }

    /// The provers to run after the attack for `method` on this problem.
    ///
    /// * `auto`: CROWN, alpha-CROWN, then input splitting when the property leaves at most
    ///   `settings.inputSplitMaxDimension` inputs free; otherwise ReLU splitting if this build has
    ///   it (`extraProvers[.reluSplit]`).
    /// * `attack`: none. `crown`, `alpha-crown`: that bound only. `input-split`: input splitting only.
    /// * `relu-split`, `milp`: the registered prover.
    /// - Throws: `MethodUnavailable` for `relu-split` or `milp` when no prover is registered.
    public static func provers(for graph: Graph, property: Property, method: VerificationMethod,
                               settings: VerifierSettings = VerifierSettings(),
                               progress: ProgressHandler? = nil) throws -> [any PropertyProver] {
        switch method {
        case .attack:
            return []
        case .crown:
            return [BoundProver(method: .crown)]
        case .alphaCrown:
            return [BoundProver(method: .alphaCrown)]
        case .inputSplit:
            return [InputSplitProver(settings: settings, progress: progress)]
        case .reluSplit, .milp:
            guard let make = extraProvers[method] else { throw MethodUnavailable(method: method) }
            return [make(settings, progress)]
        case .auto:
            var list: [any PropertyProver] = [BoundProver(method: .crown)]
            if freeInputDimension(of: property) <= settings.inputSplitMaxDimension {
                // alpha-CROWN rarely closes a low-dimensional box that CROWN could not, and input
                // splitting is complete there: go straight to it.
                list.append(InputSplitProver(settings: settings, progress: progress))
            } else {
                list.append(BoundProver(method: .alphaCrown))
                if let make = extraProvers[.reluSplit] { list.append(make(settings, progress)) }
            }
            return list
        }
    }
}
