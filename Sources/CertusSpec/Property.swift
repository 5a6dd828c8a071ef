/// One linear constraint `c · y <= d` on the network outputs `y`.
///
/// Atoms describe the **unsafe** region: a VNNLIB file asserts the negation of
/// the safety property. Verifiers bound `c · y - d` over an input box; an atom
/// whose lower bound is `> 0` can never hold there.
public struct LinearAtom: Equatable, Hashable, Sendable {
    /// Dense coefficients, one per output (`c.count == numOutputs`).
    public var c: [Double]
    /// Right-hand side.
    public var d: Double

    /// Creates the atom `c · y <= d`.
    public init(c: [Double], d: Double) {
        self.c = c
        self.d = d
    }

    /// `c · y - d`; the atom holds when this is `<= 0`.
    /// Returns `nil` when `y.count != c.count`.
    public func slack(_ y: [Double]) -> Double? {
        guard y.count == c.count else { return nil }
        var s = 0.0
        for i in 0..<c.count { s += c[i] * y[i] }
        return s - d
    }

    /// Whether `c · y <= d + tolerance`. False when `y` has the wrong length or the value is NaN.
    public func isSatisfied(by y: [Double], tolerance: Double = 0) -> Bool {
        guard let s = slack(y) else { return false }
        return s <= tolerance
    }
}

/// A conjunction of atoms. The unsafe region is the union (OR) of clauses;
/// a clause is violated-by-`y` when every atom holds.
///
/// An empty clause has no constraint at all: every output is unsafe.
public struct Clause: Equatable, Hashable, Sendable {
    /// The atoms, all of which must hold for the clause to hold.
    public var atoms: [LinearAtom]

    /// Creates a clause from its atoms.
    public init(atoms: [LinearAtom]) {
        self.atoms = atoms
    }

    /// Whether `y` satisfies every atom (with `c · y <= d + tolerance`).
    /// An empty clause is satisfied by every `y`.
    public func isSatisfied(by y: [Double], tolerance: Double = 0) -> Bool {
        for atom in atoms where !atom.isSatisfied(by: y, tolerance: tolerance) {
            return false
        }
        return true
    }
}

/// An axis-aligned box of inputs, `lower[i] <= x[i] <= upper[i]`, over the
/// row-major flattened network input.
public struct InputBox: Equatable, Hashable, Sendable {
    /// Lower bound per input coordinate.
    public var lower: [Double]
    /// Upper bound per input coordinate.
    public var upper: [Double]

    /// Creates a box from its bounds (same length expected).
    public init(lower: [Double], upper: [Double]) {
        self.lower = lower
        self.upper = upper
    }

    /// Number of input coordinates (`lower.count`).
    public var count: Int { lower.count }

    /// Whether `x` has the box's length and `lower[i] <= x[i] <= upper[i]` for all `i`
    /// (NaN coordinates are never contained).
    public func contains(_ x: [Double]) -> Bool {
        guard x.count == lower.count, x.count == upper.count else { return false }
        for i in 0..<x.count {
            if !(lower[i] <= x[i] && x[i] <= upper[i]) { return false }
        }
        return true
    }
}

/// One input box together with the clauses of the unsafe set inside it:
/// an input `x` in `box` is a counterexample when `f(x)` satisfies some clause.
public struct PropertyCase: Equatable, Hashable, Sendable {
    /// The input region.
    public var box: InputBox
    /// The disjunction of clauses describing the unsafe outputs for this box.
    /// No clauses means nothing is unsafe here.
    public var clauses: [Clause]

    /// Creates a case.
    public init(box: InputBox, clauses: [Clause]) {
        self.box = box
        self.clauses = clauses
    }
}

/// One atom with the indices of the case ("box") and clause it belongs to:
/// the row layout used by the reference bound files.
public struct PropertyRow: Equatable, Sendable {
    /// Index into `Property.cases` (the reference files call this `box`).
    public var caseIndex: Int
    /// Index into that case's `clauses` (the reference files call this `clause`).
    public var clauseIndex: Int
    /// The atom `c · y <= d`.
    public var atom: LinearAtom

