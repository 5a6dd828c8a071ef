import Foundation
import CertusTensor
import CertusGraph

extension BoundEngine {
    /// The first output at `x`, evaluated along the dense chain (nil when the network is not
    /// one chain). For screening candidate points quickly; a counterexample is still confirmed
    /// by the model's own evaluation.
    package func evaluateChain(_ x: [Double]) -> [Double]? {
        guard graph.outputs.count == 1, let chain = outputChain, x.count == size(graph.input) else { return nil }
        var v = x
        for step in chain.steps {
            switch step {
            case .linear(let w, let b, let inN, let outN, _):
                var y = b
                if let w {
                    w.withUnsafeBufferPointer { wp in
                        for o in 0..<outN {
                            let row = wp.baseAddress! + o * inN
                            var s = 0.0
                            for t in 0..<inN { s += row[t] * v[t] }
                            y[o] += s
                        }
                    }
                } else {
                    for o in 0..<outN { y[o] += v[o] }
                }
                v = y
            case .relu:
                for i in v.indices where !(v[i] >= 0) { v[i] = v[i].isNaN ? v[i] : 0 }   // ReLU; NaN stays NaN
            case .general(let node, _):
                let op = graph.nodes[node].op as! any ElementwiseUnary
                for i in v.indices { v[i] = op.apply(v[i]) }
            }
        }
        return v
    }

    /// `intermediateBounds` for the common case of a network that is one chain of dense layers
    /// and ReLUs (ACAS Xu, MNIST-FC): the same IBP, the same CROWN rows for the unstable neurons,
    /// the same intersections and split clamps, but walking the chain's precomputed weights
    /// instead of the general graph (no per-node dictionaries, tensors or dynamic dispatch).
    /// Returns nil when the graph is not such a chain or the settings ask for something only the
    /// general pass does (IBP only, reference-compatible mode, optimised intermediate bounds),
    /// or under `--semantics float32` (the chain's passes carry no float32 error terms; the
    /// general pass does).
    func chainIntermediateBounds(box: ValueBounds, settings: BoundSettings, relaxations: inout [Int: Relaxation],
                                 splits: SplitMap, known: [ValueBounds?]?) throws -> [ValueBounds?]? {
        guard semantics == .real, settings.method != .ibp, !settings.referenceCompatible, settings.intersectWithIBP,
              settings.method == .crown || settings.alphaIntermediateIterations == 0,
              graph.outputs.count == 1, let chain = outputChain else { return nil }
        // Every value a relaxation needs must be a ReLU input on the chain (other activations
        // take the general pass).
        var reluInputs = Set<Int>()
        for s in chain.steps {
            if case .relu(_, let v) = s { reluInputs.insert(v) }
            if case .general = s { return nil }
        }
        guard needsBounds.isSubset(of: reluInputs) else { return nil }

        let firstSplitNode = splits.keys.compactMap { producer[$0] }.min() ?? Int.max
        var bounds = [ValueBounds?](repeating: nil, count: graph.values.count)
        bounds[graph.input] = box
        var lo = box.lower, hi = box.upper
        // Whether some bound so far differs from `known` (a split neuron, or a tighter IBP).
        // Known bounds are only trusted to equal their own IBP when they were reused as they are.
        var changed = !settings.reuseKnownBounds
        for (k, step) in chain.steps.enumerated() {
            switch step {
            case .linear(let w, let b, let inN, let outN, let output):
                if !changed, let kb = known?[output], kb.lower.count == outN {
                    // Nothing before this layer differs from the known bounds' own pass, whose
                    // IBP they were intersected with: this layer's IBP would give them back.
                    lo = kb.lower; hi = kb.upper
                    bounds[output] = kb
                    continue
                }
                var nl = [Double](repeating: 0, count: outN), nh = nl
                if let w {
                    // Centre through W, radius through |W| (as the Gemm/MatMul IBP does).
                    let c = (0..<inN).map { 0.5 * (lo[$0] + hi[$0]) }, r = (0..<inN).map { 0.5 * (hi[$0] - lo[$0]) }
                    w.withUnsafeBufferPointer { wp in
                        for o in 0..<outN {
                            let row = wp.baseAddress! + o * inN
                            var m = 0.0, rad = 0.0
                            for t in 0..<inN { m += row[t] * c[t]; rad += abs(row[t]) * r[t] }
                            nl[o] = (m + b[o]) - rad; nh[o] = (m + b[o]) + rad
                        }
                    }
                } else {
                    for o in 0..<outN { nl[o] = lo[o] + b[o]; nh[o] = hi[o] + b[o] }
                }
                // The rounding guard of the general IBP (`BoundEngine.interval(of:)`), same formula.
                for o in 0..<outN where isGuarded {
                    let m = Swift.max(Swift.abs(nl[o]), Swift.abs(nh[o]))
                    nl[o] = RoundingGuard.down(nl[o], magnitude: m); nh[o] = RoundingGuard.up(nh[o], magnitude: m)
                }
                lo = nl; hi = nh
                bounds[output] = ValueBounds(lower: lo, upper: hi)
            case .relu(let node, let v):
                var vb = ValueBounds(lower: lo, upper: hi)
                let settled = intersect(&vb, known: known?[v])
                    && (settings.reuseKnownBounds || (producer[v] ?? Int.max) <= firstSplitNode)
                if !settled {
                    let open = vb.lower.indices.filter { vb.lower[$0] < 0 && vb.upper[$0] > 0 }
                    if !open.isEmpty {
                        let s = open.count
                        let lb = try chainBackwardRows(chain: chain, before: k, A: Matrix.plusMinusRows(open, width: vb.lower.count),
                                                       box: box, relaxations: relaxations, settings: settings)
                        for (t, j) in open.enumerated() {
                            vb.lower[j] = max(vb.lower[j], lb[t]); vb.upper[j] = min(vb.upper[j], -lb[s + t])
                        }
                    }
                }
                try applySplits(&vb, value: v, splits: splits)
                if let kb = known?[v], kb.lower != vb.lower || kb.upper != vb.upper { changed = true }
                if known?[v] == nil { changed = true }
                bounds[v] = vb
                relaxations[node] = relaxation(node: node, bounds: vb)
                lo = vb.lower.map { max(0, $0) }; hi = vb.upper.map { max(0, $0) }
                bounds[graph.nodes[node].output] = ValueBounds(lower: lo, upper: hi)
            case .general:
                return nil
            }
        }
        return bounds
    }

