import Foundation
import CertusBounds
import CertusLipschitz
import CertusVerify

/// A `certus check` manifest: a list of properties of models that a CI job expects to hold.
///
/// Written in YAML or JSON (chosen by the extension `.yaml`/`.yml`/`.json`, else by the first
/// character: `{` is JSON). Paths inside are relative to the manifest's folder.
///
/// ```yaml
/// name: bundled-models                 # optional: the JUnit classname when an entry has no tags
/// defaults: {timeout: 60}              # optional: timeout, method, tags for every entry
/// entries:
///   - name: acasxu 1_7 property 3 is violated
///     model: Models/acasxu_1_7.onnx
///     spec: Specs/acasxu_prop_3.vnnlib # a VNN-LIB file or a JSON robustness spec
///     expect: violated                 # holds | violated | lipschitz <= L | bound(k) >= v | bound(k) <= v
///   - name: tanh robust at a
///     model: Models/mlp_tanh.onnx
///     center: [1.3166, -0.4369, 1.2701, -0.0683]   # or a file holding a JSON array
///     epsilon: 0.0955
///     label: 0
///     expect: holds
/// ```
///
/// Unknown keys, values of the wrong kind, a missing field and an expectation that does not
/// parse are errors (`ManifestError`, with the file, line and field). Files named by entries
/// (models, specs, centre files) are read when the entry runs: a missing one is that entry's
/// `error`, not a manifest error.
public struct Manifest: Codable, Sendable, Equatable {
    /// Name of the suite (JUnit classname of entries without tags); default: the file's base name.
    public var name: String?
    /// Values every entry gets unless it sets its own.
    public var defaults: ManifestDefaults?
    /// The entries, in the order they are reported.
    public var entries: [ManifestEntry]
    /// The manifest file ("" for a manifest made in code); not part of the encoded form.
    public var path: String = ""
    /// The folder relative paths are resolved against (the manifest's folder; the current
    /// directory for a manifest made in code).
    public var directory: String = FileManager.default.currentDirectoryPath

    enum CodingKeys: String, CodingKey, CaseIterable { case name, defaults, entries }

    /// Makes a manifest in code. `directory` is where relative paths are resolved.
    public init(name: String? = nil, defaults: ManifestDefaults? = nil, entries: [ManifestEntry],
                directory: String = FileManager.default.currentDirectoryPath) {
        self.name = name; self.defaults = defaults; self.entries = entries; self.directory = directory
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        defaults = try c.decodeIfPresent(ManifestDefaults.self, forKey: .defaults)
        guard c.contains(.entries) else {
            throw FieldError(codingPath: c.codingPath, message: "missing key 'entries' (the list of properties to check)")
        }
        entries = try c.decode([ManifestEntry].self, forKey: .entries)
        if entries.isEmpty {
            throw FieldError(codingPath: [CodingKeys.entries], message: "the list of entries is empty")
        }
        // Names are the JUnit testcase names: unique, and given where missing.
        var seen: [String: Int] = [:]
        for k in entries.indices {
            if entries[k].name == nil { entries[k].name = entries[k].defaultName(index: k) }
            let n = entries[k].name!
            if let first = seen[n] {
                throw FieldError(codingPath: [CodingKeys.entries, AnyKey(index: k), ManifestEntry.CodingKeys.name],
                                 message: "duplicate entry name '\(n)' (also entries[\(first)]); names must be unique (they name the JUnit testcases)")
            }
            seen[n] = k
        }
        // Every entry's method (its own or the default) must suit its expectation.
        for (k, e) in entries.enumerated() {
            let m = e.method ?? defaults?.method
            guard let m else { continue }
            if let problem = e.expect.methodProblem(m) {
                let path: [CodingKey] = e.method != nil
                    ? [CodingKeys.entries, AnyKey(index: k), ManifestEntry.CodingKeys.method]
                    : [CodingKeys.defaults, ManifestDefaults.CodingKeys.method]
                throw FieldError(codingPath: path, message: problem + (e.method == nil ? " (the default, used by entries[\(k)] '\(e.name ?? "")')" : ""))
            }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(name, forKey: .name)
        try c.encodeIfPresent(defaults, forKey: .defaults)
        try c.encode(entries, forKey: .entries)
    }

    /// The suite name: `name`, else the manifest file's base name, else "certus-check".
    public var suiteName: String {
        if let name, !name.isEmpty { return name }
        let base = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return path.isEmpty || base.isEmpty ? "certus-check" : base
    }

    /// `p` resolved against `directory` (absolute paths and `~/` are kept as they are).
    public func resolve(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        if p.hasPrefix("~/") { return (p as NSString).expandingTildeInPath }
        return URL(fileURLWithPath: directory).appendingPathComponent(p).standardizedFileURL.path
    }

    // MARK: Loading

    /// The format a manifest is read as.
    public enum Format: String, Sendable { case yaml, json }

    /// By extension (`.json`; `.yaml`/`.yml`), else JSON when the first non-space character is
    /// `{`, else YAML.
    public static func format(path: String, text: String) -> Format {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "json": return .json
        case "yaml", "yml": return .yaml
        default:
            let first = text.unicodeScalars.first { !CharacterSet.whitespacesAndNewlines.contains($0) && $0 != "\u{FEFF}" }
            return first == "{" ? .json : .yaml
        }
    }

