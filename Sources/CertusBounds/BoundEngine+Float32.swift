import Foundation
import CertusTensor
import CertusGraph
import CertusSpec

// `--semantics float32`: the network as onnxruntime evaluates it in float32. Every node's float32
// output is its exact output on its (float32) inputs plus an error delta_j in [-e_j, e_j], with
// e_j from the operator's error model (`Operator.float32Rounding`, `Float32Rounding`) and the
// node's input intervals. IBP widens each node's interval by e_j (`interval(of:bounds:)`); every
// backward (CROWN, alpha-CROWN, beta-CROWN) pass subtracts sum_j |lambda_j| e_j at each node its
// coefficients lambda reach (`subtractFloat32Error`): CROWN of the network with one extra bounded
// input per node. Paths that cannot carry these terms are off under float32: the dense-chain
// intermediate bounds (`chainIntermediateBounds`), the exact LP leaves and LP tightening of
// branch and bound, and the MILP prover (CertusVerify).

/// Which arithmetic a verdict holds for (`certus verify --semantics`).
///
/// * `real` (default): the network as a real-valued function of real inputs in the box; the
///   engine's own Double rounding is covered by `RoundingGuard`.
/// * `float32`: the network as onnxruntime evaluates it in float32: only float32 inputs in the
///   box, and every operator's float32 rounding enclosed as an interval term
///   (`Float32Rounding`), in any summation order that ONNX allows. `unsat` then means that no
///   float32 input in the box violates the property under round-to-nearest float32 evaluation
///   within that error model (docs/reliability.md, "Semantics and rounding").
public enum NumericSemantics: String, Sendable, Codable, CaseIterable {
    /// The network as a real-valued function (exact arithmetic on real inputs).
    case real
    /// The network evaluated in float32 (onnxruntime), on float32 inputs.
    case float32
}

extension BoundEngine {
    /// Per node of the expanded graph, its float32 error model, and why float32 bounds cannot be
    /// computed (the first node of `original` or `expanded` without a model), or nil.
    /// `original` is checked too: an operator the engine decomposes (Softmax, LayerNormalization,
    /// a fused GeLU) is covered only if it has a float32 model of its own, since its pieces'
    /// models describe the pieces, not the runtime's kernel for the whole operator.
    /// The third result: for each expanded node that closes a whole-kernel decomposition, the
    /// original node (whose inputs a `.fromInputs` model needs).
    static func float32Models(original: Graph, expanded: Graph) -> ([Float32Rounding], String?, [Int: Node]) {
        func model(_ g: Graph, _ n: Node) -> Float32Rounding {
            n.op.float32Rounding(inputShapes: n.inputs.map { g.values[$0].shape },
                                 constantInputs: n.inputs.map { g.constants[$0] != nil })
        }
        var refusal: String? = nil
        for n in original.nodes {
            if case .unmodelled(let why) = model(original, n) { refusal = "node '\(n.name)' (\(n.opType)): \(why)"; break }
        }
        // Decompositions whose operator models its whole kernel (`float32ModelCoversDecomposition`):
        // their nodes are exact, and the last one (writing the operator's output, a value of
        // `original`) carries the operator's model. `expand` emits each decomposition's nodes
        // in a row, the last writing the operator's output; new values have ids past the
        // original ones.
        var originalProducer: [Int: Int] = [:]
        for (i, n) in original.nodes.enumerated() { originalProducer[n.output] = i }
        var wholeKernel: [Int: Float32Rounding] = [:]   // expanded node -> its operator's model
        var origins: [Int: Node] = [:]
        var pending: [Int] = []
        for (i, n) in expanded.nodes.enumerated() {
            guard n.output < original.values.count, let o = originalProducer[n.output] else { pending.append(i); continue }
            let on = original.nodes[o]
            if let d = on.op as? any BoundDecomposition, d.float32ModelCoversDecomposition {
                let m = model(original, on)
                for k in pending { wholeKernel[k] = .exact }
                wholeKernel[i] = m
                origins[i] = on
            }
            pending = []
        }
        let models = expanded.nodes.enumerated().map { i, n -> Float32Rounding in
            if let m = wholeKernel[i] { return m }
            let m = model(expanded, n)
            // Constants that are not float32 values (folded in Double at load, or written so):
            // a float32 runtime holds them rounded, so a copy of one is off by its rounding, and
            // every term with one passes through one more rounding.
            var off = 0.0
            for v in n.inputs { if let c = expanded.constants[v] { off = Swift.max(off, BoundEngine.float32RoundingError(c)) } }
            guard off > 0 else { return m }
            switch m {
            case .exact: return .ulps(0, absolute: off)
            case .sums(let r): return .sums(roundings: r + 1)
            case .ulps(let k, let a): return .ulps(k, absolute: a + off)
            case .ulpsOfInputAndOutput(let k, let kIn, let a): return .ulpsOfInputAndOutput(output: k, input: kIn, absolute: a + off)
            case .unmodelled, .fromInputs: return m
            }
        }
        if refusal == nil {
            for (n, m) in zip(expanded.nodes, models) {
                if case .unmodelled(let why) = m { refusal = "node '\(n.name)' (\(n.opType)): \(why)"; break }
            }
        }
        return (models, refusal, origins)
    }

