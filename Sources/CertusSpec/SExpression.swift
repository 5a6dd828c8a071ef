/// A flat S-expression tree over a UTF-8 buffer, built without recursion.
///
/// Nodes are stored in one array; a list's children are a contiguous range of
/// `childIndices`. Atoms keep their byte range in `bytes`, so no string is
/// created unless a caller asks for one. Nesting is limited to `maxDepth`
/// so that recursive consumers cannot overflow the stack.
struct SExprTree {
    enum Kind { case atom, list }

    struct Node {
        var kind: Kind
        /// Byte range of the atom (for lists: the opening parenthesis).
        var start: Int
        var end: Int
        var line: Int
        var column: Int
        var childStart: Int = 0
        var childCount: Int = 0
    }

    let bytes: [UInt8]
    private(set) var nodes: [Node] = []
    private(set) var childIndices: [Int] = []
    /// Indices of the top-level nodes, in order.
    private(set) var topLevel: [Int] = []
    /// The deepest parenthesis nesting met (0 for a file of atoms only).
    private(set) var depth = 0
    /// 1-based line and column just past the last byte.
    private(set) var endLine = 1
    private(set) var endColumn = 1

    /// Parses `bytes` into a tree.
    /// - Throws: `SpecError` for an unmatched `)`, an unclosed `(`, an
    ///   unterminated `"`/`|` token, or nesting deeper than `maxDepth`.
    /// A leading UTF-8 byte-order mark (EF BB BF) is skipped: lines and columns count from
    /// the first character after it, as editors show the file.
    init(bytes raw: [UInt8], source: String, maxDepth: Int) throws {
        let bytes = VisibleText.droppingByteOrderMark(raw)
        self.bytes = bytes
        nodes.reserveCapacity(bytes.count / 6 + 16)
        childIndices.reserveCapacity(bytes.count / 6 + 16)

        // Open lists: (node index, start of its children in `pending`).
        var open: [(node: Int, mark: Int)] = []
        var pending: [Int] = []
        var line = 1
        var column = 1
        var i = 0
        let n = bytes.count

        func attach(_ idx: Int) {
            if open.isEmpty { topLevel.append(idx) } else { pending.append(idx) }
        }

        while i < n {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\n"):
                line += 1
                column = 1
                i += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), 0x0B, 0x0C:
                column += 1
                i += 1
            case UInt8(ascii: ";"):
                // Comment to end of line (the newline itself is handled above).
                while i < n && bytes[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "("):
                if open.count >= maxDepth {
                    throw SpecError(kind: .tooLarge, file: source, line: line, column: column,
                                    message: "parentheses nested deeper than \(maxDepth) levels")
                }
                let idx = nodes.count
                nodes.append(Node(kind: .list, start: i, end: i + 1, line: line, column: column))
                open.append((idx, pending.count))
                depth = max(depth, open.count)
                column += 1
                i += 1
            case UInt8(ascii: ")"):
                guard let top = open.popLast() else {
                    throw SpecError(kind: .syntax, file: source, line: line, column: column,
                                    message: "unbalanced parentheses: unexpected ')' with no matching '('")
                }
                nodes[top.node].childStart = childIndices.count
                nodes[top.node].childCount = pending.count - top.mark
                nodes[top.node].end = i + 1
                childIndices.append(contentsOf: pending[top.mark...])
                pending.removeSubrange(top.mark...)
                column += 1
                i += 1
                attach(top.node)
            case UInt8(ascii: "\""), UInt8(ascii: "|"):
                // String literal or quoted symbol: runs to the matching delimiter
                // (a doubled quote inside a string is an escaped quote).
                let startLine = line, startColumn = column, start = i
                let delim = b
                i += 1
                column += 1
                var closed = false
                while i < n {
                    let c = bytes[i]
                    if c == delim {
                        if delim == UInt8(ascii: "\"") && i + 1 < n && bytes[i + 1] == delim {
                            i += 2
                            column += 2
                            continue
                        }
                        i += 1
                        column += 1
                        closed = true
                        break
                    }
                    if c == UInt8(ascii: "\n") {
                        line += 1
                        column = 1
                    } else if c & 0xC0 != 0x80 {
                        column += 1
                    }
                    i += 1
                }
                if !closed {
                    throw SpecError(kind: .syntax, file: source, line: startLine, column: startColumn,
                                    message: "unterminated \(delim == UInt8(ascii: "\"") ? "string" : "quoted symbol"): expected a closing \(delim == UInt8(ascii: "\"") ? "'\"'" : "'|'")")
                }
                let idx = nodes.count
                nodes.append(Node(kind: .atom, start: start, end: i, line: startLine, column: startColumn))
                attach(idx)
            default:
                let start = i, startColumn = column
                while i < n {
                    let c = bytes[i]
                    if c == UInt8(ascii: "(") || c == UInt8(ascii: ")") || c == UInt8(ascii: ";")
                        || c == UInt8(ascii: " ") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\t")
                        || c == UInt8(ascii: "\r") || c == 0x0B || c == 0x0C {
                        break
                    }
                    if c & 0xC0 != 0x80 { column += 1 }
                    i += 1
                }
                let idx = nodes.count
                nodes.append(Node(kind: .atom, start: start, end: i, line: line, column: startColumn))
                attach(idx)
            }
        }
        endLine = line
        endColumn = column
        if let unclosed = open.last {
            let node = nodes[unclosed.node]
            throw SpecError(kind: .syntax, file: source, line: node.line, column: node.column,
                            message: "unbalanced parentheses: '(' opened here is never closed (expected ')' before end of file; \(open.count) unclosed)")
        }
    }

    @inline(__always) func node(_ idx: Int) -> Node { nodes[idx] }

    /// Children of a list node (empty for atoms).
    @inline(__always) func children(_ idx: Int) -> ArraySlice<Int> {
        let nd = nodes[idx]
        return childIndices[nd.childStart..<(nd.childStart + nd.childCount)]
    }

    /// The atom's text for messages (for lists, a short rendering of the whole list, truncated),
    /// with invisible and non-printable characters escaped as `\u{XXXX}` (``VisibleText``).
    func text(_ idx: Int) -> String {
        let nd = nodes[idx]
        let end = min(nd.end, nd.start + 60)
        let s = VisibleText.escaped(String(decoding: bytes[nd.start..<end], as: UTF8.self))
        return end < nd.end ? s + "..." : s
    }

    /// Whether the node is an atom whose bytes equal `word` (ASCII).
    func atomEquals(_ idx: Int, _ word: StaticString) -> Bool {
        let nd = nodes[idx]
        guard nd.kind == .atom, nd.end - nd.start == word.utf8CodeUnitCount else { return false }
        return word.withUTF8Buffer { buf in
            var k = 0
            while k < buf.count {
                if bytes[nd.start + k] != buf[k] { return false }
                k += 1
            }
            return true
        }
    }
}

