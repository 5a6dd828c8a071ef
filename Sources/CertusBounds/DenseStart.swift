import Foundation
import CertusTensor
import CertusGraph

/// What the dense fast paths of this file compute once per engine: each dense node's selection
/// step (`BoundEngine.SelectionStep`) and the absolute values of its dense map's W (IBP's
/// radius map). Filled lazily under `lock`, so one engine may serve several threads at once.
final class DenseStartCache: @unchecked Sendable {
    let lock = NSLock()
    var steps: [Int: BoundEngine.SelectionStep?] = [:]
    /// |W| by the buffer of W (`BoundEngine.absoluteWeight`).
    var absoluteWeights: [BufferKey: [Double]] = [:]
    struct BufferKey: Hashable { var address: UInt; var count: Int }
}

/// Dense-layer fast paths of intermediate bounds, each giving bit for bit what the general
/// code gives (`BoundEngine.backward` with `Matrix.multiplied`'s selection path, and the
/// operator's `interval` with `affineMagnitudes`), without the work the general code spends on
/// a structure it does not know:
///
/// * the start of a neuron-bound pass (+/- unit rows, `Matrix.plusMinusRows`) through a dense
///   node y = x W^T + b (`denseAffine`: Gemm, MatMul, a 1x1 convolution...) is a selection of W's rows (one
///   per neuron and sign), so those rows are gathered directly, piece by piece, instead of
///   building the 2m x n unit matrix, scanning it for its non-zeros and copying it into row
///   pieces (on the Jacobian graph of mnist-net_256x2, a quarter of the CROWN bound: a 1,568 x
///   784 matrix per output; docs/benchmarks.md, "Lipschitz, sixth part");
/// * IBP through such a node takes |W| once per engine instead of copying and scanning W three
///   times per pass (the interval and the two magnitude maps of the rounding guard).
///
/// Both take the node's dense map (`denseAffine`), the one the backward pass multiplies by.
extension BoundEngine {
    /// A dense node y = x W^T + b (`denseAffine`) seen from its output: per output neuron j,
    /// row j of `weightRows` (`outCount` x `inCount`, row-major) holds the coefficients of its
    /// variable input x in y_j, and `offset` the constant b_j (nil: none).
    struct SelectionStep {
        var node: Int
        var input: Int
        var inCount: Int
        var outCount: Int
        var weightRows: [Double]
        var offset: [Double]?
    }

    /// The selection step of node `i` when the backward pass multiplies by its dense map
    /// (`affineBackward`'s dense case: a W mostly non-zero); nil otherwise. Computed once.
    func selectionStep(node i: Int) -> SelectionStep? {
        denseStart.lock.lock()
        if let s = denseStart.steps[i] { denseStart.lock.unlock(); return s }
        denseStart.lock.unlock()
        let s = makeSelectionStep(node: i)
        denseStart.lock.lock(); denseStart.steps[i] = .some(s); denseStart.lock.unlock()
        return s
    }

    private func makeSelectionStep(node i: Int) -> SelectionStep? {
        // The same conditions as `affineBackward`'s dense case, so the general pass takes the same path.
        guard let d = passDenseAffine(node: i), case .linear(let w?, let b, let inN, let outN, _) = d.step,
              let v = graph.nodes[i].inputs.first(where: { !isConstant[$0] }) else { return nil }
        return SelectionStep(node: i, input: v, inCount: inN, outCount: outN, weightRows: w, offset: d.zeroOffset ? nil : b)
    }

    /// Coefficients per row piece of a selection-started pass (`selectionStartRows`): 2^15
    /// (256 KB of Double per matrix, 128 rows of a 256-wide layer). Bounds do not depend on it.
    static let selectionPieceBudget = 1 << 15

    /// CROWN lower bounds of z_j and -z_j for `neurons` j of `target` when its producer is a
    /// dense node (`selectionStep`) and the arithmetic is real; nil otherwise (the caller takes
    /// the general pass). In the order of `neuronBoundRows`: the neurons' rows, then their
    /// negations. The same values as `backwardRows` from `Matrix.plusMinusRows`: the pass's
    /// first step gives row (j, a) the coefficients a W_j on the input and the bias
    /// a b_j - guard |a b_j| (`addProduct` of a unit row), after which the pass from the input
    /// is the general one.
    func selectionStartRows(target: Int, neurons: [Int], box: ValueBounds, bounds: [ValueBounds?],
                            relaxations: inout [Int: Relaxation], settings: BoundSettings) throws -> [Double]? {
        guard semantics == .real, let i = producer[target], affineClasses[i] == .dense,
              let step = selectionStep(node: i) else { return nil }
        let m = neurons.count, k = step.inCount
        let (weights, _) = prepareCone(last: i, target: target, bounds: bounds, relaxations: &relaxations)
        let shared = relaxations
        // Pieces of `selectionPieceBudget` coefficients per start row block: their matrices stay
        // in the cache, and their memory is reused instead of mapped anew for every piece.
        return try splittingRowRanges(rows: 2 * m, weights: weights, settings: settings, widest: k,
                                      budget: BoundEngine.selectionPieceBudget) { range in
            var bias = [Double](repeating: 0, count: range.count)
            let data = [Double](unsafeUninitializedCapacity: range.count * k) { o, count in
                step.weightRows.withUnsafeBufferPointer { w in
                    for (t, r) in range.enumerated() {
                        let j = neurons[r < m ? r : r - m], a: Double = r < m ? 1 : -1
                        let src = w.baseAddress! + j * k, dst = o.baseAddress! + t * k
                        for u in 0..<k { dst[u] = a * src[u] }
                        if let c = step.offset {
                            let mag = 0.0 + Swift.abs(a) * Swift.abs(c[j])
                            bias[t] += a * c[j] - RoundingGuard.relative * mag
                        }
                    }
                }
                count = range.count * k
            }
            var rel = shared
            try settings.checkStop()
            return try self.backward(target: step.input, A: Matrix(rows: range.count, cols: k, data: data), box: box,
                                     bounds: bounds, relaxations: &rel, initialBias: bias, stop: settings)
        }
    }

