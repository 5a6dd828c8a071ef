import Foundation
import CertusTensor
import CertusGraph
import CertusSpec
import CertusBounds
import CertusLP
import CertusVerify

/// How one exact solve ended.
public enum ExactLipschitzStatus: String, Sendable, Codable, Equatable {
    /// GLPK proved the optimum (gap 0, within its tolerances).
    case optimal
    /// The deadline stopped GLPK first: no exact value (an incumbent may be reported).
    case timeLimit = "time-limit"
    /// GLPK failed (the message says why).
    case failed
}

/// The exact local Lipschitz constant of one output over one region (`Certus.lipschitz` with `LipschitzOptions.exact`).
public struct ExactLipschitzValue: Sendable, Codable, Equatable {
    /// The model output (index into its flattened output).
    public var output: Int
    /// GLPK's outcome: optimal, time limit or failure.
    public var status: ExactLipschitzStatus
    /// The maximum over activation patterns of the gradient's dual norm (`optimal` only): the
    /// norm of the gradient of the pattern GLPK returns as optimal, recomputed in Double from
    /// the pattern (GLPK's own objective, equal up to its tolerances, is `milpObjective`).
    public var value: Double?
    /// GLPK's objective at its optimum or, on a time limit, at its best incumbent (nil: none).
    public var milpObjective: Double?
    /// Not optimal: the gradient norm of the best incumbent pattern (a value the optimum is at
    /// least, up to GLPK's tolerances), nil when there is none.
    public var incumbent: Double?
    /// A point of the region where the gradient's dual norm is `attained` (flattened input):
    /// the MILP's maximiser or, when that lies on a kink, a point inside the maximising
    /// pattern's linear region (largest margin from the kinks, by an LP).
    public var point: [Double]?
    /// The dual norm of `model.gradient(at: point)`: a true gradient norm, a valid lower bound
    /// on the constant; equal to `value` when the maximising pattern has a point with a positive
    /// `margin`.
    public var attained: Double?
    /// Smallest distance |z| of a pre-activation from its kink at `point`'s pattern witness (the
    /// LP's largest margin; <= 0: the pattern is realised only on kinks, see `ExactLipschitz`).
    public var margin: Double?
    /// Activation inputs whose interval contains the kink (one binary each).
    public var unstableNeurons: Int
    /// Gradient coordinates of undetermined sign (one binary each for |g_i|, L-inf input norm).
    public var signBinaries: Int
    /// MILPs solved (1 for the L-inf input norm; for L1 one per gradient coordinate and sign
    /// not excluded by its interval bound).
    public var milps: Int
    /// Wall-clock seconds of the MILP solve(s).
    public var timeSeconds: Double
    /// Why it is not optimal (time limit, GLPK failure), or nil.
    public var message: String?

    /// Creates a value; every field is as documented on its property.
    public init(output: Int, status: ExactLipschitzStatus, value: Double? = nil, milpObjective: Double? = nil,
                incumbent: Double? = nil, point: [Double]? = nil, attained: Double? = nil, margin: Double? = nil,
                unstableNeurons: Int = 0, signBinaries: Int = 0, milps: Int = 0, timeSeconds: Double = 0, message: String? = nil) {
        self.output = output; self.status = status; self.value = value; self.milpObjective = milpObjective
        self.incumbent = incumbent; self.point = point; self.attained = attained; self.margin = margin
        self.unstableNeurons = unstableNeurons; self.signBinaries = signBinaries; self.milps = milps
        self.timeSeconds = timeSeconds; self.message = message
    }
}

/// The exact constants of every analysed output (`Certus.lipschitz` with `LipschitzOptions.exact`).
public struct ExactLipschitzResult: Sendable, Codable, Equatable {
    /// The input norm (the gradient is measured in its dual norm).
    public var norm: LipschitzNorm
    /// One value per analysed output, in the order asked.
    public var perOutput: [ExactLipschitzValue]
    /// The largest `value` over the outputs when every one is optimal, else nil.
    public var value: Double?
    /// The largest `attained` gradient norm over the outputs (a valid lower bound), or nil.
    public var attained: Double?
    /// Whether every output was solved to optimality.
    public var complete: Bool
    /// Wall-clock seconds of the MILP solve(s).
    public var timeSeconds: Double
    /// "milp": a GLPK MILP over activation patterns, a cross-check, not a certified bound.
    public var method: String
}

/// Knobs of `ExactLipschitz` (defaults chosen for the small networks it is meant for).
package struct ExactLipschitzSettings: Sendable {
    /// Stop at this time (`time-limit` status, incumbent reported).
    package var deadline: Date? = nil
    /// Method of the pre-activation bounds that set the binaries and big-M constants
    /// (default alpha-CROWN: fewer unstable neurons, smaller constants).
    package var boundMethod: BoundMethod = .alphaCrown
    /// Tighten the bounds of unstable pre-activations and of the adjoints entering a product
    /// with an indicator by LPs over the relaxation built so far (two LPs per neuron; the LP
    /// optimum widened by `lpBoundTolerance`). Default true: tighter big-M constants make
    /// GLPK's branch and bound much faster. The LP values are GLPK's, not certified bounds.
    package var lpTightening: Bool = true
    /// Relative widening of an LP-tightened bound (times 1 + |bound|), so that a solver
    /// tolerance cannot cut a feasible pattern off.
    package var lpBoundTolerance: Double = 1e-7
    /// Gradient norms sampled at this many random points of the box (plus its centre) before
    /// the MILP: each MILP gets the row "objective >= (largest sampled value) (1 - 1e-6)", which
    /// cannot cut off the optimum (a sampled value is attained) and lets GLPK prune every
    /// branch that cannot reach it from the start, as an incumbent would. 0: no such row.
    package var objectiveCutSamples: Int = 256
    package init() {}
}