    /// Reads and checks the manifest at `path` (paths inside resolve against its folder).
    /// - Throws: `ManifestError` naming the file, the line and column, and the field.
    /// The manifest must be a regular file (a symbolic link to one is fine: relative paths then
    /// resolve against the link's folder): `certus check` runs each entry in a child process that
    /// reads the manifest again by its path, which a pipe (`<(...)`, `/dev/stdin`) cannot give.
    public static func load(path: String) throws -> Manifest {
        var st = stat()
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let perProcess = ["/dev/stdin", "/dev/fd/", "/proc/self/", "/proc/thread-self/"].contains { absolute.hasPrefix($0) }
        if stat(path, &st) == 0, perProcess || (st.st_mode & S_IFMT) != S_IFREG {
            let kind: String
            switch perProcess ? S_IFIFO : st.st_mode & S_IFMT {
            case S_IFDIR: kind = "a directory"
            case S_IFIFO: kind = perProcess ? "a file descriptor of this process (such as /dev/stdin or <(...))" : "a pipe (such as <(...) or /dev/stdin)"
            case S_IFCHR: kind = "a character device (such as /dev/stdin)"
            case S_IFSOCK: kind = "a socket"
            default: kind = "not a regular file"
            }
            throw ManifestError(file: path, message: "the manifest must be a regular file, but this is \(kind): "
                                + "each entry runs in a child process that reads the manifest again by its path; save it to a file first")
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ManifestError(file: path, message: "cannot read the manifest: \(error.localizedDescription)")
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw ManifestError(file: path, message: "the file is not UTF-8 text")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        var m = try parse(text: text, source: path, format: format(path: path, text: text))
        m.path = path
        m.directory = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
        return m
    }

    /// Parses manifest text. `source` names it in errors; relative paths resolve against the
    /// current directory (set `directory` to change that).
    /// - Throws: `ManifestError` with the line, column and field.
    public static func parse(text: String, source: String, format: Format) throws -> Manifest {
        let tree: TreeNode
        do {
            switch format {
            case .json: tree = try JSONTree.parse(text)
            case .yaml:
                guard let t = try YAMLTree.parse(text) else {
                    throw ManifestError(file: source, message: "the manifest is empty: expected 'entries:' with a list of properties")
                }
                tree = t
            }
        } catch let e as TreeSyntaxError {
            throw ManifestError(file: source, position: e.position, message: e.message)
        }
        do {
            var m = try Manifest(from: TreeDecoder(node: tree))
            m.path = source
            return m
        } catch {
            throw ManifestError.from(error, tree: tree, file: source)
        }
    }
}

/// Values for every entry that does not set its own.
public struct ManifestDefaults: Codable, Sendable, Equatable {
    /// Time limit per entry in seconds (default 60).
    public var timeout: Double?
    /// Method per entry (see `ManifestEntry.method`); must suit every entry that uses it.
    public var method: String?
    /// Tags added to every entry's own.
    public var tags: [String]?

