import Foundation

/// Parser for VNN-LIB property files (the VNN-COMP format).
///
/// Supported:
/// * `(declare-const X_i Real)` / `(declare-const Y_j Real)` (also `(declare-fun X_i () Real)`).
///   `X_i` indexes the row-major flattened input, `Y_j` the flattened output.
///   Indices must be declared contiguously from 0, before use.
/// * `(assert F)` where `F` is a comparison or an `and`/`or` of formulas, nested to
///   any depth up to ``maxNestingDepth`` parentheses. Several asserts are conjoined.
/// * Comparisons `<=`, `>=`, `<`, `>` (strict treated as non-strict) and `=`
///   (both directions) between linear terms: a variable, a number, or
///   `(+ t ...)`, `(- t)`, `(- t t ...)`, `(* number t)`. A comparison must involve
///   either only outputs (any linear combination) or exactly one input (a bound).
/// * `;` comments, statements over several lines, numbers such as `-1.5e-3`, `+2`, `.5`.
/// * `check-sat`, `get-model`, `set-logic`, `set-info`, `set-option`, `exit` are ignored.
///
/// The file asserts the **unsafe** set. The formula is converted to disjunctive
/// normal form (one disjunct per choice of an `or` branch, in order with the last
/// `or` varying fastest). In every disjunct the input constraints form an input box
/// (tightest bounds win) and the output constraints form a clause of atoms
/// `c · y <= d` (in order of appearance). Disjuncts with an empty box are dropped;
/// the rest are grouped by identical box into ``PropertyCase``s in order of first
/// appearance. Each kept box must give every input a finite lower and upper bound.
public enum VNNLib {
    /// Deepest parenthesis nesting accepted (guards against stack exhaustion).
    public static let maxNestingDepth = 500
    /// Largest number of disjuncts the DNF conversion may produce.
    public static let maxDisjuncts = 200_000
    /// Largest total number of constraint occurrences over all DNF disjuncts: 2,000,000, four
    /// times the largest shared spec (483,000 in ml4acopf2024's 300_ieee_prop4). A spec at this
    /// limit compiles in about a quarter of a second; past it a few kilobytes of nested `and`
    /// and `or` could ask for seconds and gigabytes (found by FuzzVNNLib at the former 20,000,000).
    public static let maxDNFSize = 2_000_000
    /// Largest number of coefficients the compiled ``Property`` may hold: every output
    /// constraint of the file is stored densely, one coefficient per output (`numOutputs`;
    /// `=` counts twice), and every distinct input box two per input (`2 · numInputs`). 2^26
    /// values are 512 MiB. Output constraints past it are refused before any is stored, boxes
    /// when the one past it is met, so memory stays bounded for many outputs times many disjuncts.
    public static let maxPropertyValues = 1 << 26

    /// Reads and parses a `.vnnlib` file. Errors name `path`.
    public static func load(path: String) throws -> Property {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SpecError(kind: .io, file: path, message: "cannot read file: \(error.localizedDescription)")
        }
        return try parse(bytes: [UInt8](data), source: path)
    }

    /// Parses VNN-LIB text. `source` is the name used in error messages and stored in the result.
    public static func parse(text: String, source: String) throws -> Property {
        try parse(bytes: Array(text.utf8), source: source)
    }

    /// Parses VNN-LIB text given as UTF-8 bytes.
    ///
    /// The tree is built without recursion; the compiler recurses once per nesting level. A
    /// tree nested deeper than ``shallowDepth`` is compiled on a thread of its own with a
    /// ``compileStackBytes`` stack, so the deepest accepted nesting never depends on the
    /// caller's stack (512 KiB on secondary threads on macOS, less on some pools).
    public static func parse(bytes: [UInt8], source: String) throws -> Property {
        let tree = try SExprTree(bytes: bytes, source: source, maxDepth: maxNestingDepth)
        var compiler = VNNLibCompiler(tree: tree, source: source)
        if tree.depth <= shallowDepth { return try compiler.compile() }
        return try onLargeStack { try compiler.compile() }
    }

    /// Nesting up to which a spec is compiled on the caller's thread (VNN-COMP specs nest a few levels).
    static let shallowDepth = 32
    /// Stack of the thread that compiles a deeper spec: 64 MiB, far more than ``maxNestingDepth``
    /// levels of the compiler need even in a debug build (a few KiB each).
    static let compileStackBytes = 64 << 20

    /// Runs `body` on a new thread with a ``compileStackBytes`` stack and waits for it.
    static func onLargeStack<T>(_ body: @escaping () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            box.result = Result { try body() }
            done.signal()
        }
        thread.stackSize = compileStackBytes
        thread.start()
        done.wait()
        return try box.result!.get()
    }
}