    /// Creates a row.
    public init(caseIndex: Int, clauseIndex: Int, atom: LinearAtom) {
        self.caseIndex = caseIndex
        self.clauseIndex = clauseIndex
        self.atom = atom
    }
}

/// A verification property, compiled from a VNNLIB or JSON robustness spec.
///
/// The unsafe set is `⋃_cases { x ∈ case.box : ⋁_clauses ⋀_atoms c · f(x) <= d }`.
/// The property is *violated* (`sat`) when that set is non-empty and *holds*
/// (`unsat`) otherwise. A property with no cases can never be violated.
public struct Property: Equatable, Sendable {
    /// Length of the flattened network input (every box has this many coordinates).
    public var numInputs: Int
    /// Length of the flattened network output (every atom has this many coefficients).
    public var numOutputs: Int
    /// The input boxes with their unsafe clauses, in order of first appearance.
    public var cases: [PropertyCase]
    /// Where the property came from (file path or caller-given name), used in messages.
    public var source: String

    /// Creates a property.
    public init(numInputs: Int, numOutputs: Int, cases: [PropertyCase], source: String) {
        self.numInputs = numInputs
        self.numOutputs = numOutputs
        self.cases = cases
        self.source = source
    }

    /// Every atom flattened in order (case, then clause, then atom), with its indices.
    /// This is the row order of the reference bound files.
    public var rows: [PropertyRow] {
        var out: [PropertyRow] = []
        for (ci, pc) in cases.enumerated() {
            for (li, clause) in pc.clauses.enumerated() {
                for atom in clause.atoms {
                    out.append(PropertyRow(caseIndex: ci, clauseIndex: li, atom: atom))
                }
            }
        }
        return out
    }

    /// Checks that the property fits a model with the given input and output
    /// lengths (flattened element counts), and that its own arrays are consistent.
    /// - Throws: `SpecError` (kind `.mismatch`) naming the source file and both counts.
    public func validate(modelInputs: Int, modelOutputs: Int) throws {
        if numInputs != modelInputs {
            throw SpecError(kind: .mismatch, file: source, message:
                "the spec has \(numInputs) input(s) (X_0..X_\(numInputs - 1)) but the model has \(modelInputs) input element(s)")
        }
        if numOutputs != modelOutputs {
            throw SpecError(kind: .mismatch, file: source, message:
                "the spec has \(numOutputs) output(s) (Y_0..Y_\(numOutputs - 1)) but the model has \(modelOutputs) output element(s)")
        }
        for (ci, pc) in cases.enumerated() {
            if pc.box.lower.count != numInputs || pc.box.upper.count != numInputs {
                throw SpecError(kind: .mismatch, file: source, message:
                    "input box \(ci) has \(pc.box.lower.count)/\(pc.box.upper.count) lower/upper bounds, expected \(numInputs)")
            }
            for (li, clause) in pc.clauses.enumerated() {
                for atom in clause.atoms where atom.c.count != numOutputs {
                    throw SpecError(kind: .mismatch, file: source, message:
                        "clause \(li) of box \(ci) has an atom with \(atom.c.count) coefficients, expected \(numOutputs)")
                }
            }
        }
    }

    /// The first `(caseIndex, clauseIndex)` such that `x` lies in that case's box
    /// and `y` satisfies every atom of that clause (within `tolerance`), or `nil`.
    ///
    /// Use it to check a candidate counterexample `x` with `y = f(x)`.
    public func violatingClause(x: [Double], y: [Double], tolerance: Double = 0) -> (caseIndex: Int, clauseIndex: Int)? {
        for (ci, pc) in cases.enumerated() where pc.box.contains(x) {
            for (li, clause) in pc.clauses.enumerated() where clause.isSatisfied(by: y, tolerance: tolerance) {
                return (ci, li)
            }
        }
        return nil
    }
}