    enum CodingKeys: String, CodingKey, CaseIterable { case timeout, method, tags }

    /// Makes defaults in code.
    public init(timeout: Double? = nil, method: String? = nil, tags: [String]? = nil) {
        self.timeout = timeout; self.method = method; self.tags = tags
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        timeout = try ManifestEntry.decodeTimeout(c, .timeout)
        method = try c.decodeIfPresent(String.self, forKey: .method)
        tags = try ManifestEntry.decodeTags(c, .tags)
    }
}

/// One property to check: a model, an input region (with an output property for
/// `holds`/`violated`), and what is expected of it.
public struct ManifestEntry: Codable, Sendable, Equatable {
    /// The testcase name (unique in the manifest; default "`model-file` `expect`").
    public var name: String?
    /// The model: `.onnx` or ONNX-JSON, relative to the manifest's folder.
    public var model: String
    /// The property or region.
    public var spec: SpecSource
    /// What must be true.
    public var expect: Expectation
    /// Time limit in seconds (default: `defaults.timeout`, else 60).
    public var timeout: Double?
    /// For `holds`/`violated` a `certus verify --method` value (auto, attack, crown, alpha-crown,
    /// input-split, bab, relu-split, milp; default auto); for `bound(...)` ibp, crown or
    /// alpha-crown (default crown); for `lipschitz` crown or alpha-crown (default alpha-crown).
    public var method: String?
    /// Labels for selecting entries (`--tags`) and the JUnit classname.
    public var tags: [String]?
    /// Where the entry starts in the manifest (nil for an entry made in code).
    public var position: SourcePosition?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, model, spec, center, epsilon, label, clip, box, expect, timeout, method, tags
    }

    /// Makes an entry in code.
    public init(name: String? = nil, model: String, spec: SpecSource, expect: Expectation,
                timeout: Double? = nil, method: String? = nil, tags: [String]? = nil) {
        self.name = name; self.model = model; self.spec = spec; self.expect = expect
        self.timeout = timeout; self.method = method; self.tags = tags
    }