/// The result of work done on another thread, read after it signals.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

/// Turns an S-expression tree into a `Property`.
struct VNNLibCompiler {
    enum VarKind { case x, y }

    /// One constraint occurrence of the DNF: an input bound or an output atom (sparse).
    struct Literal {
        enum Payload {
            case lower(Int, Double)
            case upper(Int, Double)
            case atom([(Int, Double)], Double)
        }
        var payload: Payload
        var line: Int
        var column: Int
    }

    /// A linear term `Σ xs + Σ ys + k` (sparse, merged coefficients).
    struct LinExpr {
        var xs: [(Int, Double)] = []
        var ys: [(Int, Double)] = []
        var k: Double = 0

        static func add(_ a: [(Int, Double)], _ b: [(Int, Double)], scale: Double) -> [(Int, Double)] {
            var out = a
            for (i, v) in b {
                if let p = out.firstIndex(where: { $0.0 == i }) {
                    out[p].1 += scale * v
                } else {
                    out.append((i, scale * v))
                }
            }
            return out
        }

        mutating func add(_ o: LinExpr, scale: Double) {
            xs = LinExpr.add(xs, o.xs, scale: scale)
            ys = LinExpr.add(ys, o.ys, scale: scale)
            k += scale * o.k
        }

        var isConstant: Bool { xs.isEmpty && ys.isEmpty }

        func scaled(_ s: Double) -> LinExpr {
            LinExpr(xs: xs.map { ($0.0, $0.1 * s) }, ys: ys.map { ($0.0, $0.1 * s) }, k: k * s)
        }
    }

    let tree: SExprTree
    let source: String
    private var declaredX = Set<Int>()
    private var declaredY = Set<Int>()
    private var literals: [Literal] = []

    init(tree: SExprTree, source: String) {
        self.tree = tree
        self.source = source
    }

    // MARK: - Errors

    private func error(_ kind: SpecError.Kind, at idx: Int, _ message: String) -> SpecError {
        let nd = tree.node(idx)
        return SpecError(kind: kind, file: source, line: nd.line, column: nd.column, message: message)
    }

    // MARK: - Top level

    mutating func compile() throws -> Property {
        var assertDNFs: [[[Int]]] = []
        var firstAssert: Int?
        if tree.topLevel.isEmpty {
            throw SpecError(kind: .empty, file: source, line: tree.endLine, column: tree.endColumn,
                            message: "the file is empty: expected declarations and at least one (assert ...)")
        }
        for idx in tree.topLevel {
            let nd = tree.node(idx)
            guard nd.kind == .list else {
                throw error(.syntax, at: idx, "expected '(' to start a command at top level, found '\(tree.text(idx))'")
            }
            let ch = tree.children(idx)
            guard let headIdx = ch.first else {
                throw error(.syntax, at: idx, "empty command '()': expected (declare-const ...) or (assert ...)")
            }
            guard tree.node(headIdx).kind == .atom else {
                throw error(.syntax, at: headIdx, "expected a command name such as declare-const or assert, found a list")
            }
            if tree.atomEquals(headIdx, "assert") {
                guard ch.count == 2 else {
                    throw error(.syntax, at: idx, "'assert' expects exactly 1 formula, found \(ch.count - 1)")
                }
                if firstAssert == nil { firstAssert = idx }
                assertDNFs.append(try dnf(ch[ch.startIndex + 1]))
            } else if tree.atomEquals(headIdx, "declare-const") {
                guard ch.count == 3 else {
                    throw error(.syntax, at: idx, "'declare-const' expects a name and a sort, as in (declare-const X_0 Real)")
                }
                try declare(nameIdx: ch[ch.startIndex + 1], sortIdx: ch[ch.startIndex + 2])
            } else if tree.atomEquals(headIdx, "declare-fun") {
                let argsIdx = ch.count == 4 ? ch[ch.startIndex + 2] : nil
                guard let a = argsIdx, tree.node(a).kind == .list, tree.children(a).isEmpty else {
                    throw error(.syntax, at: idx, "'declare-fun' is supported only for constants, as in (declare-fun X_0 () Real)")
                }
                try declare(nameIdx: ch[ch.startIndex + 1], sortIdx: ch[ch.startIndex + 3])
            } else if ["check-sat", "get-model", "set-logic", "set-info", "set-option", "exit"]
                        .contains(where: { tree.atomEquals(headIdx, $0) }) {
                continue
            } else {
                throw error(.unknownOperator, at: headIdx,
                            "unknown command '\(tree.text(headIdx))': expected declare-const or assert")
            }
        }
        guard let assertIdx = firstAssert else {
            throw SpecError(kind: .empty, file: source, line: tree.endLine, column: tree.endColumn,
                            message: "no (assert ...) found: a VNN-LIB property needs at least one assertion")
        }
        let numInputs = try contiguousCount(declaredX, letter: "X", what: "input")
        let numOutputs = try contiguousCount(declaredY, letter: "Y", what: "output")

        let disjuncts = try product(assertDNFs, at: assertIdx)
        return try buildProperty(disjuncts: disjuncts, numInputs: numInputs, numOutputs: numOutputs,
                                 fallbackPosition: assertIdx)
    }

