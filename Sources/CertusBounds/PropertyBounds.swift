import Foundation
import CertusTensor
import CertusGraph
import CertusSpec

/// Bounds of every row of a property, case by case, and whether they refute it.
public struct PropertyBoundReport: Sendable, Codable {
    /// One row of the property: the linear function c . y - d of the outputs (the atom c . y <= d of the unsafe set) and its certified bounds over one box.
    public struct Row: Sendable, Codable {
        /// The input box (case) the row belongs to, 0-based.
        public var box: Int
        /// The clause of that box's unsafe disjunction, 0-based.
        public var clause: Int
        /// Coefficients of the outputs (length: the flattened output size).
        public var c: [Double]
        /// The right-hand side d of the atom c . y <= d.
        public var d: Double
        /// Certified lower bound of c . y - d over the box (> 0 refutes this row of the clause).
        public var lower: Double
        /// Certified upper bound of c . y - d over the box.
        public var upper: Double
    }
    /// The bound method used: `ibp`, `crown` or `alpha-crown`.
    public var method: String
    /// Every row, in the order of `Property.rows` (case, clause, atom).
    public var rows: [Row]
    /// min over clauses of (max over the clause's rows of the lower bound); > 0 proves the property.
    public var propertyLower: Double
    /// Whether the bounds prove the property (`propertyLower > 0`).
    public var verified: Bool
    /// Wall-clock seconds of the bound computation (JSON `time_s`).
    public var timeS: Double
    /// The arithmetic the bounds hold for (`NumericSemantics`): the real-valued network, or its
    /// float32 evaluation on the box's float32 inputs (JSON `semantics`; `real` when absent).
    public var semantics: NumericSemantics = .real

    enum CodingKeys: String, CodingKey {
        case method, rows, propertyLower = "property_lower", verified, timeS = "time_s", semantics
    }

    /// A report from its parts.
    package init(method: String, rows: [Row], propertyLower: Double, verified: Bool, timeS: Double,
                 semantics: NumericSemantics = .real) {
        self.method = method; self.rows = rows; self.propertyLower = propertyLower
        self.verified = verified; self.timeS = timeS; self.semantics = semantics
    }

    /// Decodes a report; one written before `semantics` existed holds for the reals.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.decode(String.self, forKey: .method)
        rows = try c.decode([Row].self, forKey: .rows)
        propertyLower = try c.decode(Double.self, forKey: .propertyLower)
        verified = try c.decode(Bool.self, forKey: .verified)
        timeS = try c.decode(Double.self, forKey: .timeS)
        semantics = try c.decodeIfPresent(NumericSemantics.self, forKey: .semantics) ?? .real
    }

    /// A clause is refuted when one of its rows has a lower bound above this margin, which
    /// absorbs floating-point rounding in the bound computation (relative 1e-9).
    public static func refutes(lower: Double, upper: Double) -> Bool {
        lower.isFinite && lower > 1e-9 * max(1, abs(lower), abs(upper))
    }
}

extension BoundEngine {
    /// Bounds every row of `property` with `settings`, case by case.
    package func bound(property: Property, settings: BoundSettings = BoundSettings()) throws -> PropertyBoundReport {
        BLAS.beginSingleThread(); defer { BLAS.endSingleThread() }
        let start = Date()
        var rows: [PropertyBoundReport.Row] = []
        var propertyLower = Double.infinity
        var verified = true
        for (ci, pc) in property.cases.enumerated() {
            let atoms = pc.clauses.flatMap(\.atoms)
            let b = atoms.isEmpty ? [] : try bound(box: pc.box, atoms: atoms, settings: settings)
            var k = 0
            for (cl, clause) in pc.clauses.enumerated() {
                var clauseLower = -Double.infinity
                var refuted = false
                for atom in clause.atoms {
                    rows.append(.init(box: ci, clause: cl, c: atom.c, d: atom.d, lower: b[k].lower, upper: b[k].upper))
                    clauseLower = max(clauseLower, b[k].lower)
                    if PropertyBoundReport.refutes(lower: b[k].lower, upper: b[k].upper) { refuted = true }
                    k += 1
                }
                propertyLower = min(propertyLower, clauseLower)
                if !refuted { verified = false }
            }
        }
        return PropertyBoundReport(method: settings.method.rawValue, rows: rows, propertyLower: propertyLower,
                                   verified: verified, timeS: Date().timeIntervalSince(start), semantics: semantics)
    }
}