    public init(from decoder: Decoder) throws {
        position = (decoder as? TreeDecoder)?.node.position
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        if let n = name, n.trimmingCharacters(in: .whitespaces).isEmpty {
            throw FieldError(codingPath: c.codingPath + [CodingKeys.name], message: "the name is empty")
        }
        model = try c.decode(String.self, forKey: .model)
        if model.isEmpty { throw FieldError(codingPath: c.codingPath + [CodingKeys.model], message: "the model path is empty") }
        expect = try c.decode(Expectation.self, forKey: .expect)
        timeout = try ManifestEntry.decodeTimeout(c, .timeout)
        method = try c.decodeIfPresent(String.self, forKey: .method)
        tags = try ManifestEntry.decodeTags(c, .tags)
        let inlineKeys: [CodingKeys] = [.center, .epsilon, .label, .clip, .box]
        let inline = inlineKeys.filter { c.contains($0) }
        if c.contains(.spec) {
            if let k = inline.first {
                throw FieldError(codingPath: c.codingPath + [k], message:
                    "'\(k.stringValue)' beside 'spec': give the property either as 'spec:' (a file, or a mapping) or as inline fields, not both")
            }
            spec = try c.decode(SpecSource.self, forKey: .spec)
        } else if !inline.isEmpty {
            spec = .inline(try InlineSpec(from: decoder, keyedBy: CodingKeys.self))
        } else {
            throw FieldError(codingPath: c.codingPath, message:
                "missing the property: 'spec: FILE' (VNN-LIB or JSON robustness spec), or inline 'center' + 'epsilon' (+ 'label'), or 'box: {lower, upper}'")
        }
        if case .inline(let s) = spec, s.label == nil, expect == .holds || expect == .violated {
            let at: [CodingKey] = c.contains(.spec) ? [CodingKeys.spec] : []
            throw FieldError(codingPath: c.codingPath + at, message:
                "'expect: \(expect)' needs an output property: add 'label: K' (the class that must stay the argmax) or use a spec file")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(name, forKey: .name)
        try c.encode(model, forKey: .model)
        try c.encode(spec, forKey: .spec)
        try c.encode(expect, forKey: .expect)
        try c.encodeIfPresent(timeout, forKey: .timeout)
        try c.encodeIfPresent(method, forKey: .method)
        try c.encodeIfPresent(tags, forKey: .tags)
    }

    func defaultName(index: Int) -> String {
        URL(fileURLWithPath: model).lastPathComponent + " " + expect.description
    }

    static func decodeTimeout<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> Double? {
        guard let t = try c.decodeIfPresent(Double.self, forKey: key) else { return nil }
        guard t.isFinite, t > 0 else {
            throw FieldError(codingPath: c.codingPath + [key], message: "the timeout must be a positive number of seconds, got \(t)")
        }
        return t
    }

    /// A list of tags, or one tag written as text.
    static func decodeTags<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> [String]? {
        guard c.contains(key), try !c.decodeNil(forKey: key) else { return nil }
        let tags: [String]
        if let one = try? c.decode(String.self, forKey: key) { tags = [one] } else { tags = try c.decode([String].self, forKey: key) }
        for t in tags where t.isEmpty || t.contains(",") || t.contains(where: \.isWhitespace) {
            throw FieldError(codingPath: c.codingPath + [key], message: "tag '\(t)' must be one word without commas or spaces")
        }
        return tags
    }
}

/// Where an entry's property comes from.
public enum SpecSource: Codable, Sendable, Equatable {
    /// A VNN-LIB file or a JSON robustness spec `{center, epsilon, label[, clip]}` (relative to
    /// the manifest's folder). For `lipschitz` only its input region is used.
    case file(String)
    /// A region written in the manifest.
    case inline(InlineSpec)