    private func contiguousCount(_ declared: Set<Int>, letter: String, what: String) throws -> Int {
        guard let maxIndex = declared.max() else {
            throw SpecError(kind: .empty, file: source, message:
                "no \(what) variables declared: expected (declare-const \(letter)_0 Real) ...")
        }
        if declared.count != maxIndex + 1 {
            let missing = (0...maxIndex).first { !declared.contains($0) } ?? 0
            throw SpecError(kind: .undeclaredVariable, file: source, message:
                "\(what) variables must be declared contiguously from \(letter)_0: \(letter)_\(missing) is missing but \(letter)_\(maxIndex) is declared")
        }
        return maxIndex + 1
    }

    private mutating func declare(nameIdx: Int, sortIdx: Int) throws {
        guard tree.node(nameIdx).kind == .atom, let (kind, index) = variable(nameIdx) else {
            throw error(.unknownVariable, at: nameIdx,
                        "unsupported variable name '\(tree.text(nameIdx))': expected X_<i> (input) or Y_<j> (output)")
        }
        guard tree.atomEquals(sortIdx, "Real") else {
            throw error(.syntax, at: sortIdx, "unsupported sort '\(tree.text(sortIdx))': expected Real")
        }
        let inserted: Bool
        switch kind {
        case .x: inserted = declaredX.insert(index).inserted
        case .y: inserted = declaredY.insert(index).inserted
        }
        if !inserted {
            throw error(.syntax, at: nameIdx, "variable '\(tree.text(nameIdx))' is declared twice")
        }
    }

    /// Parses `X_<digits>` / `Y_<digits>` (at most 9 digits).
    private func variable(_ idx: Int) -> (VarKind, Int)? {
        let nd = tree.node(idx)
        let b = tree.bytes
        guard nd.kind == .atom, nd.end - nd.start >= 3, nd.end - nd.start <= 11,
              b[nd.start + 1] == UInt8(ascii: "_") else { return nil }
        let kind: VarKind
        switch b[nd.start] {
        case UInt8(ascii: "X"): kind = .x
        case UInt8(ascii: "Y"): kind = .y
        default: return nil
        }
        var value = 0
        for p in (nd.start + 2)..<nd.end {
            let c = b[p]
            guard NumberSyntax.isDigit(c) else { return nil }
            value = value * 10 + Int(c - UInt8(ascii: "0"))
        }
        return (kind, value)
    }

    // MARK: - Formulas

