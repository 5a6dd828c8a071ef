import Foundation
import CertusTensor
import CertusGraph
import CertusSpec
import CertusBounds
import CertusLP

/// The network cannot be written as an LP (an operator that is neither affine nor piecewise
/// linear, bounds or numbers GLPK cannot be given); the message names the node.
package struct LPEncodingError: Error, CustomStringConvertible, Sendable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { "LP encoding: \(message)" }
}

/// An affine expression `Σ coefficient · x[variable] + constant` over LP variables.
struct LPExpression {
    var terms: [(Int, Double)]
    var constant: Double
}

/// The LP (or MILP) of a piecewise-linear network (ReLU, LeakyReLU) over one branch-and-bound
/// domain, built with GLPK.
///
/// Variables: the inputs (bounded by the box), one variable `z` per input neuron of a
/// piecewise-linear elementwise node (bounded by the domain's bounds, widened by 1e-9 relative
/// except at exact zeros, which are split constraints or sign facts, and never across 0, the
/// kink), and one `y` per unstable neuron's output. Affine operators (Gemm, MatMul, Add/Sub,
/// Conv, BatchNormalization, ... anything the bound engine treats as affine) are composed into
/// affine expressions; Flatten/Reshape/Squeeze/Unsqueeze/Identity pass through. Each elementwise
/// operator gives its own per-neuron encoding (`ElementwiseRelaxation.piecewiseLinearEncoding`):
/// a stable neuron is an affine function of `z`; an unstable one is the convex hull of its
/// graph (ReLU: the triangle `y >= 0, y >= z, (u-l) y <= u (z - l)`), plus in MILP mode rows with
/// one binary that make it exact (ReLU: Tjeng's `y <= z - l (1-a)`, `y <= u a`). When no neuron
/// is unstable the LP is exact for the domain. Any other operator (Sigmoid, products of
/// variables, ...) throws `LPEncodingError`.
///
/// `elastic` mode relaxes every `z = expression` equality by a shared slack
/// `s ∈ [0, min(1000 (1 + max |bound|), LinearProgram.maxMagnitude)]`, so the LP is feasible
/// (up to that cap); `min s` with a positive re-checked bound proves the domain empty.
///
/// Not thread-safe (GLPK): build, solve and release on one thread.
package final class NetworkLP {
    package enum Mode: Sendable { case relaxation, milp }

    package let lp: LinearProgram
    /// LP variable of every input coordinate (flattened).
    package let inputVariables: [Int]
    /// Number of unstable piecewise-linear neurons (convex-hull relaxations, MILP binaries).
    package private(set) var unstableCount = 0
    /// The elastic slack variable (elastic mode only).
    package private(set) var slackVariable: Int?
    /// The binary variable of every unstable neuron that has one, in the order the neurons are
    /// encoded (graph order, then neuron index): empty in `.relaxation` mode. Two `NetworkLP`s
    /// of the same graph, box and bounds list their binaries in the same order (whatever `elastic`).
    package private(set) var binaryVariables: [Int] = []
    let outputs: [LPExpression]
    private var clauseVariables: [Int: Int] = [:]
    /// The LP variable `z` of every input neuron of a piecewise-linear elementwise node (ReLU,
    /// LeakyReLU), by node index (in `graph.nodes`).
    package private(set) var piecewiseLinearInputVariables: [Int: [Int]] = [:]
    /// `piecewiseLinearInputVariables` under its former name (every such node, not only ReLU).
    package var reluInputVariables: [Int: [Int]] { piecewiseLinearInputVariables }

    /// Largest magnitude of an unstable neuron's input bounds: the hull's chord row holds `u - l`,
    /// `u` and `u l` (times the slopes), so products stay within `LinearProgram.maxMagnitude`.
    package static let maxUnstableBound = LinearProgram.maxMagnitude.squareRoot() / 2

    /// Builds the LP of `graph` over `box`, with the input bounds of the piecewise-linear nodes in `relus`.
    /// - Parameters:
    ///   - graph: the graph the bounds refer to (`BoundEngine.graph`, after GeLU fusion).
    ///   - relus: `DomainBounds.splittable` of the domain (input bounds of every elementwise node
    ///     with a relaxation, after splits; only the piecewise-linear ones are read).
    ///   - mode: `.relaxation` (the convex hull of every unstable neuron) or `.milp` (exact, one
    ///     binary per unstable neuron).
    ///   - elastic: relax every `z = expression` equality by a shared slack (see above).
    /// - Throws: `LPEncodingError` for an operator that is neither affine nor piecewise linear
    ///   (naming the node and operator), missing or non-finite bounds, non-finite coefficients, an
    ///   unstable neuron's bound beyond `maxUnstableBound`, or numbers GLPK cannot be given (the `LPError`
    ///   message, e.g. out of range, with the node or input it comes from): weights, box or bounds
    ///   beyond `LinearProgram.maxMagnitude`, non-zero coefficients below
    ///   `LinearProgram.minCoefficientMagnitude`. `LPError` from the slack variable.
    package init(graph: Graph, box: InputBox, relus: [DomainBounds.NeuronInfo], mode: Mode = .relaxation,
                elastic: Bool = false) throws {
        let lp = LinearProgram()
        self.lp = lp
        guard box.count == graph.inputCount else { throw LPEncodingError("the box has \(box.count) inputs, the model \(graph.inputCount)") }
        var xs: [Int] = []
        for i in 0..<box.count {
            do { xs.append(try lp.addVariable(lower: box.lower[i], upper: box.upper[i])) } catch let e as LPError {
                throw LPEncodingError("input box [\(i)]: \(e.message)")
            }
        }
        inputVariables = xs
        // The slack never needs to exceed the widest activation input range by much; a moderate bound
        // keeps the dual re-check's rounding allowance small.
        let reach = relus.flatMap { zip($0.lower, $0.upper).map { max(abs($0.0), abs($0.1)) } }.max() ?? 1
        // Capped at the largest bound GLPK is given: a smaller cap only restricts s, and a
        // domain with a point still has s = 0 feasible, so min s > 0 stays a proof of emptiness.
        let slackCap = min(1e3 * (1 + (reach.isFinite ? reach : 1)), LinearProgram.maxMagnitude)
        let slack: Int? = elastic ? try lp.addVariable(lower: 0, upper: slackCap) : nil
        slackVariable = slack
        var exprs: [Int: [LPExpression]] = [graph.input: xs.map { LPExpression(terms: [($0, 1)], constant: 0) }]
        var neuronBounds: [Int: DomainBounds.NeuronInfo] = [:]
        for r in relus { neuronBounds[r.node] = r }
        var unstable = 0
        var zVarsByNode: [Int: [Int]] = [:]
        var binaries: [Int] = []

        for (i, node) in graph.nodes.enumerated() {
            do {
                func inputExprs(_ v: Int) throws -> [LPExpression] {
                    if let e = exprs[v] { return e }
                    if let c = graph.constants[v] { return c.data.map { LPExpression(terms: [], constant: $0) } }
                    throw LPEncodingError("value '\(graph.values[v].name)' is not available")
                }
                let isConst = node.inputs.map { graph.constants[$0] != nil }
                if isConst.allSatisfy({ $0 }) {
                    let t = try node.op.evaluate(node.inputs.map { graph.constants[$0]! })
                    exprs[node.output] = t.data.map { LPExpression(terms: [], constant: $0) }
                    continue
                }
                if node.op.preservesData {
                    exprs[node.output] = try inputExprs(node.inputs[0])
                    continue
                }
                let kind = node.op.boundKind(constantInputs: isConst)
                if kind == .elementwise {
                    // The operator describes its own encoding (`piecewiseLinearEncoding`).
                    guard let op = node.op as? any ElementwiseRelaxation, op.isPiecewiseLinear else {
                        throw LPEncodingError("node '\(node.name)' (\(node.opType)) is neither affine nor piecewise linear")
                    }
                    guard let info = neuronBounds[i] else { throw LPEncodingError("no bounds for node '\(node.name)' (\(node.opType))") }
                    let ein = try inputExprs(node.inputs[0])
                    guard info.lower.count == ein.count else { throw LPEncodingError("bounds of '\(node.name)' have the wrong size") }
                    var out: [LPExpression] = []
                    out.reserveCapacity(ein.count)
                    var zVars: [Int] = []
                    for j in 0..<ein.count {
                        let l = info.lower[j], u = info.upper[j]
                        guard l.isFinite, u.isFinite, l <= u else { throw LPEncodingError("bounds of '\(node.name)'[\(j)] are [\(l), \(u)]") }
                        // Widened against rounding, except at exact zeros (split constraints, sign
                        // facts), and never across 0, the kink of every piecewise-linear operator
                        // (`isPiecewiseLinear`): a stable neuron stays stable.
                        let lw = l == 0 ? 0 : l - 1e-9 * (1 + abs(l))
                        let uw = u == 0 ? 0 : u + 1e-9 * (1 + abs(u))
                        let zLo = l >= 0 ? max(0, lw) : lw
                        let zHi = u <= 0 ? min(0, uw) : uw
                        guard let encoding = op.piecewiseLinearEncoding(l: zLo, u: zHi, mode: mode == .milp ? .exact : .hull) else {
                            throw LPEncodingError("node '\(node.name)' (\(node.opType)) has no LP encoding on [\(zLo), \(zHi)] (neuron \(j))")
                        }
                        if case .rows = encoding {
                            // An unstable neuron's rows hold products of its bounds (big-M in MILP
                            // mode), which must stay within what GLPK is given (LinearProgram.maxMagnitude).
                            guard max(-l, u) <= Self.maxUnstableBound else {
                                throw LPEncodingError("bounds of '\(node.name)'[\(j)] are [\(l), \(u)]: an unstable \(node.opType) neuron needs "
                                                      + "bounds within \(Self.maxUnstableBound) in magnitude (their products enter the LP)")
                            }
                        }
                        let z = try lp.addVariable(lower: zLo, upper: zHi)
                        zVars.append(z)
                        // z - E = c
                        var terms = [(z, 1.0)]
                        for (v, a) in ein[j].terms { terms.append((v, -a)) }
                        if let s = slack {
                            try lp.addConstraint(terms + [(s, -1)], lower: -.infinity, upper: ein[j].constant)
                            try lp.addConstraint(terms + [(s, 1)], lower: ein[j].constant, upper: .infinity)
                        } else {
                            try lp.addConstraint(terms, lower: ein[j].constant, upper: ein[j].constant)
                        }
                        switch encoding {
                        case .affine(let slope, let intercept):
                            guard slope.isFinite, intercept.isFinite else {
                                throw LPEncodingError("node '\(node.name)' (\(node.opType)) gives non-finite coefficients")
                            }
                            out.append(LPExpression(terms: slope == 0 ? [] : [(z, slope)], constant: intercept))
                        case .rows(let yLower, let yUpper, let rows, let binary):
                            unstable += 1
                            let y = try lp.addVariable(lower: yLower, upper: yUpper)
                            var a: Int?
                            if binary && mode == .milp {
                                let b = try lp.addBinaryVariable()
                                a = b
                                binaries.append(b)
                            }
                            for r in rows {
                                guard r.a == 0 || a != nil else {
                                    throw LPEncodingError("node '\(node.name)' (\(node.opType)): an LP row uses a binary variable")
                                }
                                var rowTerms: [(Int, Double)] = []
                                if r.y != 0 { rowTerms.append((y, r.y)) }
                                if r.z != 0 { rowTerms.append((z, r.z)) }
                                if r.a != 0, let a { rowTerms.append((a, r.a)) }
                                try lp.addConstraint(rowTerms, lower: r.lower, upper: r.upper)
                            }
                            out.append(LPExpression(terms: [(y, 1)], constant: 0))
                        }
                    }
                    exprs[node.output] = out
                    zVarsByNode[i] = zVars
                    continue
                }
                guard kind == .affine else {
                    throw LPEncodingError("node '\(node.name)' (\(node.opType)) is neither affine nor piecewise linear")
                }
                exprs[node.output] = try Self.affine(node: node, graph: graph, inputs: inputExprs, variableCount: lp.variableCount)
            } catch let e as LPError {
                // Name the node whose numbers GLPK cannot be given.
                throw LPEncodingError("node '\(node.name)' (\(node.opType)): \(e.message)")
            }
        }
        guard let out = exprs[graph.outputs[0]] else { throw LPEncodingError("the output is not computed") }
        outputs = out
        unstableCount = unstable
        piecewiseLinearInputVariables = zVarsByNode
        binaryVariables = binaries
    }

    /// The output expressions of an affine node: a dense Jacobian per variable input
    /// (`Operator.affineJacobian`, the coefficients the bound engine propagates), composed with
    /// the input expressions.
    private static func affine(node: Node, graph: Graph, inputs: (Int) throws -> [LPExpression],
                               variableCount: Int) throws -> [LPExpression] {
        let base = node.inputs.map { v in graph.constants[v] ?? Tensor(shape: graph.values[v].shape, repeating: 0) }
        let out0 = try node.op.evaluate(base)
        let m = out0.data.count
        var parts: [(J: [Double], n: Int, exprs: [LPExpression])] = []   // J is m x n, row-major
        let ins = node.inputs
        let variable = ins.map { graph.constants[$0] == nil }
        for (p, v) in ins.enumerated() where variable[p] {
            let J = try node.op.affineJacobian(base, variable: variable, position: p, output: out0)
            parts.append((J, base[p].data.count, try inputs(v)))
        }
        var acc = [Double](repeating: 0, count: variableCount)
        var touched: [Int] = []
        var seen = [Bool](repeating: false, count: variableCount)
        var result: [LPExpression] = []
        result.reserveCapacity(m)
        for i in 0..<m {
            var c = out0.data[i]
            for part in parts {
                let n = part.n
                for kk in 0..<n {
                    let w = part.J[i * n + kk]
                    if w == 0 { continue }
                    let e = part.exprs[kk]
                    c += w * e.constant
                    for (v, a) in e.terms {
                        if !seen[v] { seen[v] = true; touched.append(v) }
                        acc[v] += w * a
                    }
                }
            }
            touched.sort()
            var terms: [(Int, Double)] = []
            terms.reserveCapacity(touched.count)
            for v in touched {
                if acc[v] != 0 { terms.append((v, acc[v])) }
                acc[v] = 0; seen[v] = false
            }
            touched.removeAll(keepingCapacity: true)
            guard c.isFinite, terms.allSatisfy({ $0.1.isFinite }) else {
                throw LPEncodingError("node '\(node.name)' (\(node.opType)) gives non-finite coefficients")
            }
            result.append(LPExpression(terms: terms, constant: c))
        }
        return result
    }

    /// `c · output - d` as LP terms and a constant.
    func rowExpression(_ atom: LinearAtom) -> LPExpression {
        var sums: [Int: Double] = [:]
        var c0 = -atom.d
        for (k, ck) in atom.c.enumerated() where ck != 0 {
            c0 += ck * outputs[k].constant
            for (v, a) in outputs[k].terms { sums[v, default: 0] += ck * a }
        }
        return LPExpression(terms: sums.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }, constant: c0)
    }

    /// Sets the objective to `c · output - d` (minimised).
    package func setObjective(row atom: LinearAtom) throws {
        let e = rowExpression(atom)
        try lp.setObjective(e.terms, constant: e.constant)
    }

    /// Sets the objective to the largest row of a clause (minimised): a single row directly,
    /// several through a variable `t >= row_k` bounded by `[lower, upper]`, which must contain
    /// max_k row_k at every input of the domain (e.g. max of the rows' lower bounds and max of
    /// their upper bounds). `key` identifies the clause so that its `t` is created once.
    package func setObjective(clause atoms: [LinearAtom], key: Int, lower: Double, upper: Double) throws {
        precondition(!atoms.isEmpty)
        if atoms.count == 1 { return try setObjective(row: atoms[0]) }
        let t: Int
        if let v = clauseVariables[key] { t = v } else {
            guard lower.isFinite, upper.isFinite, lower <= upper else { throw LPEncodingError("clause bounds [\(lower), \(upper)] are not finite") }
            t = try lp.addVariable(lower: lower, upper: upper)
            for a in atoms {
                let e = rowExpression(a)
                // t - row >= 0  <=>  t - terms >= constant
                try lp.addConstraint([(t, 1)] + e.terms.map { ($0.0, -$0.1) }, lower: e.constant, upper: .infinity)
            }
            clauseVariables[key] = t
        }
        try lp.setObjective([(t, 1)])
    }

    /// Sets the objective to the elastic slack (elastic mode).
    package func setSlackObjective() throws {
        guard let s = slackVariable else { throw LPEncodingError("not an elastic LP") }
        try lp.setObjective([(s, 1)])
    }

    /// The input part of a solution.
    package func inputPoint(_ result: LPResult) -> [Double]? {
        guard result.primal.count == lp.variableCount else { return nil }
        return inputVariables.map { result.primal[$0] }
    }
}
