import Foundation
import CertusTensor
import CertusGraph

/// alpha-CROWN: the relaxation parameters of every elementwise node in the backward cone are
/// optimised per row by projected Adam ascent on the row's lower bound. Every iterate is a
/// sound CROWN bound (each parameter in [0, 1] gives a valid relaxation), so the best bound seen
/// for each row is returned.
///
/// Gradient: with intermediate bounds fixed, the lower bound is a function of the coefficients
/// reaching each node, and its derivative with respect to those coefficients is the value of the
/// relaxed network at the minimising input (the adjoint of the backward pass). One forward pass
/// per iteration through the chosen linear relaxations gives every node's adjoint.
extension BoundEngine {
    /// - Parameters:
    ///   - goal: per row, a value beyond which the row needs no further work (an intermediate
    ///     neuron's lower bound above 0 proves it stable); nil for none.
    ///   - partner: per row, a row made irrelevant when this one reaches its goal (the other
    ///     side of the same neuron), or -1.
    ///
    /// Rows are independent problems (each has its own parameters and Adam state), so they are
    /// split into `settings.threads` groups optimised concurrently (a row and its partner stay
    /// together); the result does not depend on timing, only on the group sizes.
    func optimize(target: Int, A: Matrix, box: ValueBounds, bounds: [ValueBounds?],
                  relaxations: inout [Int: Relaxation], iterations: Int, settings: BoundSettings,
                  goal: [Double]? = nil, partner: [Int]? = nil, splits: SplitMap = [:]) throws -> [Double] {
        let rows = A.rows
        let record = BackwardRecord()
        var best = try backward(target: target, A: A, box: box, bounds: bounds, relaxations: &relaxations, record: record, stop: settings)
        guard iterations > 0 else { return best }
        let paramNodes = Array(record.atNode.keys).sorted()
        // Groups of rows: whole neurons (row and partner) when partners are given.
        let threads = max(1, min(settings.threads, rows / settings.minimumRowsPerThread))
        var groups: [[Int]] = []
        if threads <= 1 {
            groups = [Array(0..<rows)]
        } else {
            var leaders: [Int] = []
            var taken = [Bool](repeating: false, count: rows)
            for r in 0..<rows where !taken[r] {
                leaders.append(r); taken[r] = true
                if let partner, partner[r] >= 0 { taken[partner[r]] = true }
            }
            for t in 0..<threads {
                let part = leaders[(t * leaders.count / threads)..<((t + 1) * leaders.count / threads)]
                var g: [Int] = []
                for r in part { g.append(r); if let partner, partner[r] >= 0 { g.append(partner[r]) } }
                if !g.isEmpty { groups.append(g) }
            }
        }
        let shared = relaxations, start = best
        func work(_ t: Int) -> Result<[Double], Error> {
            let idx = groups[t]
            var local = [Int](repeating: -1, count: rows)
            for (k, r) in idx.enumerated() { local[r] = k }
            let sub = idx.count == rows ? A : A.selectingRows(idx)
            var rel = shared
            return Result {
                try optimizeGroup(target: target, A: sub, initial: idx.map { start[$0] }, paramNodes: paramNodes,
                                  box: box, bounds: bounds, relaxations: &rel, iterations: iterations, settings: settings,
                                  goal: goal.map { g in idx.map { g[$0] } },
                                  partner: partner.map { p in idx.map { p[$0] >= 0 ? local[p[$0]] : -1 } }, splits: splits)
            }
        }
        let results = concurrentResults(groups.count) { t in try work(t).get() }
        for (t, idx) in groups.enumerated() {
            let b = try results[t].get()
            for (k, r) in idx.enumerated() { best[r] = max(best[r], b[k]) }
        }
        return best
    }

