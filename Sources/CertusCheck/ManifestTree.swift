import Foundation
import Yams

/// A 1-based line and column (in Unicode scalars) in a manifest file.
public struct SourcePosition: Codable, Sendable, Equatable, Hashable {
    /// 1-based line.
    public var line: Int
    /// 1-based column, counted in Unicode scalars.
    public var column: Int

    /// Creates a position (both 1-based).
    public init(line: Int, column: Int) { self.line = line; self.column = column }
}

/// The parsed text of a manifest, YAML or JSON alike: every value with where it starts, so that
/// the decoder can name the line of a bad field. Mapping keys keep their order and positions.
indirect enum TreeNode {
    /// What a scalar was written as. `quoted` strings are never numbers or booleans.
    enum ScalarKind { case string, quoted, number, bool, null }
    case scalar(String, ScalarKind, SourcePosition)
    case sequence([TreeNode], SourcePosition)
    case mapping([(key: String, keyPosition: SourcePosition, value: TreeNode)], SourcePosition)

    var position: SourcePosition {
        switch self {
        case .scalar(_, _, let p), .sequence(_, let p), .mapping(_, let p): return p
        }
    }

    /// "a list", "a mapping", "the number 3", ... for messages.
    var kindDescription: String {
        switch self {
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .scalar(let s, let k, _):
            switch k {
            case .null: return "nothing (null)"
            case .bool: return "the boolean \(s)"
            case .number: return "the number \(s)"
            case .string, .quoted: return "the text '\(s)'"
            }
        }
    }

    var isNull: Bool { if case .scalar(_, .null, _) = self { return true } else { return false } }

    /// The child at one step of a coding path (a key of a mapping or an index of a list).
    func child(_ key: CodingKey) -> TreeNode? {
        switch self {
        case .mapping(let pairs, _):
            return pairs.first { $0.key == key.stringValue }?.value
        case .sequence(let items, _):
            guard let i = key.intValue, i >= 0, i < items.count else { return nil }
            return items[i]
        case .scalar:
            return nil
        }
    }

    /// Where the key `key` of this mapping is written, if it is.
    func keyPosition(_ key: String) -> SourcePosition? {
        if case .mapping(let pairs, _) = self { return pairs.first { $0.key == key }?.keyPosition }
        return nil
    }
}

/// Reasons a manifest's text cannot be read, before any field is looked at.
struct TreeSyntaxError: Error {
    var position: SourcePosition?
    var message: String
}

// MARK: - YAML and JSON (Yams)

/// Reads manifest text with Yams (libyaml) into a `TreeNode` with positions. JSON is YAML 1.2
/// flow syntax, so JSON files go through the same parser, with JSON's rules checked on top
/// (`json: true`): strings and keys in double quotes, bare words only `true`, `false`, `null` and
/// numbers in JSON's grammar (so `"3"` stays text and `01` is refused), no block syntax.
enum YAMLTree {
    /// Parses the first YAML document of `text` (Yams, libyaml) into a tree with positions.
    /// - Throws: `TreeSyntaxError` with the line and column libyaml reports.
    static func parse(_ text: String) throws -> TreeNode? {
        try parse(text, json: false)
    }

