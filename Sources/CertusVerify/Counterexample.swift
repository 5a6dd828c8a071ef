import CertusGraph
import CertusSpec

/// A checked counterexample: an input inside one of the property's boxes whose output satisfies
/// every atom of one of that box's clauses, with the safety margin.
public struct Counterexample: Equatable, Sendable, Codable {
    /// The input (row-major flattened); every value is exactly a float32.
    public var x: [Double]
    /// The model's first output at `x`, evaluated in Double.
    public var y: [Double]
    /// Index of the property case (input box) containing `x`.
    public var caseIndex: Int
    /// Index of the clause (in that case) that `y` satisfies.
    public var clauseIndex: Int

    enum CodingKeys: String, CodingKey { case x, y, caseIndex = "case_index", clauseIndex = "clause_index" }

    public init(x: [Double], y: [Double], caseIndex: Int, clauseIndex: Int) {
        self.x = x; self.y = y; self.caseIndex = caseIndex; self.clauseIndex = clauseIndex
    }

    /// The VNN-COMP counterexample text `((X_0 v) ... (Y_0 v) ...)` followed by a newline.
    public var witness: String { vnncompWitness(x: x, y: y) }
}

/// Float32 snapping and the acceptance test every counterexample must pass before `sat`.
///
/// VNN-COMP replays counterexamples with onnxruntime in float32, so an input must be made of
/// float32 values that lie inside the box; the model is then re-evaluated (in Double) at exactly
/// those values and one clause must hold with the safety margin of `VerifierSettings`.
public enum CounterexampleCheck {
    /// The nearest float32 value to `v` that lies in `[lower, upper]`, as a Double; `nil` when
    /// no float32 lies in the interval (narrower than one float32 ulp between two floats) or a
    /// value is not finite. Values are rounded to nearest and, if that lands outside the interval,
    /// moved one ulp inward (repeated at most a few times).
    public static func snapToFloat32(_ v: Double, lower: Double, upper: Double) -> Double? {
        guard v.isFinite, lower.isFinite, upper.isFinite, lower <= upper else { return nil }
        var f = Float(min(max(v, lower), upper))
        guard f.isFinite else { return nil }
        var tries = 0
        while Double(f) < lower && tries < 4 { f = f.nextUp; tries += 1 }
        while Double(f) > upper && tries < 8 { f = f.nextDown; tries += 1 }
        let d = Double(f)
        return (lower <= d && d <= upper && f.isFinite) ? d : nil
    }

    /// `x` snapped coordinate-wise into `box` (see `snapToFloat32`), or `nil` when some
    /// coordinate has no float32 inside its interval or the lengths differ.
    public static func snap(_ x: [Double], into box: InputBox) -> [Double]? {
        guard x.count == box.lower.count, x.count == box.upper.count else { return nil }
        var out = [Double](repeating: 0, count: x.count)
        for i in 0..<x.count {
            guard let s = snapToFloat32(x[i], lower: box.lower[i], upper: box.upper[i]) else { return nil }
            out[i] = s
        }
        return out
    }

    /// Whether every atom of `clause` holds at `y` with the safety margin.
    /// An empty clause holds for every (finite) `y`.
    public static func clauseHoldsWithMargin(_ clause: Clause, y: [Double], settings: VerifierSettings) -> Bool {
        for atom in clause.atoms {
            guard let s = atom.slack(y), s.isFinite else { return false }
            if s > -settings.safetyMargin(c: atom.c, d: atom.d, y: y) { return false }
        }
        return true
    }

    /// Confirms a candidate `x` found for case `preferredCase`: snaps it to float32 inside that
    /// case's box, evaluates the model there, and returns a counterexample when some clause of a
    /// case whose box contains the snapped point holds with the margin (the preferred case is
    /// tried first). Returns `nil` otherwise, or when the output is not finite.
    /// - Throws: only errors from evaluating the model.
    public static func confirm(graph: Graph, property: Property, candidate x: [Double], preferredCase: Int,
                               settings: VerifierSettings) throws -> Counterexample? {
        guard preferredCase >= 0, preferredCase < property.cases.count,
              let xs = snap(x, into: property.cases[preferredCase].box) else { return nil }
        let y = try graph.evaluateFirst(xs)
        guard y.count == property.numOutputs, y.allSatisfy({ $0.isFinite }) else { return nil }
        let order = [preferredCase] + property.cases.indices.filter { $0 != preferredCase }
        for ci in order where property.cases[ci].box.contains(xs) {
            for (li, clause) in property.cases[ci].clauses.enumerated()
            where clauseHoldsWithMargin(clause, y: y, settings: settings) {
                return Counterexample(x: xs, y: y, caseIndex: ci, clauseIndex: li)
            }
        }
        return nil
    }

    /// Confirms an arbitrary point (e.g. from a prover): tries every case whose box contains
    /// the point after snapping into that box.
    public static func confirm(graph: Graph, property: Property, candidate x: [Double],
                               settings: VerifierSettings) throws -> Counterexample? {
        guard x.count == property.numInputs, x.allSatisfy({ $0.isFinite }) else { return nil }
        for ci in property.cases.indices {
            let box = property.cases[ci].box
            // Accept points inside the box or within one float32 ulp of it.
            var near = true
            for i in 0..<x.count {
                let slackLo = Double(Float(box.lower[i]).ulp), slackHi = Double(Float(box.upper[i]).ulp)
                if x[i] < box.lower[i] - slackLo || x[i] > box.upper[i] + slackHi { near = false; break }
            }
            guard near else { continue }
            if let cx = try confirm(graph: graph, property: property, candidate: x, preferredCase: ci, settings: settings) {
                return cx
            }
        }
        return nil
    }
}