    public init(from decoder: Decoder) throws {
        if let d = decoder as? TreeDecoder, case .mapping = d.node {
            self = .inline(try InlineSpec(from: decoder, keyedBy: InlineSpec.CodingKeys.self))
            return
        }
        if let d = decoder as? TreeDecoder, case .scalar = d.node {
            let s = try d.decodeString()
            if s.isEmpty { throw FieldError(codingPath: d.codingPath, message: "the spec path is empty") }
            self = .file(s); return
        }
        if let d = decoder as? TreeDecoder {
            throw FieldError(codingPath: d.codingPath, message: "expected a spec file path or a mapping {center, epsilon, label} / {box: {lower, upper}}, got \(d.node.kindDescription)")
        }
        // Other decoders (the JSON report read back): a string or an object.
        if let s = try? decoder.singleValueContainer().decode(String.self) { self = .file(s) } else {
            self = .inline(try InlineSpec(from: decoder, keyedBy: InlineSpec.CodingKeys.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .file(let f): var c = encoder.singleValueContainer(); try c.encode(f)
        case .inline(let s): try s.encode(to: encoder)
        }
    }

    /// A short description for reports: the file as written, or the inline region.
    public var summary: String {
        switch self {
        case .file(let f): return f
        case .inline(let s): return s.summary
        }
    }
}

/// An input region written in the manifest: an L-inf ball `center ± epsilon` (clipped to `clip`)
/// or a `box`, with an optional `label` (the robustness property "`label` stays the strict
/// argmax", as in a JSON robustness spec).
public struct InlineSpec: Codable, Sendable, Equatable {
    /// The ball's centre: the values (flattened row-major input) or a file holding a JSON array.
    public var center: CenterSource?
    /// The ball's L-inf radius (>= 0).
    public var epsilon: Double?
    /// The class that must stay the strict argmax (for `holds` / `violated`; rows of `bound`).
    public var label: Int?
    /// `[lo, hi]` the ball is clipped to.
    public var clip: [Double]?
    /// A box instead of a ball.
    public var box: BoxSpec?

    enum CodingKeys: String, CodingKey, CaseIterable { case center, epsilon, label, clip, box }

    /// Makes a region in code (checked when it runs).
    public init(center: CenterSource? = nil, epsilon: Double? = nil, label: Int? = nil, clip: [Double]? = nil, box: BoxSpec? = nil) {
        self.center = center; self.epsilon = epsilon; self.label = label; self.clip = clip; self.box = box
    }

    public init(from decoder: Decoder) throws {
        try self.init(from: decoder, keyedBy: CodingKeys.self)
    }

    /// Reads the region's fields from a mapping whose keys are `K` (the spec mapping, or the
    /// entry itself for fields written inline).
    init<K: CodingKey>(from decoder: Decoder, keyedBy: K.Type) throws {
        let c = try decoder.container(keyedBy: K.self)
        func key(_ k: CodingKeys) -> K { K(stringValue: k.stringValue)! }
        func at(_ k: CodingKeys) -> [CodingKey] { c.codingPath + [key(k)] }
        center = try c.decodeIfPresent(CenterSource.self, forKey: key(.center))
        epsilon = try c.decodeIfPresent(Double.self, forKey: key(.epsilon))
        label = try c.decodeIfPresent(Int.self, forKey: key(.label))
        clip = try c.decodeIfPresent([Double].self, forKey: key(.clip))
        box = try c.decodeIfPresent(BoxSpec.self, forKey: key(.box))
        if box != nil {
            for k in [CodingKeys.center, .epsilon, .clip] where c.contains(key(k)) {
                throw FieldError(codingPath: at(k), message: "'\(k.stringValue)' beside 'box': give either a box or center + epsilon")
            }
        } else {
            guard center != nil else {
                throw FieldError(codingPath: c.codingPath, message: c.contains(key(.epsilon))
                    ? "missing key 'center' (the ball's centre: a list of numbers or a file)"
                    : "missing the region: 'center' + 'epsilon', or 'box: {lower, upper}'")
            }
            guard let e = epsilon else { throw FieldError(codingPath: c.codingPath, message: "missing key 'epsilon' (the L-inf radius around 'center')") }
            guard e.isFinite, e >= 0 else { throw FieldError(codingPath: at(.epsilon), message: "'epsilon' must be a finite number >= 0, got \(e)") }
        }
        if let l = label, l < 0 { throw FieldError(codingPath: at(.label), message: "'label' must be >= 0, got \(l)") }
        if let cl = clip {
            guard cl.count == 2, cl[0].isFinite, cl[1].isFinite, cl[0] <= cl[1] else {
                throw FieldError(codingPath: at(.clip), message: "'clip' must be [lo, hi] with finite lo <= hi")
            }
        }
        if case .values(let v) = center {
            if v.isEmpty { throw FieldError(codingPath: at(.center), message: "'center' is empty") }
            if let k = v.firstIndex(where: { !$0.isFinite }) {
                throw FieldError(codingPath: at(.center) + [AnyKey(index: k)], message: "not a finite number")
            }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(center, forKey: .center)
        try c.encodeIfPresent(epsilon, forKey: .epsilon)
        try c.encodeIfPresent(label, forKey: .label)
        try c.encodeIfPresent(clip, forKey: .clip)
        try c.encodeIfPresent(box, forKey: .box)
    }

    /// "center [n values] ± eps, label k" or "box [n inputs]", for reports.
    public var summary: String {
        var s: String
        if let box { s = "box of \(box.lower.count) inputs" } else {
            switch center {
            case .values(let v)?: s = "center of \(v.count) values"
            case .file(let f)?: s = "center from \(f)"
            case nil: s = "center"
            }
            s += " ± \(epsilon ?? 0)"
            if let clip, clip.count == 2 { s += " clipped to [\(clip[0]), \(clip[1])]" }
        }
        if let label { s += ", label \(label)" }
        return s
    }
}

/// A ball's centre: the values, or a file holding them as a JSON array (nested arrays are
/// flattened row-major), relative to the manifest's folder.
public enum CenterSource: Codable, Sendable, Equatable {
    /// The values (flattened row-major input).
    case values([Double])
    /// A JSON file holding them (relative to the manifest's folder).
    case file(String)

    public init(from decoder: Decoder) throws {
        if let d = decoder as? TreeDecoder, case .scalar = d.node {
            let s = try d.decodeString()
            if s.isEmpty { throw FieldError(codingPath: d.codingPath, message: "the centre file's path is empty") }
            self = .file(s); return
        }
        if let s = try? decoder.singleValueContainer().decode(String.self), !(decoder is TreeDecoder) { self = .file(s); return }
        self = .values(try [Double](from: decoder))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .values(let v): try c.encode(v)
        case .file(let f): try c.encode(f)
        }
    }
}

/// An input box: `lower[i] <= x[i] <= upper[i]` over the flattened input.
public struct BoxSpec: Codable, Sendable, Equatable {
    /// Lower end per input coordinate (finite).
    public var lower: [Double]
    /// Upper end per input coordinate (finite, >= `lower`).
    public var upper: [Double]

    enum CodingKeys: String, CodingKey, CaseIterable { case lower, upper }

    /// Makes a box in code (checked when decoded from a manifest).
    public init(lower: [Double], upper: [Double]) { self.lower = lower; self.upper = upper }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lower = try c.decode([Double].self, forKey: .lower)
        upper = try c.decode([Double].self, forKey: .upper)
        guard !lower.isEmpty else { throw FieldError(codingPath: c.codingPath + [CodingKeys.lower], message: "the box has no inputs") }
        guard lower.count == upper.count else {
            throw FieldError(codingPath: c.codingPath + [CodingKeys.upper], message: "'upper' has \(upper.count) values, 'lower' \(lower.count)")
        }
        for i in lower.indices {
            guard lower[i].isFinite, upper[i].isFinite else {
                throw FieldError(codingPath: c.codingPath + [CodingKeys.lower], message: "input \(i): the bounds must be finite numbers")
            }
            guard lower[i] <= upper[i] else {
                throw FieldError(codingPath: c.codingPath + [CodingKeys.upper], message: "input \(i): lower \(lower[i]) > upper \(upper[i])")
            }
        }
    }
}

/// What an entry expects.
///
/// Written as text: `holds`, `violated`, `lipschitz <= L` (or `lipschitz(NORM) <= L`, NORM one
/// of `inf`, `2`, `1`: the input norm, default inf), `bound(K) >= V` or `bound(K) <= V`.
public enum Expectation: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The property holds: the verifier proves it (`unsat`).
    case holds
    /// The property is violated: the verifier finds a checked counterexample (`sat`).
    case violated
    /// The local Lipschitz constant over the region (the largest over the outputs, in the dual
    /// norm of `norm`'s gradient) is at most `max`: certified by bound propagation on the Clarke
    /// Jacobian (Shi et al., NeurIPS 2022). Fails when a gradient above `max` is attained.
    case lipschitz(max: Double, norm: LipschitzNorm)
    /// The certified bound of row `row` (`c · y - d` of the property's atoms, numbered as
    /// `certus bounds` prints them; with an inline region without a label, row j is output y_j)
    /// is `>= value` (`atLeast`: its certified lower bound) or `<= value` (its certified upper bound).
    case bound(row: Int, relation: BoundRelation, value: Double)

