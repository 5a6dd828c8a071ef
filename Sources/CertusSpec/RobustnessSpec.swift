import Foundation

/// A local-robustness specification in JSON:
/// `{"center": [...], "epsilon": e, "label": k}` with optional `"clip": [lo, hi]`.
///
/// The input box is `center[i] ∓ epsilon` in float64, intersected with `[lo, hi]`
/// when `clip` is present (no clipping otherwise). `center` is the row-major
/// flattened input. The unsafe set is "some other class scores at least as high
/// as the label": one clause per output `j != label`, in increasing `j`, each a
/// single atom `y_k - y_j <= 0` (`c = e_k - e_j`, `d = 0`), i.e. the margin rows
/// `y_k - y_j` of the reference files.
public struct RobustnessSpec: Equatable, Sendable {
    /// Center of the L∞ ball (flattened input).
    public var center: [Double]
    /// Radius of the ball (`>= 0`).
    public var epsilon: Double
    /// The class that must stay the (strict) argmax.
    public var label: Int
    /// Optional range the box is clipped to, e.g. `0...1` for pixel inputs.
    public var clip: ClosedRange<Double>?
    /// Where the spec came from, used in messages.
    public var source: String

    /// Creates a spec directly. Values are checked by ``property(numOutputs:)``.
    public init(center: [Double], epsilon: Double, label: Int, clip: ClosedRange<Double>? = nil, source: String) {
        self.center = center
        self.epsilon = epsilon
        self.label = label
        self.clip = clip
        self.source = source
    }

