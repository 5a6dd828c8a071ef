import Foundation
import CBLAS
import CertusTensor
import CertusGraph
#if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
import _Builtin_intrinsics.intel
#endif

/// alpha-CROWN's search in single precision, for the common case of a chain of dense layers
/// and elementwise activations (ReLU inline; Sigmoid, Tanh, GeLU, ... through their own
/// relaxations) between the input and the bounded value.
///
/// Only the *search* for relaxation parameters runs in Float (half the memory traffic, BLAS
/// sgemm at twice dgemm's rate). The parameters it finds are then evaluated once by the Double
/// backward pass, and only that value is reported, so the bound stays as sound as CROWN's: a
/// parameter in [0, 1] always gives a valid relaxation whatever precision chose it.
struct FloatChain {
    enum Step {
        /// y = x W^T + b, W stored outN x inN row-major (nil: identity).
        case linear(w: [Float]?, b: [Float], inN: Int, outN: Int)
        /// A ReLU node; `n` neurons, default relaxation lines in Float.
        case relu(node: Int, n: Int, aL: [Float], bL: [Float], aU: [Float], bU: [Float])
        /// Any other elementwise node with a relaxation (`n` neurons): its lines are computed
        /// per row and neuron from the interval and the row's parameters
        /// (`ElementwiseRelaxation.relaxationWithDerivatives`), in Double, stored in Float.
        case general(node: Int, n: Int)
    }
    /// From the input to the target.
    var steps: [Step]
    var inputCount: Int
    /// ReLU neurons whose relaxation is identically zero (stably inactive) are dropped from
    /// the chain, with the matching rows and columns of the weights around them. Per ReLU step
    /// index: the original neuron of each kept one, and the original width.
    var kept: [Int: [Int]] = [:]
    var originalWidth: [Int: Int] = [:]

    func original(_ k: Int, _ j: Int) -> Int { kept[k]?[j] ?? j }
}

extension BoundEngine {
    /// The Float chain to `target` with the given relaxations; neurons whose relaxation is zero
    /// are dropped unless listed in `protect` (by ReLU node: split neurons keep their multiplier).
    func floatChain(target: Int, relaxations: [Int: Relaxation], protect: [Int: Set<Int>] = [:]) -> FloatChain? {
        guard let dense = denseChain(target: target) else { return nil }
        let ds = dense.steps
        // Kept neurons of every ReLU step.
        var keep: [Int: [Int]] = [:]
        for (k, st) in ds.enumerated() {
            guard case .relu(let i, _) = st, let r = relaxations[i] else { continue }
            let guarded = protect[i] ?? []
            keep[k] = r.aL.indices.filter { j in
                guarded.contains(j) || r.aL[j] != 0 || r.aU[j] != 0 || r.bL[j] != 0 || r.bU[j] != 0
            }
        }
        // The ReLU that a linear step feeds (through identity steps only), if any.
        func nextRelu(after k: Int) -> Int? {
            var t = k + 1
            while t < ds.count {
                switch ds[t] {
                case .relu: return t
                case .general: return nil
                case .linear(let w, _, _, _, _): if w != nil { return nil }
                }
                t += 1
            }
            return nil
        }
        var steps: [FloatChain.Step] = []
        var chain = FloatChain(steps: [], inputCount: size(graph.input))
        var cur: [Int]? = nil          // kept indices of the current value (nil: all)
        for (k, st) in ds.enumerated() {
            switch st {
            case .linear(let w, let b, let inN, let outN, _):
                if let w {
                    let outs: [Int]? = nextRelu(after: k).flatMap { keep[$0] }
                    let rowsIdx = outs ?? Array(0..<outN), colsIdx = cur ?? Array(0..<inN)
                    var fw = [Float](repeating: 0, count: rowsIdx.count * colsIdx.count)
                    w.withUnsafeBufferPointer { wp in
                        for (a, o) in rowsIdx.enumerated() {
                            let row = wp.baseAddress! + o * inN
                            for (c, t) in colsIdx.enumerated() { fw[a * colsIdx.count + c] = Float(row[t]) }
                        }
                    }
                    steps.append(.linear(w: fw, b: rowsIdx.map { Float(b[$0]) }, inN: colsIdx.count, outN: rowsIdx.count))
                    cur = outs
                } else {
                    let idx = cur ?? Array(0..<outN)
                    steps.append(.linear(w: nil, b: idx.map { Float(b[$0]) }, inN: idx.count, outN: idx.count))
                }
            case .relu(let i, _):
                guard let r = relaxations[i] else { return nil }
                let idx = cur ?? Array(r.aL.indices)
                let kk = steps.count
                if cur != nil { chain.kept[kk] = idx }
                chain.originalWidth[kk] = r.aL.count
                steps.append(.relu(node: i, n: idx.count, aL: idx.map { Float(r.aL[$0]) }, bL: idx.map { Float(r.bL[$0]) },
                                   aU: idx.map { Float(r.aU[$0]) }, bU: idx.map { Float(r.bU[$0]) }))
            case .general(let i, let v):
                // Every neuron is kept (its lines come from its interval, per row).
                guard cur == nil else { return nil }
                steps.append(.general(node: i, n: size(v)))
            }
        }
        chain.steps = steps
        return chain
    }