    /// The largest |c - fl32(c)| over the finite elements of `t` (0 when all are float32 values;
    /// infinite when one lies beyond float32's range).
    static func float32RoundingError(_ t: Tensor) -> Double {
        var worst = 0.0
        for c in t.data where c.isFinite {
            let f = Double(Float(c))
            worst = Swift.max(worst, f.isFinite ? Swift.abs(c - f) : .infinity)
        }
        return worst
    }

    /// Under `.float32`, the error bound e (per output element) of node `i` whose inputs lie in
    /// `ins` (constants as degenerate intervals); nil under `.real` or for an exact node.
    /// `affineMagnitude`: the node's term magnitudes when the caller has them (`affineMagnitudes`).
    /// - Throws: `BoundError` when the graph has an operator without a float32 model.
    /// Computed once per node and input intervals: IBP computes it for the intervals that the
    /// backward passes of the same bounds then ask about again (`Float32ErrorCache`).
    /// `bounds`: the bounds known to the pass, for a `.fromInputs` model of a decomposed
    /// operator (its own inputs' intervals, which are then the cache's key).
    func float32Error(node i: Int, inputs nodeInputs: [IntervalTensor], bounds: [ValueBounds?],
                      affineMagnitude: (lower: [Double], upper: [Double])? = nil) throws -> [Double]? {
        guard semantics == .float32 else { return nil }
        if let why = float32Refusal { throw BoundError("--semantics float32: \(why)") }
        if case .exact = float32Models[i] { return nil }
        var ins = nodeInputs
        if case .fromInputs = float32Models[i], let origin = float32Origins[i] {
            guard let o = inputIntervals(of: origin, bounds: bounds) else {
                throw BoundError("--semantics float32: no bounds for the inputs of node '\(origin.name)'")
            }
            ins = o
        }
        if let e = float32Cache.lookup(node: i, inputs: ins) { return e }
        let e = try computeFloat32Error(node: i, inputs: ins, affineMagnitude: affineMagnitude)
        float32Cache.store(node: i, inputs: ins, errors: e)
        return e
    }