    static func parse(_ text: String, json: Bool) throws -> TreeNode? {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw describe(e, language: json ? "JSON" : "YAML")
        }
        if json, let node { try refuseBlockSyntax(node, text) }
        return try node.map { try convert($0, json: json) }
    }

    /// YAML's block syntax ("key: value" lines, "- item" lists) is not JSON. Inside '{' or '['
    /// YAML allows only flow syntax, so the outermost value's first character tells. (Yams does
    /// not report the style of a composed mapping or list reliably: it reads it from the end event.)
    static func refuseBlockSyntax(_ node: Node, _ text: String) throws {
        let isMapping: Bool
        switch node {
        case .mapping: isMapping = true
        case .sequence: isMapping = false
        case .scalar: return
        }
        let p = position(node.mark)
        let lines = text.split(separator: "\n", maxSplits: p.line, omittingEmptySubsequences: false)
        let first = p.line - 1 < lines.count ? Array(lines[p.line - 1].unicodeScalars).dropFirst(p.column - 1).first : nil
        if first != "{" && first != "[" {
            throw TreeSyntaxError(position: p, message: "invalid JSON: " + (isMapping
                ? "a YAML mapping ('key: value' lines); JSON writes objects as {\"key\": value}"
                : "a YAML list ('- item' lines); JSON writes lists as [a, b]"))
        }
    }

    static func describe(_ e: YamlError, language: String = "YAML") -> TreeSyntaxError {
        func ctx(_ c: YamlError.Context?) -> String {
            guard let c else { return "" }
            return " (\(c.text) at line \(c.mark.line), column \(c.mark.column))"
        }
        switch e {
        case let .scanner(context, problem, mark, _),
             let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            return TreeSyntaxError(position: SourcePosition(line: mark.line, column: mark.column),
                                   message: "invalid \(language): \(problem)\(ctx(context))")
        case let .reader(problem, offset, _, yaml):
            var pos: SourcePosition? = nil
            if let offset, offset >= 0 {
                let prefix = yaml.prefix(offset)
                let line = prefix.reduce(1) { $0 + ($1 == "\n" ? 1 : 0) }
                let column = prefix.split(separator: "\n", omittingEmptySubsequences: false).last.map { $0.unicodeScalars.count + 1 } ?? 1
                pos = SourcePosition(line: line, column: column)
            }
            return TreeSyntaxError(position: pos, message: "unreadable \(language) text: \(problem)")
        default:
            return TreeSyntaxError(position: nil, message: "invalid \(language): \(e)")
        }
    }

    static func position(_ m: Mark?) -> SourcePosition {
        m.map { SourcePosition(line: $0.line, column: $0.column) } ?? SourcePosition(line: 1, column: 1)
    }

    /// JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    static func isJSONNumber(_ w: String) -> Bool {
        w.range(of: #"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"#, options: .regularExpression) != nil
    }

    static func convert(_ node: Node, json: Bool = false) throws -> TreeNode {
        switch node {
        case .scalar(let s):
            let p = position(s.mark)
            if json {
                switch s.style {
                case .doubleQuoted: return .scalar(s.string, .quoted, p)
                case .plain, .any:
                    switch s.string {
                    case "true", "false": return .scalar(s.string, .bool, p)
                    case "null": return .scalar(s.string, .null, p)
                    default:
                        if isJSONNumber(s.string) { return .scalar(s.string, .number, p) }
                        throw TreeSyntaxError(position: p, message: s.string.isEmpty ? "invalid JSON: expected a value"
                            : "invalid JSON: '\(s.string)' is not a JSON value (text needs double quotes; numbers are written as JSON writes them)")
                    }
                default:
                    throw TreeSyntaxError(position: p, message: "invalid JSON: text must be in double quotes")
                }
            }
            if s.style != .plain && s.style != .any { return .scalar(s.string, .quoted, p) }
            switch Tag.Name(rawValue: node.tag.description) {
            case Tag.Name.null: return .scalar(s.string, .null, p)
            case Tag.Name.bool: return .scalar(s.string, .bool, p)
            case Tag.Name.int, Tag.Name.float: return .scalar(s.string, .number, p)
            default: return .scalar(s.string, .string, p)
            }
        case .sequence(let seq):
            return .sequence(try seq.map { try convert($0, json: json) }, position(seq.mark))
        case .mapping(let map):
            var pairs: [(key: String, keyPosition: SourcePosition, value: TreeNode)] = []
            for (k, v) in map {
                guard case .scalar(let ks) = k else {
                    throw TreeSyntaxError(position: position(k.mark), message: "a key must be a plain name, not \(k.sequence != nil ? "a list" : "a mapping")")
                }
                if json && ks.style != .doubleQuoted {
                    throw TreeSyntaxError(position: position(ks.mark), message: "invalid JSON: the key '\(ks.string)' must be in double quotes")
                }
                if !json && ks.string == "<<" {
                    throw TreeSyntaxError(position: position(ks.mark), message: "YAML merge keys ('<<') are not supported in a manifest; write the fields out (or use 'defaults:')")
                }
                if let first = pairs.first(where: { $0.key == ks.string }) {
                    throw TreeSyntaxError(position: position(ks.mark), message:
                        "\(json ? "invalid JSON: " : "")duplicate key '\(ks.string)' (first written at line \(first.keyPosition.line))")
                }
                pairs.append((ks.string, position(ks.mark), try convert(v, json: json)))
            }
            return .mapping(pairs, position(map.mark))
        }
    }
}