    /// Lower bounds of A · (value before step `before`) over the box, through the chain's first
    /// `before` steps (rows split over threads as `backwardRows` does, on at most the CPUs this
    /// process may run on).
    private func chainBackwardRows(chain: DenseChain, before k: Int, A: Matrix, box: ValueBounds,
                                   relaxations: [Int: Relaxation], settings: BoundSettings) throws -> [Double] {
        var weights = 0
        for t in 0..<k { if case .linear(let w, let b, _, _, _) = chain.steps[t] { weights += (w?.count ?? 0) + b.count } }
        // Per ReLU step: the neurons whose relaxation is not the zero line (the others' columns
        // vanish for every row), and the rows of the next layer's weights they meet. Made once
        // here so that the threads below only read them.
        var live: [Int: LiveColumns] = [:]
        for t in 0..<k {
            guard case .relu(let node, _) = chain.steps[t], let r = relaxations[node] else { continue }
            let cols = r.aL.indices.filter { r.aL[$0] != 0 || r.aU[$0] != 0 || r.bL[$0] != 0 || r.bU[$0] != 0 }
            var weightRows: [Double]? = nil
            if t > 0, case .linear(let w?, _, let inN, _, _) = chain.steps[t - 1], cols.count < r.aL.count {
                var wr = [Double]()
                wr.reserveCapacity(cols.count * inN)
                for j in cols { wr.append(contentsOf: w[(j * inN)..<((j + 1) * inN)]) }
                weightRows = wr
            }
            live[t] = LiveColumns(columns: cols, all: cols.count == r.aL.count, weightRows: weightRows)
        }
        var split = settings
        split.threads = Swift.min(settings.threads, BLAS.usableProcessors)
        return try splittingRows(A, weights: weights, settings: split) { sub in
            self.chainBackward(chain: chain, before: k, A: sub, box: box, relaxations: relaxations, live: live)
        }
    }