    /// Projected Adam in Float over the rows of `A` (one group), returning the best parameters
    /// found per row as Double `NodeParameters` (NaN where a neuron has none; signed beta-CROWN
    /// multipliers), or nil when the search stopped before its first step. The caller evaluates
    /// them in Double. `rowSplits`/`rowBounds`: per row, its domain's splits and intermediate
    /// bounds (a batch of domains; the general activations' lines use them, the ReLU steps the
    /// shared `bounds` with exact lines at split neurons).
    func floatSearch(chain: FloatChain, A: Matrix, box: ValueBounds, bounds: [ValueBounds?],
                     iterations: Int, settings: BoundSettings, goal: [Double]?, partner: [Int]?,
                     splits: SplitMap = [:], rowSplits perRow: [SplitMap]? = nil,
                     rowBounds: [[ValueBounds?]]? = nil) -> [Int: NodeParameters]? {
        let rows = A.rows
        let steps = chain.steps
        let reluSteps = steps.indices.filter { if case .relu = steps[$0] { return true } else { return false } }
        let generalSteps = steps.indices.filter { if case .general = steps[$0] { return true } else { return false } }
        guard let lastRelu = (reluSteps + generalSteps).max() else { return nil }
        guard floatSearchHandles(chain, splits: splits), perRow?.allSatisfy({ floatSearchHandles(chain, splits: $0) }) ?? true else { return nil }
        // General activations: their own state (intervals narrowed by each row's splits).
        var general: [Int: FloatGeneralStep] = [:]
        for k in generalSteps {
            guard case .general(let node, let n) = steps[k], let op = graph.nodes[node].op as? any ElementwiseRelaxation,
                  let b = bounds[graph.nodes[node].inputs[0]], b.lower.count == n else { return nil }
            let v = graph.nodes[node].inputs[0]
            general[k] = FloatGeneralStep(op: op, n: n, lower: b.lower, upper: b.upper,
                                          rowBounds: rowBounds.map { rb in rb.map { $0[v] } },
                                          rowSplits: (0..<rows).map { perRow?[$0][v] ?? splits[v] })
        }
        // Parameters (lower slopes of unstable neurons), NaN elsewhere.
        var params: [Int: [Float]] = [:]      // by step index, working rows x n
        for k in reluSteps {
            guard case .relu(let node, let n, _, _, _, _) = steps[k], let b = bounds[graph.nodes[node].inputs[0]] else { return nil }
            let op = graph.nodes[node].op as! any ElementwiseRelaxation
            var row = [Float](repeating: .nan, count: n)
            for j in 0..<n {
                let o = chain.original(k, j)
                if let l = op.defaultParameters(l: b.lower[o], u: b.upper[o]).lower { row[j] = Float(l) }
            }
            var p = [Float](); p.reserveCapacity(rows * n)
            for _ in 0..<rows { p.append(contentsOf: row) }
            params[k] = p
        }
        // beta-CROWN multipliers of the split neurons (domain constraints), from 0. The splits
        // are the same for every row (`splits`) or given per row (`perRow`, a batch of domains);
        // a split neuron's relaxation is exact (identity or zero) whatever the chain's default.
        // ReLU steps take ReLU splits only: one side, at 0 (checked above).
        var rowSplits: [Int: [[(Int, Float)]]] = [:]      // by step: per working row, (neuron, sign)
        var betas: [Int: [Float]] = [:]
        for k in reluSteps {
            guard case .relu(let node, let n, _, _, _, _) = steps[k] else { continue }
            let v = graph.nodes[node].inputs[0]
            var lists = [[(Int, Float)]](repeating: [], count: rows)
            var any = false
            var compressed: [Int: Int]? = nil      // original neuron -> kept position
            if let kept = chain.kept[k] { compressed = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) }) }
            for r in 0..<rows {
                guard let sp = perRow?[r][v] ?? splits[v], !sp.isEmpty else { continue }
                lists[r] = sp.compactMap { j, a -> (Int, Float)? in
                    guard let c = compressed.map({ $0[j] }) ?? (j < n ? j : nil) else { return nil }
                    return (c, Float(a.hasLower ? 1 : -1))
                }.sorted { $0.0 < $1.0 }
                for (j, _) in lists[r] { params[k]![r * n + j] = .nan }
                any = true
            }
            if any {
                rowSplits[k] = lists
                betas[k] = [Float](repeating: 0, count: rows * n)
            }
        }
        let originalRowSplits = rowSplits       // before row compaction: by original row
        var bestParams = params                                  // original row order
        var bestBetas = betas
        var m1 = params.mapValues { [Float](repeating: 0, count: $0.count) }, m2 = m1
        var bm1 = betas.mapValues { [Float](repeating: 0, count: $0.count) }, bm2 = bm1
        var betaRate = Float(settings.betaLearningRate)
        let lo = box.lower.map(Float.init), hi = box.upper.map(Float.init)
        var Aw = A.data.map(Float.init)
        let outN = A.cols
        var active = Array(0..<rows)
        var best = [Float](repeating: -.infinity, count: rows)
        var done = [Bool](repeating: false, count: rows)
        var lastGain = [Int](repeating: 0, count: rows)
        var reference = [Float](repeating: -.infinity, count: rows)
        var lr = Float(settings.learningRate)
        let beta1 = FloatAdam.beta1, beta2 = FloatAdam.beta2   // for the bias corrections
        var stale = 0
        var bestSum = -Float.infinity
        var improvedAny = false
        for it in 1...iterations {
            let R = active.count
            if R == 0 { break }
            if let d = settings.deadline, Date() >= d { break }
            if let s = settings.stopRequested, s() { break }   // a stop request: keep the best so far, as at the deadline
            // Backward pass.
            var atRelu: [Int: [Float]] = [:]
            var cur = Aw, curN = outN
            // Intermediate bounds start from rows with one non-zero each: the first product
            // is a gather of scaled weight rows.
            var selection: [(Int, Float)]? = nil
            if R > 1 {
                var sel: [(Int, Float)] = []
                sel.reserveCapacity(R)
                for r in 0..<R {
                    var found = (0, Float(0)), count = 0
                    for j in 0..<outN where Aw[r * outN + j] != 0 { count += 1; found = (j, Aw[r * outN + j]) }
                    if count > 1 { sel.removeAll(); break }
                    sel.append(found)
                }
                if sel.count == R { selection = sel }
            }
            var bias = [Float](repeating: 0, count: R)
            for k in steps.indices.reversed() {
                switch steps[k] {
                case .linear(let w, let b, let inN, let oN):
                    // bias += cur . b
                    cur.withUnsafeBufferPointer { c in b.withUnsafeBufferPointer { bp in
                        guard oN > 0 else { return }
                        for r in 0..<R { bias[r] += FloatLanes.dot(c.baseAddress! + r * oN, bp.baseAddress!, oN) }
                    } }
                    if let w, let sel = selection {
                        var next = [Float](repeating: 0, count: R * inN)
                        next.withUnsafeMutableBufferPointer { o in w.withUnsafeBufferPointer { wp in
                            for (r, (j, a)) in sel.enumerated() where a != 0 {
                                let ov = o.baseAddress! + r * inN, wv = wp.baseAddress! + j * inN
                                for t in 0..<inN { ov[t] = a * wv[t] }
                            }
                        } }
                        cur = next
                        selection = nil
                    } else if let w {
                        let next = [Float](unsafeUninitializedCapacity: R * inN) { out, count in
                            cur.withUnsafeBufferPointer { c in w.withUnsafeBufferPointer { wp in
                                BLAS.sgemm(m: R, n: inN, k: oN, a: c.baseAddress!, b: wp.baseAddress!, c: out.baseAddress!)
                            } }
                            count = R * inN
                        }
                        cur = next
                    }
                    curN = inN
                case .relu(_, let n, let aL, let bL, let aU, let bU):
                    selection = nil
                    atRelu[k] = cur
                    let p = params[k]!
                    var out = [Float](repeating: 0, count: R * n)
                    cur.withUnsafeBufferPointer { c in p.withUnsafeBufferPointer { q in out.withUnsafeMutableBufferPointer { o in
                    aL.withUnsafeBufferPointer { aLb in bL.withUnsafeBufferPointer { bLb in
                    aU.withUnsafeBufferPointer { aUb in bU.withUnsafeBufferPointer { bUb in
                        let aL = aLb.baseAddress!, bL = bLb.baseAddress!, aU = aUb.baseAddress!, bU = bUb.baseAddress!
                        for r in 0..<R {
                            let base = r * n
                            let cv = c.baseAddress! + base, qv = q.baseAddress! + base, ov = o.baseAddress! + base
                            // Coefficients and intercepts (ReLU: the unstable neurons' upper lines).
                            bias[r] += FloatLanes.reluBackward(cv, qv, aL, bL, aU, bU, ov, n)
                        }
                    } } } }
                    } } }
                    if let lists = rowSplits[k], let bt = betas[k] {
                        // Split neurons: exact relaxation instead of the default one, plus the
                        // multiplier term -beta * sign * z.
                        for r in 0..<R {
                            for (j, sg) in lists[r] {
                                let t = r * n + j, v = cur[t]
                                bias[r] -= Swift.max(v, 0) * bL[j] + Swift.min(v, 0) * bU[j]
                                out[t] = (sg > 0 ? v : 0) - bt[t] * sg
                            }
                        }
                    }
                    cur = out
                    curN = n
                case .general(_, let n):
                    selection = nil
                    cur = general[k]!.backward(cur, rows: R, bias: &bias)
                    curN = n
                }
            }
            // Concretise at the box; the minimiser per row is the input for the forward pass.
            var lb = bias
            var X = [Float](repeating: 0, count: R * curN)
            cur.withUnsafeBufferPointer { c in X.withUnsafeMutableBufferPointer { x in
            lo.withUnsafeBufferPointer { lo in hi.withUnsafeBufferPointer { hi in
                for r in 0..<R {
                    let cv = c.baseAddress! + r * curN, xv = x.baseAddress! + r * curN
                    lb[r] += FloatLanes.concretize(cv, lo.baseAddress!, hi.baseAddress!, xv, curN)
                }
            } } } }
            // Best per row (and its parameters).
            for (t, r) in active.enumerated() where lb[t] > best[r] {
                best[r] = lb[t]
                if it > 1 { improvedAny = true }
                for g in general.values { g.saveBest(working: t, original: r) }
                for k in reluSteps {
                    guard case .relu(_, let n, _, _, _, _) = steps[k] else { continue }
                    let src = params[k]!
                    bestParams[k]!.withUnsafeMutableBufferPointer { d in
                        src.withUnsafeBufferPointer { sp in
                            (d.baseAddress! + r * n).update(from: sp.baseAddress! + t * n, count: n)
                        }
                    }
                    if let bt = betas[k] {
                        bestBetas[k]!.withUnsafeMutableBufferPointer { d in
                            bt.withUnsafeBufferPointer { sp in
                                (d.baseAddress! + r * n).update(from: sp.baseAddress! + t * n, count: n)
                            }
                        }
                    }
                }
            }
            let sum = best.reduce(0, +)
            if it == 1 || sum > bestSum + 1e-6 * max(1, abs(bestSum)) { bestSum = sum; stale = 0 } else {
                stale += 1
                if stale >= settings.earlyStopPatience { break }
            }
            if settings.rowPatience > 0 {
                let tol = Float(settings.rowTolerance)
                for r in active {
                    if best[r] > reference[r] + tol * (1 + abs(reference[r])) || reference[r] == -.infinity {
                        reference[r] = best[r]; lastGain[r] = it
                    } else if it - lastGain[r] >= settings.rowPatience {
                        done[r] = true
                    }
                }
            }
            if let goal {
                for r in active where !done[r] && Double(best[r]) > goal[r] {
                    done[r] = true
                    if let partner, partner[r] >= 0 { done[partner[r]] = true }
                }
            }
            if !active.contains(where: { !done[$0] }) { break }
            // Forward pass through the chosen relaxations: the gradient of each row's bound
            // with respect to its ReLU lower slopes is A_out * x (where A_out > 0).
            var grads: [Int: [Float]] = [:], betaGrads: [Int: [Float]] = [:]
            for k in 0...lastRelu {
                switch steps[k] {
                case .linear(let w, let b, let inN, let oN):
                    var Y: [Float]
                    if let w {
                        Y = [Float](unsafeUninitializedCapacity: R * oN) { out, count in
                            X.withUnsafeBufferPointer { x in w.withUnsafeBufferPointer { wp in
                                BLAS.sgemm(transB: true, m: R, n: oN, k: inN, a: x.baseAddress!, b: wp.baseAddress!, c: out.baseAddress!)
                            } }
                            count = R * oN
                        }
                    } else {
                        Y = X
                    }
                    Y.withUnsafeMutableBufferPointer { y in b.withUnsafeBufferPointer { bp in
                        for r in 0..<R { let yv = y.baseAddress! + r * oN; for j in 0..<oN { yv[j] += bp[j] } }
                    } }
                    X = Y
                case .relu(_, let n, let aL, let bL, let aU, let bU):
                    let Aout = atRelu[k]!, p = params[k]!
                    var Y = [Float](repeating: 0, count: R * n), G = [Float](repeating: 0, count: R * n)
                    X.withUnsafeBufferPointer { x in Aout.withUnsafeBufferPointer { a in p.withUnsafeBufferPointer { q in
                    Y.withUnsafeMutableBufferPointer { y in G.withUnsafeMutableBufferPointer { g in
                    aL.withUnsafeBufferPointer { aLb in bL.withUnsafeBufferPointer { bLb in
                    aU.withUnsafeBufferPointer { aUb in bU.withUnsafeBufferPointer { bUb in
                        let aL = aLb.baseAddress!, bL = bLb.baseAddress!, aU = aUb.baseAddress!, bU = bUb.baseAddress!
                        for r in 0..<R {
                            let base = r * n
                            let xv = x.baseAddress! + base, av = a.baseAddress! + base, qv = q.baseAddress! + base
                            let yv = y.baseAddress! + base, gv = g.baseAddress! + base
                            FloatLanes.reluForward(xv, av, qv, aL, bL, aU, bU, yv, gv, n)
                        }
                    } } } }
                    } } } } }
                    if let lists = rowSplits[k] {
                        // d bound / d beta = -sign * z at the minimiser (z = this step's input).
                        var GB = [Float](repeating: 0, count: R * n)
                        for r in 0..<R {
                            for (j, sg) in lists[r] {
                                let t = r * n + j
                                Y[t] = sg > 0 ? X[t] : 0
                                G[t] = 0
                                GB[t] = -sg * X[t]
                            }
                        }
                        betaGrads[k] = GB
                    }
                    grads[k] = G
                    X = Y
                case .general:
                    X = general[k]!.forward(X, rows: R)
                }
            }
            // Adam ascent, projected to [0, 1].
            let c1 = 1 - pow(beta1, Float(it)), c2 = 1 - pow(beta2, Float(it))
            for k in reluSteps {
                let G = grads[k]!
                params[k]!.withUnsafeMutableBufferPointer { pp in
                m1[k]!.withUnsafeMutableBufferPointer { mp in
                m2[k]!.withUnsafeMutableBufferPointer { vp in
                G.withUnsafeBufferPointer { gp in
                    guard pp.count > 0 else { return }
                    FloatLanes.adamUnit(pp.baseAddress!, mp.baseAddress!, vp.baseAddress!, gp.baseAddress!, pp.count,
                                        rate: lr, c1: c1, c2: c2)
                } } } }
            }
            for (k, G) in betaGrads {
                let rate = betaRate
                betas[k]!.withUnsafeMutableBufferPointer { pp in
                bm1[k]!.withUnsafeMutableBufferPointer { mp in
                bm2[k]!.withUnsafeMutableBufferPointer { vp in
                G.withUnsafeBufferPointer { gp in
                    for t in 0..<pp.count where gp[t] != 0 || pp[t] != 0 {
                        pp[t] = Swift.max(0, FloatAdam.ascend(pp[t], &mp[t], &vp[t], gp[t], rate: rate, c1: c1, c2: c2))
                    }
                } } } }
            }
            for g in general.values { g.step(rows: R, rate: lr, betaRate: betaRate, c1: c1, c2: c2) }
            betaRate *= Float(settings.learningRateDecay)
            lr *= Float(settings.learningRateDecay)
            // Drop frozen rows from the working set when enough have gone.
            let keep = active.indices.filter { !done[active[$0]] }
            if Double(keep.count) <= 0.85 * Double(R) {
                func select(_ a: [Float], _ n: Int) -> [Float] {
                    var out = [Float](); out.reserveCapacity(keep.count * n)
                    for t in keep { out.append(contentsOf: a[(t * n)..<((t + 1) * n)]) }
                    return out
                }
                Aw = select(Aw, outN)
                for k in reluSteps {
                    guard case .relu(_, let n, _, _, _, _) = steps[k] else { continue }
                    params[k] = select(params[k]!, n); m1[k] = select(m1[k]!, n); m2[k] = select(m2[k]!, n)
                    if betas[k] != nil {
                        betas[k] = select(betas[k]!, n); bm1[k] = select(bm1[k]!, n); bm2[k] = select(bm2[k]!, n)
                        rowSplits[k] = keep.map { rowSplits[k]![$0] }
                    }
                }
                for g in general.values { g.select(keep) }
                active = keep.map { active[$0] }
            }
        }
        guard improvedAny else { return nil }
        var out: [Int: NodeParameters] = [:]
        for k in reluSteps {
            guard case .relu(let node, let n, _, _, _, _) = steps[k] else { continue }
            // Back to the original neurons (dropped ones have no parameter: NaN, beta 0).
            let n0 = chain.originalWidth[k] ?? n
            func expand(_ a: [Float], fill: Double) -> [Double] {
                guard let kept = chain.kept[k] else { return a.map(Double.init) }
                var out = [Double](repeating: fill, count: rows * n0)
                for r in 0..<rows { for (c, o) in kept.enumerated() { out[r * n0 + o] = Double(a[r * n + c]) } }
                return out
            }
            var p = NodeParameters(lower: Matrix(rows: rows, cols: n0, data: expand(bestParams[k]!, fill: .nan)),
                                   upper: Matrix(zeros: 0, n0))
            if var bt = bestBetas[k] {
                // This search's multipliers are >= 0 in each constraint's direction: the signed
                // form (`NodeParameters.beta`) negates those of z <= 0.
                if let lists = originalRowSplits[k] {
                    for (r, list) in lists.enumerated() { for (j, sg) in list { bt[r * n + j] *= sg } }
                }
                p.beta = Matrix(rows: rows, cols: n0, data: expand(bt, fill: 0))
                // The split intervals when they are the same for every row; a batch caller sets its own.
                if let sp = splits[graph.nodes[node].inputs[0]] { p.setSplits(sp, count: n0) }
            }
            out[node] = p
        }
        for k in generalSteps {
            guard case .general(let node, _) = steps[k], let g = general[k] else { continue }
            var p = g.parameters(rows: rows)
            if g.hasSplits, let sp = splits[graph.nodes[node].inputs[0]] { p.setSplits(sp, count: g.n) }
            out[node] = p
        }
        return out
    }

    /// Whether the Float search can carry `splits` on `chain`: its ReLU steps take ReLU splits
    /// only (one side, at 0), its general steps any split.
    func floatSearchHandles(_ chain: FloatChain, splits: SplitMap) -> Bool {
        for st in chain.steps {
            guard case .relu(let node, _, _, _, _, _) = st, let sp = splits[graph.nodes[node].inputs[0]] else { continue }
            if !([0: sp] as SplitMap).isReluShaped { return false }
        }
        return true
    }
}