/// JSON text (a manifest or a centre file), read by Yams as YAML 1.2 flow syntax with JSON's
/// rules checked (see `YAMLTree`), so that every value keeps its line and column.
enum JSONTree {
    /// Parses one JSON value (the whole text).
    /// - Throws: `TreeSyntaxError` with the line and column of the problem.
    static func parse(_ text: String) throws -> TreeNode {
        try refuseTrailingCommas(text)
        guard let t = try YAMLTree.parse(joiningSurrogatePairs(text), json: true) else {
            throw TreeSyntaxError(position: nil, message: "invalid JSON: the text is empty")
        }
        return t
    }

    /// YAML's flow syntax allows a comma before `]` or `}` (`[1, 2,]`) and `#` comments; JSON
    /// does not. Looks outside double-quoted strings for a comma whose next non-space character
    /// closes a list or an object, and for `#`.
    /// - Throws: `TreeSyntaxError` at the comma's (or the `#`'s) line and column.
    static func refuseTrailingCommas(_ text: String) throws {
        guard text.contains(",") || text.contains("#") else { return }
        var inString = false, escaped = false
        var line = 1, column = 0
        var comma: SourcePosition? = nil
        for c in text.unicodeScalars {
            if c == "\n" { line += 1; column = 0 } else { column += 1 }
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                continue
            }
            switch c {
            case "\"": inString = true; comma = nil
            case ",": comma = SourcePosition(line: line, column: column)
            case " ", "\t", "\n", "\r": break
            case "#":
                throw TreeSyntaxError(position: SourcePosition(line: line, column: column),
                                      message: "invalid JSON: '#' outside a string (JSON has no comments)")
            case "]", "}":
                if let comma {
                    throw TreeSyntaxError(position: comma, message: "invalid JSON: a comma before '\(c)' (JSON allows no trailing comma)")
                }
            default: comma = nil
            }
        }
    }

    /// JSON writes a character outside the Basic Multilingual Plane as an escaped UTF-16
    /// surrogate pair (`\ud83d\ude00`), which YAML does not accept; it becomes YAML's
    /// `\U0001F600`. Only inside double-quoted strings and only escapes that are not themselves
    /// escaped (`\\ud83d` is a backslash and text). Columns after such a pair on its line move
    /// two to the left in messages.
    static func joiningSurrogatePairs(_ text: String) -> String {
        guard text.contains("\\u") || text.contains("\\U") else { return text }
        let s = Array(text.unicodeScalars)
        func hex(_ at: Int) -> UInt32? {
            guard at + 4 <= s.count else { return nil }
            return UInt32(String(String.UnicodeScalarView(s[at..<(at + 4)])), radix: 16)
        }
        var out = String.UnicodeScalarView()
        var inString = false
        var i = 0
        while i < s.count {
            let c = s[i]
            if !inString {
                if c == "\"" { inString = true }
                out.append(c); i += 1; continue
            }
            if c == "\"" { inString = false; out.append(c); i += 1; continue }
            if c == "\\", i + 1 < s.count {
                if s[i + 1] == "u", let high = hex(i + 2), (0xD800..<0xDC00).contains(high),
                   i + 7 < s.count, s[i + 6] == "\\", s[i + 7] == "u", let low = hex(i + 8), (0xDC00..<0xE000).contains(low) {
                    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    out.append(contentsOf: ("\\U" + String(format: "%08X", code)).unicodeScalars)
                    i += 12
                    continue
                }
                out.append(c); out.append(s[i + 1]); i += 2; continue
            }
            out.append(c); i += 1
        }
        return String(out)
    }
}