    /// Projected Adam on one group of rows, from their CROWN bounds `initial`.
    private func optimizeGroup(target: Int, A: Matrix, initial: [Double], paramNodes: [Int], box: ValueBounds,
                               bounds: [ValueBounds?], relaxations: inout [Int: Relaxation], iterations: Int,
                               settings: BoundSettings, goal: [Double]?, partner: [Int]?, splits: SplitMap) throws -> [Double] {
        let rows = A.rows
        var best = initial
        if settings.floatSearch, let chain = floatChain(target: target, relaxations: relaxations, protect: splitNeurons(splits)),
           floatSearchHandles(chain, splits: splits) {
            // Search in Float, then evaluate the parameters found in Double (the reported bound).
            guard let found = floatSearch(chain: chain, A: A, box: box, bounds: bounds, iterations: iterations,
                                          settings: settings, goal: goal, partner: partner, splits: splits) else { return best }
            let lb = try backward(target: target, A: A, box: box, bounds: bounds, relaxations: &relaxations, parameters: found)
            for r in 0..<rows where lb[r] > best[r] { best[r] = lb[r] }
            return best
        }
        var record = BackwardRecord()
        // Parameters, initialised to the CROWN defaults.
        var params: [Int: NodeParameters] = [:]
        for i in paramNodes {
            if kinds[i] == .bilinear {
                // A product's plane mix per side, from CROWN's choice (`defaultPlaneMix`).
                let n = size(graph.nodes[i].output)
                var pl = Matrix(zeros: rows, n), pu = Matrix(zeros: rows, n)
                if let bx = bounds[graph.nodes[i].inputs[0]], let by = bounds[graph.nodes[i].inputs[1]], bx.lower.count == n, by.lower.count == n {
                    for j in 0..<n {
                        let (xl, xu, yl, yu) = (bx.lower[j], bx.upper[j], by.lower[j], by.upper[j])
                        guard xl.isFinite, xu.isFinite, yl.isFinite, yu.isFinite else { continue }
                        let tl = BoundEngine.defaultPlaneMix(below: true, xl: xl, xu: xu, yl: yl, yu: yu, gate: gates[i])
                        let tu = BoundEngine.defaultPlaneMix(below: false, xl: xl, xu: xu, yl: yl, yu: yu, gate: gates[i])
                        for r in 0..<rows { pl[r, j] = tl; pu[r, j] = tu }
                    }
                }
                var np = NodeParameters(lower: pl, upper: pu)
                // beta-CROWN multipliers of split operands (from 0), the second only when distinct.
                let (x, y) = (graph.nodes[i].inputs[0], graph.nodes[i].inputs[1])
                if let sp = splits[x] { np.beta = Matrix(zeros: rows, n); np.setSplits(sp, count: n) }
                if y != x, let sp = splits[y] {
                    np.secondBeta = Matrix(zeros: rows, n)
                    (np.secondSplitLower, np.secondSplitUpper) = NodeParameters.splitEnds(sp, count: n)
                }
                params[i] = np
                continue
            }
            guard let op = graph.nodes[i].op as? any ElementwiseRelaxation, let b = bounds[graph.nodes[i].inputs[0]] else { continue }
            let n = b.lower.count
            var pl = Matrix(rows: rows, cols: n, data: .init(repeating: .nan, count: rows * n)), pu = pl
            var any = false
            for j in 0..<n {
                let (l, u) = op.defaultParameters(l: b.lower[j], u: b.upper[j])
                if let l { any = true; for r in 0..<rows { pl[r, j] = l } }
                if let u { any = true; for r in 0..<rows { pu[r, j] = u } }
            }
            // beta-CROWN multipliers of this node's split neurons (from 0: the CROWN bound).
            let sp = splits[graph.nodes[i].inputs[0]]
            if any || sp != nil {
                var np = NodeParameters(lower: pl, upper: pu)
                if let sp {
                    np.beta = Matrix(zeros: rows, n)
                    np.setSplits(sp, count: n)
                }
                params[i] = np
            }
        }
        if params.isEmpty { return best }
        var m1: [Int: NodeParameters] = params.mapValues { p in
            var z = NodeParameters(lower: Matrix(zeros: rows, p.lower.cols), upper: Matrix(zeros: rows, p.upper.cols))
            if let b = p.beta { z.beta = Matrix(zeros: rows, b.cols) }
            if let b = p.secondBeta { z.secondBeta = Matrix(zeros: rows, b.cols) }
            return z
        }
        var m2 = m1
        var betaRate = settings.betaLearningRate
        var lr = settings.learningRate
        let beta1 = 0.9, beta2 = 0.999, eps = 1e-8
        var stale = 0
        var bestSum = best.reduce(0, +)
        // Rows are independent problems (each has its own parameters and Adam state), so a row
        // that has converged or reached its goal is frozen and dropped from the working set.
        var done = [Bool](repeating: false, count: rows)
        var lastGain = [Int](repeating: 0, count: rows)   // last iteration with a real gain
        var reference = best                                // best at that iteration
        func markGoals() {
            guard let goal else { return }
            for r in 0..<rows where !done[r] && best[r] > goal[r] {
                done[r] = true
                if let partner, partner[r] >= 0 { done[partner[r]] = true }
            }
        }
        markGoals()
        var active = Array(0..<rows)        // original row of each working row
        var Aw = A
        func compact() {
            let keep = active.indices.filter { !done[active[$0]] }
            guard keep.count < active.count else { return }
            active = keep.map { active[$0] }
            Aw = Aw.selectingRows(keep)
            for k in params.keys {
                params[k] = params[k]!.selectingRows(keep)
                m1[k] = m1[k]!.selectingRows(keep)
                m2[k] = m2[k]!.selectingRows(keep)
            }
        }
        compact()
        for it in 1...iterations {
            if active.isEmpty { break }
            if let d = settings.deadline, Date() >= d { break }
            if let s = settings.stopRequested, s() { break }   // a stop request: keep the best so far, as at the deadline
            record = BackwardRecord()
            // A stop inside an iteration keeps the best bound found so far (each is sound).
            let lb: [Double]
            do {
                lb = try backward(target: target, A: Aw, box: box, bounds: bounds, relaxations: &relaxations,
                                  parameters: params, record: record, stop: settings)
            } catch is BoundError where (try? settings.checkStop()) == nil {
                break
            }
            for (k, r) in active.enumerated() where lb[k] > best[r] { best[r] = lb[k] }
            let s = best.reduce(0, +)
            if s > bestSum + 1e-9 * max(1, abs(bestSum)) { bestSum = s; stale = 0 } else {
                stale += 1
                if stale >= settings.earlyStopPatience { break }
            }
            if settings.rowPatience > 0 {
                for r in active {
                    if best[r] > reference[r] + settings.rowTolerance * (1 + abs(reference[r])) {
                        reference[r] = best[r]; lastGain[r] = it
                    } else if it - lastGain[r] >= settings.rowPatience {
                        done[r] = true
                    }
                }
            }
            markGoals()
            let open = active.reduce(0) { $0 + (done[$1] ? 0 : 1) }
            if open == 0 { break }
            let grads = try gradients(target: target, record: record, box: box, bounds: bounds,
                                      relaxations: relaxations, params: params)
            // Adam ascent: relaxation parameters projected to [0, 1], beta multipliers onto the
            // signs their split constraints allow.
            let c1 = 1 - pow(beta1, Double(it)), c2 = 1 - pow(beta2, Double(it))
            for (i, g) in grads {
                // In place (through the dictionaries' modify accessors: no copies). Entries that
                // `skip` (parameter, gradient) excludes are left alone, moments included.
                func step(_ P: inout Matrix, _ G: Matrix, _ M: inout Matrix, _ V: inout Matrix, rate: Double,
                          skip: (Double, Double) -> Bool, project: (Int, Double) -> Double) {
                    guard !G.data.isEmpty else { return }   // this side has no parameters
                    P.data.withUnsafeMutableBufferPointer { pp in
                    M.data.withUnsafeMutableBufferPointer { mp in
                    V.data.withUnsafeMutableBufferPointer { vp in
                    G.data.withUnsafeBufferPointer { gp in
                        for t in 0..<pp.count where !skip(pp[t], gp[t]) {
                            let gt = gp[t]
                            mp[t] = beta1 * mp[t] + (1 - beta1) * gt
                            vp[t] = beta2 * vp[t] + (1 - beta2) * gt * gt
                            let upd = rate * (mp[t] / c1) / ((vp[t] / c2).squareRoot() + eps)
                            pp[t] = project(t, pp[t] + upd)
                        }
                    } } } }
                }
                let unit: (Int, Double) -> Double = { _, v in min(1, max(0, v)) }
                step(&params[i]!.lower, g.lower, &m1[i]!.lower, &m2[i]!.lower, rate: lr, skip: { p, _ in p.isNaN }, project: unit)
                step(&params[i]!.upper, g.upper, &m1[i]!.upper, &m2[i]!.upper, rate: lr, skip: { p, _ in p.isNaN }, project: unit)
                // The split multipliers (an operand's for products), projected onto their signs.
                for (beta, lower, upper) in [(\NodeParameters.beta, \NodeParameters.splitLower, \NodeParameters.splitUpper),
                                             (\.secondBeta, \.secondSplitLower, \.secondSplitUpper)] {
                    guard let G = g[keyPath: beta], let lo = params[i]![keyPath: lower], let hi = params[i]![keyPath: upper] else { continue }
                    let cols = G.cols
                    step(&params[i]![keyPath: beta]!, G, &m1[i]![keyPath: beta]!, &m2[i]![keyPath: beta]!, rate: betaRate,
                         skip: { _, g in g == 0 },
                         project: { t, v in NodeParameters.effectiveBeta(v, lower: lo[t % cols], upper: hi[t % cols]) })
                }
            }
            lr *= settings.learningRateDecay
            betaRate *= settings.learningRateDecay
            if Double(open) <= 0.85 * Double(active.count) { compact() }
        }
        return best
    }