    private func computeFloat32Error(node i: Int, inputs ins: [IntervalTensor],
                                     affineMagnitude: (lower: [Double], upper: [Double])?) throws -> [Double]? {
        let model = float32Models[i]
        switch model {
        case .exact: return nil
        case .unmodelled(let why): throw BoundError("--semantics float32: node '\(graph.nodes[i].name)': \(why)")
        case .fromInputs:
            // The operator's own bound (of the original node when decomposed; `ins` are its inputs).
            guard let op = (float32Origins[i]?.op ?? graph.nodes[i].op) as? any Float32InputErrorBound else {
                throw BoundError("--semantics float32: node '\(graph.nodes[i].name)' has no float32 error bound")
            }
            return op.float32ErrorBound(ins).map { $0.isNaN ? .infinity : $0 }
        case .sums:
            if kinds[i] == .affine {
                // sum_k |c_k| M_k + |b| per output (the terms' magnitudes over the input intervals).
                let (mL, mU) = try affineMagnitude ?? affineMagnitudes(node: i, inputs: ins)
                return mL.indices.map { j in model.bound(termMagnitude: Swift.max(mL[j], mU[j]), outputMagnitude: 0) ?? .infinity }
            }
            // A product of variables: one term, at most the exact image's largest end.
            let r = try graph.nodes[i].op.interval(ins)
            return r.lower.data.indices.map { j in
                let m = Swift.max(Swift.abs(r.lower.data[j]), Swift.abs(r.upper.data[j]))
                return model.bound(termMagnitude: m.isNaN ? .infinity : m, outputMagnitude: 0) ?? .infinity
            }
        case .ulps, .ulpsOfInputAndOutput:
            // Elementwise: output j's input is element j of the first input (same shape).
            let r = try graph.nodes[i].op.interval(ins)
            let x = ins.first.flatMap { $0.lower.count == r.lower.count ? $0 : nil }
            return r.lower.data.indices.map { j in
                let m = Swift.max(Swift.abs(r.lower.data[j]), Swift.abs(r.upper.data[j]))
                var mIn = 0.0
                if case .ulpsOfInputAndOutput = model {
                    mIn = x.map { Swift.max(Swift.abs($0.lower.data[j]), Swift.abs($0.upper.data[j])) } ?? .infinity
                }
                return model.bound(termMagnitude: 0, outputMagnitude: m.isNaN ? .infinity : m,
                                   inputMagnitude: mIn.isNaN ? .infinity : mIn) ?? .infinity
            }
        }
    }

    /// The interval tensors of node `n`'s inputs from `bounds` (constants as degenerate
    /// intervals), or nil when some variable input has no bounds.
    func inputIntervals(of n: Node, bounds: [ValueBounds?]) -> [IntervalTensor]? {
        var ins: [IntervalTensor] = []
        for v in n.inputs {
            if let t = graph.constants[v] { ins.append(IntervalTensor(constant: t)); continue }
            guard let b = bounds[v] else { return nil }
            let shape = graph.values[v].shape
            ins.append(IntervalTensor(lower: Tensor(shape: shape, data: b.lower), upper: Tensor(shape: shape, data: b.upper)))
        }
        return ins
    }

    /// Under `.float32`, every node's error bound for a backward pass over the nodes up to
    /// `last`, from the bounds of their inputs (`bounds`, which enclose the float32 values;
    /// values without bounds get IBP's, float32-widened, from the box). nil under `.real`.
    func float32Errors(upTo last: Int, box: ValueBounds, bounds: [ValueBounds?]) throws -> [[Double]?]? {
        guard semantics == .float32 else { return nil }
        var b = bounds
        if b[graph.input] == nil { b[graph.input] = box }
        var errors = [[Double]?](repeating: nil, count: last + 1)
        for i in 0...last {
            let n = graph.nodes[i]
            // Nodes in topological order: every earlier output has bounds by now (given or IBP).
            guard let ins = inputIntervals(of: n, bounds: b) else {
                throw BoundError("--semantics float32: no bounds for the inputs of node '\(n.name)'")
            }
            errors[i] = try float32Error(node: i, inputs: ins, bounds: b)
            if b[n.output] == nil { b[n.output] = try interval(of: n, bounds: b) }
        }
        return errors
    }

