import CertusGraph
import CertusSpec

/// A final Softmax that an argmax-comparison property does not need.
///
/// Classifiers are often exported with a Softmax on their logits, and robustness properties
/// compare their outputs pairwise: "class j scores at least as much as the true class i",
/// `y_j - y_i >= 0`. Within one softmax group `y = softmax(z)` shares its denominator,
///
///     y_i - y_j = (exp(z_i) - exp(z_j)) / Σ_k exp(z_k),
///
/// and `exp` is strictly increasing, so `y_i - y_j` has the sign of `z_i - z_j`. An atom
/// `a (y_i - y_j) <= 0` (`a != 0`, zero offset) therefore holds at exactly the inputs where
/// `a (z_i - z_j) <= 0` holds, and a property made only of such atoms has the same unsafe set over
/// the softmax outputs as over the logits: bound provers may bound the graph without its final
/// Softmax (whose input then becomes the output). This is exact (no relaxation of the Softmax is
/// needed, and nothing is lost to one), as in the VNN-COMP practice of verifying logits.
///
/// The equivalence is about the real-valued model, the one every bound speaks about. In floating
/// point two softmax outputs may round to the same value although their logits differ; such a
/// point is then a counterexample of the evaluated model, which the attack and the counterexample
/// check find on the original graph (`Verifier` runs both on the graph it was given, and refuses a
/// proof when the attack saw a clause hold).
///
/// Anything else keeps the original graph: an atom with an offset (`y_0 >= 0.5`), a single-output
/// threshold, unequal coefficients (`2 y_0 - y_1`), two outputs of different softmax groups, a
/// Softmax that does not produce the (single) output or whose output another node reads.
package enum OutputSoftmax {
    /// The graph bound provers should work on for `property`: `graph` without its final Softmax
    /// when the property compares that Softmax's outputs pairwise (see the type's documentation),
    /// else `graph` itself.
    ///
    /// - Returns: the graph and a note for the details log (nil when the graph does not end in a
    ///   Softmax); the note says that the Softmax was removed, or why it was kept.
    package static func graphForBounds(_ graph: Graph, property: Property) -> (graph: Graph, note: String?) {
        guard graph.outputs.count == 1,
              let k = graph.nodes.lastIndex(where: { $0.output == graph.outputs[0] }),
              let softmax = graph.nodes[k].op as? any PairwiseOrderPreserving else { return (graph, nil) }
        let node = graph.nodes[k]
        let kept = "final Softmax '\(node.name)' kept (bounds need its relaxation): "
        guard !graph.nodes.contains(where: { $0.inputs.contains(node.output) }), node.inputs.count == 1,
              graph.values[node.inputs[0]].shape == graph.values[node.output].shape else {
            return (graph, kept + "another node reads its output")
        }
        // The softmax group of every flattened output coordinate.
        let count = graph.outputCount
        var group = [Int](repeating: -1, count: count)
        var groups = 0
        softmax.forEachGroup(graph.values[node.output].shape) { indices in
            for i in indices where i < count { group[i] = groups }
            groups += 1
        }
        guard property.numOutputs == count, !group.contains(-1) else {
            return (graph, kept + "the property does not fit its output")
        }
        var atoms = 0
        for (ci, pc) in property.cases.enumerated() {
            for (li, clause) in pc.clauses.enumerated() {
                for (ai, atom) in clause.atoms.enumerated() {
                    if let why = notPairwise(atom, group: group) {
                        return (graph, kept + "atom \(ai) of clause \(li) of case \(ci) \(why)")
                    }
                    atoms += 1
                }
            }
        }
        guard atoms > 0 else { return (graph, kept + "the property has no atom") }
        var logits = graph
        logits.nodes.remove(at: k)
        logits.outputs = [node.inputs[0]]
        return (logits, "final Softmax '\(node.name)' removed: the property compares its outputs pairwise "
                + "(\(atoms) atom(s) a·(y_i - y_j) <= 0, same sign on the logits); bounds are on '\(graph.values[node.inputs[0]].name)'")
    }

    /// Nil when `atom` is `a (y_i - y_j) <= 0` with `a` finite and non-zero, `i != j` in the same
    /// group; otherwise why not.
    static func notPairwise(_ atom: LinearAtom, group: [Int]) -> String? {
        guard atom.d == 0 else { return "has the offset \(atom.d)" }
        guard atom.c.count == group.count else { return "has \(atom.c.count) coefficients" }
        let nonZero = atom.c.indices.filter { atom.c[$0] != 0 }
        guard nonZero.count == 2 else { return "has \(nonZero.count) non-zero coefficient(s), not 2" }
        let i = nonZero[0], j = nonZero[1], a = atom.c[i], b = atom.c[j]
        guard a.isFinite, a == -b else { return "has coefficients \(a) and \(b), not a and -a" }
        guard group[i] == group[j] else { return "compares Y_\(i) and Y_\(j) from different softmax groups" }
        return nil
    }
}