/// Adam's update in the Float search (Kingma and Ba; beta1 0.9, beta2 0.999, eps 1e-8, the
/// reference implementation's), shared by its ReLU slopes, its general steps' parameters and
/// every beta-CROWN multiplier: updates the moments in place and returns the parameter moved
/// up the gradient, before the caller's projection. c1, c2: this iteration's bias corrections
/// 1 - beta1^it, 1 - beta2^it.
enum FloatAdam {
    static let beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8

    @inline(__always)
    static func ascend(_ p: Float, _ m: inout Float, _ v: inout Float, _ g: Float, rate: Float, c1: Float, c2: Float) -> Float {
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        return p + rate * (m / c1) / ((v / c2).squareRoot() + eps)
    }
}

/// The Float search's elementwise loops, eight lanes at a time (`SIMD8<Float>`): selects
/// instead of the data-dependent branches of scalar loops (the signs of the coefficients are
/// unpredictable), then a scalar tail. Every lane computes exactly the scalar formula (same
/// operations in the same order); only the sums (`dot`, `concretize`, the intercepts of
/// `reluBackward`) are taken in eight partial sums, another rounding order. These loops only
/// steer the search: the parameters it finds are evaluated in Double (`FloatChain`).
enum FloatLanes {
    typealias V = SIMD8<Float>
    static let width = V.scalarCount