    /// A ReLU step's neurons with a non-zero relaxation (ascending), and the weight rows of the
    /// layer before it restricted to them (`nil` when every neuron is live, or no such layer).
    struct LiveColumns {
        var columns: [Int]
        var all: Bool
        var weightRows: [Double]?
    }

    /// The backward pass of `chainBackwardRows` on some rows. Coefficients are kept only for
    /// the live neurons after each ReLU (a neuron whose relaxation is the zero line, an inactive
    /// ReLU, contributes exactly 0 to every product and sum), so each dense product runs over
    /// the live rows of its weights only. Every sum takes the same terms in the same order as
    /// the general pass (`elementwiseBackward`, the dense offset), leaving out only exact zeros,
    /// with the same rounding guards.
    private func chainBackward(chain: DenseChain, before k: Int, A start: Matrix, box: ValueBounds,
                               relaxations: [Int: Relaxation], live: [Int: LiveColumns]) -> [Double] {
        var A = start
        let rows = A.rows
        // A's column c is neuron columns[c] of the current value (nil: column c is neuron c).
        var columns: [Int]? = nil
        var bias = [Double](repeating: 0, count: rows)
        for t in stride(from: k - 1, through: 0, by: -1) {
            switch chain.steps[t] {
            case .linear(let w, let b, let inN, _, _):
                // The offset: bias += A b, guarded by |A| |b| as the dense offset is (`addProduct`).
                addOffset(A, columns.map { $0.map { b[$0] } } ?? b, to: &bias)
                if let w {
                    if let columns {
                        // Only the live neurons' weight rows (made once by chainBackwardRows).
                        let cached = live[t + 1].flatMap { $0.columns == columns ? $0.weightRows : nil }
                        let wr = cached ?? columns.flatMap { w[($0 * inN)..<(($0 + 1) * inN)] }
                        A = A.multiplied(by: wr, n: inN, transposeB: false)
                    } else {
                        A = A.multiplied(by: w, n: inN, transposeB: false)
                    }
                    columns = nil
                }
            case .relu(let node, _):
                let relax = relaxations[node]!
                let keep = live[t]?.all == false ? live[t]!.columns : nil
                A = reluBackward(A, columns: &columns, keep: keep, relax: relax, bias: &bias)
            case .general:
                preconditionFailure("chainIntermediateBounds takes ReLU chains only")
            }
        }
        if let columns {
            // Back to every input column (only when the chain starts with a ReLU).
            var full = Matrix(zeros: rows, box.lower.count)
            for r in 0..<rows { for (c, j) in columns.enumerated() { full[r, j] = A[r, c] } }
            A = full
        }
        return concretize(A, box: box, bias: bias, targetIsInput: true, constant: nil)
    }