/// The exact local Lipschitz constant of a small piecewise-linear network (ReLU, LeakyReLU of
/// any slope, Abs: each activation with one kink at 0) over a box, as a mixed-integer linear
/// program over activation patterns solved with GLPK (after LipMIP, Jordan and Dimakis, "Exactly
/// Computing the Local Lipschitz Constant of ReLU Networks", NeurIPS 2020). A cross-check of
/// the certified bounds of `Lipschitz.analyze`, as `certus verify --method milp` is of the
/// verifier: GLPK's optimum within its tolerances, not a certified bound.
///
/// Quantity: L_j = max over the box of ||grad f_j(x)||_q, q the dual norm of the input norm
/// (L-inf input: the L1 norm of the gradient; L1 input: its L-inf norm). The L2 input norm is
/// refused (the L2 norm of the gradient is not linear).
///
/// Formulation, per output j (seed e_j), over the network's own graph (affine nodes, including
/// residual fan-in, and piecewise-linear activations, as `NetworkLP` encodes them):
/// - Forward: the input x in the box; every activation input z as an LP variable bounded by the
///   bound engine's (alpha-)CROWN bounds, optionally tightened by LPs; each neuron through its
///   operator's own exact encoding (`ElementwiseRelaxation.piecewiseLinearEncoding` in `.exact`
///   mode: a stable neuron is affine, an unstable one gets one binary a choosing its piece).
/// - Backward: the adjoint back through each affine node's transposed Jacobian (from the
///   operator's vector-Jacobian products, as `JacobianGraph` builds it) and through each
///   activation as f'(z) * adjoint, with f'(z) = s0 + (s1 - s0) a for an unstable neuron (the
///   slopes of the pieces a selects) and the product a * adjoint written exactly with the
///   adjoint's bounds (interval arithmetic backward, optionally LP-tightened): p <= U a,
///   p >= L a, p <= adjoint - L (1 - a), p >= adjoint - U (1 - a).
/// - Objective: L-inf input: max sum_i |g_i|, |g_i| through one binary per coordinate whose
///   interval contains 0 (t_i = g_i or -g_i); L1 input: max over i and sign s of s g_i, one
///   MILP each, coordinates whose interval bound cannot beat the best value skipped.
///
/// The Clarke set of an activation at its kink is the segment between its one-sided slopes
/// ([0, 1] for ReLU, [slope, 1] for LeakyReLU), whose ends are the binary's two values: the
/// norm is convex, so its maximum over the segment is at an end, and the MILP's optimum is the
/// maximum over the product of the neurons' Clarke sets (LipMIP's general Jacobian). That set
/// contains the Clarke Jacobian, and the two maxima agree unless the best pattern is realised
/// only on kinks (two neurons forced to 0 together, say): `point`, `attained` and `margin`
/// show it (a positive margin: the pattern's gradient is attained at `point`).
///
/// Not thread-safe across calls on one thread's GLPK objects; every LP is built, solved and
/// released on the calling thread.
package enum ExactLipschitz {
    /// The exact constants of `outputs` (default all) of `model` (first output) over `box`.
    /// - Returns: one value per output, in the order of `outputs`; a time limit gives status
    ///   `timeLimit` and no `value`.
    /// - Throws: `JacobianError` naming the node for a model that is not made of affine
    ///   operators and piecewise-linear activations with a kink at 0 (Sigmoid, a product of two
    ///   variables, ...), for the L2 norm, a missing output, a region of the wrong size, empty or
    ///   not finite, or bounds GLPK cannot be given; `BoundError` from the bound engine.
    package static func solve(model: Graph, box: InputBox, outputs: [Int]? = nil, norm: LipschitzNorm = .inf,
                             deadline: Date? = nil) throws -> [ExactLipschitzValue] {
        var s = ExactLipschitzSettings()
        s.deadline = deadline
        return try solve(model: model, box: box, outputs: outputs, norm: norm, settings: s)
    }

    /// As `solve(model:box:outputs:norm:deadline:)`, with every knob.
    package static func solve(model: Graph, box: InputBox, outputs: [Int]? = nil, norm: LipschitzNorm = .inf,
                             settings: ExactLipschitzSettings) throws -> [ExactLipschitzValue] {
        guard norm != .l2 else {
            throw JacobianError("the exact mode (a MILP) needs a polyhedral gradient norm: input norm inf (gradient L1) "
                                + "or 1 (gradient L-inf); the L2 norm of the gradient is not linear")
        }
        let m = model.outputCount
        let outs = outputs ?? Array(0..<m)
        for j in outs where j < 0 || j >= m { throw JacobianError("output \(j) does not exist (the model has \(m))") }
        let n = model.inputCount
        guard box.count == n else { throw JacobianError("the region has \(box.count) inputs, the model \(n)") }
        guard zip(box.lower, box.upper).allSatisfy({ $0.0 <= $0.1 && $0.0.isFinite && $0.1.isFinite }) else {
            throw JacobianError("the region is empty or not finite")
        }
        let problem = try PatternProblem(model: model, box: box, settings: settings)
        var values: [ExactLipschitzValue] = []
        for j in outs {
            let seed = (0..<m).map { $0 == j ? 1.0 : 0.0 }
            values.append(try problem.solve(output: j, seed: seed, norm: norm))
        }
        return values
    }

    /// The exact constants over the union of `boxes` (a VNN-LIB region with several input
    /// boxes): per output the largest value over the boxes (optimal only when every box is).
    /// - Throws: as `solve(model:box:...)`, and for an empty list of boxes.
    package static func solve(model: Graph, boxes: [InputBox], outputs: [Int]? = nil, norm: LipschitzNorm = .inf,
                             settings: ExactLipschitzSettings = ExactLipschitzSettings()) throws -> ExactLipschitzResult {
        let start = Date()
        guard !boxes.isEmpty else { throw JacobianError("the region has no input box") }
        var merged: [ExactLipschitzValue] = []
        for box in boxes {
            let vs = try solve(model: model, box: box, outputs: outputs, norm: norm, settings: settings)
            if merged.isEmpty { merged = vs; continue }
            for k in merged.indices { merged[k] = merge(merged[k], vs[k]) }
        }
        let complete = merged.allSatisfy { $0.status == .optimal }
        return ExactLipschitzResult(norm: norm, perOutput: merged,
                                    value: complete ? merged.compactMap(\.value).max() : nil,
                                    attained: merged.compactMap(\.attained).max(),
                                    complete: complete, timeSeconds: Date().timeIntervalSince(start), method: "milp")
    }

    /// One output's values over two boxes: the larger value, the better attained point.
    static func merge(_ a: ExactLipschitzValue, _ b: ExactLipschitzValue) -> ExactLipschitzValue {
        var r = a
        let statuses = [a.status, b.status]
        r.status = statuses.contains(.failed) ? .failed : (statuses.contains(.timeLimit) ? .timeLimit : .optimal)
        r.value = r.status == .optimal ? Swift.max(a.value ?? 0, b.value ?? 0) : nil
        r.milpObjective = [a.milpObjective, b.milpObjective].compactMap { $0 }.max()
        let known = [a.value ?? a.incumbent, b.value ?? b.incumbent].compactMap { $0 }
        r.incumbent = r.status == .optimal ? nil : known.max()
        if (b.attained ?? -1) > (a.attained ?? -1) { r.point = b.point; r.attained = b.attained; r.margin = b.margin }
        r.unstableNeurons = Swift.max(a.unstableNeurons, b.unstableNeurons)
        r.signBinaries = Swift.max(a.signBinaries, b.signBinaries)
        r.milps = a.milps + b.milps
        r.timeSeconds = a.timeSeconds + b.timeSeconds
        r.message = [a.message, b.message].compactMap { $0 }.first
        return r
    }

    /// The dual norm of `norm` of a gradient.
    static func dualNorm(_ g: [Double], _ norm: LipschitzNorm) -> Double {
        switch norm {
        case .inf: return g.reduce(0) { $0 + Swift.abs($1) }
        case .l2: return g.reduce(0) { $0 + $1 * $1 }.squareRoot()
        case .l1: return g.map { Swift.abs($0) }.max() ?? 0
        }
    }
}

