import Foundation
import CertusTensor
import CertusGraph

/// Lower and upper bounds of every element of a graph value (flat, row-major).
package struct ValueBounds: Sendable, Equatable {
    package var lower: [Double]
    package var upper: [Double]
    package init(lower: [Double], upper: [Double]) { self.lower = lower; self.upper = upper }
    package var isFinite: Bool { lower.allSatisfy(\.isFinite) && upper.allSatisfy(\.isFinite) }

    /// NaN ends replaced by the trivially sound bounds: a NaN lower bound (from inf - inf or
    /// 0 * inf when a value overflows) becomes -inf, a NaN upper bound +inf. Overflow thus
    /// loosens bounds to infinity and never turns into a claim.
    package mutating func widenNaN() {
        for j in lower.indices where lower[j].isNaN { lower[j] = -.infinity }
        for j in upper.indices where upper[j].isNaN { upper[j] = .infinity }
    }
}

/// Per-row, per-neuron relaxation parameters for one elementwise node (alpha-CROWN).
struct NodeParameters {
    var lower: Matrix   // rows x n, NaN where the neuron has no lower parameter
    var upper: Matrix
    /// beta-CROWN (general splits, GenBaB): per row, a signed Lagrange multiplier of each split
    /// neuron's constraints z >= splitLower (used when beta > 0) and z <= splitUpper (beta < 0).
    /// The term beta (bound - z), with bound the constraint's end on beta's side, is <= 0 on the
    /// domain, so adding it keeps the bound a lower bound for any beta; a sign whose constraint
    /// the neuron does not have counts as 0 (`effectiveBeta`).
    var beta: Matrix? = nil
    /// Per neuron, the split interval's ends (-inf / +inf where that side is not split).
    var splitLower: [Double]? = nil
    var splitUpper: [Double]? = nil
    /// For a product of two variables: `beta`, `splitLower` and `splitUpper` are the first
    /// operand's, and these the second operand's (GenBaB's operand splits; nil: not split).
    var secondBeta: Matrix? = nil
    var secondSplitLower: [Double]? = nil
    var secondSplitUpper: [Double]? = nil

    /// Adds the Lagrangian terms beta (end - z) of one split value's multipliers (`beta` with its
    /// split ends `lower`, `upper`; nothing when absent) to coefficients `Ain` on the split value
    /// z and to `bias` (padded for rounding): coefficient -beta on z, beta * end into the bias.
    /// The terms are <= 0 on the domain, so the bound stays a lower bound for any beta.
    static func addSplitTerms(beta: Matrix?, lower: [Double]?, upper: [Double]?, to Ain: inout Matrix, bias: inout [Double]) {
        guard let beta, let lo = lower, let hi = upper else { return }
        let split = lo.indices.filter { lo[$0] > -.infinity || hi[$0] < .infinity }
        for r in 0..<Ain.rows {
            var add = 0.0, mag = 0.0
            for j in split {
                let b = NodeParameters.effectiveBeta(beta[r, j], lower: lo[j], upper: hi[j])
                if b == 0 { continue }
                Ain[r, j] -= b
                let t = b * (b > 0 ? lo[j] : hi[j])
                add += t; mag += Swift.abs(t)
            }
            bias[r] += add - RoundingGuard.relative * mag
        }
    }

    /// Sets `splitLower`/`splitUpper` from a node's split map (neurons below `count`).
    mutating func setSplits(_ sp: [Int: SplitInterval], count: Int) {
        (splitLower, splitUpper) = NodeParameters.splitEnds(sp, count: count)
    }

    /// Per neuron below `count`, the ends of its split interval (-inf / +inf where not split).
    static func splitEnds(_ sp: [Int: SplitInterval], count: Int) -> ([Double], [Double]) {
        var lo = [Double](repeating: -.infinity, count: count), hi = [Double](repeating: .infinity, count: count)
        for (j, r) in sp where j < count { lo[j] = r.lower; hi[j] = r.upper }
        return (lo, hi)
    }

    /// beta projected onto the signs the neuron's constraints allow.
    @inline(__always)
    static func effectiveBeta(_ b: Double, lower: Double, upper: Double) -> Double {
        if b > 0 { return lower > -.infinity ? b : 0 }
        if b < 0 { return upper < .infinity ? b : 0 }
        return 0
    }
}