    /// Disjunctive normal form of a formula: a list of disjuncts, each a list of literal indices.
    private mutating func dnf(_ idx: Int) throws -> [[Int]] {
        let nd = tree.node(idx)
        guard nd.kind == .list else {
            throw error(.syntax, at: idx,
                        "expected a constraint such as (<= Y_0 1.5), or (and ...) / (or ...), found '\(tree.text(idx))'")
        }
        let ch = tree.children(idx)
        guard let headIdx = ch.first else {
            throw error(.syntax, at: idx, "empty expression '()': expected a constraint or (and ...) / (or ...)")
        }
        guard tree.node(headIdx).kind == .atom else {
            throw error(.syntax, at: headIdx, "expected an operator (and, or, <=, >=, <, >, =), found a list")
        }
        let args = ch.dropFirst()
        if tree.atomEquals(headIdx, "and") {
            var parts: [[[Int]]] = []
            parts.reserveCapacity(args.count)
            for a in args { parts.append(try dnf(a)) }
            return try product(parts, at: idx)
        }
        if tree.atomEquals(headIdx, "or") {
            var out: [[Int]] = []
            for a in args {
                let d = try dnf(a)
                if out.count + d.count > VNNLib.maxDisjuncts {
                    throw error(.tooLarge, at: idx, "the formula has more than \(VNNLib.maxDisjuncts) disjuncts")
                }
                out.append(contentsOf: d)
            }
            return out
        }
        let relation: Relation
        if tree.atomEquals(headIdx, "<=") || tree.atomEquals(headIdx, "<") {
            relation = .le
        } else if tree.atomEquals(headIdx, ">=") || tree.atomEquals(headIdx, ">") {
            relation = .ge
        } else if tree.atomEquals(headIdx, "=") {
            relation = .eq
        } else {
            throw error(.unknownOperator, at: headIdx,
                        "unknown operator '\(tree.text(headIdx))': expected and, or, <=, >=, <, >, =")
        }
        guard args.count == 2 else {
            throw error(.syntax, at: idx, "'\(tree.text(headIdx))' expects 2 operands, found \(args.count)")
        }
        let lhs = try term(args[args.startIndex])
        let rhs = try term(args[args.startIndex + 1])
        var e = lhs
        e.add(rhs, scale: -1)
        return [try literals(for: e, relation: relation, at: idx)]
    }

    private enum Relation { case le, ge, eq }

    /// Literals for `e <= 0`, `e >= 0` or `e == 0`.
    private mutating func literals(for e: LinExpr, relation: Relation, at idx: Int) throws -> [Int] {
        let xs = e.xs.filter { $0.1 != 0 }
        let ys = e.ys.filter { $0.1 != 0 }
        let nd = tree.node(idx)
        if !xs.isEmpty && !ys.isEmpty {
            throw error(.unsupportedConstraint, at: idx,
                        "constraint '\(tree.text(idx))' relates input X_\(xs[0].0) to output Y_\(ys[0].0): inputs may only be bounded by constants, outputs only compared with outputs or constants")
        }
        if xs.isEmpty && ys.isEmpty {
            throw error(.unsupportedConstraint, at: idx,
                        "constraint '\(tree.text(idx))' has no variable: expected a comparison involving X_<i> or Y_<j>")
        }
        let ops: [Relation] = relation == .eq ? [.le, .ge] : [relation]
        var out: [Int] = []
        for op in ops {
            let payload: Literal.Payload
            if let (i, a) = xs.first {
                if xs.count > 1 {
                    throw error(.unsupportedConstraint, at: idx,
                                "constraint '\(tree.text(idx))' involves several inputs (X_\(xs[0].0), X_\(xs[1].0)): only bounds on a single input are supported")
                }
                let bound = (-e.k) / a + 0.0
                guard bound.isFinite else {
                    throw error(.badNumber, at: idx, "the bound given by '\(tree.text(idx))' is not a finite number")
                }
                let isUpper = (op == .le) == (a > 0)
                payload = isUpper ? .upper(i, bound) : .lower(i, bound)
            } else {
                if op == .le {
                    payload = .atom(ys, 0 - e.k)
                } else {
                    payload = .atom(ys.map { ($0.0, -$0.1) }, e.k + 0.0)
                }
            }
            out.append(literals.count)
            literals.append(Literal(payload: payload, line: nd.line, column: nd.column))
        }
        return out
    }

