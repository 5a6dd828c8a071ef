import Foundation
import CertusTensor
import CertusGraph
import CertusSpec

/// Bounds of every row of a property, case by case, and whether they refute it.
public struct PropertyBoundReport: Sendable, Codable {
    public struct Row: Sendable, Codable {
        public var box: Int
        public var clause: Int
        public var c: [Double]
        public var d: Double
        public var lower: Double
        public var upper: Double
    }
    public var method: String
    public var rows: [Row]
    /// min over clauses of (max over the clause's rows of the lower bound); > 0 proves the property.
    public var propertyLower: Double
    public var verified: Bool
    public var timeS: Double

    enum CodingKeys: String, CodingKey {
        case method, rows, propertyLower = "property_lower", verified, timeS = "time_s"
    }

    /// A clause is refuted when one of its rows has a lower bound above this margin, which
    /// absorbs floating-point rounding in the bound computation (relative 1e-9).
    public static func refutes(lower: Double, upper: Double) -> Bool {
        lower.isFinite && lower > 1e-9 * max(1, abs(lower), abs(upper))
    }
}

extension BoundEngine {
    /// Bounds every row of `property` with `settings`, case by case.
    public func bound(property: Property, settings: BoundSettings = BoundSettings()) throws -> PropertyBoundReport {
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
                                   verified: verified, timeS: Date().timeIntervalSince(start))
    }
}
