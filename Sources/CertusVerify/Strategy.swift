import CertusGraph
import CertusSpec
import CertusBounds

/// Which decision procedures run after the attack (`certus verify --method`).
public enum VerificationMethod: String, Sendable, Equatable, Codable, CaseIterable {
    /// Chosen by the problem: CROWN, alpha-CROWN, then input splitting when the input has at
    /// most `VerifierSettings.inputSplitMaxDimension` free coordinates, branch and bound over neuron splits (`bab`) otherwise
    /// (`bab`: ReLU or general branching).
    case auto
    /// The falsification attack only (it may use the whole time limit).
    case attack
    /// The attack, then one CROWN bound.
    case crown
    /// The attack, then one alpha-CROWN bound.
    case alphaCrown = "alpha-crown"
    /// The attack, then input-splitting branch and bound with CROWN (complete for small inputs).
    case inputSplit = "input-split"
    /// The attack, then branch and bound over neuron splits (`BranchAndBoundProver`: ReLU
    /// splits at 0, GenBaB's splits of smooth activations at branching points).
    case branchAndBound = "bab"
    /// The same prover as `bab` (its earlier name, from when it split ReLUs only).
    case reluSplit = "relu-split"
    /// The attack, then an exact MILP.
    case milp
}

extension Verifier {
    /// A verifier for `method` on this problem: `provers(for:...)`, and when input splitting is
    /// among them the up-front attack capped at `settings.inputSplit.attackRestartsBeforeSearch`
    /// restarts (the search checks points and attacks sub-boxes itself, where the attack is far
    /// more effective; a failed 100-restart attack costs more than most ACAS Xu proofs).
    package static func forMethod(_ method: VerificationMethod, graph: Graph, property: Property,
                                 settings: VerifierSettings = VerifierSettings(),
                                 progress: ProgressHandler? = nil) throws -> Verifier {
        let list = try provers(for: graph, property: property, method: method, settings: settings, progress: progress)
        var s = settings
        if list.contains(where: { $0 is InputSplitProver }) {
            s.attackRestarts = min(s.attackRestarts, s.inputSplit.attackRestartsBeforeSearch)
        }
        if list.contains(where: { $0 is BranchAndBoundProver }) {
            // Bounds and the search run before the bulk of the attack, which resumes afterwards
            // (`finalAttack`) with whatever time is left.
            s.attackRestarts = min(s.attackRestarts, s.reluSplit.attackRestartsBeforeSearch)
            s.attackTimeFraction = min(s.attackTimeFraction, s.reluSplit.attackTimeFractionBeforeSearch)
        }
        return Verifier(settings: s, provers: list)
    }

    /// Number of input coordinates that some case's box leaves free (non-zero width): what input
    /// splitting has to split.
    package static func freeInputDimension(of property: Property) -> Int {
        property.cases.map { pc in zip(pc.box.lower, pc.box.upper).filter { $0.0 < $0.1 }.count }.max() ?? 0
    }

    /// The provers to run after the attack for `method` on this problem.
    ///
    /// * `auto`: CROWN, then input splitting when the property leaves at most
    ///   `settings.inputSplitMaxDimension` inputs free; otherwise alpha-CROWN, then branch and bound over neuron splits (`bab`).
    /// * `attack`: none. `crown`, `alpha-crown`: that bound only. `input-split`, `bab` (alias `relu-split`),
    ///   `milp`: that complete prover only.
    package static func provers(for graph: Graph, property: Property, method: VerificationMethod,
                               settings: VerifierSettings = VerifierSettings(),
                               progress: ProgressHandler? = nil) throws -> [any PropertyProver] {
        switch method {
        case .attack:
            return []
        case .crown:
            return [BoundProver(method: .crown, semantics: settings.semantics)]
        case .alphaCrown:
            return [BoundProver(method: .alphaCrown, semantics: settings.semantics)]
        case .inputSplit:
            return [InputSplitProver(settings: settings, progress: progress)]
        case .branchAndBound, .reluSplit:
            return [BranchAndBoundProver(settings: settings, progress: progress)]
        case .milp:
            return [MILPProver(settings: settings)]
        case .auto:
            var list: [any PropertyProver] = [BoundProver(method: .crown, semantics: settings.semantics)]
            if freeInputDimension(of: property) <= settings.inputSplitMaxDimension {
                // alpha-CROWN rarely closes a low-dimensional box that CROWN could not, and input
                // splitting is complete there: go straight to it.
                list.append(InputSplitProver(settings: settings, progress: progress))
            } else {
                list.append(BoundProver(method: .alphaCrown, semantics: settings.semantics))
                // Branch and bound over neuron splits: ReLU splitting, or GenBaB's general
                // branching for other activations.
                list.append(BranchAndBoundProver(settings: settings, progress: progress))
            }
            return list
        }
    }
}