// MARK: - Linear forms over LP variables

/// An affine expression `Σ coefficient · x[variable] + constant` over LP variables, with an
/// interval known to contain its value on every feasible point.
struct LinearForm {
    var terms: [(Int, Double)] = []
    var constant: Double = 0
    var lower: Double = 0
    var upper: Double = 0

    static func constant(_ c: Double) -> LinearForm { LinearForm(terms: [], constant: c, lower: c, upper: c) }
    var isConstant: Bool { terms.isEmpty }

    func value(_ x: [Double]) -> Double { terms.reduce(constant) { $0 + $1.1 * x[$1.0] } }
}

/// Sums of scaled linear forms, accumulated densely (variables by index).
struct FormAccumulator {
    var acc: [Double] = []
    var seen: [Bool] = []
    var touched: [Int] = []
    var constant = 0.0
    var lower = 0.0, upper = 0.0

    mutating func add(_ f: LinearForm, times w: Double) {
        guard w != 0 else { return }
        constant += w * f.constant
        lower += w > 0 ? w * f.lower : w * f.upper
        upper += w > 0 ? w * f.upper : w * f.lower
        for (v, a) in f.terms {
            if v >= acc.count {
                acc += [Double](repeating: 0, count: v + 1 - acc.count + 64)
                seen += [Bool](repeating: false, count: acc.count - seen.count)
            }
            if !seen[v] { seen[v] = true; touched.append(v) }
            acc[v] += w * a
        }
    }

    mutating func take() -> LinearForm {
        touched.sort()
        var terms: [(Int, Double)] = []
        terms.reserveCapacity(touched.count)
        for v in touched {
            if acc[v] != 0 { terms.append((v, acc[v])) }
            acc[v] = 0; seen[v] = false
        }
        touched.removeAll(keepingCapacity: true)
        let f = LinearForm(terms: terms, constant: constant, lower: lower, upper: upper)
        constant = 0; lower = 0; upper = 0
        return f
    }
}

// MARK: - The MILP

/// One activation neuron of the encoding.
struct PatternNeuron {
    /// LP variable of its input z.
    var z: Int
    /// Bounds of z used (widened, never across the kink).
    var lower: Double, upper: Double
    /// Slope of the derivative when fixed (a stable neuron), or nil.
    var fixedSlope: Double?
    /// The binary choosing the piece (unstable neurons) and the slopes it selects (a = 0, a = 1).
    var binary: Int?
    var slope0: Double = 0, slope1: Double = 0
    /// Whether the binary's value 1 selects the right piece (z >= 0).
    var rightWhenOne = true
}

/// How each node of the graph enters the encoding.
enum PatternStep {
    case constant
    case passThrough(Int)
    case affine([(position: Int, value: Int)])
    /// The operator, its input value, and the slopes of its left (z <= 0) and right pieces.
    case piecewise(any ElementwiseRelaxation, Int, left: Double, right: Double)
}

/// An LP (or MILP) under construction, with its variables' bounds mirrored for intervals.
struct PatternLP {
    let lp = LinearProgram()
    var lower: [Double] = []
    var upper: [Double] = []

    mutating func variable(_ lo: Double, _ hi: Double, binary: Bool = false) throws -> Int {
        let v = binary ? try lp.addBinaryVariable() : try lp.addVariable(lower: lo, upper: hi)
        lower.append(binary ? 0 : lo); upper.append(binary ? 1 : hi)
        return v
    }