    @inline(__always) static func load(_ p: UnsafePointer<Float>, _ j: Int) -> V {
        UnsafeRawPointer(p + j).loadUnaligned(as: V.self)
    }
    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>, _ j: Int) -> V { load(UnsafePointer(p), j) }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ j: Int) {
        UnsafeMutableRawPointer(p + j).storeBytes(of: v, as: V.self)
    }

    /// Lane-wise square root. The standard library's `SIMD8.squareRoot()` goes lane by lane
    /// through `sqrtf` (errno checks); on x86-64 the SSE instruction does all four lanes at once
    /// (the same correctly rounded result).
    @inline(__always) static func squareRoot(_ v: V) -> V {
        #if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
        return V(lowHalf: _mm_sqrt_ps(v.lowHalf), highHalf: _mm_sqrt_ps(v.highHalf))
        #else
        return v.squareRoot()
        #endif
    }

    /// sum a[j] b[j] over `n` entries (in eight partial sums).
    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V(repeating: 0)
        var j = 0
        while j + width <= n { acc += load(a, j) * load(b, j); j += width }
        var s = acc.sum()
        while j < n { s += a[j] * b[j]; j += 1 }
        return s
    }

    /// ReLU backward step on one row of `n` coefficients `c`: the positive part takes the lower
    /// line (slope: the parameter `p`, intercept 0; where `p` is NaN the default `aL`, `bL`),
    /// the negative part the upper line `aU`, `bU`. Writes the input coefficients to `out` and
    /// returns the intercepts' sum (in eight partial sums).
    @inline(__always)
    static func reluBackward(_ c: UnsafePointer<Float>, _ p: UnsafePointer<Float>, _ aL: UnsafePointer<Float>,
                             _ bL: UnsafePointer<Float>, _ aU: UnsafePointer<Float>, _ bU: UnsafePointer<Float>,
                             _ out: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        let zero = V(repeating: 0)
        var acc = zero
        var j = 0
        while j + width <= n {
            let v = load(c, j), q = load(p, j)
            let free = q .== q
            let slope = load(aL, j).replacing(with: q, where: free)
            let pos = zero.replacing(with: v, where: v .> zero), neg = zero.replacing(with: v, where: v .< zero)
            store(pos * slope + neg * load(aU, j), out, j)
            acc += pos * load(bL, j).replacing(with: 0, where: free) + neg * load(bU, j)
            j += width
        }
        var s = acc.sum()
        while j < n {
            let v = c[j], q = p[j]
            let free = q == q
            out[j] = Swift.max(v, 0) * (free ? q : aL[j]) + Swift.min(v, 0) * aU[j]
            s += Swift.max(v, 0) * (free ? 0 : bL[j]) + Swift.min(v, 0) * bU[j]
            j += 1
        }
        return s
    }

    /// Concretisation of one row of `n` input coefficients `c` at the box [lo, hi]: writes the
    /// minimiser (`lo` where c >= 0, `hi` elsewhere) to `x` and returns sum c x.
    @inline(__always)
    static func concretize(_ c: UnsafePointer<Float>, _ lo: UnsafePointer<Float>, _ hi: UnsafePointer<Float>,
                           _ x: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        var acc = V(repeating: 0)
        var j = 0
        while j + width <= n {
            let v = load(c, j)
            let pt = load(hi, j).replacing(with: load(lo, j), where: v .>= 0)
            store(pt, x, j)
            acc += v * pt
            j += width
        }
        var s = acc.sum()
        while j < n {
            let v = c[j], pt = v >= 0 ? lo[j] : hi[j]
            x[j] = pt
            s += v * pt
            j += 1
        }
        return s
    }

    /// ReLU forward step on one row at the minimiser: input `x`, the coefficients `a` the
    /// backward pass had on the output, parameters `p` (NaN: default lines). Writes the output
    /// `y` through the chosen line (lower where a >= 0) and the gradient `g` of the bound in
    /// the parameter (a x where a > 0 and the neuron has one, else 0).
    @inline(__always)
    static func reluForward(_ x: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ p: UnsafePointer<Float>,
                            _ aL: UnsafePointer<Float>, _ bL: UnsafePointer<Float>, _ aU: UnsafePointer<Float>,
                            _ bU: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ n: Int) {
        let zero = V(repeating: 0)
        var j = 0
        while j + width <= n {
            let xx = load(x, j), aa = load(a, j), q = load(p, j)
            let free = q .== q
            let lower = load(aL, j).replacing(with: q, where: free) * xx + load(bL, j).replacing(with: 0, where: free)
            let upper = load(aU, j) * xx + load(bU, j)
            store(upper.replacing(with: lower, where: aa .>= zero), y, j)
            store(zero.replacing(with: aa * xx, where: (aa .> zero) .& free), g, j)
            j += width
        }
        while j < n {
            let xx = x[j], aa = a[j], q = p[j]
            let free = q == q
            let lower = (free ? q : aL[j]) * xx + (free ? 0 : bL[j])
            y[j] = aa >= 0 ? lower : aU[j] * xx + bU[j]
            g[j] = (aa > 0 && free) ? aa * xx : 0
            j += 1
        }
    }

    /// Projected Adam ascent (`FloatAdam`) of `count` parameters in [0, 1]; NaN entries (no
    /// parameter) and their moments are left alone. A NaN step lands on 0, as
    /// `min(1, max(0, NaN))` does.
    @inline(__always)
    static func adamUnit(_ p: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
                         _ g: UnsafePointer<Float>, _ count: Int, rate: Float, c1: Float, c2: Float) {
        let b1 = FloatAdam.beta1, b2 = FloatAdam.beta2, eps = FloatAdam.eps
        let zero = V(repeating: 0), one = V(repeating: 1)
        var t = 0
        while t + width <= count {
            let q = load(p, t)
            let free = q .== q
            if any(free) {
                let gt = load(g, t)
                let mt = b1 * load(m, t) + (1 - b1) * gt
                let vt = b2 * load(v, t) + (1 - b2) * gt * gt
                let r = q + rate * (mt / c1) / (squareRoot(vt / c2) + eps)
                let lower = zero.replacing(with: r, where: r .>= zero)
                let clamped = one.replacing(with: lower, where: lower .< one)
                store(q.replacing(with: clamped, where: free), p, t)
                store(load(m, t).replacing(with: mt, where: free), m, t)
                store(load(v, t).replacing(with: vt, where: free), v, t)
            }
            t += width
        }
        while t < count {
            if p[t] == p[t] {
                p[t] = Swift.min(1, Swift.max(0, FloatAdam.ascend(p[t], &m[t], &v[t], g[t], rate: rate, c1: c1, c2: c2)))
            }
            t += 1
        }
    }
}

