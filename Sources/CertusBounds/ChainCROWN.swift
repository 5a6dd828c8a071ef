import Foundation
import CertusTensor
import CertusGraph

extension BoundEngine {
    /// The first output at `x`, evaluated along the dense chain (nil when the network is not
    /// one chain). For screening candidate points quickly; a counterexample is still confirmed
    /// by the model's own evaluation.
    public func evaluateChain(_ x: [Double]) -> [Double]? {
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
            }
        }
        return v
    }

    /// `intermediateBounds` for the common case of a network that is one chain of dense layers
    /// and ReLUs (ACAS Xu, MNIST-FC): the same IBP, the same CROWN rows for the unstable neurons,
    /// the same intersections and split clamps, but walking the chain's precomputed weights
    /// instead of the general graph (no per-node dictionaries, tensors or dynamic dispatch).
    /// Returns nil when the graph is not such a chain or the settings ask for something only the
    /// general pass does (IBP only, reference-compatible mode, optimised intermediate bounds).
    func chainIntermediateBounds(box: ValueBounds, settings: BoundSettings, relaxations: inout [Int: Relaxation],
                                 splits: SplitMap, known: [ValueBounds?]?) throws -> [ValueBounds?]? {
        guard settings.method != .ibp, !settings.referenceCompatible, settings.intersectWithIBP,
              settings.method == .crown || settings.alphaIntermediateIterations == 0,
              graph.outputs.count == 1, let chain = outputChain else { return nil }
        // Every value a relaxation needs must be a ReLU input on the chain.
        var reluInputs = Set<Int>()
        for s in chain.steps { if case .relu(_, let v) = s { reluInputs.insert(v) } }
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
                for o in 0..<outN {
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
                        let n = vb.lower.count, s = open.count
                        var A = Matrix(zeros: 2 * s, n)
                        for (t, j) in open.enumerated() { A[t, j] = 1; A[s + t, j] = -1 }
                        let lb = try chainBackwardRows(chain: chain, before: k, A: A, box: box, relaxations: relaxations, settings: settings)
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
            }
        }
        return bounds
    }

    /// Lower bounds of A · (value before step `before`) over the box, through the chain's first
    /// `before` steps (rows split over threads as `backwardRows` does).
    private func chainBackwardRows(chain: DenseChain, before k: Int, A: Matrix, box: ValueBounds,
                                   relaxations: [Int: Relaxation], settings: BoundSettings) throws -> [Double] {
        var weights = 0
        for t in 0..<k { if case .linear(let w, let b, _, _, _) = chain.steps[t] { weights += (w?.count ?? 0) + b.count } }
        return try splittingRows(A, weights: weights, settings: settings) { sub in
            self.chainBackward(chain: chain, before: k, A: sub, box: box, relaxations: relaxations)
        }
    }

    private func chainBackward(chain: DenseChain, before k: Int, A start: Matrix, box: ValueBounds,
                               relaxations: [Int: Relaxation]) -> [Double] {
        var A = start
        var bias = [Double](repeating: 0, count: A.rows)
        let none = ValueBounds(lower: [], upper: [])
        for t in stride(from: k - 1, through: 0, by: -1) {
            switch chain.steps[t] {
            case .linear(let w, let b, let inN, let outN, _):
                A.data.withUnsafeBufferPointer { ap in
                    for r in 0..<A.rows {
                        let row = ap.baseAddress! + r * outN
                        var s = 0.0, m = 0.0
                        for j in 0..<outN { let t = row[j] * b[j]; s += t; m += Swift.abs(t) }
                        bias[r] += s - RoundingGuard.relative * m
                    }
                }
                if let w { A = A.multiplied(by: w, n: inN, transposeB: false) }
            case .relu(let node, _):
                A = elementwiseBackward(node: node, A: A, relax: relaxations[node]!, bounds: none, parameters: nil, bias: &bias)
            }
        }
        return concretize(A, box: box, bias: bias, targetIsInput: true, constant: nil)
    }
}