    /// Reads and decodes a JSON spec file. Errors name `path`.
    public static func load(path: String) throws -> RobustnessSpec {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SpecError(kind: .io, file: path, message: "cannot read file: \(error.localizedDescription)")
        }
        return try decode(data: data, source: path)
    }

    /// Decodes a JSON spec. `source` names it in error messages.
    /// - Throws: `SpecError` (kind `.json`) for invalid JSON, a missing key, a value of the
    ///   wrong type, an empty or non-finite `center`, a negative or non-finite `epsilon`,
    ///   a negative `label`, or a `clip` that is not `[lo, hi]` with `lo <= hi`.
    public static func decode(data: Data, source: String) throws -> RobustnessSpec {
        let raw: Raw
        do {
            raw = try JSONDecoder().decode(Raw.self, from: data)
        } catch let e as DecodingError {
            throw SpecError(kind: .json, file: source, message: describe(e))
        } catch {
            throw SpecError(kind: .json, file: source, message: "invalid JSON: \(error)")
        }
        func fail(_ m: String) -> SpecError { SpecError(kind: .json, file: source, message: m) }
        if raw.center.isEmpty { throw fail("'center' is empty: expected at least one input value") }
        if let bad = raw.center.firstIndex(where: { !$0.isFinite }) {
            throw fail("'center'[\(bad)] is not a finite number")
        }
        guard raw.epsilon.isFinite, raw.epsilon >= 0 else {
            throw fail("'epsilon' must be a finite number >= 0, got \(raw.epsilon)")
        }
        // Decoded as a number and checked here: JSONDecoder reports a non-integral Int as "not valid JSON".
        guard raw.label.isFinite, raw.label.rounded() == raw.label, abs(raw.label) < 1e15 else {
            throw fail("'label' must be an integer, got \(raw.label)")
        }
        guard raw.label >= 0 else { throw fail("'label' must be >= 0, got \(Int(raw.label))") }
        var clip: ClosedRange<Double>?
        if let c = raw.clip {
            guard c.count == 2 else { throw fail("'clip' must be [lo, hi] (2 numbers), got \(c.count) value(s)") }
            guard c[0].isFinite, c[1].isFinite, c[0] <= c[1] else {
                throw fail("'clip' must be [lo, hi] with finite lo <= hi, got [\(c[0]), \(c[1])]")
            }
            clip = c[0]...c[1]
        }
        return RobustnessSpec(center: raw.center, epsilon: raw.epsilon, label: Int(raw.label), clip: clip, source: source)
    }

    /// The input box: `center ∓ epsilon`, clipped to `clip` when present.
    /// - Throws: `SpecError` (`.invalidSpec`) when clipping leaves a coordinate empty
    ///   (center farther than `epsilon` outside the clip range) or `epsilon` is invalid.
    public func box() throws -> InputBox {
        guard epsilon.isFinite, epsilon >= 0 else {
            throw SpecError(kind: .invalidSpec, file: source, message: "'epsilon' must be a finite number >= 0, got \(epsilon)")
        }
        var lower = [Double](repeating: 0, count: center.count)
        var upper = [Double](repeating: 0, count: center.count)
        for i in 0..<center.count {
            var lo = center[i] - epsilon
            var hi = center[i] + epsilon
            if let clip = clip {
                lo = Swift.max(lo, clip.lowerBound)
                hi = Swift.min(hi, clip.upperBound)
            }
            guard lo <= hi else {
                throw SpecError(kind: .invalidSpec, file: source, message:
                    "the clipped box is empty at input \(i): center \(center[i]) lies more than epsilon \(epsilon) outside the clip range")
            }
            lower[i] = lo
            upper[i] = hi
        }
        return InputBox(lower: lower, upper: upper)
    }

    /// Compiles the spec for a model with `numOutputs` outputs: one case, one clause
    /// `y_label - y_j <= 0` per `j != label` in increasing `j`.
    /// - Throws: `SpecError` (`.invalidSpec`) when `label` is not a valid output index,
    ///   when there are fewer than 2 outputs, or when the box is empty.
    public func property(numOutputs: Int) throws -> Property {
        guard numOutputs >= 2 else {
            throw SpecError(kind: .invalidSpec, file: source, message:
                "a robustness spec needs a model with at least 2 outputs, got \(numOutputs)")
        }
        guard label >= 0, label < numOutputs else {
            throw SpecError(kind: .invalidSpec, file: source, message:
                "label \(label) is out of range: the model has \(numOutputs) outputs (valid labels 0..\(numOutputs - 1))")
        }
        if center.isEmpty {
            throw SpecError(kind: .invalidSpec, file: source, message: "'center' is empty: expected at least one input value")
        }
        var clauses: [Clause] = []
        clauses.reserveCapacity(numOutputs - 1)
        for j in 0..<numOutputs where j != label {
            var c = [Double](repeating: 0, count: numOutputs)
            c[label] = 1
            c[j] = -1
            clauses.append(Clause(atoms: [LinearAtom(c: c, d: 0)]))
        }
        return Property(numInputs: center.count, numOutputs: numOutputs,
                        cases: [PropertyCase(box: try box(), clauses: clauses)], source: source)
    }

    private struct Raw: Decodable {
        var center: [Double]
        var epsilon: Double
        var label: Double
        var clip: [Double]?
    }

    private static func path(_ codingPath: [CodingKey]) -> String {
        guard !codingPath.isEmpty else { return "the top level" }
        return "'" + codingPath.map { k in k.intValue.map { "[\($0)]" } ?? k.stringValue }
            .joined(separator: "").replacingOccurrences(of: "'", with: "") + "'"
    }

    private static func describe(_ e: DecodingError) -> String {
        switch e {
        case let .keyNotFound(key, ctx):
            let at = ctx.codingPath.isEmpty ? "" : " in \(path(ctx.codingPath))"
            return "missing key '\(key.stringValue)'\(at): expected {\"center\": [...], \"epsilon\": e, \"label\": k}"
        case let .typeMismatch(type, ctx):
            if ctx.codingPath.isEmpty {
                return "wrong type at the top level: expected a JSON object {\"center\": [...], \"epsilon\": e, \"label\": k}"
            }
            return "wrong type for \(path(ctx.codingPath)): expected \(typeName(type, ctx.codingPath))"
        case let .valueNotFound(type, ctx):
            return "\(path(ctx.codingPath)) is null: expected \(typeName(type, ctx.codingPath))"
        case let .dataCorrupted(ctx):
            if ctx.codingPath.isEmpty {
                var detail = ctx.debugDescription
                if let u = ctx.underlyingError { detail += " (\(u))" }
                return "invalid JSON: \(detail)"
            }
            return "invalid value for \(path(ctx.codingPath)): \(ctx.debugDescription)"
        @unknown default:
            return "invalid JSON spec: \(e)"
        }
    }

    private static func typeName(_ type: Any.Type, _ codingPath: [CodingKey]) -> String {
        let key = codingPath.first?.stringValue ?? ""
        switch key {
        case "center": return codingPath.count > 1 ? "a number" : "an array of numbers"
        case "clip": return codingPath.count > 1 ? "a number" : "an array [lo, hi] of numbers"
        case "epsilon": return "a number"
        case "label": return "an integer"
        default: return "\(type)"
        }
    }
}