    /// The interval of `f`'s terms over the variables' bounds, intersected with `f`'s own.
    func tightened(_ f: LinearForm) -> LinearForm {
        var lo = f.constant, hi = f.constant
        for (v, a) in f.terms {
            lo += a > 0 ? a * lower[v] : a * upper[v]
            hi += a > 0 ? a * upper[v] : a * lower[v]
        }
        var r = f
        if !(lo.isNaN || hi.isNaN) {
            r.lower = Swift.max(f.lower, lo); r.upper = Swift.min(f.upper, hi)
            if r.lower > r.upper { let mid = (r.lower + r.upper) / 2; r.lower = mid; r.upper = mid }
        }
        return r
    }

    /// `f` as a variable-free row: lower <= f <= upper.
    func constrain(_ f: LinearForm, extra: [(Int, Double)] = [], lower lo: Double, upper hi: Double) throws {
        try lp.addConstraint(f.terms + extra, lower: lo - f.constant, upper: hi - f.constant)
    }
}

/// What every MILP of one model and box shares: the graph (after GeLU fusion), the plan, the
/// pre-activation bounds and the affine Jacobians.
final class PatternProblem {
    let model: Graph
    let graph: Graph
    let box: InputBox
    let settings: ExactLipschitzSettings
    var builder: Builder
    var steps: [PatternStep] = []
    /// Bounds of every activation input (by node index), after tightening.
    var bounds: [Int: (lower: [Double], upper: [Double])] = [:]
    /// Biases f(0) of affine nodes.
    var biases: [Int: [Double]] = [:]

    init(model: Graph, box: InputBox, settings: ExactLipschitzSettings) throws {
        self.model = model
        self.box = box
        self.settings = settings
        let engine = BoundEngine(graph: model)
        graph = engine.graph
        builder = Builder(model: graph)
        try plan()
        var bs = BoundSettings(method: settings.boundMethod)
        bs.deadline = settings.deadline
        let root = try engine.rootBounds(box: box, settings: bs)
        for (i, step) in steps.enumerated() {
            guard case .piecewise(_, let v, _, _) = step else { continue }
            let count = builder.size(v)
            var lo: [Double] = [], hi: [Double] = []
            for k in 0..<count {
                guard let b = root.bounds(value: v, index: k), b.lower.isFinite, b.upper.isFinite, b.lower <= b.upper else {
                    throw JacobianError("node '\(graph.nodes[i].name)' (\(graph.nodes[i].opType)): no finite bounds on its input [\(k)]")
                }
                lo.append(b.lower); hi.append(b.upper)
            }
            bounds[i] = (lo, hi)
        }
        if settings.lpTightening { try tightenForward() }
    }

    var remaining: Double {
        guard let d = settings.deadline else { return .infinity }
        return Swift.max(0, d.timeIntervalSinceNow)
    }

    /// Classifies every node, refusing what the encoding cannot express (named).
    func plan() throws {
        for node in graph.nodes {
            let variable = node.inputs.enumerated().filter { !builder.isConstant[$0.element] }
            if variable.isEmpty { steps.append(.constant); continue }
            let whereNode = "node '\(node.name)' (\(node.opType))"
            let needs = "the exact mode needs affine operators and piecewise-linear activations with one kink at 0 (ReLU, LeakyReLU)"
            if node.op.preservesData {
                guard variable.count == 1, variable[0].offset == 0 else { throw JacobianError("\(whereNode): unexpected inputs") }
                steps.append(.passThrough(variable[0].element)); continue
            }
            switch node.op.boundKind(constantInputs: node.inputs.map { builder.isConstant[$0] }) {
            case .affine:
                steps.append(.affine(variable.map { (position: $0.offset, value: $0.element) }))
            case .elementwise:
                guard let op = node.op as? any ElementwiseRelaxation, op.isPiecewiseLinear, variable.count == 1,
                      case .affine(let sL, _)? = op.piecewiseLinearEncoding(l: -1, u: -1, mode: .exact),
                      case .affine(let sR, _)? = op.piecewiseLinearEncoding(l: 1, u: 1, mode: .exact), sL.isFinite, sR.isFinite else {
                    throw JacobianError("\(whereNode): \(needs); \(node.opType) is not piecewise linear")
                }
                steps.append(.piecewise(op, variable[0].element, left: sL, right: sR))
            case .bilinear:
                throw JacobianError("\(whereNode): \(needs); this node is a product of two variables")
            case .unsupported(let why):
                throw JacobianError("\(whereNode): \(needs); this node is not supported (\(why))")
            }
        }
        guard builder.isConstant[graph.outputs[0]] == false else { throw JacobianError("the output does not depend on the input") }
    }

    /// f(0) of affine node `i` (its offset).
    func bias(_ i: Int) throws -> [Double] {
        if let b = biases[i] { return b }
        let node = graph.nodes[i]
        let b = try node.op.evaluate(try builder.inputTensors(node)).data
        guard b.allSatisfy(\.isFinite) else { throw JacobianError("node '\(node.name)' (\(node.opType)): its offset is not finite") }
        biases[i] = b
        return b
    }

    /// Widened bounds of a neuron's input, never across the kink (as `NetworkLP`).
    static func widened(_ l: Double, _ u: Double) -> (Double, Double) {
        let lw = l == 0 ? 0 : l - 1e-9 * (1 + Swift.abs(l))
        let uw = u == 0 ? 0 : u + 1e-9 * (1 + Swift.abs(u))
        return (l >= 0 ? Swift.max(0, lw) : lw, u <= 0 ? Swift.min(0, uw) : uw)
    }