/// The linear-relaxation bound engine: IBP, CROWN and alpha-CROWN over a general graph.
///
/// One generic backward pass consumes what each operator declares (`BoundKind`): affine
/// operators are applied through their own `evaluate`/`backward` (with fast paths for dense
/// layers), elementwise nonlinearities through per-neuron relaxations given as data, and
/// products of two variables through McCormick planes.
package final class BoundEngine {
    package let graph: Graph
    let producer: [Int: Int]            // value id -> node index
    let isConstant: [Bool]
    let kinds: [BoundKind]
    /// Per node, the gate operand of a product of two variables (`Mul.gate`), for CROWN's
    /// default McCormick plane.
    let gates: [Int?]
    /// Which affine fast path a node may take, decided once (dynamic casts are slow in hot loops).
    enum AffineClass { case dense, passThrough, generic }
    /// The backward and forward passes multiply by an affine node's dense W (`denseAffine`)
    /// when at least this fraction of its entries is non-zero; sparser maps keep their
    /// per-term scatter.
    static let denseBackwardDensity = 0.25
    let affineClasses: [AffineClass]
    /// Values whose bounds a relaxation needs (variable inputs of elementwise/bilinear nodes),
    /// and the sources of those that are copies (`copies`).
    let needsBounds: Set<Int>
    /// Values needing bounds that copy elements of one earlier value (Expand, Gather, Reshape,
    /// Unsqueeze, Slice, Transpose... of one variable input, composed along chains of them):
    /// the source value and, per element, the source element. Their bounds are the source's
    /// bounds relabelled (exact for IBP, CROWN and alpha-CROWN alike: the backward pass through
    /// a copy is a relabelling), so no backward pass runs for them; the source needs bounds
    /// instead. The decompositions (MatMul of two variables, Softmax) expand small values into
    /// large ones, where this saves most of the work.
    let copies: [Int: (source: Int, index: [Int])]
    /// Offsets f(0) of affine nodes, and the zero-variable inputs used to get J^T by `backward`.
    /// Filled lazily under `cacheLock`, so one engine may serve several threads at once.
    private var affineCache: [Int: (inputs: [Tensor], out0: Tensor)] = [:]
    /// Sparse linear maps of generic affine nodes (`Operator.sparseLinearMap`; nil inside: none).
    private var sparseCache: [Int: SparseLinearMap?] = [:]
    /// Dense maps of affine nodes (`denseAffine`; nil inside: the node has none).
    private var denseCache: [Int: DenseAffine?] = [:]
    /// Whether the passes multiply by a node's dense map (`passDenseAffine`).
    private var passDenseCache: [Int: Bool] = [:]
    private let cacheLock = NSLock()
    /// The dense fast paths' per-engine data (DenseStart.swift).
    let denseStart = DenseStartCache()
    /// Whether the engine's own sums carry the rounding guard (`RoundingGuard`): IBP ends of
    /// affine and product nodes, the bias sums of backward steps and the concretisation over
    /// the box are moved outward by 2^-40 of their terms' magnitude. Default true, and true in
    /// every verify, bounds and run path. false exists only to measure the guard's cost (`certus
    /// benchmark --rounding-guard-cost`, `BoundsBenchmark`): the bounds are then not sound under
    /// the engine's rounding. Relaxation lines (`NeuronRelaxation.paddedForRounding`, a few
    /// operations per neuron) stay padded either way, and float32 semantics keeps the guard
    /// (`isGuarded`). Set it before the engine is used.
    package var roundingGuard = true
    /// `roundingGuard`, forced on under float32 semantics (whose error terms reuse the guard's
    /// magnitudes).
    var isGuarded: Bool { roundingGuard || semantics == .float32 }
    /// The arithmetic the bounds hold for (`NumericSemantics`): under `.float32` every node's
    /// float32 rounding is an extra bounded term (`Float32Rounding`, BoundEngine+Float32.swift).
    package let semantics: NumericSemantics
    /// Per node, its float32 error model (`Operator.float32Rounding`), and why float32 bounds
    /// cannot be computed on this graph (nil: they can); used only under `.float32`.
    let float32Models: [Float32Rounding]
    let float32Refusal: String?
    /// The original node of each expanded node that closes a whole-kernel decomposition.
    let float32Origins: [Int: Node]
    let float32Cache = Float32ErrorCache()

    private var outputChainCache: DenseChain?? = nil
    /// The whole network as a dense chain to its first output, if it is one (computed once).
    var outputChain: DenseChain? {
        cacheLock.lock()
        if let c = outputChainCache { cacheLock.unlock(); return c }
        cacheLock.unlock()
        let c = graph.outputs.isEmpty ? nil : denseChain(target: graph.outputs[0])
        cacheLock.lock(); outputChainCache = .some(c); cacheLock.unlock()
        return c
    }

    /// The cached dense map of node `i`: nil when not computed yet, `.some(nil)` when it has none.
    func cachedDenseAffine(_ i: Int) -> DenseAffine?? {
        cacheLock.lock(); defer { cacheLock.unlock() }
        return denseCache[i]
    }
    func cachedPassDense(_ i: Int) -> Bool? {
        cacheLock.lock(); defer { cacheLock.unlock() }
        return passDenseCache[i]
    }
    func storePassDense(_ i: Int, _ b: Bool) {
        cacheLock.lock(); defer { cacheLock.unlock() }
        passDenseCache[i] = b
    }
    func storeDenseAffine(_ i: Int, _ s: DenseAffine?) {
        cacheLock.lock(); defer { cacheLock.unlock() }
        denseCache[i] = s
    }

    /// Certus parallelises above BLAS (alpha-CROWN row groups, branch-and-bound workers), so
    /// every public bounding entry point (`bound`, `rootBounds`, `boundDomain`, `boundDomains`,
    /// `bound(property:)`) runs with BLAS on one thread and restores the process's BLAS thread
    /// count when it returns (`BLAS.withSingleThread`); making an engine changes nothing.
    package init(graph: Graph, semantics: NumericSemantics = .real) {
        // Under real semantics, ReLU sums of one variable are bounded as the one piecewise-linear
        // function they compute (`PiecewiseLinearFusion`; the fused node has no float32 model),
        // unless the whole network is piecewise linear: there the ReLUs stay, so that fully split
        // domains keep their exact LPs and the MILP its exact encoding.
        let gelu = GeluFusion.fuse(graph)
        var g = BoundDecompositions.expand(gelu)
        if semantics == .real && !BoundEngine.isPiecewiseLinear(g) {
            // Expanded again only when a sum was fused (the fusion removes nodes).
            let fused = PiecewiseLinearFusion.fuse(gelu)
            if fused.nodes.count != gelu.nodes.count { g = BoundDecompositions.expand(fused) }
        }
        self.graph = g
        self.semantics = semantics
        (float32Models, float32Refusal, float32Origins) = BoundEngine.float32Models(original: graph, expanded: g)
        var producer: [Int: Int] = [:]
        for (i, n) in g.nodes.enumerated() { producer[n.output] = i }
        self.producer = producer
        var isConstant = [Bool](repeating: false, count: g.values.count)
        for id in g.constants.keys { isConstant[id] = true }
        self.isConstant = isConstant
        var kinds: [BoundKind] = []
        var needs = Set<Int>()
        for n in g.nodes {
            let k = n.op.boundKind(constantInputs: n.inputs.map { isConstant[$0] })
            kinds.append(k)
            if k == .elementwise || k == .bilinear {
                for v in n.inputs where !isConstant[v] { needs.insert(v) }
            }
        }
        self.kinds = kinds
        // Copies: a node whose only variable input is copied element by element (a sparse map
        // with one term of coefficient 1 per output and no offset), composed with its input's
        // own copy map.
        var copyMap: [Int: (source: Int, index: [Int])] = [:]
        for (i, n) in g.nodes.enumerated() where kinds[i] == .affine {
            let variable = n.inputs.map { !isConstant[$0] }
            guard variable.filter({ $0 }).count == 1, let v = n.inputs.first(where: { !isConstant[$0] }) else { continue }
            let outCount = g.values[n.output].shape.reduce(1, *), inCount = g.values[v].shape.reduce(1, *)
            var index: [Int]? = nil
            if n.op.preservesData {
                if outCount == inCount { index = Array(0..<outCount) }
            } else {
                let zeros = n.inputs.map { id in g.constants[id] ?? Tensor(shape: g.values[id].shape, repeating: 0) }
                if let map = try? n.op.sparseLinearMap(zeros, variable: variable), let t = map.inputs[n.inputs.firstIndex(of: v)!],
                   t.output.count == outCount, t.coefficient.allSatisfy({ $0 == 1 }),
                   let offset = try? n.op.evaluate(zeros), offset.data.allSatisfy({ $0 == 0 }) {   // no shift (Add of a constant)
                    var idx = [Int](repeating: -1, count: outCount)
                    for (k, o) in t.output.enumerated() where o < outCount { idx[o] = t.input[k] }
                    if !idx.contains(-1) { index = idx }
                }
            }
            guard let index else { continue }
            if let inner = copyMap[v] { copyMap[n.output] = (inner.source, index.map { inner.index[$0] }) }
            else { copyMap[n.output] = (v, index) }
        }
        var copies: [Int: (source: Int, index: [Int])] = [:]
        for v in needs { if let c = copyMap[v] { copies[v] = c } }
        for c in copies.values where c.source != g.input { needs.insert(c.source) }
        self.copies = copies
        self.needsBounds = needs
        self.gates = g.nodes.map { ($0.op as? any ProductRelaxation)?.gate }
        self.affineClasses = g.nodes.enumerated().map { i, n in
            if n.op.preservesData { return .passThrough }
            // Affine in exactly one variable input: may have a dense map (`denseAffine`).
            return kinds[i] == .affine && n.inputs.filter({ !isConstant[$0] }).count == 1 ? .dense : .generic
        }
    }

    func size(_ v: Int) -> Int { graph.values[v].shape.reduce(1, *) }

    // MARK: - IBP

    /// Interval bounds of every value by IBP, given bounds already known for some values
    /// (those are intersected in as the pass reaches them).
    func intervalPass(box: ValueBounds) throws -> [ValueBounds?] {
        var out = [ValueBounds?](repeating: nil, count: graph.values.count)
        out[graph.input] = box
        for n in graph.nodes { out[n.output] = try interval(of: n, bounds: out) }
        return out
    }

    /// IBP through one node, from the bounds of its inputs (constants as degenerate intervals).
    func interval(of n: Node, bounds: [ValueBounds?]) throws -> ValueBounds {
        let ins = n.inputs.map { v -> IntervalTensor in
            if let t = graph.constants[v] { return IntervalTensor(constant: t) }
            let b = bounds[v]!
            let shape = graph.values[v].shape
            return IntervalTensor(lower: Tensor(shape: shape, data: b.lower), upper: Tensor(shape: shape, data: b.upper))
        }
        do {
            // Dense layers with constant weights: the same interval and guard, |W| made once.
            let dense = try producer[n.output].flatMap { try denseInterval(node: $0, inputs: ins) }
            let r = try dense?.interval ?? n.op.interval(ins)
            var b = ValueBounds(lower: r.lower.data, upper: r.upper.data)
            b.widenNaN()
            // Arithmetic (affine maps, products) rounds; elementwise images are f itself.
            var magnitudes: (lower: [Double], upper: [Double])? = nil
            if let i = producer[n.output], kinds[i] == .affine, isGuarded {
                let (magL, magU) = try dense.map { ($0.magnitude, $0.magnitude) } ?? affineMagnitudes(node: i, inputs: ins)
                magnitudes = (magL, magU)
                for j in b.lower.indices {
                    b.lower[j] = RoundingGuard.down(b.lower[j], magnitude: magL[j])
                    b.upper[j] = RoundingGuard.up(b.upper[j], magnitude: magU[j])
                }
            } else if let i = producer[n.output], kinds[i] == .bilinear, isGuarded {
                // Each end is one rounded corner product, at most max(|l|, |u|) in size; an
                // infinite other end does not make a finite end's guard infinite.
                for j in b.lower.indices {
                    let l = b.lower[j], u = b.upper[j]
                    let m = Swift.max(Swift.abs(l), Swift.abs(u))
                    b.lower[j] = RoundingGuard.down(l, magnitude: u.isFinite ? m : Swift.abs(l))
                    b.upper[j] = RoundingGuard.up(u, magnitude: l.isFinite ? m : Swift.abs(u))
                }
            }
            // --semantics float32: the node's float32 rounding (BoundEngine+Float32.swift).
            if semantics == .float32, let i = producer[n.output] {
                try widenForFloat32(node: i, inputs: ins, bounds: bounds, &b, affineMagnitude: magnitudes)
            }
            return b
        } catch let e as BoundError {
            throw BoundError("node '\(n.name)' (\(n.opType)): \(e.message)")
        }
    }

    /// The magnitudes whose rounding an affine node's IBP ends carry, per output: an end is
    /// sum_k c_k t_k + b however the operator computes it (a dot product of ends, or centre and
    /// radius), so its error is below 2^-40 (`RoundingGuard.relative`) of sum_k |c_k| M_k + |b|
    /// for sums of up to 2^12 terms, M_k = max(|l_k|, |u_k|). That magnitude is the upper end
    /// of the same map on [-M, M], less b (b: the map at 0, `affineInputs`). Where an input end is infinite
    /// the operator's ends through it are infinite too, except in maps that add ends directly
    /// (sums, copies), whose finite end then carries only its own terms: M_k is replaced by
    /// |l_k| for the lower end and |u_k| for the upper end (through c_k > 0; the other way
    /// round through c_k < 0), as the maps on [-|u|, |l|] and [-|l|, |u|] give.
    func affineMagnitudes(node i: Int, inputs ins: [IntervalTensor]) throws -> (lower: [Double], upper: [Double]) {
        let n = graph.nodes[i]
        let variable = n.inputs.map { graph.constants[$0] == nil }
        func box(_ t: IntervalTensor, forLower: Bool) -> IntervalTensor {
            var lo = t.lower, hi = t.upper
            for j in 0..<lo.count {
                let l = t.lower.data[j], u = t.upper.data[j]
                if l.isFinite && u.isFinite {
                    let m = Swift.max(Swift.abs(l), Swift.abs(u))
                    lo.data[j] = -m; hi.data[j] = m
                } else if forLower {
                    lo.data[j] = -Swift.abs(u); hi.data[j] = Swift.abs(l)
                } else {
                    lo.data[j] = -Swift.abs(l); hi.data[j] = Swift.abs(u)
                }
            }
            return IntervalTensor(lower: lo, upper: hi)
        }
        let cache = try affineInputs(node: i)
        let bias = cache.out0.data   // the map at 0, cached per node
        // With every variable input end finite the two boxes are the same [-M, M]: one map, and
        // where the operator has sparse terms (sums and products with a constant, copies: the
        // generic nodes of ACAS Xu and most graphs) sum_k |c_k| M_k + |b| directly from them,
        // without building and mapping the box (which cost ACAS Xu's IBP a fifth of its time).
        let finite = zip(ins, variable).allSatisfy { t, v in !v || (BLAS.allFinite(t.lower.data) && BLAS.allFinite(t.upper.data)) }
        if finite, let map = try sparseMap(node: i, inputs: cache.inputs) {
            var mag = bias.map { Swift.abs($0) }
            for (pos, t) in ins.enumerated() where variable[pos] {
                guard pos < map.inputs.count, let terms = map.inputs[pos] else { continue }
                for k in terms.output.indices {
                    let j = terms.input[k]
                    mag[terms.output[k]] += Swift.abs(terms.coefficient[k]) * Swift.max(Swift.abs(t.lower.data[j]), Swift.abs(t.upper.data[j]))
                }
            }
            for j in mag.indices where mag[j].isNaN { mag[j] = .infinity }
            return (mag, mag)
        }
        let forLower = try n.op.interval(zip(ins, variable).map { t, v in v ? box(t, forLower: true) : t }).upper.data
        func magnitude(_ end: [Double]) -> [Double] {
            end.indices.map { j in
                let m = Swift.abs(end[j] - bias[j]) + Swift.abs(bias[j])
                return m.isNaN ? .infinity : m
            }
        }
        let lower = magnitude(forLower)
        if finite { return (lower, lower) }
        let forUpper = try n.op.interval(zip(ins, variable).map { t, v in v ? box(t, forLower: false) : t }).upper.data
        return (lower, magnitude(forUpper))
    }

    // MARK: - Relaxations

    struct Relaxation {
        var aL: [Double], bL: [Double], aU: [Double], bU: [Double]
    }

    func relaxation(node i: Int, bounds: ValueBounds) -> Relaxation {
        let op = graph.nodes[i].op as! any ElementwiseRelaxation
        let n = bounds.lower.count
        var r = Relaxation(aL: .init(repeating: 0, count: n), bL: .init(repeating: 0, count: n),
                           aU: .init(repeating: 0, count: n), bU: .init(repeating: 0, count: n))
        for j in 0..<n {
            let x = op.relaxation(l: bounds.lower[j], u: bounds.upper[j], lowerParameter: nil, upperParameter: nil)
            r.aL[j] = x.aL; r.bL[j] = x.bL; r.aU[j] = x.aU; r.bU[j] = x.bU
        }
        return r
    }

    // MARK: - Backward pass

    /// What one backward pass leaves behind for alpha-CROWN's gradient: the coefficient matrix
    /// that reached each elementwise node's output and the coefficients at the input.
    final class BackwardRecord {
        var atNode: [Int: Matrix] = [:]
        var atInput: Matrix? = nil
    }

    /// Lower bounds of A · value(target) over the box, for each row of A, given bounds of every
    /// value a relaxation needs. `parameters` (alpha-CROWN) override default relaxations.
    ///
    /// `stop`: settings whose `checkStop` is asked before each node (a pass over a wide graph may
    /// take seconds), so that the time limit or a signal ends it there, with an error.
    func backward(target: Int, A: Matrix, box: ValueBounds, bounds: [ValueBounds?],
                  relaxations: inout [Int: Relaxation], parameters: [Int: NodeParameters]? = nil,
                  record: BackwardRecord? = nil, intervalsOnly: Bool = false, initialBias: [Double]? = nil,
                  stop: BoundSettings? = nil) throws -> [Double] {
        let rows = A.rows
        // `initialBias`: constants already taken out of the rows (a first step done by the caller).
        var bias = initialBias ?? [Double](repeating: 0, count: rows)
        var pending: [Int: Matrix] = [target: A]
        guard let last = producer[target] else {
            // The target is the input itself (or a constant).
            return concretize(pending[target] ?? Matrix(zeros: rows, size(target)), box: box, bias: bias, targetIsInput: target == graph.input, constant: graph.constants[target])
        }
        func accumulate(_ v: Int, _ m: Matrix) {
            if isConstant[v] { return }
            if var e = pending[v] { e.add(m); pending[v] = e } else { pending[v] = m }
        }
        // --semantics float32: each node's error bound, whose terms the pass subtracts below.
        let roundingErrors = try float32Errors(upTo: last, box: box, bounds: bounds)
        for i in stride(from: last, through: 0, by: -1) {
            let node = graph.nodes[i]
            guard let Aout = pending.removeValue(forKey: node.output) else { continue }
            try stop?.checkStop()
            // A node without a linear relaxation (IBP only: MaxPool, ReduceMax, Max of variables,
            // Softmax, ...) ends the backward pass on its branch: its output's coefficients are
            // concretised over the output's IBP interval (min of A y over y in [l, u], a valid
            // lower bound), and its inputs get none. With every such node this is what
            // `intervalsOnly` does for every non-affine node.
            var unrelaxed = false
            if case .unsupported = kinds[i] { unrelaxed = bounds[node.output] != nil }
            if (intervalsOnly && kinds[i] != .affine) || unrelaxed {
                // IBP with the linear tail folded in: concretise at this value's interval.
                guard let b = bounds[node.output] else { throw BoundError("missing bounds for '\(graph.values[node.output].name)'") }
                let lb = concretize(Aout, box: b, bias: [Double](repeating: 0, count: rows), targetIsInput: true, constant: nil)
                for r in 0..<rows { bias[r] += lb[r] }
                continue
            }
            if let e = roundingErrors?[i] { subtractFloat32Error(Aout, e, bias: &bias) }
            switch kinds[i] {
            case .unsupported(let why):
                throw BoundError("node '\(node.name)' (\(node.opType)): \(why)")
            case .affine:
                // CROWN passes that keep no record (intermediate bounds) leave dead neurons' zero
                // columns out of dense products.
                try affineBackward(node: i, A: Aout, bias: &bias, accumulate: accumulate,
                                   leavingOutZeroColumns: record == nil && parameters == nil)
            case .elementwise:
                let v = node.inputs[0]
                guard let b = bounds[v] else { throw BoundError("missing bounds for the input of node '\(node.name)'") }
                if relaxations[i] == nil { relaxations[i] = relaxation(node: i, bounds: b) }
                record?.atNode[i] = Aout
                if record == nil, parameters?[i] == nil, BoundEngine.hasZeroSlopes(relaxations[i]!) {
                    // Zero slopes: only the intercepts count, nothing reaches the input (a
                    // recorded pass goes on, so that every node upstream keeps its coefficients).
                    zeroSlopeBias(A: Aout, relax: relaxations[i]!, bias: &bias)
                    continue
                }
                var Ain = elementwiseBackward(node: i, A: Aout, relax: relaxations[i]!, bounds: b, parameters: parameters?[i], bias: &bias)
                if let p = parameters?[i] {
                    NodeParameters.addSplitTerms(beta: p.beta, lower: p.splitLower, upper: p.splitUpper, to: &Ain, bias: &bias)
                }
                accumulate(v, Ain)
            case .bilinear:
                let (x, y) = (node.inputs[0], node.inputs[1])
                guard let bx = bounds[x], let by = bounds[y] else { throw BoundError("missing bounds for the inputs of node '\(node.name)'") }
                guard bx.lower.count == Aout.cols, by.lower.count == Aout.cols else {
                    throw BoundError("node '\(node.name)' (Mul): broadcasting product of two variables is not supported")
                }
                record?.atNode[i] = Aout
                let gate = gates[i]
                if parameters?[i] == nil {
                    let (Ax, Ay) = defaultProductBackward(A: Aout, x: bx, y: by, gate: gate, bias: &bias)
                    accumulate(x, Ax)
                    accumulate(y, Ay)
                    continue
                }
                var Ax = Matrix(zeros: rows, Aout.cols), Ay = Matrix(zeros: rows, Aout.cols)
                let p = parameters?[i]
                for r in 0..<rows {
                    for j in 0..<Aout.cols {
                        let a = Aout[r, j]
                        if a == 0 { continue }
                        let (xl, xu, yl, yu) = (bx.lower[j], bx.upper[j], by.lower[j], by.upper[j])
                        // Planes padded like every relaxation line (`paddedForRounding`).
                        let m = Swift.max(Swift.abs(xl), Swift.abs(xu)) * Swift.max(Swift.abs(yl), Swift.abs(yu))
                        // McCormick's two planes per side, mixed by the node's parameter t in
                        // [0, 1] (alpha-CROWN; a convex combination of two sound planes is sound):
                        // below xy >= yl x + xl y - xl yl (t = 0) and yu x + xu y - xu yu (t = 1),
                        // above xy <= yu x + xl y - xl yu (t = 0) and yl x + xu y - xu yl (t = 1).
                        let t = BoundEngine.planeMix(a > 0 ? p?.lower : p?.upper, r, j, below: a > 0, xl: xl, xu: xu, yl: yl, yu: yu, gate: gate)
                        let plane = BoundEngine.mcCormick(below: a > 0, t: t, xl: xl, xu: xu, yl: yl, yu: yu)
                        Ax[r, j] = a * plane.x; Ay[r, j] = a * plane.y
                        bias[r] -= a * plane.c + (a > 0 ? 1 : -1) * RoundingGuard.relative * 3 * a * m
                    }
                }
                // Operand splits (GenBaB): their multipliers' terms on x and on y.
                if let p {
                    NodeParameters.addSplitTerms(beta: p.beta, lower: p.splitLower, upper: p.splitUpper, to: &Ax, bias: &bias)
                    NodeParameters.addSplitTerms(beta: p.secondBeta, lower: p.secondSplitLower, upper: p.secondSplitUpper, to: &Ay, bias: &bias)
                }
                accumulate(x, Ax)
                accumulate(y, Ay)
            }
        }
        guard let Ain = pending[graph.input] else {
            // No coefficient reached the input: what concretising zeros gives.
            if let record { record.atInput = Matrix(zeros: rows, size(graph.input)) }
            return bias.map { RoundingGuard.down($0 + 0.0, magnitude: 0.0 + Swift.abs($0)) }
        }
        record?.atInput = Ain
        return concretize(Ain, box: box, bias: bias, targetIsInput: true, constant: nil)
    }

    /// The mixing weight of a product's second McCormick plane for row r, neuron j: the
    /// parameter in [0, 1] (alpha-CROWN), or CROWN's default (`defaultPlaneMix`) where there is
    /// none or it is NaN; 0 (the first plane) when an end is infinite.
    @inline(__always)
    static func planeMix(_ m: Matrix?, _ r: Int, _ j: Int, below: Bool, xl: Double, xu: Double, yl: Double, yu: Double,
                         gate: Int?) -> Double {
        guard xl.isFinite, xu.isFinite, yl.isFinite, yu.isFinite else { return 0 }
        if let m, m.rows > r, m.cols > j, !m[r, j].isNaN { return Swift.min(1, Swift.max(0, m[r, j])) }
        return defaultPlaneMix(below: below, xl: xl, xu: xu, yl: yl, yu: yu, gate: gate)
    }

    /// CROWN's choice among McCormick's planes for x y on [xl, xu] x [yl, yu] (finite ends).
    /// With a gate operand (`Mul.gate`: 0 for x, 1 for y) the mix whose coefficient on the gate
    /// is smallest in magnitude (zero when the other factor takes both signs): for x = ReLU'(z)
    /// in [0, 1] this is auto_LiRPA's ReLU gradient relaxation, the chords of max(0, y) and
    /// min(0, y), and the bound no longer pays for the gate's own relaxation. Without a gate:
    /// when exactly one factor's interval has 0 inside, the mix with zero coefficient on the
    /// other factor, else the first plane.
    @inline(__always)
    static func defaultPlaneMix(below: Bool, xl: Double, xu: Double, yl: Double, yu: Double, gate: Int? = nil) -> Double {
        let xCross = xl < 0 && xu > 0, yCross = yl < 0 && yu > 0
        switch gate {
        case 0?:
            // x-coefficient: below (1-t) yl + t yu, above (1-t) yu + t yl.
            if yCross { return below ? -yl / (yu - yl) : yu / (yu - yl) }
            let lowSmaller = Swift.abs(yl) <= Swift.abs(yu)
            return below ? (lowSmaller ? 0 : 1) : (lowSmaller ? 1 : 0)
        case 1?:
            // y-coefficient (1-t) xl + t xu on both sides.
            if xCross { return -xl / (xu - xl) }
            return Swift.abs(xl) <= Swift.abs(xu) ? 0 : 1
        default:
            if yCross && !xCross { return below ? -yl / (yu - yl) : yu / (yu - yl) }   // x-coefficient 0
            if xCross && !yCross { return -xl / (xu - xl) }                            // y-coefficient 0
            return 0
        }
    }

    /// McCormick's plane for x y on [xl, xu] x [yl, yu] as x-coefficient, y-coefficient and
    /// subtracted constant (x y >= or <= x-coef x + y-coef y - c): below (`below`) the mix with
    /// weight t of yl x + xl y - xl yl (t = 0) and yu x + xu y - xu yu (t = 1), above the mix of
    /// yu x + xl y - xl yu (t = 0) and yl x + xu y - xu yl (t = 1). Every t in [0, 1] is sound.
    @inline(__always)
    static func mcCormick(below: Bool, t: Double, xl: Double, xu: Double, yl: Double, yu: Double) -> (x: Double, y: Double, c: Double) {
        below ? ((1 - t) * yl + t * yu, (1 - t) * xl + t * xu, (1 - t) * xl * yl + t * xu * yu)
              : ((1 - t) * yu + t * yl, (1 - t) * xl + t * xu, (1 - t) * xl * yu + t * xu * yl)
    }

    /// `backward` with the rows split over `settings.threads` threads when the product is big
    /// enough to pay for them (rows are independent; the result is the same).
    func backwardRows(target: Int, A: Matrix, box: ValueBounds, bounds: [ValueBounds?],
                      relaxations: inout [Int: Relaxation], settings: BoundSettings) throws -> [Double] {
        let (weights, widest) = prepareCone(last: producer[target] ?? -1, target: target, bounds: bounds, relaxations: &relaxations)
        let shared = relaxations
        return try splittingRows(A, weights: weights, settings: settings, widest: widest) { sub in
            var rel = shared
            return try self.backward(target: target, A: sub, box: box, bounds: bounds, relaxations: &rel, stop: settings)
        }
    }

    /// For a pass from `target` (produced by node `last`, -1: none): the weights in its cone
    /// and the widest value it carries coefficients for (`splittingRows`), with every
    /// relaxation the pass needs made here, so that parallel passes only read them.
    func prepareCone(last: Int, target: Int, bounds: [ValueBounds?], relaxations: inout [Int: Relaxation]) -> (weights: Int, widest: Int) {
        var weights = 0, widest = size(target)
        for i in 0...max(0, last) where last >= 0 {
            for v in graph.nodes[i].inputs { if isConstant[v] { weights += size(v) } else { widest = max(widest, size(v)) } }
        }
        for i in 0...max(0, last) where last >= 0 && kinds[i] == .elementwise && relaxations[i] == nil {
            if let b = bounds[graph.nodes[i].inputs[0]] { relaxations[i] = relaxation(node: i, bounds: b) }
        }
        return (weights, widest)
    }

    /// Runs `pass` (lower bounds of some rows) on all of `A`, or on contiguous groups of its rows:
    /// on `settings.threads` threads when rows x `weights` reaches `settings.parallelWork`, and in
    /// pieces of at most `rowBudget / widest` rows (`widest`: the largest value the
    /// pass carries coefficients for), so that a pass over a wide graph keeps its coefficient
    /// matrices small (a few MB, reused by the allocator) instead of allocating and touching
    /// gigabytes at once. Each row's bound does not depend on the others. `pass` must be safe to
    /// call concurrently.
    func splittingRows(_ A: Matrix, weights: Int, settings: BoundSettings, widest: Int = 0,
                       _ pass: (Matrix) throws -> [Double]) throws -> [Double] {
        try splittingRowRanges(rows: A.rows, weights: weights, settings: settings, widest: widest) { range in
            try pass(range.count == A.rows ? A : A.selectingRows(Array(range)))
        }
    }

    /// `splittingRows` for a pass that makes its own rows: `pass` gets a range of the `rows`
    /// rows (all of them, or contiguous pieces on up to `settings.threads` threads), pieces of
    /// at most `budget / widest` rows (default `rowBudget`).
    func splittingRowRanges(rows: Int, weights: Int, settings: BoundSettings, widest: Int = 0, budget: Int? = nil,
                            _ pass: (Range<Int>) throws -> [Double]) throws -> [Double] {
        let threads = min(settings.threads, rows / settings.minimumRowsPerThread)
        let groups = threads > 1 && rows * weights >= settings.parallelWork ? threads : 1
        let pieceRows = max(settings.minimumRowsPerThread, (budget ?? rowBudget) / max(1, widest))
        let pieces = max(groups, (rows + pieceRows - 1) / pieceRows)
        guard pieces > 1 else { return try pass(0..<rows) }
        let chunks = (0..<pieces).map { t in (t * rows / pieces)..<((t + 1) * rows / pieces) }
        // `groups` workers, each taking every groups-th piece in turn.
        let results = concurrentResults(groups) { g in
            try stride(from: g, to: pieces, by: groups).map { t in
                try settings.checkStop()
                return (t, try pass(chunks[t]))
            }
        }
        var lb = [Double](repeating: 0, count: rows)
        for g in 0..<groups {
            for (t, part) in try results[g].get() {
                for (k, r) in chunks[t].enumerated() { lb[r] = part[k] }
            }
        }
        return lb
    }

    /// The number of coefficients (rows x columns) one piece of a row-split pass may carry per
    /// value (`splittingRows`, `neuronBoundRows`): 2^20, 8 MB in Double. Bounds do not depend
    /// on it (tests lower it to force many pieces); set it before the engine is used.
    package var rowBudget = 1 << 20

    /// Lower bound of each row of A x + bias over the box (or at the constant `constant`), moved
    /// down by `RoundingGuard.relative` of the magnitude of its terms (sum of |A_rj x_j| and
    /// |bias_r|), which covers the rounding of the sum even where its terms cancel.
    func concretize(_ A: Matrix, box: ValueBounds, bias: [Double], targetIsInput: Bool, constant: Tensor?) -> [Double] {
        var lb = bias
        if let c = constant {
            for r in 0..<A.rows {
                var mag = Swift.abs(bias[r])
                for j in 0..<A.cols { mag += Swift.abs(A[r, j] * c.data[j]) }
                lb[r] = RoundingGuard.down(lb[r] + A.dot(row: r, c.data), magnitude: mag)
            }
            return lb
        }
        A.data.withUnsafeBufferPointer { a in
        box.lower.withUnsafeBufferPointer { lo in box.upper.withUnsafeBufferPointer { hi in
            let l = lo.baseAddress!, h = hi.baseAddress!, n = A.cols
            // Each term is v * (v >= 0 ? l : h), the end chosen without a branch (the signs are
            // unpredictable). Four rows at a time, so that their sums (each still added in column
            // order, the same value as one row at a time) overlap in the pipeline. `guarded`
            // false (`roundingGuard`, benchmarks only) leaves the magnitudes out: the loops are
            // inlined twice with a constant, so each copy does only its own work.
            @inline(__always) func rows(guarded: Bool) {
                var r = 0
                while r + 4 <= A.rows {
                    let p0 = a.baseAddress! + r * n, p1 = p0 + n, p2 = p1 + n, p3 = p2 + n
                    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, m0 = 0.0, m1 = 0.0, m2 = 0.0, m3 = 0.0
                    for j in 0..<n {
                        let lj = l[j], hj = h[j]
                        let v0 = p0[j], v1 = p1[j], v2 = p2[j], v3 = p3[j]
                        let t0 = v0 * (v0 >= 0 ? lj : hj), t1 = v1 * (v1 >= 0 ? lj : hj)
                        let t2 = v2 * (v2 >= 0 ? lj : hj), t3 = v3 * (v3 >= 0 ? lj : hj)
                        s0 += t0; s1 += t1; s2 += t2; s3 += t3
                        if guarded { m0 += Swift.abs(t0); m1 += Swift.abs(t1); m2 += Swift.abs(t2); m3 += Swift.abs(t3) }
                    }
                    lb[r] = RoundingGuard.down(lb[r] + s0, magnitude: m0 + Swift.abs(lb[r]), guarded)
                    lb[r + 1] = RoundingGuard.down(lb[r + 1] + s1, magnitude: m1 + Swift.abs(lb[r + 1]), guarded)
                    lb[r + 2] = RoundingGuard.down(lb[r + 2] + s2, magnitude: m2 + Swift.abs(lb[r + 2]), guarded)
                    lb[r + 3] = RoundingGuard.down(lb[r + 3] + s3, magnitude: m3 + Swift.abs(lb[r + 3]), guarded)
                    r += 4
                }
                while r < A.rows {
                    var s = 0.0, mag = 0.0
                    let row = a.baseAddress! + r * n
                    for j in 0..<n {
                        let v = row[j]
                        let t = v * (v >= 0 ? l[j] : h[j])
                        s += t
                        if guarded { mag += Swift.abs(t) }
                    }
                    lb[r] = RoundingGuard.down(lb[r] + s, magnitude: mag + Swift.abs(lb[r]), guarded)
                    r += 1
                }
            }
            if isGuarded { rows(guarded: true) } else { rows(guarded: false) }
        } }
        }
        return lb
    }

    func elementwiseBackward(node i: Int, A: Matrix, relax: Relaxation, bounds: ValueBounds,
                             parameters: NodeParameters?, bias: inout [Double]) -> Matrix {
        var Ain = Matrix(zeros: A.rows, A.cols)
        let cols = A.cols
        guard let parameters else {
            // Default relaxation: one line per neuron for all rows.
            A.data.withUnsafeBufferPointer { a in
                Ain.data.withUnsafeMutableBufferPointer { o in
                    relax.aL.withUnsafeBufferPointer { aL in relax.bL.withUnsafeBufferPointer { bL in
                    relax.aU.withUnsafeBufferPointer { aU in relax.bU.withUnsafeBufferPointer { bU in
                        @inline(__always) func rows(guarded: Bool) {
                            for r in 0..<A.rows {
                                let base = r * cols
                                var b = 0.0, mb = 0.0
                                for j in 0..<cols {
                                    // Branch-free sign split (vectorises): v+ takes the lower line, v- the upper.
                                    let v = a[base + j]
                                    let vp = Swift.max(v, 0), vn = Swift.min(v, 0)
                                    o[base + j] = vp * aL[j] + vn * aU[j]
                                    let t = vp * bL[j] + vn * bU[j]
                                    b += t
                                    if guarded { mb += Swift.abs(t) }
                                }
                                bias[r] += RoundingGuard.down(b, magnitude: mb, guarded)
                            }
                        }
                        if isGuarded { rows(guarded: true) } else { rows(guarded: false) }
                    } } } }
                }
            }
            return Ain
        }
        let op = graph.nodes[i].op as! any ElementwiseRelaxation
        let pL = parameters.lower, pU = parameters.upper
        if op.isReluShaped {
            // ReLU's parameter is its lower slope itself (intercept 0): branch-free, no calls.
            A.data.withUnsafeBufferPointer { a in
            Ain.data.withUnsafeMutableBufferPointer { o in
            pL.data.withUnsafeBufferPointer { p in
            relax.aL.withUnsafeBufferPointer { aL in relax.bL.withUnsafeBufferPointer { bL in
            relax.aU.withUnsafeBufferPointer { aU in relax.bU.withUnsafeBufferPointer { bU in
                let aLp = aL.baseAddress!, bLp = bL.baseAddress!, aUp = aU.baseAddress!, bUp = bU.baseAddress!
                @inline(__always) func rows(guarded: Bool) {
                    for r in 0..<A.rows {
                        let base = r * cols
                        let av = a.baseAddress! + base, q = p.baseAddress! + base, out = o.baseAddress! + base
                        var b = 0.0, mb = 0.0
                        for j in 0..<cols {
                            let v = av[j], pl = q[j]
                            let vp = Swift.max(v, 0), vn = Swift.min(v, 0)
                            let free = pl == pl          // not NaN
                            out[j] = vp * (free ? pl : aLp[j]) + vn * aUp[j]
                            let t = vp * (free ? 0 : bLp[j]) + vn * bUp[j]
                            b += t
                            if guarded { mb += Swift.abs(t) }
                        }
                        bias[r] += RoundingGuard.down(b, magnitude: mb, guarded)
                    }
                }
                if isGuarded { rows(guarded: true) } else { rows(guarded: false) }
            } } } }
            } } }
            return Ain
        }
        A.data.withUnsafeBufferPointer { a in
            Ain.data.withUnsafeMutableBufferPointer { o in
                for r in 0..<A.rows {
                    let base = r * cols
                    var b = 0.0, mb = 0.0
                    for j in 0..<cols {
                        let v = a[base + j]
                        if v == 0 { continue }
                        var aL = relax.aL[j], bL = relax.bL[j], aU = relax.aU[j], bU = relax.bU[j]
                        let pl = pL.data[base + j], pu = pU.data[base + j]
                        if (v > 0 && !pl.isNaN) || (v < 0 && !pu.isNaN) {
                            let x = op.relaxation(l: bounds.lower[j], u: bounds.upper[j],
                                                  lowerParameter: pl.isNaN ? nil : pl, upperParameter: pu.isNaN ? nil : pu)
                            aL = x.aL; bL = x.bL; aU = x.aU; bU = x.bU
                        }
                        let t = v > 0 ? v * bL : v * bU
                        if v > 0 { o[base + j] = v * aL } else { o[base + j] = v * aU }
                        b += t
                        mb += Swift.abs(t)
                    }
                    bias[r] += RoundingGuard.down(b, magnitude: mb, isGuarded)
                }
            }
        }
        return Ain
    }

    /// J^T applied to every row, and the offset's contribution to the bias.
    func affineBackward(node i: Int, A: Matrix, bias: inout [Double], accumulate: (Int, Matrix) -> Void,
                        leavingOutZeroColumns: Bool = false) throws {
        let node = graph.nodes[i]
        // Fast paths.
        switch affineClasses[i] {
        case .dense:
            // W^T through one BLAS product where W is mostly non-zero (dense layers, 1x1
            // convolutions of a 1x1 image); sparse maps (Conv, BatchNormalization) stay generic.
            if let d = passDenseAffine(node: i), case .linear(let w, let b, let inN, _, _) = d.step, let v = node.inputs.first(where: { !isConstant[$0] }) {
                if !d.zeroOffset { addProduct(A, b, to: &bias) }
                accumulate(v, w.map { A.multiplied(by: $0, n: inN, transposeB: false, leavingOutZeroColumns: leavingOutZeroColumns) } ?? A)
                return
            }
        case .passThrough:
            accumulate(node.inputs[0], A)
            return
        case .generic:
            break
        }
        // Generic: offset f(0) and per-row vector-Jacobian products.
        let variable = node.inputs.enumerated().filter { !isConstant[$0.element] }
        let cache = try affineInputs(node: i)
        // A linear node (offset 0, as an elementwise product with a constant) adds nothing to
        // finite rows (0 * inf would be NaN: then the product is made as before).
        if !(cache.out0.data.allSatisfy { $0 == 0 } && BLAS.allFinite(A.data)) { addProduct(A, cache.out0.data, to: &bias) }
        if let map = try sparseMap(node: i, inputs: cache.inputs) {
            // All rows at once through the operator's sparse terms.
            for (pos, v) in variable {
                guard pos < map.inputs.count, let terms = map.inputs[pos] else {
                    throw BoundError("node '\(node.name)' (\(node.opType)): no linear map for input \(pos)")
                }
                accumulate(v, A.scattered(through: terms, columns: size(v)))
            }
            return
        }
        var outs = variable.map { Matrix(zeros: A.rows, size($0.element)) }
        let outShape = graph.values[node.output].shape
        let wanted = node.inputs.map { !isConstant[$0] }
        for r in 0..<A.rows {
            let g = Tensor(shape: outShape, data: Array(A.row(r)))
            let grads = try node.op.backward(cache.inputs, output: cache.out0, gradient: g, wanted: wanted)
            for (k, (pos, v)) in variable.enumerated() {
                guard pos < grads.count, let gk = grads[pos] else {
                    throw BoundError("node '\(node.name)' (\(node.opType)): no linear map for input \(pos)")
                }
                let n = size(v)
                outs[k].data.replaceSubrange((r * n)..<((r + 1) * n), with: gk.data)
            }
        }
        for (k, (_, v)) in variable.enumerated() { accumulate(v, outs[k]) }
    }

    func affineInputs(node i: Int) throws -> (inputs: [Tensor], out0: Tensor) {
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let c = affineCache[i] { return c }
        let node = graph.nodes[i]
        let inputs = node.inputs.map { v in graph.constants[v] ?? Tensor(shape: graph.values[v].shape, repeating: 0) }
        let out0 = try node.op.evaluate(inputs)
        affineCache[i] = (inputs, out0)
        return (inputs, out0)
    }

    /// The operator's sparse linear map for a generic affine node (computed once; nil: none).
    func sparseMap(node i: Int, inputs: [Tensor]) throws -> SparseLinearMap? {
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let c = sparseCache[i] { return c }
        let node = graph.nodes[i]
        let map = try node.op.sparseLinearMap(inputs, variable: node.inputs.map { !isConstant[$0] })
        sparseCache[i] = .some(map)
        return map
    }

    /// bias += A c (one BLAS matrix-vector product), moved down by the rounding guard of
    /// |A| |c| (summed row by row beside it), which covers the rounding of the sum where its terms cancel.
    func addProduct(_ A: Matrix, _ c: [Double], to bias: inout [Double]) {
        let prod = BLAS.matmul(A.data, c, m: A.rows, n: 1, k: A.cols)
        guard isGuarded else {
            for r in 0..<A.rows { bias[r] += prod[r] }
            return
        }
        let absC = c.map { Swift.abs($0) }
        A.data.withUnsafeBufferPointer { a in
            for r in 0..<A.rows {
                // |A_r| . |c| in place (no |A| copy on this hot path).
                var mag = 0.0
                let row = a.baseAddress! + r * A.cols
                for j in 0..<A.cols { mag += Swift.abs(row[j]) * absC[j] }
                bias[r] += prod[r] - RoundingGuard.relative * mag
            }
        }
    }
}
