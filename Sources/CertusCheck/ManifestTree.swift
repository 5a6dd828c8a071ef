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

// MARK: - YAML (Yams)

enum YAMLTree {
    /// Parses the first YAML document of `text` (Yams, libyaml) into a tree with positions.
    /// - Throws: `TreeSyntaxError` with the line and column libyaml reports.
    static func parse(_ text: String) throws -> TreeNode? {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw describe(e)
        }
        return try node.map(convert)
    }

    static func describe(_ e: YamlError) -> TreeSyntaxError {
        func ctx(_ c: YamlError.Context?) -> String {
            guard let c else { return "" }
            return " (\(c.text) at line \(c.mark.line), column \(c.mark.column))"
        }
        switch e {
        case let .scanner(context, problem, mark, _),
             let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            return TreeSyntaxError(position: SourcePosition(line: mark.line, column: mark.column),
                                   message: "invalid YAML: \(problem)\(ctx(context))")
        case let .reader(problem, offset, _, yaml):
            var pos: SourcePosition? = nil
            if let offset, offset >= 0 {
                let prefix = yaml.prefix(offset)
                let line = prefix.reduce(1) { $0 + ($1 == "\n" ? 1 : 0) }
                let column = prefix.split(separator: "\n", omittingEmptySubsequences: false).last.map { $0.unicodeScalars.count + 1 } ?? 1
                pos = SourcePosition(line: line, column: column)
            }
            return TreeSyntaxError(position: pos, message: "unreadable YAML text: \(problem)")
        default:
            return TreeSyntaxError(position: nil, message: "invalid YAML: \(e)")
        }
    }

    static func position(_ m: Mark?) -> SourcePosition {
        m.map { SourcePosition(line: $0.line, column: $0.column) } ?? SourcePosition(line: 1, column: 1)
    }

    static func convert(_ node: Node) throws -> TreeNode {
        switch node {
        case .scalar(let s):
            let p = position(s.mark)
            if s.style != .plain && s.style != .any { return .scalar(s.string, .quoted, p) }
            switch Tag.Name(rawValue: node.tag.description) {
            case Tag.Name.null: return .scalar(s.string, .null, p)
            case Tag.Name.bool: return .scalar(s.string, .bool, p)
            case Tag.Name.int, Tag.Name.float: return .scalar(s.string, .number, p)
            default: return .scalar(s.string, .string, p)
            }
        case .sequence(let seq):
            return .sequence(try seq.map(convert), position(seq.mark))
        case .mapping(let map):
            var pairs: [(key: String, keyPosition: SourcePosition, value: TreeNode)] = []
            for (k, v) in map {
                guard case .scalar(let ks) = k else {
                    throw TreeSyntaxError(position: position(k.mark), message: "a key must be a plain name, not \(k.sequence != nil ? "a list" : "a mapping")")
                }
                if ks.string == "<<" {
                    throw TreeSyntaxError(position: position(ks.mark), message: "YAML merge keys ('<<') are not supported in a manifest; write the fields out (or use 'defaults:')")
                }
                if let first = pairs.first(where: { $0.key == ks.string }) {
                    throw TreeSyntaxError(position: position(ks.mark), message:
                        "duplicate key '\(ks.string)' (first written at line \(first.keyPosition.line))")
                }
                pairs.append((ks.string, position(ks.mark), try convert(v)))
            }
            return .mapping(pairs, position(map.mark))
        }
    }
}

// MARK: - JSON

/// A small JSON reader that keeps the line and column of every value (Foundation's readers do
/// not). Numbers keep their text and are converted with `Double(String)` (correctly rounded).
struct JSONTree {
    private let s: [Unicode.Scalar]
    private var i = 0
    private var line = 1
    private var column = 1

    /// Parses one JSON value (the whole text; trailing non-space is an error).
    static func parse(_ text: String) throws -> TreeNode {
        var p = JSONTree(s: Array(text.unicodeScalars))
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        if p.i < p.s.count { throw p.fail("unexpected text after the JSON value") }
        return v
    }

    private init(s: [Unicode.Scalar]) { self.s = s }

    private var here: SourcePosition { SourcePosition(line: line, column: column) }