    /// `>=` or `<=`.
    public enum BoundRelation: String, Codable, Sendable { case atLeast = ">=", atMost = "<=" }

    /// The text form (parses back to the same expectation).
    public var description: String {
        switch self {
        case .holds: return "holds"
        case .violated: return "violated"
        case let .lipschitz(max, norm): return (norm == .inf ? "lipschitz" : "lipschitz(\(norm.rawValue))") + " <= \(Expectation.format(max))"
        case let .bound(row, rel, v): return "bound(\(row)) \(rel.rawValue) \(Expectation.format(v))"
        }
    }

    /// A number as Certus prints it: Swift's shortest round-trip text, "inf", "-inf", "nan".
    public static func format(_ v: Double) -> String {
        v.isNaN ? "nan" : v.isInfinite ? (v > 0 ? "inf" : "-inf") : "\(v)"
    }

    /// Parses the text form.
    /// - Throws: `ExpectationSyntaxError` saying what is accepted.
    public static func parse(_ text: String) throws -> Expectation {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let forms = "expected one of: holds, violated, lipschitz <= L, lipschitz(2) <= L, bound(K) >= V, bound(K) <= V"
        if t == "holds" { return .holds }
        if t == "violated" { return .violated }
        func number(_ s: Substring) -> Double? {
            let v = Double(s.trimmingCharacters(in: .whitespaces))
            return v.flatMap { $0.isFinite ? $0 : nil }
        }
        if t.hasPrefix("lipschitz") {
            var rest = t.dropFirst("lipschitz".count).drop { $0 == " " }
            var norm = LipschitzNorm.inf
            if rest.hasPrefix("(") {
                guard let close = rest.firstIndex(of: ")") else { throw ExpectationSyntaxError("'\(text)': missing ')' after the norm") }
                let n = rest[rest.index(after: rest.startIndex)..<close].trimmingCharacters(in: .whitespaces)
                switch n {
                case "inf", "linf", "l-inf", "l_inf", "infinity": norm = .inf
                case "2", "l2": norm = .l2
                case "1", "l1": norm = .l1
                default: throw ExpectationSyntaxError("'\(text)': unknown norm '\(n)' (inf, 2 or 1)")
                }
                rest = rest[rest.index(after: close)...].drop { $0 == " " }
            }
            guard rest.hasPrefix("<=") else {
                throw ExpectationSyntaxError("'\(text)': a Lipschitz expectation is 'lipschitz <= L' (an upper limit)")
            }
            guard let v = number(rest.dropFirst(2)), v >= 0 else {
                throw ExpectationSyntaxError("'\(text)': the limit must be a finite number >= 0")
            }
            return .lipschitz(max: v, norm: norm)
        }
        if t.hasPrefix("bound") {
            let rest = t.dropFirst("bound".count).drop { $0 == " " }
            guard rest.hasPrefix("("), let close = rest.firstIndex(of: ")") else {
                throw ExpectationSyntaxError("'\(text)': write the row in parentheses: bound(0) >= 0.5")
            }
            let rowText = rest[rest.index(after: rest.startIndex)..<close].trimmingCharacters(in: .whitespaces)
            guard let row = Int(rowText), row >= 0 else {
                throw ExpectationSyntaxError("'\(text)': the row must be a whole number >= 0, got '\(rowText)'")
            }
            let cmp = rest[rest.index(after: close)...].drop { $0 == " " }
            let rel: BoundRelation
            if cmp.hasPrefix(">=") { rel = .atLeast } else if cmp.hasPrefix("<=") { rel = .atMost } else {
                throw ExpectationSyntaxError("'\(text)': expected '>=' or '<=' after bound(\(row))")
            }
            guard let v = number(cmp.dropFirst(2)) else { throw ExpectationSyntaxError("'\(text)': the value must be a finite number") }
            return .bound(row: row, relation: rel, value: v)
        }
        throw ExpectationSyntaxError("unknown expectation '\(text)'; \(forms)")
    }

    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        do { self = try Expectation.parse(s) } catch let e as ExpectationSyntaxError {
            throw FieldError(codingPath: decoder.codingPath, message: e.message)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// Which kind of computation checks it (and so which methods are valid).
    public var kind: Kind {
        switch self {
        case .holds, .violated: return .verify
        case .lipschitz: return .lipschitz
        case .bound: return .bound
        }
    }

    /// The computation behind an expectation.
    public enum Kind: String, Sendable, Codable { case verify, bound, lipschitz }

    /// The methods valid for this expectation (the first is the default).
    public var methods: [String] {
        switch kind {
        case .verify: return VerificationMethod.allCases.map(\.rawValue)
        case .bound: return ["crown", "ibp", "alpha-crown"]
        case .lipschitz: return ["alpha-crown", "crown"]
        }
    }

    /// Why `method` does not suit this expectation, or nil.
    func methodProblem(_ method: String) -> String? {
        methods.contains(method) ? nil
            : "method '\(method)' does not apply to 'expect: \(self)'; expected one of: " + methods.joined(separator: ", ")
    }
}

/// An expectation's text that does not parse.
public struct ExpectationSyntaxError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, with the text and what is accepted.
    public var message: String
    /// Creates an error with its message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// A manifest that cannot be used, with the file, the place (line and column, 1-based) and the
/// field (`entries[2].epsilon`, with the entry's name when it has one):
/// `checks.yaml:14:14: entries[2] ('tanh robust').epsilon: expected a number, got a list`.
public struct ManifestError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The manifest file.
    public var file: String
    /// Where the problem is, when it has a place.
    public var position: SourcePosition?
    /// The field's path (`entries[2].spec.epsilon`), when the problem is in a field.
    public var field: String?
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(file: String, position: SourcePosition? = nil, field: String? = nil, message: String) {
        self.file = file; self.position = position; self.field = field; self.message = message
    }

