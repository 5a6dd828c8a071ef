import CertusGraph
import CertusSpec

/// A checked counterexample: an input inside one of the property's boxes whose output satisfies
/// every atom of one of that box's clauses (the README, "`verify` and `run`", gives the exact rules).
public struct Counterexample: Equatable, Sendable, Codable {
    /// The input (row-major flattened), inside the box of case `caseIndex`. Every value is
    /// exactly a float32 except at `nonFloat32Coordinates`.
    public var x: [Double]
    /// The model's first output at `x`, evaluated in Double (under `--semantics float32`: in
    /// float32, `Graph.evaluateFirstFloat32`, the evaluation that violates the property).
    public var y: [Double]
    /// Index of the property case (input box) containing `x`.
    public var caseIndex: Int
    /// Index of the clause (in that case) that `y` satisfies.
    public var clauseIndex: Int
    /// Coordinates of `x` (ascending) whose interval in the box holds no float32 value (a
    /// coordinate pinned at 0.7, an interval narrower than one float32 step). There `x` holds the
    /// box's own Double value; a float32 runtime cannot take that input exactly (see `float32X`).
    /// Empty for an ordinary counterexample.
    public var nonFloat32Coordinates: [Int]
    /// The float32 replay input when `nonFloat32Coordinates` is not empty: `x` rounded to the
    /// nearest float32 per coordinate (within `VerifierSettings.witnessTolerance` of the box).
    /// Nil when every coordinate is a float32 (the replay input is `x` itself) or when a
    /// coordinate has no float32 that close (no replay was possible; the Double check alone decided).
    public var float32X: [Double]?
    /// The model's first output evaluated with float32 storage (`Graph.evaluateFirstFloat32`) at
    /// `float32X` (or at `x` when every coordinate is a float32), when the check needed it: a
    /// replay for `nonFloat32Coordinates`, or an atom accepted by the equality rule. Else nil.
    public var float32Y: [Double]?
    /// Atoms of the clause (indices into its `atoms`, ascending) that hold with zero slack rather
    /// than with the safety margin: `c·y - d <= 0` in the Double evaluation and, at an all-float32
    /// point, also in the float32 evaluation (`float32Y`), e.g. an output that is exactly 0 for the
    /// atom `Y_0 >= 0`; at a point with `nonFloat32Coordinates`, the float32 replay satisfies them
    /// within `VerifierSettings.witnessTolerance` (e.g. `Y_0 <= 0.3` for `y = x` with `X_0` pinned
    /// at 0.3). Empty when every atom clears the margin.
    public var equalityAtoms: [Int]

    enum CodingKeys: String, CodingKey {
        case x, y, caseIndex = "case_index", clauseIndex = "clause_index"
        case nonFloat32Coordinates = "non_float32_coordinates", float32X = "float32_x", float32Y = "float32_y"
        case equalityAtoms = "equality_atoms"
    }

    /// Creates a counterexample; every field is as documented on its property.
    public init(x: [Double], y: [Double], caseIndex: Int, clauseIndex: Int, nonFloat32Coordinates: [Int] = [],
                float32X: [Double]? = nil, float32Y: [Double]? = nil, equalityAtoms: [Int] = []) {
        self.x = x; self.y = y; self.caseIndex = caseIndex; self.clauseIndex = clauseIndex
        self.nonFloat32Coordinates = nonFloat32Coordinates
        self.float32X = float32X; self.float32Y = float32Y; self.equalityAtoms = equalityAtoms
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        x = try c.decode([Double].self, forKey: .x)
        y = try c.decode([Double].self, forKey: .y)
        caseIndex = try c.decode(Int.self, forKey: .caseIndex)
        clauseIndex = try c.decode(Int.self, forKey: .clauseIndex)
        nonFloat32Coordinates = try c.decodeIfPresent([Int].self, forKey: .nonFloat32Coordinates) ?? []
        float32X = try c.decodeIfPresent([Double].self, forKey: .float32X)
        float32Y = try c.decodeIfPresent([Double].self, forKey: .float32Y)
        equalityAtoms = try c.decodeIfPresent([Int].self, forKey: .equalityAtoms) ?? []
    }

