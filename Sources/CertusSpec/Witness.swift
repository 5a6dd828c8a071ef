/// Formats a counterexample in the VNN-COMP style:
/// `((X_0 v)\n(X_1 v)\n...\n(Y_0 v)\n...(Y_m v))\n`.
///
/// Each value is Swift's shortest round-trip text for the Double (`"\(v)"`), so parsing
/// it back gives the same bits. (Non-finite values print as `inf`/`nan`, which are not
/// valid VNN-LIB numbers; a real counterexample has none.) The result ends with a newline,
/// like the witness files in `shared/benchmarks/*/witnesses/`. VNN-COMP result files put a
/// `sat` line before this text.
public func vnncompWitness(x: [Double], y: [Double]) -> String {
    var lines: [String] = []
    lines.reserveCapacity(x.count + y.count)
    for (i, v) in x.enumerated() { lines.append("(X_\(i) \(v))") }
    for (j, v) in y.enumerated() { lines.append("(Y_\(j) \(v))") }
    return "(" + lines.joined(separator: "\n") + ")\n"
}

/// Parses a VNN-COMP counterexample `((X_0 v) ... (Y_0 v) ...)`, optionally preceded by a
/// result word (`sat`, `violated`). Entries may come in any order, but the `X` and the `Y`
/// indices must each cover `0..<n` exactly once.
/// - Throws: `SpecError` with the line and column of the offending token.
public func parseVNNCompWitness(text: String, source: String) throws -> (x: [Double], y: [Double]) {
    let tree = try SExprTree(bytes: Array(text.utf8), source: source, maxDepth: 8)
    func fail(_ idx: Int, _ kind: SpecError.Kind, _ m: String) -> SpecError {
        let nd = tree.node(idx)
        return SpecError(kind: kind, file: source, line: nd.line, column: nd.column, message: m)
    }
    var lists = tree.topLevel.filter { tree.node($0).kind == .list }
    for idx in tree.topLevel where tree.node(idx).kind == .atom {
        guard tree.atomEquals(idx, "sat") || tree.atomEquals(idx, "violated") else {
            throw fail(idx, .syntax, "unexpected '\(tree.text(idx))': expected an assignment ((X_0 v) ...)")
        }
    }
    guard lists.count == 1, let outer = lists.popLast() else {
        throw SpecError(kind: .syntax, file: source, line: tree.endLine, column: tree.endColumn,
                        message: "expected exactly one assignment list ((X_0 v) ... (Y_0 v) ...), found \(lists.count)")
    }
    var xs: [Int: Double] = [:]
    var ys: [Int: Double] = [:]
    for entry in tree.children(outer) {
        let ch = tree.children(entry)
        guard tree.node(entry).kind == .list, ch.count == 2 else {
            throw fail(entry, .syntax, "expected an entry (X_i value) or (Y_j value), found '\(tree.text(entry))'")
        }
        let nameIdx = ch[ch.startIndex], valueIdx = ch[ch.startIndex + 1]
        let name = tree.text(nameIdx)
        let vn = tree.node(valueIdx)
        guard vn.kind == .atom, let v = NumberSyntax.parse(tree.bytes, vn.start, vn.end) else {
            throw fail(valueIdx, .badNumber, "bad number '\(tree.text(valueIdx))' for \(name)")
        }
        let isX = name.hasPrefix("X_"), isY = name.hasPrefix("Y_")
        guard isX || isY, let i = Int(name.dropFirst(2)), i >= 0, i < 100_000_000 else {
            throw fail(nameIdx, .unknownVariable, "unknown variable '\(name)': expected X_<i> or Y_<j>")
        }
        if isX {
            if xs.updateValue(v, forKey: i) != nil { throw fail(nameIdx, .syntax, "\(name) is assigned twice") }
        } else {
            if ys.updateValue(v, forKey: i) != nil { throw fail(nameIdx, .syntax, "\(name) is assigned twice") }
        }
    }
    func dense(_ m: [Int: Double], _ letter: String) throws -> [Double] {
        var out = [Double](repeating: 0, count: m.count)
        for (i, v) in m {
            guard i < m.count else {
                throw fail(outer, .undeclaredVariable, "\(letter) indices must be 0..<\(m.count) without gaps; found \(letter)_\(i)")
            }
            out[i] = v
        }
        return out
    }
    return (try dense(xs, "X"), try dense(ys, "Y"))
}