    /// The forward encoding (inputs, every activation through its exact encoding) into `p`.
    /// `stopBefore`: build only the nodes before this index (bound tightening).
    /// - Returns: the forms of every value computed and the neurons by node.
    func forward(into p: inout PatternLP, stopBefore: Int? = nil, relaxed: Bool = false) throws
        -> (forms: [Int: [LinearForm]], neurons: [Int: [PatternNeuron]], inputs: [Int]) {
        var forms: [Int: [LinearForm]] = [:]
        var xs: [Int] = []
        for i in 0..<box.count {
            let v = try p.variable(box.lower[i], box.upper[i])
            xs.append(v)
        }
        forms[graph.input] = xs.map { LinearForm(terms: [($0, 1)], constant: 0, lower: p.lower[$0], upper: p.upper[$0]) }
        var neurons: [Int: [PatternNeuron]] = [:]
        for (i, node) in graph.nodes.enumerated() {
            if let s = stopBefore, i >= s { break }
            let whereNode = "node '\(node.name)' (\(node.opType))"
            do {
                switch steps[i] {
                case .constant: continue
                case .passThrough(let v):
                    guard let f = forms[v] else { throw JacobianError("\(whereNode): its input is not computed") }
                    forms[node.output] = f
                case .affine(let inputs):
                    let b = try bias(i)
                    let outN = b.count
                    var parts: [(J: [Double], n: Int, f: [LinearForm])] = []
                    for (pos, v) in inputs {
                        guard let f = forms[v] else { throw JacobianError("\(whereNode): its input is not computed") }
                        parts.append((try builder.jacobian(node: i, position: pos), f.count, f))
                    }
                    var acc = FormAccumulator()
                    var out: [LinearForm] = []
                    out.reserveCapacity(outN)
                    for r in 0..<outN {
                        acc.add(.constant(b[r]), times: 1)
                        for part in parts {
                            for k in 0..<part.n { acc.add(part.f[k], times: part.J[r * part.n + k]) }
                        }
                        out.append(p.tightened(acc.take()))
                    }
                    guard out.allSatisfy({ $0.constant.isFinite && $0.terms.allSatisfy { $0.1.isFinite } }) else {
                        throw JacobianError("\(whereNode) gives non-finite coefficients")
                    }
                    forms[node.output] = out
                case .piecewise(let op, let v, let sL, let sR):
                    guard let ein = forms[v], let bd = bounds[i], bd.lower.count == ein.count else {
                        throw JacobianError("\(whereNode): its input is not computed")
                    }
                    var out: [LinearForm] = []
                    var list: [PatternNeuron] = []
                    for k in 0..<ein.count {
                        let (zl, zu) = Self.widened(bd.lower[k], bd.upper[k])
                        guard let enc = op.piecewiseLinearEncoding(l: zl, u: zu, mode: relaxed ? .hull : .exact) else {
                            throw JacobianError("\(whereNode) has no encoding on [\(zl), \(zu)] (neuron \(k))")
                        }
                        if case .rows = enc, Swift.max(-zl, zu) > NetworkLP.maxUnstableBound {
                            throw JacobianError("\(whereNode): the bounds [\(zl), \(zu)] of neuron \(k) are too large for GLPK")
                        }
                        let z = try p.variable(zl, zu)
                        try p.constrain(ein[k], extra: [(z, -1)], lower: 0, upper: 0)
                        var neuron = PatternNeuron(z: z, lower: zl, upper: zu)
                        switch enc {
                        case .affine(let slope, let intercept):
                            neuron.fixedSlope = slope
                            let f = LinearForm(terms: slope == 0 ? [] : [(z, slope)], constant: intercept,
                                               lower: Swift.min(slope * zl, slope * zu) + intercept,
                                               upper: Swift.max(slope * zl, slope * zu) + intercept)
                            out.append(f)
                        case .rows(let yLower, let yUpper, let rows, let hasBinary):
                            let y = try p.variable(yLower, yUpper)
                            var a: Int? = nil
                            if hasBinary && !relaxed {
                                let bin = try p.variable(0, 1, binary: true)
                                a = bin
                                // Which piece each value of the binary selects: a row set that holds
                                // at (u, f(u)) with a = 1 and at (l, f(l)) with a = 0 (kinkAtZero's
                                // convention), or the mirror image.
                                func holds(_ zv: Double, _ av: Double) -> Bool {
                                    rows.allSatisfy { $0.holds(z: zv, y: op.apply(zv), a: av, tolerance: 1e-9 * (1 + Swift.abs(zv))) }
                                }
                                if holds(zu, 1) && holds(zl, 0) && !(holds(zl, 1) && holds(zu, 0)) {
                                    neuron.slope0 = sL; neuron.slope1 = sR; neuron.rightWhenOne = true
                                } else if holds(zu, 0) && holds(zl, 1) && !(holds(zl, 0) && holds(zu, 1)) {
                                    neuron.slope0 = sR; neuron.slope1 = sL; neuron.rightWhenOne = false
                                } else {
                                    throw JacobianError("\(whereNode): its encoding's binary does not select a piece (neuron \(k))")
                                }
                                neuron.binary = bin
                            }
                            for r in rows {
                                var t: [(Int, Double)] = []
                                if r.y != 0 { t.append((y, r.y)) }
                                if r.z != 0 { t.append((z, r.z)) }
                                if r.a != 0 {
                                    guard let a else { throw JacobianError("\(whereNode): an LP row uses a binary variable") }
                                    t.append((a, r.a))
                                }
                                try p.lp.addConstraint(t, lower: r.lower, upper: r.upper)
                            }
                            out.append(LinearForm(terms: [(y, 1)], constant: 0, lower: yLower, upper: yUpper))
                        }
                        list.append(neuron)
                    }
                    forms[node.output] = out
                    neurons[i] = list
                }
            } catch let e as LPError {
                throw JacobianError("\(whereNode): \(e.message)")
            }
        }
        return (forms, neurons, xs)
    }