    /// The default-relaxation ReLU step of `elementwiseBackward` (v+ takes the lower line, v-
    /// the upper; the intercepts into the bias with its rounding guard), keeping only the
    /// columns of the neurons in `keep` (ascending; nil: all). `columns` maps A's columns to
    /// neurons on entry and is updated to the result's.
    private func reluBackward(_ A: Matrix, columns: inout [Int]?, keep: [Int]?, relax: Relaxation,
                              bias: inout [Double]) -> Matrix {
        let rows = A.rows, width = A.cols
        // Result column c reads A's column src[c], neuron neuron[c].
        var src: [Int], neuron: [Int]
        switch (columns, keep) {
        case (nil, nil):
            src = Array(0..<width); neuron = src
        case (nil, let keep?):
            src = keep; neuron = keep
        case (let cols?, nil):
            src = Array(0..<width); neuron = cols
        case (let cols?, let keep?):
            let kept = Set(keep)
            src = cols.indices.filter { kept.contains(cols[$0]) }; neuron = src.map { cols[$0] }
        }
        let outW = src.count
        let identity = keep == nil   // src is 0..<width: A is read as it is
        // The relaxation gathered by result column (contiguous: the loops below vectorise).
        let aL = neuron.map { relax.aL[$0] }, aU = neuron.map { relax.aU[$0] }
        let bL = neuron.map { relax.bL[$0] }, bU = neuron.map { relax.bU[$0] }
        let intercepts = (0..<outW).filter { bL[$0] != 0 || bU[$0] != 0 }
        // Columns whose lines are both y = x (an active ReLU) pass their coefficient through:
        // max(v, 0) * 1 + min(v, 0) * 1 is v. Only the others get the sign split.
        let split = (0..<outW).filter { !(aL[$0] == 1 && aU[$0] == 1 && bL[$0] == 0 && bU[$0] == 0) }
        let data = [Double](unsafeUninitializedCapacity: rows * outW) { o, count in
            // A's rows with the result's columns side by side (a gather when columns are dropped).
            A.data.withUnsafeBufferPointer { a in
                for r in 0..<rows {
                    let row = a.baseAddress! + r * width, out = o.baseAddress! + r * outW
                    if identity {
                        out.update(from: row, count: outW)
                    } else {
                        for c in 0..<outW { out[c] = row[src[c]] }
                    }
                }
            }
            count = rows * outW
            let ap = UnsafePointer(o.baseAddress!), op = o.baseAddress!
            aL.withUnsafeBufferPointer { aL in bL.withUnsafeBufferPointer { bL in
            aU.withUnsafeBufferPointer { aU in bU.withUnsafeBufferPointer { bU in
                let aLp = aL.baseAddress!, bLp = bL.baseAddress!, aUp = aU.baseAddress!, bUp = bU.baseAddress!
                // Branch-free sign split as in elementwiseBackward: v+ takes the lower line, v- the
                // upper. The intercept sums below read the coefficients before this step
                // (`line` runs after them for each group of rows).
                @inline(__always) func line(_ r: Int) {
                    let out = op + r * outW
                    for j in split {
                        let v = out[j]
                        out[j] = Swift.max(v, 0) * aLp[j] + Swift.min(v, 0) * aUp[j]
                    }
                }
                // The intercept sums, four rows at a time (`addGuardedRowSums`). Only columns with
                // an intercept enter them (for a ReLU the unstable neurons'): the others' terms are
                // exact zeros, which leave a sum unchanged. Each group of rows gets its lines
                // after its sums.
                intercepts.withUnsafeBufferPointer { ip in
                    let cols = ip.baseAddress!
                    BoundEngine.addGuardedRowSums(ap, rows: rows, cols: outW, terms: intercepts.count, to: &bias,
                                                  guarded: isGuarded, after: { for q in $0 { line(q) } }) { row, k in
                        let j = cols[k], v = row[j]
                        return Swift.max(v, 0) * bLp[j] + Swift.min(v, 0) * bUp[j]
                    }
                }
            } } } }
        }
        columns = columns == nil && keep == nil ? nil : neuron
        return Matrix(rows: rows, cols: outW, data: data)
    }

    /// bias += A c row by row, each moved down by `RoundingGuard.relative` of its |A_r| . |c|:
    /// the dense layer's offset (terms in column order, as `addProduct`'s guard sums them).
    private func addOffset(_ A: Matrix, _ c: [Double], to bias: inout [Double]) {
        let rows = A.rows, n = A.cols
        A.data.withUnsafeBufferPointer { a in
            c.withUnsafeBufferPointer { cp in
                let cv = cp.baseAddress!
                BoundEngine.addGuardedRowSums(a.baseAddress!, rows: rows, cols: n, terms: n, to: &bias, guarded: isGuarded) { row, j in row[j] * cv[j] }
            }
        }
    }
}