    /// `file:line:column: field: message`.
    public var description: String {
        var s = file
        if let position { s += ":\(position.line):\(position.column)" }
        s += ": "
        if let field, !field.isEmpty { s += field + ": " }
        return s + message
    }

    /// The error for a decoding failure, located in `tree`.
    static func from(_ error: Error, tree: TreeNode, file: String) -> ManifestError {
        let path: [CodingKey]
        let message: String
        var atKey = false
        switch error {
        case let e as FieldError:
            path = e.codingPath; message = e.message; atKey = e.atKey
        case let e as DecodingError:
            switch e {
            case let .keyNotFound(k, ctx): path = ctx.codingPath; message = "missing key '\(k.stringValue)'"
            case let .typeMismatch(t, ctx): path = ctx.codingPath; message = "wrong type: expected \(t)"
            case let .valueNotFound(t, ctx): path = ctx.codingPath; message = "missing value: expected \(t)"
            case let .dataCorrupted(ctx): path = ctx.codingPath; message = ctx.debugDescription
            @unknown default: path = []; message = "\(e)"
            }
        default:
            return ManifestError(file: file, message: "\(error)")
        }
        // The deepest node on the path, and its position (a key's own position for unknown keys).
        var node = tree, position = tree.position, parent: TreeNode? = nil
        for k in path {
            guard let next = node.child(k) else { break }
            parent = node; node = next; position = next.position
        }
        if atKey, let last = path.last, let parent, let kp = parent.keyPosition(last.stringValue) { position = kp }
        return ManifestError(file: file, position: position, field: fieldName(path, tree: tree), message: message)
    }

    /// `entries[2] ('name').spec.epsilon` from a coding path.
    static func fieldName(_ path: [CodingKey], tree: TreeNode) -> String {
        var s = ""
        var node: TreeNode? = tree
        for (i, k) in path.enumerated() {
            if let idx = k.intValue {
                s += "[\(idx)]"
                node = node?.child(k)
                if i == 1, path.first?.stringValue == "entries", case .mapping(let pairs, _)? = node,
                   case .scalar(let n, _, _)? = pairs.first(where: { $0.key == "name" })?.value {
                    s += " ('\(n)')"
                }
            } else {
                s += (s.isEmpty ? "" : ".") + k.stringValue
                node = node?.child(k)
            }
        }
        return s
    }
}