/// The Float search's state for one general activation step (`FloatChain.Step.general`): per
/// working row r and neuron j (index r * n + j) the neuron's input interval (the shared bounds
/// narrowed by the row's splits), the relaxation parameters (NaN: that side has none), their
/// Adam moments, the signed beta-CROWN multipliers of the row's split neurons, and the lines
/// the last backward pass chose (with their derivatives in the parameter), which the forward
/// pass reuses: one relaxation call per row and neuron per iteration.
final class FloatGeneralStep {
    let op: any ElementwiseRelaxation
    let n: Int
    var lo: [Double], hi: [Double]
    var pl: [Float], pu: [Float]
    var ml: [Float], vl: [Float], mu: [Float], vu: [Float]
    /// Default lines (the relaxation without parameters), used on a side without a parameter.
    var dLa: [Float], dLb: [Float], dUa: [Float], dUb: [Float]
    /// Per working row, its split neurons and their split ends (-inf / +inf: that side unsplit).
    var splits: [[(j: Int, lower: Double, upper: Double)]]
    var beta: [Float], mb: [Float], vb: [Float]
    let hasSplits: Bool
    // Scratch of the last backward pass.
    var coef: [Float] = [], la: [Float] = [], lb: [Float] = [], da: [Float] = [], db: [Float] = []
    // The best parameters per original row.
    var bestPL: [Float], bestPU: [Float], bestBeta: [Float]
    // Gradients of the last forward pass.
    var gl: [Float] = [], gu: [Float] = [], gb: [Float] = []