    /// Tightens the bounds of every unstable activation input, node by node, by minimising and
    /// maximising it over the LP relaxation (convex hulls) of the nodes before it.
    func tightenForward() throws {
        for (i, step) in steps.enumerated() {
            guard case .piecewise(_, let v, _, _) = step, var bd = bounds[i] else { continue }
            let open = bd.lower.indices.filter { bd.lower[$0] < 0 && bd.upper[$0] > 0 }
            if open.isEmpty { continue }
            var p = PatternLP()
            let built = try forward(into: &p, stopBefore: i, relaxed: true)
            guard let forms = built.forms[v] else { continue }
            for k in open {
                if remaining <= 0 { return }
                let (lo, hi) = try lpRange(of: forms[k], in: p)
                bd.lower[k] = Swift.max(bd.lower[k], lo)
                bd.upper[k] = Swift.min(bd.upper[k], hi)
                if bd.lower[k] > bd.upper[k] { let mid = (bd.lower[k] + bd.upper[k]) / 2; bd.lower[k] = mid; bd.upper[k] = mid }
            }
            bounds[i] = bd
        }
    }

    /// [min, max] of `f` over `p`'s LP relaxation (GLPK's optima, widened by
    /// `lpBoundTolerance`), or (-inf, inf) where the LP is not solved to optimality.
    func lpRange(of f: LinearForm, in p: PatternLP) throws -> (Double, Double) {
        if f.isConstant { return (f.constant, f.constant) }
        var opts = LPOptions(timeLimit: Swift.min(10, remaining))
        opts.integer = false
        var r: [Double] = []
        for maximize in [false, true] {
            try p.lp.setObjective(f.terms, constant: f.constant, maximize: maximize)
            let res = p.lp.solve(options: opts)
            guard res.status == .optimal, let v = res.objective, v.isFinite else { return (-.infinity, .infinity) }
            let pad = settings.lpBoundTolerance * (1 + Swift.abs(v))
            r.append(maximize ? v + pad : v - pad)
        }
        return (r[0], r[1])
    }

    /// The backward encoding of the gradient for `seed`, on top of a forward encoding in `p`.
    /// - Returns: the forms of the gradient's coordinates.
    func backward(into p: inout PatternLP, neurons: [Int: [PatternNeuron]], seed: [Double], tighten: Bool) throws -> [LinearForm] {
        var adj: [Int: [LinearForm]] = [graph.outputs[0]: seed.map { .constant($0) }]
        func accumulate(_ v: Int, _ c: [LinearForm]) {
            guard let old = adj[v] else { adj[v] = c; return }
            var acc = FormAccumulator()
            adj[v] = zip(old, c).map { a, b in acc.add(a, times: 1); acc.add(b, times: 1); return acc.take() }
        }
        let n = model.inputCount
        for i in graph.nodes.indices.reversed() {
            let node = graph.nodes[i]
            guard let a = adj[node.output] else { continue }
            let whereNode = "node '\(node.name)' (\(node.opType))"
            do {
                switch steps[i] {
                case .constant: continue
                case .passThrough(let v): accumulate(v, a)
                case .affine(let inputs):
                    for (pos, v) in inputs {
                        let J = try builder.jacobian(node: i, position: pos)
                        let inN = builder.size(v), outN = a.count
                        var acc = FormAccumulator()
                        var c: [LinearForm] = []
                        c.reserveCapacity(inN)
                        for k in 0..<inN {
                            for o in 0..<outN { acc.add(a[o], times: J[o * inN + k]) }
                            c.append(p.tightened(acc.take()))
                        }
                        accumulate(v, c)
                    }
                case .piecewise(_, let v, _, _):
                    guard let list = neurons[i] else { throw JacobianError("\(whereNode): not encoded") }
                    var c: [LinearForm] = []
                    for (k, neuron) in list.enumerated() {
                        var f = a[k]
                        if let s = neuron.fixedSlope {
                            c.append(LinearForm(terms: s == 0 ? [] : f.terms.map { ($0.0, s * $0.1) }, constant: s * f.constant,
                                                lower: Swift.min(s * f.lower, s * f.upper), upper: Swift.max(s * f.lower, s * f.upper)))
                            continue
                        }
                        guard let d = neuron.binary else { throw JacobianError("\(whereNode): neuron \(k) has no binary") }
                        let s0 = neuron.slope0, s1 = neuron.slope1
                        let ends = [s0 * f.lower, s0 * f.upper, s1 * f.lower, s1 * f.upper]
                        if f.isConstant {
                            // f'(z) a with a constant: (s0 + (s1 - s0) d) a.
                            let w = (s1 - s0) * f.constant
                            c.append(LinearForm(terms: w == 0 ? [] : [(d, w)], constant: s0 * f.constant,
                                                lower: ends.min()!, upper: ends.max()!))
                            continue
                        }
                        if tighten && settings.lpTightening && remaining > 0 && f.lower < 0 && f.upper > 0 {
                            let (lo, hi) = try lpRange(of: f, in: p)
                            f.lower = Swift.max(f.lower, lo); f.upper = Swift.min(f.upper, hi)
                            if f.lower > f.upper { let mid = (f.lower + f.upper) / 2; f.lower = mid; f.upper = mid }
                        }
                        // p = d * a, exactly for d in {0, 1}, with a in [L, U] (widened).
                        let L = f.lower - 1e-9 * (1 + Swift.abs(f.lower)), U = f.upper + 1e-9 * (1 + Swift.abs(f.upper))
                        guard L.isFinite, U.isFinite, Swift.max(-L, U) <= NetworkLP.maxUnstableBound else {
                            throw JacobianError("\(whereNode): the adjoint of neuron \(k) has bounds [\(L), \(U)] GLPK cannot be given")
                        }
                        let pv = try p.variable(Swift.min(0, L), Swift.max(0, U))
                        try p.lp.addConstraint([(pv, 1), (d, -U)], lower: -.infinity, upper: 0)
                        try p.lp.addConstraint([(pv, 1), (d, -L)], lower: 0, upper: .infinity)
                        let neg = f.terms.map { ($0.0, -$0.1) }
                        try p.lp.addConstraint([(pv, 1), (d, -L)] + neg, lower: -.infinity, upper: f.constant - L)
                        try p.lp.addConstraint([(pv, 1), (d, -U)] + neg, lower: f.constant - U, upper: .infinity)
                        var acc = FormAccumulator()
                        acc.add(f, times: s0)
                        acc.add(LinearForm(terms: [(pv, 1)], constant: 0, lower: Swift.min(0, L), upper: Swift.max(0, U)), times: s1 - s0)
                        var r = acc.take()
                        r.lower = Swift.max(r.lower, ends.min()!); r.upper = Swift.min(r.upper, ends.max()!)
                        c.append(p.tightened(r))
                    }
                    accumulate(v, c)
                }
            } catch let e as LPError {
                throw JacobianError("\(whereNode): \(e.message)")
            }
        }
        return adj[graph.input] ?? [LinearForm](repeating: .constant(0), count: n)
    }