    /// d(lower bound of each row)/d(parameter), by one forward pass of the relaxed network at
    /// the minimising input.
    func gradients(target: Int, record: BackwardRecord, box: ValueBounds, bounds: [ValueBounds?],
                   relaxations: [Int: Relaxation], params: [Int: NodeParameters]) throws -> [Int: NodeParameters] {
        try relaxedForward(target: target, record: record, box: box, bounds: bounds, relaxations: relaxations, params: params).grads
    }

    /// The relaxed network evaluated, row by row, at each row's minimiser (the box vertex its
    /// input coefficients pick), through the relaxation lines its backward pass chose: the value
    /// of every value in the cone (`values`, rows x size) and the parameters' gradients (`grads`).
    func relaxedForward(target: Int, record: BackwardRecord, box: ValueBounds, bounds: [ValueBounds?],
                        relaxations: [Int: Relaxation], params: [Int: NodeParameters]) throws
        -> (grads: [Int: NodeParameters], values: [Int: Matrix]) {
        guard let Ain = record.atInput, let last = producer[target] else { return ([:], [:]) }
        let rows = Ain.rows
        var values: [Int: Matrix] = [:]
        var x = Matrix(zeros: rows, Ain.cols)
        x.data.withUnsafeMutableBufferPointer { xp in
        Ain.data.withUnsafeBufferPointer { ap in
        box.lower.withUnsafeBufferPointer { lo in box.upper.withUnsafeBufferPointer { hi in
            let n = Ain.cols
            let l = lo.baseAddress!, h = hi.baseAddress!
            for r in 0..<rows {
                let a = ap.baseAddress! + r * n, x = xp.baseAddress! + r * n
                for j in 0..<n { x[j] = a[j] >= 0 ? l[j] : h[j] }
            }
        } } } }
        values[graph.input] = x
        var grads: [Int: NodeParameters] = [:]
        func value(_ v: Int) -> Matrix? { values[v] }
        for i in 0...last {
            let node = graph.nodes[i]
            guard node.inputs.allSatisfy({ isConstant[$0] || values[$0] != nil }) else { continue }
            switch kinds[i] {
            case .unsupported: continue
            case .affine:
                values[node.output] = try affineForward(node: i, rows: rows, values: values)
            case .elementwise:
                let v = node.inputs[0]
                let X = values[v]!, b = bounds[v]!
                let relax = relaxations[i]
                let op = node.op as! any ElementwiseRelaxation
                let Aout = record.atNode[i]
                var Y = Matrix(zeros: rows, X.cols)
                let p = params[i]
                var g = p.map { NodeParameters(lower: Matrix(zeros: rows, $0.lower.cols), upper: Matrix(zeros: rows, $0.upper.cols)) }
                let betaGrad = p.flatMap { betaGradient($0.beta, lower: $0.splitLower, upper: $0.splitUpper, X: X) }
                if op.isReluShaped, let relax {
                    // ReLU fast path: the parameter is the lower slope; d(lower line)/dp = x.
                    let cols = X.cols
                    let ones = Aout == nil ? [Double](repeating: 1, count: rows * cols) : []
                    let nanRow = p == nil ? [Double](repeating: .nan, count: rows * cols) : []
                    var G = Matrix(zeros: p == nil ? 0 : rows, cols)
                    (Aout?.data ?? ones).withUnsafeBufferPointer { ap in
                    (p?.lower.data ?? nanRow).withUnsafeBufferPointer { pp in
                    X.data.withUnsafeBufferPointer { xp in
                    Y.data.withUnsafeMutableBufferPointer { yp in
                    G.data.withUnsafeMutableBufferPointer { gp in
                    relax.aL.withUnsafeBufferPointer { aL in relax.bL.withUnsafeBufferPointer { bL in
                    relax.aU.withUnsafeBufferPointer { aU in relax.bU.withUnsafeBufferPointer { bU in
                        let hasG = gp.count > 0
                        let aLp = aL.baseAddress!, bLp = bL.baseAddress!, aUp = aU.baseAddress!, bUp = bU.baseAddress!
                        for r in 0..<rows {
                            let base = r * cols
                            let a = ap.baseAddress! + base, x = xp.baseAddress! + base
                            let q = pp.baseAddress! + base, y = yp.baseAddress! + base
                            for j in 0..<cols {
                                let av = a[j], xv = x[j], pl = q[j]
                                let free = pl == pl          // not NaN
                                let lowerLine = (free ? pl : aLp[j]) * xv + (free ? 0 : bLp[j])
                                y[j] = av >= 0 ? lowerLine : aUp[j] * xv + bUp[j]
                            }
                            if hasG {
                                let g = gp.baseAddress! + base
                                for j in 0..<cols {
                                    let av = a[j], pl = q[j]
                                    g[j] = (av > 0 && pl == pl) ? av * x[j] : 0
                                }
                            }
                        }
                    } } } }
                    } } } } }
                    values[node.output] = Y
                    if p != nil {
                        var gp = NodeParameters(lower: G, upper: Matrix(zeros: 0, cols))
                        gp.beta = betaGrad
                        grads[i] = gp
                    }
                    continue
                }
                for r in 0..<rows {
                    for j in 0..<X.cols {
                        let a = Aout?[r, j] ?? 1
                        let xv = X[r, j]
                        let pl = p?.lower[r, j] ?? .nan, pu = p?.upper[r, j] ?? .nan
                        // Only the side the row's coefficient selects matters (and its parameter).
                        let usePL = a > 0 && !pl.isNaN, usePU = a < 0 && !pu.isNaN
                        if usePL || usePU {
                            // The chosen side and its derivative with respect to its parameter.
                            let (rel, dl, du) = op.relaxationWithDerivatives(l: b.lower[j], u: b.upper[j],
                                                                              lowerParameter: usePL ? pl : nil, upperParameter: usePU ? pu : nil)
                            Y[r, j] = a >= 0 ? rel.aL * xv + rel.bL : rel.aU * xv + rel.bU
                            if usePL { g![r, j, lower: true] = a * (dl.0 * xv + dl.1) }
                            else { g![r, j, lower: false] = a * (du.0 * xv + du.1) }
                            continue
                        }
                        let rel: NeuronRelaxation
                        if let relax {
                            rel = NeuronRelaxation(aL: relax.aL[j], bL: relax.bL[j], aU: relax.aU[j], bU: relax.bU[j])
                        } else {
                            rel = op.relaxation(l: b.lower[j], u: b.upper[j], lowerParameter: nil, upperParameter: nil)
                        }
                        Y[r, j] = a >= 0 ? rel.aL * xv + rel.bL : rel.aU * xv + rel.bU
                    }
                }
                values[node.output] = Y
                if var g { g.beta = betaGrad; grads[i] = g }
            case .bilinear:
                let (xv, yv) = (node.inputs[0], node.inputs[1])
                let X = values[xv]!, Yin = values[yv]!, bx = bounds[xv]!, by = bounds[yv]!
                let Aout = record.atNode[i]
                var Z = Matrix(zeros: rows, X.cols)
                let p = params[i]
                var G = p.map { NodeParameters(lower: Matrix(zeros: rows, $0.lower.cols), upper: Matrix(zeros: rows, $0.upper.cols)) }
                for r in 0..<rows {
                    for j in 0..<X.cols {
                        let a = Aout?[r, j] ?? 1
                        let (xl, xu, yl, yu) = (bx.lower[j], bx.upper[j], by.lower[j], by.upper[j])
                        let x = X[r, j], y = Yin[r, j]
                        // The planes the backward pass mixed (`BoundEngine.backward`, bilinear).
                        let t = BoundEngine.planeMix(a > 0 ? p?.lower : p?.upper, r, j, below: a > 0, xl: xl, xu: xu, yl: yl, yu: yu, gate: gates[i])
                        func value(_ q: Double) -> Double {
                            let plane = BoundEngine.mcCormick(below: a > 0, t: q, xl: xl, xu: xu, yl: yl, yu: yu)
                            return plane.x * x + plane.y * y - plane.c
                        }
                        let first = value(0), second = value(1)
                        Z[r, j] = t == 0 ? first : (1 - t) * first + t * second
                                if p != nil, a != 0, xl.isFinite, xu.isFinite, yl.isFinite, yu.isFinite {
                            G![r, j, lower: a > 0] = a * (second - first)
                        }
                    }
                }
                values[node.output] = Z
                if var G {
                    G.beta = p.flatMap { betaGradient($0.beta, lower: $0.splitLower, upper: $0.splitUpper, X: X) }
                    G.secondBeta = p.flatMap { betaGradient($0.secondBeta, lower: $0.secondSplitLower, upper: $0.secondSplitUpper, X: Yin) }
                    grads[i] = G
                }
            }
        }
        return (grads, values)
    }