    /// `lower`/`upper`: the shared input bounds; `rowBounds`: per row, its own input bounds
    /// (a batch of domains: each domain's, already narrowed by its splits) or nil for the shared
    /// ones; `rowSplits`: per row, this node's splits.
    init(op: any ElementwiseRelaxation, n: Int, lower: [Double], upper: [Double], rowBounds: [ValueBounds?]? = nil,
         rowSplits: [[Int: SplitInterval]?]) {
        self.op = op; self.n = n
        let rows = rowSplits.count
        // Per neuron on the shared interval, then replicated and redone where a row splits.
        var baseL = [Float](repeating: .nan, count: n), baseU = baseL
        var bLa = [Float](repeating: 0, count: n), bLb = bLa, bUa = bLa, bUb = bLa
        func fill(_ l: Double, _ u: Double) -> (Float, Float, Float, Float, Float, Float) {
            let d = op.defaultParameters(l: l, u: u)
            let r = op.relaxation(l: l, u: u, lowerParameter: nil, upperParameter: nil)
            return (d.lower.map(Float.init) ?? .nan, d.upper.map(Float.init) ?? .nan,
                    Float(r.aL), Float(r.bL), Float(r.aU), Float(r.bU))
        }
        for j in 0..<n {
            (baseL[j], baseU[j], bLa[j], bLb[j], bUa[j], bUb[j]) = fill(lower[j], upper[j])
        }
        var lo = [Double](), hi = [Double](), pl = [Float](), pu = [Float]()
        var dLa = [Float](), dLb = [Float](), dUa = [Float](), dUb = [Float]()
        lo.reserveCapacity(rows * n); hi.reserveCapacity(rows * n)
        for _ in 0..<rows {
            lo.append(contentsOf: lower); hi.append(contentsOf: upper)
            pl.append(contentsOf: baseL); pu.append(contentsOf: baseU)
            dLa.append(contentsOf: bLa); dLb.append(contentsOf: bLb); dUa.append(contentsOf: bUa); dUb.append(contentsOf: bUb)
        }
        if let rowBounds {
            // Rows with bounds of their own: every neuron whose interval differs is redone.
            for r in 0..<rows {
                guard let b = rowBounds[r], b.lower.count == n, b.lower != lower || b.upper != upper else { continue }
                for j in 0..<n where b.lower[j] != lower[j] || b.upper[j] != upper[j] {
                    let t = r * n + j
                    let l = b.lower[j], u = Swift.max(l, b.upper[j])
                    lo[t] = l; hi[t] = u
                    (pl[t], pu[t], dLa[t], dLb[t], dUa[t], dUb[t]) = fill(l, u)
                }
            }
        }
        var lists = [[(j: Int, lower: Double, upper: Double)]](repeating: [], count: rows)
        for (r, sp) in rowSplits.enumerated() {
            guard let sp else { continue }
            for (j, s) in sp where j < n {
                let t = r * n + j
                let l = Swift.max(lo[t], s.lower)
                let u = Swift.max(l, Swift.min(hi[t], s.upper))
                lo[t] = l; hi[t] = u
                (pl[t], pu[t], dLa[t], dLb[t], dUa[t], dUb[t]) = fill(l, u)
                lists[r].append((j, s.lower, s.upper))
            }
            lists[r].sort { $0.j < $1.j }
        }
        self.lo = lo; self.hi = hi; self.pl = pl; self.pu = pu
        self.dLa = dLa; self.dLb = dLb; self.dUa = dUa; self.dUb = dUb
        let zeros = [Float](repeating: 0, count: rows * n)
        ml = zeros; vl = zeros; mu = zeros; vu = zeros
        splits = lists
        hasSplits = lists.contains { !$0.isEmpty }
        beta = hasSplits ? zeros : []; mb = beta; vb = beta
        bestPL = pl; bestPU = pu; bestBeta = beta
    }