    private func fail(_ m: String, at p: SourcePosition? = nil) -> TreeSyntaxError {
        TreeSyntaxError(position: p ?? here, message: "invalid JSON: " + m)
    }

    private mutating func advance() {
        if s[i] == "\n" { line += 1; column = 1 } else { column += 1 }
        i += 1
    }

    private mutating func skipSpace() {
        while i < s.count, s[i] == " " || s[i] == "\t" || s[i] == "\n" || s[i] == "\r" || s[i] == "\u{FEFF}" { advance() }
    }

    private mutating func expect(_ c: Unicode.Scalar) throws {
        guard i < s.count, s[i] == c else {
            throw fail(i < s.count ? "expected '\(c)', found '\(s[i].escaped(asASCII: true))'" : "expected '\(c)', found the end of the file")
        }
        advance()
    }

    private mutating func value(depth: Int) throws -> TreeNode {
        guard depth < 200 else { throw fail("nested too deeply") }
        guard i < s.count else { throw fail("expected a value, found the end of the file") }
        let start = here
        switch s[i] {
        case "{":
            advance(); skipSpace()
            var pairs: [(key: String, keyPosition: SourcePosition, value: TreeNode)] = []
            if i < s.count, s[i] == "}" { advance(); return .mapping(pairs, start) }
            while true {
                skipSpace()
                let kp = here
                guard i < s.count, s[i] == "\"" else { throw fail("expected a key in double quotes") }
                let key = try string()
                if let first = pairs.first(where: { $0.key == key }) {
                    throw fail("duplicate key '\(key)' (first written at line \(first.keyPosition.line))", at: kp)
                }
                skipSpace(); try expect(":"); skipSpace()
                pairs.append((key, kp, try value(depth: depth + 1)))
                skipSpace()
                if i < s.count, s[i] == "," { advance(); continue }
                try expect("}")
                return .mapping(pairs, start)
            }
        case "[":
            advance(); skipSpace()
            var items: [TreeNode] = []
            if i < s.count, s[i] == "]" { advance(); return .sequence(items, start) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                if i < s.count, s[i] == "," { advance(); continue }
                try expect("]")
                return .sequence(items, start)
            }
        case "\"":
            return .scalar(try string(), .quoted, start)
        default:
            var word = ""
            while i < s.count, !" \t\r\n,]}:".unicodeScalars.contains(s[i]) { word.unicodeScalars.append(s[i]); advance() }
            switch word {
            case "true", "false": return .scalar(word, .bool, start)
            case "null": return .scalar(word, .null, start)
            default:
                if JSONTree.isNumber(word) { return .scalar(word, .number, start) }
                throw fail(word.isEmpty ? "expected a value" : "'\(word)' is not a JSON value (text needs double quotes)", at: start)
            }
        }
    }

    /// JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    static func isNumber(_ w: String) -> Bool {
        w.range(of: #"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"#, options: .regularExpression) != nil
    }

    private mutating func string() throws -> String {
        let start = here
        advance()   // opening quote
        var out = String.UnicodeScalarView()
        while true {
            guard i < s.count else { throw fail("unterminated string", at: start) }
            let c = s[i]
            if c == "\"" { advance(); return String(out) }
            if c.value < 0x20 { throw fail("a control character (U+\(String(c.value, radix: 16, uppercase: true))) inside a string; write it escaped") }
            if c == "\\" {
                advance()
                guard i < s.count else { throw fail("unterminated string", at: start) }
                let e = s[i]
                advance()
                switch e {
                case "\"": out.append("\"")
                case "\\": out.append("\\")
                case "/": out.append("/")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                case "u":
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), i + 1 < s.count, s[i] == "\\", s[i + 1] == "u" {
                        advance(); advance()
                        let low = try hex4()
                        if (0xDC00..<0xE000).contains(low) { code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00) }
                    }
                    out.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                default:
                    throw fail("unknown escape '\\\(e)' in a string")
                }
                continue
            }
            out.append(c)
            advance()
        }
    }

    private mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard i < s.count, let d = UInt32(String(s[i]), radix: 16) else {
                throw fail("expected 4 hex digits after \\u")
            }
            v = v * 16 + d
            advance()
        }
        return v
    }
}