    /// The VNN-COMP counterexample text `((X_0 v) ... (Y_0 v) ...)` followed by a newline.
    /// Non-float32 coordinates are written as their Double values (shortest round-trip text).
    public var witness: String { vnncompWitness(x: x, y: y) }

    /// Notes on how this counterexample differs from a plain float32 one, one line each (empty
    /// for an ordinary counterexample): which coordinates are not float32 and how they were
    /// replayed, and which atoms hold with zero slack.
    public var notes: [String] {
        var out: [String] = []
        if !nonFloat32Coordinates.isEmpty {
            let names = nonFloat32Coordinates.map { "X_\($0)" }.joined(separator: ", ")
            if let fx = float32X {
                let vals = nonFloat32Coordinates.map { "X_\($0) = \(fx[$0])" }.joined(separator: ", ")
                out.append("not float32: \(names) (no float32 lies in the box there; the box's own value is used, "
                           + "and the float32 replay at \(vals) also satisfies the clause within the tolerance)")
            } else {
                out.append("not float32: \(names) (no float32 lies in the box there, nor within the tolerance of it; "
                           + "checked in Double only)")
            }
        }
        if !equalityAtoms.isEmpty {
            let how = nonFloat32Coordinates.isEmpty
                ? "c·y - d <= 0 in both the Double and the float32 evaluation"
                : "c·y - d <= 0 in Double at the box's own values; the float32 replay satisfies them within the tolerance"
            out.append("zero slack: atom(s) \(equalityAtoms.map(String.init).joined(separator: ", ")) of clause "
                       + "\(clauseIndex) hold with equality (\(how))")
        }
        return out
    }
}

/// Why a candidate point failed the counterexample check (for the attack's report).
public enum CounterexampleRejection: String, Sendable, Equatable, CaseIterable {
    /// The point (or its box) is not usable: wrong length, non-finite values, or outside every box.
    case outsideBox = "outside the box or not finite"
    /// The model's output is not finite there.
    case nonFiniteOutput = "non-finite model output"
    /// No clause holds with the safety margin (or with equality in both evaluations; at a point
    /// with non-float32 coordinates, no clause has every Double slack `<= 0`).
    case margin = "no clause holds with the safety margin or with equality in both Double and float32"
    /// A clause holds in Double (slack `<= 0` at the box's own values) but the float32 replay of
    /// the non-float32 coordinates does not satisfy it within the tolerance.
    case replay = "the float32 replay of the non-float32 coordinates does not satisfy the clause within the tolerance"
}