    /// The backward step: `cur` (R x n) holds the coefficients on the node's output; returns
    /// those on its input and adds the intercepts (and the split terms beta (end - z)) to `bias`.
    /// (Arrays are moved into locals for the loops: no exclusivity checks or copies per element.)
    func backward(_ cur: [Float], rows R: Int, bias: inout [Float]) -> [Float] {
        let count = R * n, n = self.n, op = self.op
        coef = cur
        var la = [Float](repeating: 0, count: count), lb = la, da = la, db = la
        var out = [Float](repeating: 0, count: count)
        let lo = self.lo, hi = self.hi, pl = self.pl, pu = self.pu
        let dLa = self.dLa, dLb = self.dLb, dUa = self.dUa, dUb = self.dUb
        cur.withUnsafeBufferPointer { c in out.withUnsafeMutableBufferPointer { o in
        la.withUnsafeMutableBufferPointer { la in lb.withUnsafeMutableBufferPointer { lb in
        da.withUnsafeMutableBufferPointer { da in db.withUnsafeMutableBufferPointer { db in
            for r in 0..<R {
                var s: Float = 0
                for j in 0..<n {
                    let t = r * n + j, cv = c[t]
                    if cv == 0 { continue }
                    let lowerSide = cv > 0
                    let p = lowerSide ? pl[t] : pu[t]
                    var a: Float, b: Float
                    if p == p {
                        let (rel, dl, du) = op.relaxationWithDerivatives(l: lo[t], u: hi[t],
                                                                          lowerParameter: lowerSide ? Double(p) : nil,
                                                                          upperParameter: lowerSide ? nil : Double(p))
                        if lowerSide {
                            a = Float(rel.aL); b = Float(rel.bL); da[t] = Float(dl.0); db[t] = Float(dl.1)
                        } else {
                            a = Float(rel.aU); b = Float(rel.bU); da[t] = Float(du.0); db[t] = Float(du.1)
                        }
                    } else {
                        a = lowerSide ? dLa[t] : dUa[t]; b = lowerSide ? dLb[t] : dUb[t]
                    }
                    la[t] = a; lb[t] = b
                    o[t] = cv * a
                    s += cv * b
                }
                bias[r] += s
            }
        } } } } } }
        if hasSplits {
            for r in 0..<R {
                for (j, l, u) in splits[r] {
                    let t = r * n + j, bt = beta[t]
                    if bt > 0 { out[t] -= bt; bias[r] += bt * Float(l) }
                    else if bt < 0 { out[t] -= bt; bias[r] += bt * Float(u) }
                }
            }
        }
        self.la = la; self.lb = lb; self.da = da; self.db = db
        return out
    }