    /// The gradient of `seed` for one activation pattern (slope per neuron of every activation
    /// node), in Double.
    func patternGradient(seed: [Double], slopes: [Int: [Double]]) throws -> [Double] {
        var adj: [Int: [Double]] = [graph.outputs[0]: seed]
        func accumulate(_ v: Int, _ c: [Double]) {
            if let old = adj[v] { adj[v] = zip(old, c).map { $0 + $1 } } else { adj[v] = c }
        }
        for i in graph.nodes.indices.reversed() {
            guard let a = adj[graph.nodes[i].output] else { continue }
            switch steps[i] {
            case .constant: continue
            case .passThrough(let v): accumulate(v, a)
            case .affine(let inputs):
                for (pos, v) in inputs {
                    let J = try builder.jacobian(node: i, position: pos)
                    let inN = builder.size(v)
                    var c = [Double](repeating: 0, count: inN)
                    for o in 0..<a.count where a[o] != 0 { for k in 0..<inN { c[k] += a[o] * J[o * inN + k] } }
                    accumulate(v, c)
                }
            case .piecewise(_, let v, _, _):
                guard let s = slopes[i] else { throw JacobianError("node '\(graph.nodes[i].name)': no pattern") }
                accumulate(v, zip(a, s).map { $0 * $1 })
            }
        }
        return adj[graph.input] ?? [Double](repeating: 0, count: model.inputCount)
    }

    /// The pattern (slopes) of a MILP solution.
    func pattern(_ neurons: [Int: [PatternNeuron]], primal: [Double]) -> [Int: [Double]] {
        neurons.mapValues { list in
            list.map { nr in
                if let s = nr.fixedSlope { return s }
                return primal[nr.binary!] > 0.5 ? nr.slope1 : nr.slope0
            }
        }
    }

    /// A point inside the linear region of a pattern: the LP maximising the smallest distance
    /// of an activation input from its kink, the binaries fixed. nil when it is not solved.
    func witness(binaries: [Int: Double]) throws -> (x: [Double], margin: Double)? {
        var p = PatternLP()
        let built = try forward(into: &p)
        var reach = 1.0
        for list in built.neurons.values { for nr in list { reach = Swift.max(reach, Swift.abs(nr.lower), Swift.abs(nr.upper)) } }
        let mv = try p.variable(-reach, reach)
        for list in built.neurons.values {
            for nr in list {
                let active: Bool
                if let b = nr.binary {
                    let on = (binaries[b] ?? 0) > 0.5
                    try p.lp.setVariableBounds(b, lower: on ? 1 : 0, upper: on ? 1 : 0)
                    active = on == nr.rightWhenOne
                } else if nr.lower >= 0 && nr.upper > nr.lower {
                    active = true
                } else if nr.upper <= 0 && nr.upper > nr.lower {
                    active = false
                } else { continue }
                if active { try p.lp.addConstraint([(nr.z, 1), (mv, -1)], lower: 0, upper: .infinity) }
                else { try p.lp.addConstraint([(nr.z, 1), (mv, 1)], lower: -.infinity, upper: 0) }
            }
        }
        try p.lp.setObjective([(mv, 1)], maximize: true)
        var opts = LPOptions(timeLimit: Swift.min(10, Swift.max(1, remaining)))
        opts.integer = false
        let res = p.lp.solve(options: opts)
        guard res.status == .optimal, let m = res.objective else { return nil }
        let x = built.inputs.map { Swift.min(box.upper[$0], Swift.max(box.lower[$0], res.primal[$0])) }
        return (x, m)
    }