/// Recognises numeric tokens: `[+-]? (digits ('.' digits*)? | '.' digits) ([eE] [+-]? digits)?`.
enum NumberSyntax {
    /// Whether the token looks like it is meant to be a number (starts with a
    /// digit or '.', or a sign followed by a digit or '.').
    static func looksNumeric(_ bytes: [UInt8], _ start: Int, _ end: Int) -> Bool {
        guard start < end else { return false }
        let b = bytes[start]
        if isDigit(b) || b == UInt8(ascii: ".") { return true }
        if (b == UInt8(ascii: "+") || b == UInt8(ascii: "-")) && start + 1 < end {
            let c = bytes[start + 1]
            return isDigit(c) || c == UInt8(ascii: ".")
        }
        return false
    }

    @inline(__always) static func isDigit(_ b: UInt8) -> Bool {
        b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
    }

    /// Parses a finite decimal number, or returns nil when the token is not one
    /// (bad syntax, or a value that overflows to infinity).
    static func parse(_ bytes: [UInt8], _ start: Int, _ end: Int) -> Double? {
        var i = start
        if i < end && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
        var intDigits = 0
        while i < end && isDigit(bytes[i]) { i += 1; intDigits += 1 }
        var fracDigits = 0
        if i < end && bytes[i] == UInt8(ascii: ".") {
            i += 1
            while i < end && isDigit(bytes[i]) { i += 1; fracDigits += 1 }
        }
        if intDigits + fracDigits == 0 { return nil }
        if i < end && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            if i < end && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            var expDigits = 0
            while i < end && isDigit(bytes[i]) { i += 1; expDigits += 1 }
            if expDigits == 0 { return nil }
        }
        if i != end { return nil }
        let text = String(decoding: bytes[start..<end], as: UTF8.self)
        guard let v = Double(text), v.isFinite else { return nil }
        return v
    }
}