    /// Evaluates a linear term.
    private func term(_ idx: Int) throws -> LinExpr {
        let nd = tree.node(idx)
        if nd.kind == .atom {
            if NumberSyntax.looksNumeric(tree.bytes, nd.start, nd.end) {
                guard let v = NumberSyntax.parse(tree.bytes, nd.start, nd.end) else {
                    throw error(.badNumber, at: idx,
                                "bad number '\(tree.text(idx))': expected a finite decimal such as 0.5, -1.5e-3 or +2")
                }
                return LinExpr(k: v)
            }
            guard let (kind, index) = variable(idx) else {
                throw error(.unknownVariable, at: idx,
                            "unknown variable '\(tree.text(idx))': expected X_<i>, Y_<j> or a number")
            }
            switch kind {
            case .x:
                guard declaredX.contains(index) else {
                    throw error(.undeclaredVariable, at: idx,
                                "undeclared variable 'X_\(index)' (declared inputs: \(range(declaredX, "X")))")
                }
                return LinExpr(xs: [(index, 1)])
            case .y:
                guard declaredY.contains(index) else {
                    throw error(.undeclaredVariable, at: idx,
                                "undeclared variable 'Y_\(index)' (declared outputs: \(range(declaredY, "Y")))")
                }
                return LinExpr(ys: [(index, 1)])
            }
        }
        let ch = tree.children(idx)
        guard let headIdx = ch.first, tree.node(headIdx).kind == .atom else {
            throw error(.syntax, at: idx, "expected a term (variable, number or (+ ...), (- ...), (* ...)), found '\(tree.text(idx))'")
        }
        let args = ch.dropFirst()
        if tree.atomEquals(headIdx, "+") {
            guard !args.isEmpty else { throw error(.syntax, at: idx, "'+' expects at least 1 operand") }
            var acc = LinExpr()
            for a in args { acc.add(try term(a), scale: 1) }
            return acc
        }
        if tree.atomEquals(headIdx, "-") {
            guard let first = args.first else { throw error(.syntax, at: idx, "'-' expects at least 1 operand") }
            let t0 = try term(first)
            if args.count == 1 { return t0.scaled(-1) }
            var acc = t0
            for a in args.dropFirst() { acc.add(try term(a), scale: -1) }
            return acc
        }
        if tree.atomEquals(headIdx, "*") {
            guard !args.isEmpty else { throw error(.syntax, at: idx, "'*' expects at least 1 operand") }
            var factor = 1.0
            var variablePart: LinExpr?
            for a in args {
                let t = try term(a)
                if t.isConstant {
                    factor *= t.k
                } else if variablePart == nil {
                    variablePart = t
                } else {
                    throw error(.unsupportedConstraint, at: idx, "nonlinear term '\(tree.text(idx))': at most one factor of '*' may contain variables")
                }
            }
            return (variablePart ?? LinExpr(k: 1)).scaled(factor)
        }
        throw error(.unknownOperator, at: headIdx,
                    "unknown operator '\(tree.text(headIdx))' in a term: expected +, -, *, a variable or a number")
    }

    private func range(_ s: Set<Int>, _ letter: String) -> String {
        guard let lo = s.min(), let hi = s.max() else { return "none" }
        return lo == hi ? "\(letter)_\(lo)" : "\(letter)_\(lo)..\(letter)_\(hi)"
    }

    /// Conjunction of DNFs: every choice of one disjunct per part, concatenated in part order,
    /// with the last part varying fastest. Linear in the size of the result.
    private func product(_ parts: [[[Int]]], at idx: Int) throws -> [[Int]] {
        if parts.isEmpty { return [[]] }
        var count = 1.0
        var size = 0.0
        for p in parts {
            if p.isEmpty { return [] }
            count *= Double(p.count)
        }
        for p in parts {
            let lits = p.reduce(0) { $0 + $1.count }
            size += Double(lits) * (count / Double(p.count))
        }
        if count > Double(VNNLib.maxDisjuncts) {
            throw error(.tooLarge, at: idx, "converting to disjunctive normal form gives more than \(VNNLib.maxDisjuncts) disjuncts")
        }
        if size > Double(VNNLib.maxDNFSize) {
            throw error(.tooLarge, at: idx, "converting to disjunctive normal form gives more than \(VNNLib.maxDNFSize) constraints")
        }
        if parts.count == 1 { return parts[0] }
        let total = Int(count)
        let perDisjunct = Int(size / count)
        var choice = [Int](repeating: 0, count: parts.count)
        var out: [[Int]] = []
        out.reserveCapacity(total)
        for _ in 0..<total {
            var d: [Int] = []
            d.reserveCapacity(perDisjunct)
            for (pi, p) in parts.enumerated() { d.append(contentsOf: p[choice[pi]]) }
            out.append(d)
            // Odometer increment, last part fastest.
            var k = parts.count - 1
            while k >= 0 {
                choice[k] += 1
                if choice[k] < parts[k].count { break }
                choice[k] = 0
                k -= 1
            }
        }
        return out
    }