    /// An affine node applied to each row of its variable inputs.
    func affineForward(node i: Int, rows: Int, values: [Int: Matrix]) throws -> Matrix {
        let node = graph.nodes[i]
        let ins = node.inputs
        let outN = size(node.output)
        if let d = passDenseAffine(node: i), case .linear(let w, let b, _, _, _) = d.step, let v = ins.first(where: { !isConstant[$0] }), let X = values[v] {
            // The node's dense map (the backward pass's W), one BLAS product for all rows.
            var Y = w.map { X.multiplied(by: $0, n: outN, transposeB: true) } ?? X
            if !d.zeroOffset {
                Y.data.withUnsafeMutableBufferPointer { yp in
                    b.withUnsafeBufferPointer { cp in
                        for r in 0..<rows { for j in 0..<outN { yp[r * outN + j] += cp[j] } }
                    }
                }
            }
            return Y
        }
        if node.op.preservesData { return values[ins[0]]! }
        // Generic: evaluate each row.
        var Y = Matrix(zeros: rows, outN)
        for r in 0..<rows {
            let args = ins.map { v -> Tensor in
                if let c = graph.constants[v] { return c }
                return Tensor(shape: graph.values[v].shape, data: Array(values[v]!.row(r)))
            }
            let out = try node.op.evaluate(args)
            Y.data.replaceSubrange((r * outN)..<((r + 1) * outN), with: out.data)
        }
        return Y
    }
}