    /// bias_r -= sum_j |A_rj| e_j: the worst case of the float32 error terms delta_j in
    /// [-e_j, e_j] of a node whose output carries coefficients A (rows x outputs), moved down by
    /// the rounding guard of its own sum. An infinite e_j with a nonzero coefficient gives -inf.
    func subtractFloat32Error(_ A: Matrix, _ e: [Double], bias: inout [Double]) {
        let cols = A.cols
        A.data.withUnsafeBufferPointer { a in
            for r in 0..<A.rows {
                var s = 0.0
                let row = a.baseAddress! + r * cols
                for j in 0..<cols where row[j] != 0 { s += Swift.abs(row[j]) * e[j] }
                bias[r] -= s + RoundingGuard.relative * s
            }
        }
    }

    /// IBP's float32 widening of node `i`'s output bounds `b` (under `.float32`): each end moved
    /// out by the node's error bound.
    func widenForFloat32(node i: Int, inputs ins: [IntervalTensor], bounds: [ValueBounds?], _ b: inout ValueBounds,
                         affineMagnitude: (lower: [Double], upper: [Double])?) throws {
        guard let e = try float32Error(node: i, inputs: ins, bounds: bounds, affineMagnitude: affineMagnitude) else { return }
        for j in b.lower.indices {
            b.lower[j] -= e[j] + RoundingGuard.relative * e[j]
            b.upper[j] += e[j] + RoundingGuard.relative * e[j]
        }
        b.widenNaN()
    }

    /// The input box under `semantics`: unchanged under `.real`; under `.float32` the float32
    /// values inside it (each lower end rounded up to a float32, each upper end down), or nil
    /// when some coordinate holds no float32 value.
    package static func float32Box(lower: [Double], upper: [Double]) -> (lower: [Double], upper: [Double])? {
        var lo = lower, hi = upper
        for k in lower.indices {
            lo[k] = roundUpToFloat32(lower[k]); hi[k] = roundDownToFloat32(upper[k])
            guard lo[k] <= hi[k] else { return nil }
        }
        return (lo, hi)
    }

    /// The least float32 value >= x (as a Double); +-inf and NaN unchanged, values above the
    /// largest float32 give +inf.
    package static func roundUpToFloat32(_ x: Double) -> Double {
        guard x.isFinite else { return x }
        var f = Float(x)
        if Double(f) < x { f = f.nextUp }
        return Double(f)
    }

    /// The greatest float32 value <= x (as a Double).
    package static func roundDownToFloat32(_ x: Double) -> Double {
        guard x.isFinite else { return x }
        var f = Float(x)
        if Double(f) > x { f = f.nextDown }
        return Double(f)
    }
}

extension BoundEngine {
    /// The box the engine bounds over: `box` itself under `.real`; under `.float32` the float32
    /// values inside it (`float32Box`), since only those are inputs of a float32 runtime.
    /// - Throws: `BoundError` when the box holds no float32 value in some coordinate.
    func semanticBox(_ box: InputBox) throws -> ValueBounds {
        guard semantics == .float32 else { return ValueBounds(lower: box.lower, upper: box.upper) }
        guard let (lo, hi) = BoundEngine.float32Box(lower: box.lower, upper: box.upper) else {
            throw BoundError("--semantics float32: the input box holds no float32 value in some coordinate")
        }
        return ValueBounds(lower: lo, upper: hi)
    }
}

/// The last float32 error bound of each node with the input intervals it was computed from
/// (`BoundEngine.float32Error`): a hit needs the very same intervals (compared element by
/// element), so a stale entry can never be used. One entry per node; safe across threads.
final class Float32ErrorCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [Int: (inputs: [IntervalTensor], errors: [Double]?)] = [:]

    func lookup(node i: Int, inputs: [IntervalTensor]) -> [Double]?? {
        lock.lock(); defer { lock.unlock() }
        guard let e = entries[i], e.inputs == inputs else { return nil }
        return .some(e.errors)
    }

    func store(node i: Int, inputs: [IntervalTensor], errors: [Double]?) {
        lock.lock(); defer { lock.unlock() }
        entries[i] = (inputs, errors)
    }
}