    // MARK: - Boxes and clauses

    private func buildProperty(disjuncts: [[Int]], numInputs: Int, numOutputs: Int,
                               fallbackPosition: Int) throws -> Property {
        var cases: [PropertyCase] = []
        var caseOfBox: [InputBox: Int] = [:]
        var denseAtoms = [LinearAtom?](repeating: nil, count: literals.count)   // by literal index
        // Coefficients held by the property (dense atoms, then boxes), against maxPropertyValues.
        // Every output constraint of the file may become one dense atom: their count is checked
        // before any is made; boxes are counted as they are made.
        // Where an error about literal `li` points: the literal, or the property's fallback place.
        func place(_ li: Int?) -> (line: Int, column: Int) {
            if let li { return (literals[li].line, literals[li].column) }
            let nd = tree.node(fallbackPosition)
            return (nd.line, nd.column)
        }
        func tooLarge(_ what: String, at li: Int?) -> SpecError {
            let (line, column) = place(li)
            return SpecError(kind: .tooLarge, file: source, line: line, column: column, message:
                "the property is too large: \(what) need more than \(VNNLib.maxPropertyValues) coefficients in all (\(numInputs) inputs, \(numOutputs) outputs)")
        }
        var values = 0
        for (li, literal) in literals.enumerated() {
            guard case .atom = literal.payload else { continue }
            values += numOutputs
            if values > VNNLib.maxPropertyValues { throw tooLarge("its output constraints (one coefficient per output each)", at: li) }
        }
        var boxValues = 0
        for lits in disjuncts {
            var lower = [Double](repeating: -.infinity, count: numInputs)
            var upper = [Double](repeating: .infinity, count: numInputs)
            var atoms: [LinearAtom] = []
            for li in lits {
                switch literals[li].payload {
                case let .lower(i, v):
                    if v > lower[i] { lower[i] = v }
                case let .upper(i, v):
                    if v < upper[i] { upper[i] = v }
                case let .atom(coeffs, d):
                    if let a = denseAtoms[li] {
                        atoms.append(a)
                    } else {
                        var c = [Double](repeating: 0, count: numOutputs)
                        for (j, v) in coeffs { c[j] = v }
                        let a = LinearAtom(c: c, d: d)
                        denseAtoms[li] = a
                        atoms.append(a)
                    }
                }
            }
            var empty = false
            for i in 0..<numInputs where lower[i] > upper[i] {
                empty = true
                break
            }
            if empty { continue }
            for i in 0..<numInputs where !(lower[i].isFinite && upper[i].isFinite) {
                let which = lower[i].isFinite ? "upper" : (upper[i].isFinite ? "lower" : "lower or upper")
                let (line, column) = place(lits.first)
                throw SpecError(kind: .missingBound, file: source, line: line, column: column, message:
                    "missing bound: input X_\(i) has no \(which) bound in the input box of the disjunct whose constraints start here (every X_i needs a finite lower and upper bound)")
            }
            let box = InputBox(lower: lower, upper: upper)
            if let ci = caseOfBox[box] {
                cases[ci].clauses.append(Clause(atoms: atoms))
            } else {
                boxValues += 2 * numInputs
                if values + boxValues > VNNLib.maxPropertyValues {
                    throw tooLarge("its output constraints and input boxes (two coefficients per input each)", at: lits.first)
                }
                caseOfBox[box] = cases.count
                cases.append(PropertyCase(box: box, clauses: [Clause(atoms: atoms)]))
            }
        }
        return Property(numInputs: numInputs, numOutputs: numOutputs, cases: cases, source: source)
    }
}
