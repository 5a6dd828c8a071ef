import Foundation
import CertusLipschitz

/// What `Certus.lipschitz` found: the certified result and, when asked for
/// (`LipschitzOptions.exact`), the exact constant beside it. Its JSON form is the JSON that
/// `certus lipschitz --json` prints: the fields of `LipschitzResult` (`norm`, `perOutput`,
/// `lower`, `upper`, `naive`, `complete`, ...) and an `exact` field when present. The fields of
/// `result` can be read directly on the report (`report.upper`).
@dynamicMemberLookup
public struct LipschitzReport: Sendable, Codable, Equatable {
    /// The certified upper bounds, attained lower bounds and naive bounds per output.
    public var result: LipschitzResult
    /// The exact constants (GLPK MILP; a cross-check, not a certified bound), when asked for.
    public var exact: ExactLipschitzResult?

    /// A report from its parts.
    public init(result: LipschitzResult, exact: ExactLipschitzResult? = nil) {
        self.result = result; self.exact = exact
    }

    /// A field of `result`, e.g. `report.upper` (certified, over the outputs) or `report.lower`.
    public subscript<T>(dynamicMember path: KeyPath<LipschitzResult, T>) -> T { result[keyPath: path] }

    enum Key: String, CodingKey { case exact }

    /// Encodes `result`'s fields and `exact` beside them (the CLI's JSON).
    public func encode(to encoder: Encoder) throws {
        try result.encode(to: encoder)
        if let exact {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(exact, forKey: .exact)
        }
    }

    /// Decodes the JSON `encode(to:)` writes.
    public init(from decoder: Decoder) throws {
        result = try LipschitzResult(from: decoder)
        exact = try decoder.container(keyedBy: Key.self).decodeIfPresent(ExactLipschitzResult.self, forKey: .exact)
    }
}