extension BoundEngine {
    /// Split neurons by elementwise node (from splits keyed by the node's input value).
    func splitNeurons(_ splits: SplitMap) -> [Int: Set<Int>] {
        var out: [Int: Set<Int>] = [:]
        for (i, node) in graph.nodes.enumerated() where kinds[i] == .elementwise {
            if let sp = splits[node.inputs[0]] { out[i] = Set(sp.keys) }
        }
        return out
    }
}

extension SplitMap {
    /// Whether every split is a ReLU split (one side, at 0): what the Float search handles.
    var isReluShaped: Bool {
        values.allSatisfy { $0.values.allSatisfy { r in r.hasLower != r.hasUpper && (r.hasLower ? r.lower : r.upper) == 0 } }
    }
}

extension BoundEngine {
    /// d(bound)/d(beta) per row and neuron, given X, the relaxed network's value of the split
    /// neurons' inputs at the row's minimiser: the term beta (end - z) has derivative end - z,
    /// with end the lower split end for beta > 0 and the upper one for beta < 0; at beta = 0 the
    /// side that improves the bound (0 when neither does).
    func betaGradient(_ beta: Matrix?, lower: [Double]?, upper: [Double]?, X: Matrix) -> Matrix? {
        guard let beta, let lo = lower, let hi = upper else { return nil }
        var G = Matrix(zeros: beta.rows, beta.cols)
        let split = lo.indices.filter { lo[$0] > -.infinity || hi[$0] < .infinity }
        for r in 0..<beta.rows {
            for j in split {
                let b = beta[r, j], z = X[r, j]
                if b > 0 { G[r, j] = lo[j] - z }
                else if b < 0 { G[r, j] = hi[j] - z }
                else if lo[j] > -.infinity && lo[j] - z > 0 { G[r, j] = lo[j] - z }
                else if hi[j] < .infinity && hi[j] - z < 0 { G[r, j] = hi[j] - z }
            }
        }
        return G
    }
}

extension NodeParameters {
    func selectingRows(_ idx: [Int]) -> NodeParameters {
        var p = NodeParameters(lower: lower.selectingRows(idx), upper: upper.selectingRows(idx))
        p.beta = beta?.selectingRows(idx)
        p.splitLower = splitLower; p.splitUpper = splitUpper
        p.secondBeta = secondBeta?.selectingRows(idx)
        p.secondSplitLower = secondSplitLower; p.secondSplitUpper = secondSplitUpper
        return p
    }
    subscript(r: Int, j: Int, lower lower: Bool) -> Double {
        get { lower ? self.lower[r, j] : self.upper[r, j] }
        set { if lower { self.lower[r, j] = newValue } else { self.upper[r, j] = newValue } }
    }
}