    /// IBP through a dense node (the dense map `denseAffine` that the backward pass uses) whose
    /// variable input has finite ends: centre W c + b and radius |W| r from the input's centre
    /// c and radius r, and the magnitude of the rounding guard of both ends as
    /// `affineMagnitudes` defines it (the map on [-M, M], M = max(|l|, |u|), less its offset),
    /// with |W| made once per engine. nil: not such a node (the operator's own interval applies).
    func denseInterval(node i: Int, inputs ins: [IntervalTensor]) throws -> (interval: IntervalTensor, magnitude: [Double])? {
        guard affineClasses[i] == .dense, let step = selectionStep(node: i),
              let position = graph.nodes[i].inputs.firstIndex(of: step.input) else { return nil }
        // Finite ends whose doubles stay finite.
        let x = ins[position], limit = Double.greatestFiniteMagnitude / 2
        let n = step.inCount, m = step.outCount
        guard x.lower.count == n else { return nil }
        var M = [Double](repeating: 0, count: n)
        for j in 0..<n {
            let l = x.lower.data[j], u = x.upper.data[j]
            guard Swift.abs(l) < limit, Swift.abs(u) < limit else { return nil }
            M[j] = Swift.max(Swift.abs(l), Swift.abs(u))
        }
        let absW = absoluteWeight(step)
        let (c, r) = IntervalAffine.midRadius(x)
        var center = BLAS.matmul(step.weightRows, c.data, m: m, n: 1, k: n)
        // The radius |W| r and, with the rounding guard, its magnitudes |W| M in one product of
        // |W| by the two columns [r M] (one pass over |W| instead of two: the guard cost IBP 20 to
        // 35 % as a product of its own; docs/reliability.md). None when `roundingGuard` is off
        // (benchmarks only).
        let radius: [Double], R: [Double]
        if isGuarded {
            var rm = [Double](repeating: 0, count: 2 * n)
            for j in 0..<n { rm[2 * j] = r.data[j]; rm[2 * j + 1] = M[j] }
            let both = BLAS.matmul(absW, rm, m: m, n: 2, k: n)
            radius = (0..<m).map { both[2 * $0] }
            R = (0..<m).map { both[2 * $0 + 1] }
        } else {
            radius = BLAS.matmul(absW, r.data, m: m, n: 1, k: n)
            R = []
        }
        var magnitude = R
        for j in 0..<m {
            let b = step.offset?[j] ?? 0
            center[j] += b
            guard isGuarded else { continue }
            // The map on [-M, M]: its upper end is b + R; its magnitude that end less b, plus |b|.
            let v = Swift.abs((b + R[j]) - b) + Swift.abs(b)
            magnitude[j] = v.isNaN ? .infinity : v
        }
        let shape = graph.values[graph.nodes[i].output].shape
        let interval = IntervalAffine.combine(center: Tensor(shape: shape, data: center), radius: Tensor(shape: shape, data: radius))
        return (interval, magnitude)
    }

    /// |W| of a selection step's dense map, computed once per weight buffer: nodes whose maps
    /// share one W (a Gemm's weight is its map, shared without a copy, as in the Jacobian
    /// graph's seeds) share one |W|. The key is the buffer's address and length; the engine's
    /// dense maps keep every such buffer alive as long as the engine, so no address is reused.
    private func absoluteWeight(_ step: SelectionStep) -> [Double] {
        let key = step.weightRows.withUnsafeBufferPointer { DenseStartCache.BufferKey(address: UInt(bitPattern: $0.baseAddress), count: $0.count) }
        denseStart.lock.lock()
        if let t = denseStart.absoluteWeights[key] { denseStart.lock.unlock(); return t }
        denseStart.lock.unlock()
        let t = step.weightRows.map { Swift.abs($0) }
        denseStart.lock.lock(); denseStart.absoluteWeights[key] = t; denseStart.lock.unlock()
        return t
    }
}