    /// The exact constant of one output.
    func solve(output j: Int, seed: [Double], norm: LipschitzNorm) throws -> ExactLipschitzValue {
        let start = Date()
        var p = PatternLP()
        let built = try forward(into: &p)
        let g = try backward(into: &p, neurons: built.neurons, seed: seed, tighten: true)
        let unstable = built.neurons.values.reduce(0) { $0 + $1.filter { $0.binary != nil }.count }
        var result = ExactLipschitzValue(output: j, status: .optimal, unstableNeurons: unstable)
        // The objectives: one (L-inf input) or one per coordinate and sign (L1 input).
        var objectives: [(terms: [(Int, Double)], constant: Double, bound: Double, value: ([Double]) -> Double)] = []
        switch norm {
        case .inf:
            var terms: [(Int, Double)] = []
            var constant = 0.0, bound = 0.0
            for gi in g {
                let gl = gi.lower, gu = gi.upper
                if gl >= 0 || gi.isConstant && gi.constant >= 0 {
                    terms += gi.terms; constant += gi.constant; bound += gu
                } else if gu <= 0 || gi.isConstant {
                    terms += gi.terms.map { ($0.0, -$0.1) }; constant -= gi.constant; bound += -gl
                } else {
                    // t = |g| with one binary s (s = 1: g >= 0).
                    let Lg = gl - 1e-9 * (1 + Swift.abs(gl)), Ug = gu + 1e-9 * (1 + Swift.abs(gu))
                    let t = try p.variable(0, Swift.max(-Lg, Ug))
                    let s = try p.variable(0, 1, binary: true)
                    result.signBinaries += 1
                    try p.constrain(gi, extra: [(t, -1)], lower: -.infinity, upper: 0)                // t >= g
                    try p.constrain(gi, extra: [(t, 1)], lower: 0, upper: .infinity)                  // t >= -g
                    try p.constrain(gi, extra: [(t, -1), (s, 2 * Lg)], lower: 2 * Lg, upper: .infinity)   // t <= g + 2(-Lg)(1 - s)
                    try p.constrain(gi, extra: [(t, 1), (s, -2 * Ug)], lower: -.infinity, upper: 0)      // t <= -g + 2 Ug s
                    terms.append((t, 1)); bound += Swift.max(-Lg, Ug)
                }
            }
            objectives.append((terms, constant, bound, { ExactLipschitz.dualNorm($0, .inf) }))
        case .l1:
            for (i, gi) in g.enumerated() {
                objectives.append((gi.terms, gi.constant, gi.upper, { $0[i] }))
                objectives.append((gi.terms.map { ($0.0, -$0.1) }, -gi.constant, -gi.lower, { -$0[i] }))
            }
            objectives.sort { $0.bound > $1.bound }
        case .l2:
            throw JacobianError("the exact mode needs the input norm inf or 1")
        }
        var best: (value: Double, objective: Double, primal: [Double])? = nil
        var incumbent: (value: Double, objective: Double, primal: [Double])? = nil
        // Gradients at sampled points of the box: attained values of every objective.
        var sampledGradients: [[Double]] = []
        if settings.objectiveCutSamples > 0 {
            var rng = SplitMix64(seed: 0x5EED_0000 &+ UInt64(j))
            let n = box.count
            var points = [(0..<n).map { (box.lower[$0] + box.upper[$0]) / 2 }]
            for _ in 0..<settings.objectiveCutSamples {
                points.append((0..<n).map { box.lower[$0] + (box.upper[$0] - box.lower[$0]) * rng.nextUnit() })
            }
            for x in points {
                if let grad = try? model.gradient(at: x, outputWeights: seed).dx, grad.allSatisfy(\.isFinite) {
                    sampledGradients.append(grad)
                    let v = ExactLipschitz.dualNorm(grad, norm)
                    if result.attained == nil || v > result.attained! { result.attained = v; result.point = x }
                }
            }
        }
        for obj in objectives {
            if let b = best, obj.bound <= b.value * (1 + 1e-9) + 1e-12 { continue }
            try p.lp.setObjective(obj.terms, constant: obj.constant, maximize: true)
            var opts = LPOptions(timeLimit: remaining)
            opts.mipGap = 0
            // objective >= a value attained at a sampled point (slightly lowered): never cuts the
            // optimum off, prunes what cannot reach it.
            var cutRow: Int? = nil
            if let attained = sampledGradients.map(obj.value).max(), attained > 0, !obj.terms.isEmpty {
                let floor = attained * (1 - 1e-6) - 1e-9 - obj.constant
                cutRow = try p.lp.addConstraint(obj.terms, lower: floor, upper: .infinity)
            }
            var res = p.lp.solve(options: opts)
            if let row = cutRow {
                try p.lp.setConstraintBounds(row, lower: -.infinity, upper: .infinity)
                if res.status == .infeasible {
                    // (GLPK's tolerances against the row: solve without it.)
                    opts.timeLimit = remaining
                    res = p.lp.solve(options: opts)
                }
            }
            result.milps += 1
            func patternValue() throws -> Double {
                let grad = try patternGradient(seed: seed, slopes: pattern(built.neurons, primal: res.primal))
                return ExactLipschitz.dualNorm(grad, norm)
            }
            switch res.status {
            case .optimal:
                guard let o = res.objective else { continue }
                let v = try patternValue()
                if best == nil || v > best!.value { best = (v, o, res.primal) }
            case .timeLimit, .feasible:
                result.status = .timeLimit
                result.message = "time limit"
                if let o = res.objective, !res.primal.isEmpty {
                    let v = try patternValue()
                    if incumbent == nil || v > incumbent!.value { incumbent = (v, o, res.primal) }
                }
            case .failed(let why):
                result.status = .failed
                result.message = "GLPK: \(why)"
            case .infeasible, .unbounded:
                result.status = .failed
                result.message = "GLPK reports the MILP \(res.status) (it always has a point: the box's)"
            }
            if result.status != .optimal { break }
        }
        if let top = [best, incumbent].compactMap({ $0 }).max(by: { $0.value < $1.value }) {
            if result.status == .optimal { result.value = top.value } else { result.incumbent = top.value }
            result.milpObjective = top.objective
            // The gradient at the MILP's point and inside the pattern's region (a point off the
            // kinks); a sampled point when neither is better.
            let xMILP = built.inputs.map { Swift.min(box.upper[$0], Swift.max(box.lower[$0], top.primal[$0])) }
            var candidates: [([Double], Double?)] = [(xMILP, nil)]
            var binaries: [Int: Double] = [:]
            for list in built.neurons.values { for nr in list { if let b = nr.binary { binaries[b] = top.primal[b] } } }
            if let w = try? witness(binaries: binaries) { candidates.insert((w.x, w.margin), at: 0) }
            var found: (v: Double, x: [Double], margin: Double?)? = nil
            for (x, margin) in candidates {
                guard let grad = try? model.gradient(at: x, outputWeights: seed).dx else { continue }
                let v = ExactLipschitz.dualNorm(grad, norm)
                if v.isFinite, found == nil || v > found!.v { found = (v, x, margin) }
            }
            // The pattern's own point unless a sample is better by more than rounding.
            if let f = found, result.attained == nil || f.v >= result.attained! * (1 - 1e-12) {
                result.attained = f.v; result.point = f.x; result.margin = f.margin
            }
        } else if result.status == .optimal {
            // Every objective was skipped or solved without a point: cannot happen with a box.
            result.status = .failed
            result.message = "no MILP solution"
        }
        result.timeSeconds = Date().timeIntervalSince(start)
        return result
    }
}