/// The acceptance test every counterexample must pass before `sat`.
///
/// VNN-COMP replays counterexamples with onnxruntime in float32; its checker accepts an input
/// within 1e-4 of the box and atoms that hold within 1e-4. Certus is stricter:
///
/// 1. **The point.** Per coordinate, the nearest float32 that lies inside the box's interval;
///    when the interval holds no float32 (a coordinate pinned at a decimal such as 0.7, an
///    interval narrower than one float32 step), the candidate clamped into the interval: the box's
///    own Double value. Such coordinates are listed in `Counterexample.nonFloat32Coordinates`.
///    Every coordinate of the point is inside the box exactly.
/// 2. **The Double check.** The model is evaluated in Double at that point; every atom of one
///    clause must hold with the safety margin (`VerifierSettings.safetyMargin`), which covers the
///    drift between Double and a float32 replay — or, for a non-strict atom that holds exactly,
///    with zero slack (the equality rule below). Either way every atom has Double slack `<= 0` at
///    a point inside the box: a `sat` is always a real violation of the Double evaluation.
/// 3. **The float32 replay** (only when some coordinate is not float32). The point rounded to
///    the nearest float32 per coordinate, `float32X`, must lie within `witnessTolerance` of the box,
///    and the model evaluated with float32 storage there (`Graph.evaluateFirstFloat32`) must satisfy
///    every atom of the same clause within `witnessTolerance` (`c·y - d <= witnessTolerance`): what
///    the VNN-COMP checker tests. When a coordinate's float32 rounding lies farther than the
///    tolerance from the box (magnitudes above about 1,000 with a pinned non-float32 value) or
///    overflows, no replay is possible and step 2 alone decides (`float32X` is nil).
///
/// **Equality rule.** An atom `c·y <= d` whose Double slack is in `(-margin, 0]` is accepted when
/// * the point is all float32: its slack is also `<= 0` in the float32 evaluation at the point
///   itself. The atom holds exactly in both arithmetics, typically an output that is exactly 0
///   after a ReLU. Both evaluations use the same operators, so "exact" means: exact in the float64
///   reference evaluation and in float32 storage, the evaluations VNN-COMP accepts; a cancellation
///   that rounds to zero in both (`(x + 1e30) - 1e30`) would count as zero, as it does in every
///   runtime.
/// * the point has non-float32 coordinates and a float32 replay: the replay satisfies it within
///   `witnessTolerance` (step 3, as for every atom of such a point). The Double slack `<= 0` holds
///   at the box's own values, a real point of the box; the replay cannot hit that point and is
///   judged with the checker's tolerance anyway. Example: `y = x` with `X_0` pinned at 0.3 violates
///   `Y_0 <= 0.3` (slack 0 in Double), while the replay at float32(0.3) = 0.30000001192 misses by
///   1.2e-8, within the tolerance. An atom whose Double slack at the box's values is positive, however
///   small (`Y_0 >= 0.30000000596` there), is never accepted, even when the replay satisfies it.
/// * the point has non-float32 coordinates and no replay is possible: never (no float32 evaluation
///   exists to confirm the zero slack; only atoms that clear the margin are accepted there).
package enum CounterexampleCheck {
    /// The nearest float32 value to `v` that lies in `[lower, upper]`, as a Double; `nil` when
    /// no float32 lies in the interval (narrower than one float32 ulp between two floats) or a
    /// value is not finite. Values are rounded to nearest and, if that lands outside the interval,
    /// moved one ulp inward (repeated at most a few times).
    package static func snapToFloat32(_ v: Double, lower: Double, upper: Double) -> Double? {
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
    package static func snap(_ x: [Double], into box: InputBox) -> [Double]? {
        guard x.count == box.lower.count, x.count == box.upper.count else { return nil }
        var out = [Double](repeating: 0, count: x.count)
        for i in 0..<x.count {
            guard let s = snapToFloat32(x[i], lower: box.lower[i], upper: box.upper[i]) else { return nil }
            out[i] = s
        }
        return out
    }

    /// The coordinates of `box` (ascending) whose interval `[lower, upper]` holds no float32
    /// value (finite bounds with `lower <= upper` assumed; other coordinates are not listed).
    package static func nonFloat32Coordinates(of box: InputBox) -> [Int] {
        box.lower.indices.filter { i in
            let l = box.lower[i], u = box.upper[i]
            return l.isFinite && u.isFinite && l <= u && snapToFloat32(l, lower: l, upper: u) == nil
        }
    }

    /// The witness point for candidate `x` in `box` (step 1 of the check): per coordinate the
    /// nearest float32 inside the interval, or, when the interval holds none, `x` clamped into the
    /// interval (listed in `nonFloat32`). Nil when the lengths differ or a value or bound is not
    /// finite or a lower bound exceeds its upper bound. The result always lies in `box`.
    package static func witnessPoint(_ x: [Double], in box: InputBox) -> (x: [Double], nonFloat32: [Int])? {
        guard x.count == box.lower.count, x.count == box.upper.count else { return nil }
        var out = [Double](repeating: 0, count: x.count)
        var nonFloat32: [Int] = []
        for i in 0..<x.count {
            let l = box.lower[i], u = box.upper[i]
            guard x[i].isFinite, l.isFinite, u.isFinite, l <= u else { return nil }
            if let s = snapToFloat32(x[i], lower: l, upper: u) {
                out[i] = s
            } else {
                out[i] = min(max(x[i], l), u)
                nonFloat32.append(i)
            }
        }
        return (out, nonFloat32)
    }

    /// The float32 replay input for a witness point with non-float32 coordinates: every
    /// coordinate rounded to the nearest float32. Nil when a rounded value is infinite or lies
    /// farther than `tolerance` from the box's interval.
    package static func float32Replay(_ x: [Double], box: InputBox, tolerance: Double) -> [Double]? {
        var out = x
        for i in x.indices {
            let f = Float(x[i])
            guard f.isFinite else { return nil }
            let d = Double(f)
            let distance = max(0, box.lower[i] - d, d - box.upper[i])
            guard distance <= tolerance else { return nil }
            out[i] = d
        }
        return out
    }

    /// Whether every atom of `clause` holds at `y` with the safety margin.
    /// An empty clause holds for every (finite) `y`.
    package static func clauseHoldsWithMargin(_ clause: Clause, y: [Double], settings: VerifierSettings) -> Bool {
        for atom in clause.atoms {
            guard let s = atom.slack(y), s.isFinite else { return false }
            if s > -settings.safetyMargin(c: atom.c, d: atom.d, y: y) { return false }
        }
        return true
    }

    /// Whether every atom of `clause` has a finite Double slack `<= 0` at `y` (the clause holds in
    /// Double, with or without the margin).
    static func clauseHoldsInDouble(_ clause: Clause, y: [Double]) -> Bool {
        clause.atoms.allSatisfy { atom in atom.slack(y).map { $0.isFinite && $0 <= 0 } ?? false }
    }

    /// How `clause` holds at Double output `y` with float32 output `y32` (computed on demand by
    /// `float32Output`): nil when it does not; otherwise the atoms that needed the equality rule
    /// (Double slack in `(-margin, 0]`). Every atom must have a finite Double slack `<= 0`.
    /// * Without `replayTolerance` (an all-float32 point, or no replay possible): each atom must
    ///   clear the margin, or have float32 slack `<= 0` too (`float32Output` nil: not accepted).
    /// * With `replayTolerance` (non-float32 coordinates, `float32Output` the replay): each atom
    ///   must have float32 slack `<= replayTolerance`; the margin is not needed.
    static func clauseHolds(_ clause: Clause, y: [Double], settings: VerifierSettings, replayTolerance: Double?,
                            float32Output: () throws -> [Double]?) rethrows -> [Int]? {
        var equality: [Int] = []
        for (k, atom) in clause.atoms.enumerated() {
            guard let s = atom.slack(y), s.isFinite, s <= 0 else { return nil }
            let clearsMargin = s <= -settings.safetyMargin(c: atom.c, d: atom.d, y: y)
            if clearsMargin && replayTolerance == nil { continue }
            guard let y32 = try float32Output(), let s32 = atom.slack(y32), s32.isFinite else { return nil }
            if let tol = replayTolerance {
                guard s32 <= tol else { return nil }
            } else {
                guard s32 <= 0 else { return nil }
            }
            if !clearsMargin { equality.append(k) }
        }
        return equality
    }

    /// Confirms a candidate `x` found for case `preferredCase`: makes the witness point inside
    /// that case's box (`witnessPoint`), evaluates the model there, and returns a counterexample
    /// when some clause of a case whose box contains the point passes the check (the preferred
    /// case first). Returns `nil` otherwise, or when the output is not finite.
    /// - Throws: only errors from evaluating the model.
    package static func confirm(graph: Graph, property: Property, candidate x: [Double], preferredCase: Int,
                               settings: VerifierSettings) throws -> Counterexample? {
        var why: CounterexampleRejection? = nil
        return try confirm(graph: graph, property: property, candidate: x, preferredCase: preferredCase,
                           settings: settings, rejection: &why)
    }

    /// `confirm(graph:property:candidate:preferredCase:settings:)`, also telling why a candidate
    /// was rejected (set only when the result is nil).
    package static func confirm(graph: Graph, property: Property, candidate x: [Double], preferredCase: Int,
                               settings: VerifierSettings, rejection: inout CounterexampleRejection?) throws -> Counterexample? {
        guard preferredCase >= 0, preferredCase < property.cases.count,
              let (xs, nonFloat32) = witnessPoint(x, in: property.cases[preferredCase].box) else {
            rejection = .outsideBox
            return nil
        }
        if settings.semantics == .float32 {
            return try confirmFloat32(graph: graph, property: property, point: xs, nonFloat32: nonFloat32,
                                      preferredCase: preferredCase, rejection: &rejection)
        }
        let y = try graph.evaluateFirst(xs)
        guard y.count == property.numOutputs, y.allSatisfy({ $0.isFinite }) else {
            rejection = .nonFiniteOutput
            return nil
        }
        rejection = .margin
        let order = [preferredCase] + property.cases.indices.filter { $0 != preferredCase }
        // The replay input (only for non-float32 coordinates), and the float32 evaluation at the
        // replay input or the point itself, computed once when some atom needs it.
        var replayInput: [Double]? = nil
        var replayTolerance: Double? = nil
        if !nonFloat32.isEmpty {
            replayInput = float32Replay(xs, box: property.cases[preferredCase].box, tolerance: settings.witnessTolerance)
            if replayInput != nil { replayTolerance = settings.witnessTolerance }
        }
        var y32: [Double]?? = nil
        func float32Output() throws -> [Double]? {
            if let v = y32 { return v }
            let input = replayInput ?? xs
            // With non-float32 coordinates and no possible replay, there is no float32 evaluation.
            let v: [Double]? = (!nonFloat32.isEmpty && replayInput == nil) ? nil : try graph.evaluateFirstFloat32(input)
            y32 = .some(v)
            return v
        }
        // A point with non-float32 coordinates is judged in its own case only: the replay's
        // distance was measured to that box.
        for ci in order where property.cases[ci].box.contains(xs) && (nonFloat32.isEmpty || ci == preferredCase) {
            for (li, clause) in property.cases[ci].clauses.enumerated() {
                // With non-float32 coordinates and a replay: Double slack <= 0 and the replay within
                // the tolerance, per atom. Otherwise: the margin, or zero slack in both evaluations.
                if let equality = try clauseHolds(clause, y: y, settings: settings, replayTolerance: replayTolerance,
                                                  float32Output: float32Output) {
                    let used = replayInput != nil || !equality.isEmpty
                    return Counterexample(x: xs, y: y, caseIndex: ci, clauseIndex: li, nonFloat32Coordinates: nonFloat32,
                                          float32X: replayInput, float32Y: used ? (y32 ?? nil) : nil,
                                          equalityAtoms: equality)
                }
                if replayTolerance != nil && clauseHoldsInDouble(clause, y: y) { rejection = .replay }
            }
        }
        return nil
    }

    /// Confirms an arbitrary point (e.g. from a prover): tries every case whose box contains
    /// the point (or holds it within one float32 ulp of its bounds), making the witness point in
    /// that box.
    package static func confirm(graph: Graph, property: Property, candidate x: [Double],
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

    /// The check under `--semantics float32` (`VerifierSettings.semantics`): the witness point
    /// `xs` must be all float32 (no `nonFloat32` coordinates), and some clause of a case whose
    /// box contains it must hold in the float32 evaluation (`Graph.evaluateFirstFloat32`: float32
    /// storage, each operator correctly rounded) with every atom's float32 slack `c·y - d <= 0`:
    /// the property is violated by a float32 evaluation at a float32 input. No margin: the
    /// violation may exist only through rounding. The counterexample's `y` and `float32Y` are
    /// both the float32 evaluation (the Double one may satisfy the property).
    static func confirmFloat32(graph: Graph, property: Property, point xs: [Double], nonFloat32: [Int],
                               preferredCase: Int, rejection: inout CounterexampleRejection?) throws -> Counterexample? {
        guard nonFloat32.isEmpty else { rejection = .outsideBox; return nil }
        let y32 = try graph.evaluateFirstFloat32(xs)
        guard y32.count == property.numOutputs, y32.allSatisfy({ $0.isFinite }) else {
            rejection = .nonFiniteOutput
            return nil
        }
        rejection = .margin
        let order = [preferredCase] + property.cases.indices.filter { $0 != preferredCase }
        for ci in order where property.cases[ci].box.contains(xs) {
            for (li, clause) in property.cases[ci].clauses.enumerated()
            where clause.atoms.allSatisfy({ a in a.slack(y32).map { $0.isFinite && $0 <= 0 } ?? false }) {
                return Counterexample(x: xs, y: y32, caseIndex: ci, clauseIndex: li, float32X: nil, float32Y: y32)
            }
        }
        return nil
    }
}