    /// The forward step at the rows' minimisers: X (R x n) is the node's input; returns its
    /// output through the lines the backward pass chose, and sets the parameters' gradients.
    func forward(_ X: [Float], rows R: Int) -> [Float] {
        let count = R * n
        var Y = [Float](repeating: 0, count: count)
        var gl = [Float](repeating: 0, count: count), gu = gl
        let coef = self.coef, la = self.la, lb = self.lb, da = self.da, db = self.db, pl = self.pl, pu = self.pu
        X.withUnsafeBufferPointer { X in Y.withUnsafeMutableBufferPointer { Y in
        gl.withUnsafeMutableBufferPointer { gl in gu.withUnsafeMutableBufferPointer { gu in
        coef.withUnsafeBufferPointer { coef in la.withUnsafeBufferPointer { la in lb.withUnsafeBufferPointer { lb in
        da.withUnsafeBufferPointer { da in db.withUnsafeBufferPointer { db in
        pl.withUnsafeBufferPointer { pl in pu.withUnsafeBufferPointer { pu in
            for t in 0..<count {
                let x = X[t], c = coef[t]
                Y[t] = la[t] * x + lb[t]
                if c > 0, pl[t] == pl[t] { gl[t] = c * (da[t] * x + db[t]) }
                else if c < 0, pu[t] == pu[t] { gu[t] = c * (da[t] * x + db[t]) }
            }
        } } } } } } } } } } }
        self.gl = gl; self.gu = gu
        if hasSplits {
            // d bound / d beta = end - z (the end on beta's side; at 0 the side that gains).
            var gb = [Float](repeating: 0, count: count)
            for r in 0..<R {
                for (j, l, u) in splits[r] {
                    let t = r * n + j, z = X[t], bt = beta[t]
                    let fl = Float(l), fu = Float(u)
                    if bt > 0 { gb[t] = fl - z }
                    else if bt < 0 { gb[t] = fu - z }
                    else if l > -.infinity && fl - z > 0 { gb[t] = fl - z }
                    else if u < .infinity && fu - z < 0 { gb[t] = fu - z }
                }
            }
            self.gb = gb
        }
        return Y
    }

    /// One projected Adam ascent step (parameters into [0, 1], multipliers onto the signs
    /// their constraints allow).
    func step(rows R: Int, rate: Float, betaRate: Float, c1: Float, c2: Float) {
        @inline(__always) func adam(_ p: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                                    _ v: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ count: Int, _ lr: Float) {
            FloatLanes.adamUnit(p, m, v, g, count, rate: lr, c1: c1, c2: c2)
        }
        let count = R * n
        var pl = self.pl, ml = self.ml, vl = self.vl, pu = self.pu, mu = self.mu, vu = self.vu
        self.pl = []; self.ml = []; self.vl = []; self.pu = []; self.mu = []; self.vu = []
        pl.withUnsafeMutableBufferPointer { p in ml.withUnsafeMutableBufferPointer { m in vl.withUnsafeMutableBufferPointer { v in
        gl.withUnsafeBufferPointer { g in adam(p.baseAddress!, m.baseAddress!, v.baseAddress!, g.baseAddress!, count, rate) } } } }
        pu.withUnsafeMutableBufferPointer { p in mu.withUnsafeMutableBufferPointer { m in vu.withUnsafeMutableBufferPointer { v in
        gu.withUnsafeBufferPointer { g in adam(p.baseAddress!, m.baseAddress!, v.baseAddress!, g.baseAddress!, count, rate) } } } }
        self.pl = pl; self.ml = ml; self.vl = vl; self.pu = pu; self.mu = mu; self.vu = vu
        if hasSplits {
            for r in 0..<R {
                for (j, l, u) in splits[r] {
                    let t = r * n + j
                    guard gb[t] != 0 || beta[t] != 0 else { continue }
                    beta[t] = FloatAdam.ascend(beta[t], &mb[t], &vb[t], gb[t], rate: betaRate, c1: c1, c2: c2)
                    if beta[t] > 0 && !(l > -.infinity) { beta[t] = 0 }
                    if beta[t] < 0 && !(u < .infinity) { beta[t] = 0 }
                }
            }
        }
    }

    /// Saves working row `t` as the best of original row `r`.
    func saveBest(working t: Int, original r: Int) {
        let s = t * n, d = r * n, n = self.n
        bestPL.withUnsafeMutableBufferPointer { b in pl.withUnsafeBufferPointer { p in (b.baseAddress! + d).update(from: p.baseAddress! + s, count: n) } }
        bestPU.withUnsafeMutableBufferPointer { b in pu.withUnsafeBufferPointer { p in (b.baseAddress! + d).update(from: p.baseAddress! + s, count: n) } }
        if hasSplits {
            bestBeta.withUnsafeMutableBufferPointer { b in beta.withUnsafeBufferPointer { p in (b.baseAddress! + d).update(from: p.baseAddress! + s, count: n) } }
        }
    }

    /// Keeps the working rows `keep` (in that order).
    func select(_ keep: [Int]) {
        func sel<T>(_ a: [T]) -> [T] {
            guard !a.isEmpty else { return a }
            var out = [T](); out.reserveCapacity(keep.count * n)
            for t in keep { out.append(contentsOf: a[(t * n)..<((t + 1) * n)]) }
            return out
        }
        lo = sel(lo); hi = sel(hi); pl = sel(pl); pu = sel(pu)
        ml = sel(ml); vl = sel(vl); mu = sel(mu); vu = sel(vu)
        dLa = sel(dLa); dLb = sel(dLb); dUa = sel(dUa); dUb = sel(dUb)
        beta = sel(beta); mb = sel(mb); vb = sel(vb)
        splits = keep.map { splits[$0] }
    }

    /// The best parameters found, per original row (`rows` of them), as `NodeParameters` with
    /// signed multipliers.
    func parameters(rows: Int) -> NodeParameters {
        var p = NodeParameters(lower: Matrix(rows: rows, cols: n, data: bestPL.map(Double.init)),
                               upper: Matrix(rows: rows, cols: n, data: bestPU.map(Double.init)))
        if hasSplits { p.beta = Matrix(rows: rows, cols: n, data: bestBeta.map(Double.init)) }
        return p
    }
}
