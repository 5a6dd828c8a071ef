import Foundation
import CertusTensor
import CertusGraph

/// What the dense fast paths of this file compute once per engine: each dense node's weights
/// as rows per output neuron (`BoundEngine.SelectionStep`) and the absolute values of its
/// constant weight (IBP's radius map). Filled lazily under `lock`, so one engine may serve
/// several threads at once.
final class DenseStartCache: @unchecked Sendable {
    let lock = NSLock()
    var steps: [Int: BoundEngine.SelectionStep?] = [:]
    /// By the weight's value id (the Jacobian graph shares one weight among its seeds).
    var weightRows: [Int: [Double]] = [:]
    var absoluteWeights: [Int: Tensor?] = [:]
}

/// Dense-layer fast paths of intermediate bounds, each giving bit for bit what the general
/// code gives (`BoundEngine.backward` with `Matrix.multiplied`'s selection path, and the
/// operator's `interval` with `affineMagnitudes`), without the work the general code spends on
/// a structure it does not know:
///
/// * the start of a neuron-bound pass (+/- unit rows, `Matrix.plusMinusRows`) through a dense
///   node y = alpha x op(B) + c (Gemm) or x W (MatMul) is a selection of the weight's rows (one
///   per neuron and sign), so those rows are gathered directly, piece by piece, instead of
///   building the 2m x n unit matrix, scanning it for its non-zeros and copying it into row
///   pieces (on the Jacobian graph of mnist-net_256x2, a quarter of the CROWN bound: a 1,568 x
///   784 matrix per output; docs/benchmarks.md, "Lipschitz, sixth part");
/// * IBP through such a node takes |W| once per engine instead of copying and scanning W three
///   times per pass (the interval and the two magnitude maps of the rounding guard).
extension BoundEngine {
    /// A dense node y = alpha x op(B) + c or y = x W with constant weights and a variable row
    /// vector x (1 x `inCount`), seen from its output: per output neuron j, row j of
    /// `weightRows` (`outCount` x `inCount`, row-major) holds the coefficients of x in y_j
    /// before alpha, and `offset` the constant c_j (nil: none).
    struct SelectionStep {
        var node: Int
        var input: Int
        var inCount: Int
        var outCount: Int
        var weightRows: [Double]
        var alpha: Double
        var offset: [Double]?
    }

    /// The selection step of node `i` when it is a dense node the backward pass's dense fast
    /// path (`denseFastPath`) takes, with a finite offset; nil otherwise. Computed once.
    func selectionStep(node i: Int) -> SelectionStep? {
        denseStart.lock.lock()
        if let s = denseStart.steps[i] { denseStart.lock.unlock(); return s }
        denseStart.lock.unlock()
        let s = makeSelectionStep(node: i)
        denseStart.lock.lock(); denseStart.steps[i] = .some(s); denseStart.lock.unlock()
        return s
    }

    private func makeSelectionStep(node i: Int) -> SelectionStep? {
        let node = graph.nodes[i], ins = node.inputs
        let outCount = size(node.output)
        // The same conditions as `denseFastPath`, so that the general pass takes the same path.
        if let g = node.op as? Gemm, ins.count >= 2, !isConstant[ins[0]], isConstant[ins[1]],
           ins.count == 2 || isConstant[ins[2]] {
            let xs = graph.values[ins[0]].shape
            guard xs.count == 2, (g.transA ? xs[1] : xs[0]) == 1, let B = graph.constants[ins[1]], B.rank == 2 else { return nil }
            let k = g.transB ? B.shape[1] : B.shape[0], n = g.transB ? B.shape[0] : B.shape[1]
            guard n == outCount, k == size(ins[0]) else { return nil }
            var offset: [Double]? = nil
            if ins.count == 3 {
                let c = gemmOffset(node: node, gemm: g, columns: outCount)
                // A finite offset: the bias of a unit row is then exactly a c_j (`addProduct`).
                guard c.allSatisfy(\.isFinite) else { return nil }
                offset = c
            }
            let rows = g.transB ? B.data : weightRowsTransposed(value: ins[1], B.data, rows: k, cols: n)
            return SelectionStep(node: i, input: ins[0], inCount: k, outCount: n, weightRows: rows, alpha: g.alpha, offset: offset)
        }
        if node.op is MatMul, ins.count == 2, !isConstant[ins[0]], isConstant[ins[1]] {
            let xs = graph.values[ins[0]].shape
            guard let W = graph.constants[ins[1]], W.rank == 2, xs.count >= 1, xs.dropLast().allSatisfy({ $0 == 1 }),
                  W.shape[1] == outCount, W.shape[0] == size(ins[0]) else { return nil }
            let rows = weightRowsTransposed(value: ins[1], W.data, rows: W.shape[0], cols: W.shape[1])
            return SelectionStep(node: i, input: ins[0], inCount: W.shape[0], outCount: W.shape[1], weightRows: rows, alpha: 1, offset: nil)
        }
        return nil
    }

    /// The transpose of constant `value` (rows x cols, row-major), made once per constant.
    private func weightRowsTransposed(value: Int, _ w: [Double], rows: Int, cols: Int) -> [Double] {
        denseStart.lock.lock()
        if let t = denseStart.weightRows[value] { denseStart.lock.unlock(); return t }
        denseStart.lock.unlock()
        var t = [Double](repeating: 0, count: rows * cols)
        w.withUnsafeBufferPointer { src in t.withUnsafeMutableBufferPointer { dst in
            // In 32 x 32 tiles (both sides stay in the cache).
            for r0 in stride(from: 0, to: rows, by: 32) {
                for c0 in stride(from: 0, to: cols, by: 32) {
                    for r in r0..<Swift.min(rows, r0 + 32) {
                        for c in c0..<Swift.min(cols, c0 + 32) { dst[c * rows + r] = src[r * cols + c] }
                    }
                }
            }
        } }
        denseStart.lock.lock(); denseStart.weightRows[value] = t; denseStart.lock.unlock()
        return t
    }

    /// The offset beta C of a Gemm node broadcast to its `columns` outputs (computed once).
    func gemmOffset(node: Node, gemm g: Gemm, columns: Int) -> [Double] {
        offsetVector(node: node) {
            let C = graph.constants[node.inputs[2]]!
            return Broadcast.indexMap(from: C.shape, to: [1, columns]).map { g.beta * C.data[$0] }
        }
    }

    /// Coefficients per row piece of a selection-started pass (`selectionStartRows`): 2^15
    /// (256 KB of Double per matrix, 128 rows of a 256-wide layer). Bounds do not depend on it.
    static let selectionPieceBudget = 1 << 15

    /// CROWN lower bounds of z_j and -z_j for `neurons` j of `target` when its producer is a
    /// dense node (`selectionStep`) and the arithmetic is real; nil otherwise (the caller takes
    /// the general pass). In the order of `neuronBoundRows`: the neurons' rows, then their
    /// negations. The same values as `backwardRows` from `Matrix.plusMinusRows`: the pass's
    /// first step gives row (j, a) the coefficients a alpha B_j on the input and the bias
    /// a c_j - guard |a c_j| (`addProduct` of a unit row), after which the pass from the input
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
                        if step.alpha != 1 { for u in 0..<k { dst[u] *= step.alpha } }
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

    /// IBP through a dense node with a constant weight and a variable first input of finite
    /// ends (Gemm with constant B and C, MatMul with a constant 2-D W): the operator's own
    /// interval (centre through the map, radius through |W|) and the magnitude of the rounding
    /// guard of both ends (`affineMagnitudes`: the map on [-M, M] less its offset), computed
    /// with the same operations on the same operands, so bit for bit the same, but with |W|
    /// made once per engine. nil: not such a node (the general code applies).
    func denseInterval(node i: Int, inputs ins: [IntervalTensor]) throws -> (interval: IntervalTensor, magnitude: [Double])? {
        guard affineClasses[i] == .dense else { return nil }
        let node = graph.nodes[i]
        let gemm = node.op as? Gemm
        guard gemm != nil || node.op is MatMul, ins.count >= 2, graph.constants[node.inputs[0]] == nil,
              node.inputs.dropFirst().allSatisfy({ graph.constants[$0] != nil }) else { return nil }
        if gemm == nil && ins.count != 2 { return nil }
        // Finite ends whose doubles stay finite: the operator's centre and radius of [-M, M]
        // are then exactly 0 and M, and its centre of the weight the weight itself.
        let x = ins[0], limit = Double.greatestFiniteMagnitude / 2
        var M = x.lower
        for j in 0..<M.count {
            let l = x.lower.data[j], u = x.upper.data[j]
            guard Swift.abs(l) < limit, Swift.abs(u) < limit else { return nil }
            M.data[j] = Swift.max(Swift.abs(l), Swift.abs(u))
        }
        guard let absW = absoluteWeight(value: node.inputs[1], limit: limit) else { return nil }
        let W = graph.constants[node.inputs[1]]!
        let (c, r) = IntervalAffine.midRadius(x)
        let interval: IntervalTensor, R: Tensor
        if let g = gemm {
            let center = try g.evaluate([c, W] + ins.dropFirst(2).map(\.lower))
            let absOp = Gemm(alpha: Swift.abs(g.alpha), beta: 0, transA: g.transA, transB: g.transB, finiteOperands: g.finiteOperands)
            interval = IntervalAffine.combine(center: center, radius: try absOp.evaluate([r, absW]))
            R = try absOp.evaluate([M, absW])
        } else {
            let center = try node.op.evaluate([c, W])
            interval = IntervalAffine.combine(center: center, radius: try node.op.evaluate([r, absW]))
            R = try node.op.evaluate([M, absW])
        }
        // The map on [-M, M]: its upper end is the offset plus R (the centre 0 maps to the
        // offset, `affineInputs`), and the magnitude that end less the offset, plus the offset.
        let bias = try affineInputs(node: i).out0.data
        let magnitude = bias.indices.map { j -> Double in
            let end = bias[j] + R.data[j]
            let v = Swift.abs(end - bias[j]) + Swift.abs(bias[j])
            return v.isNaN ? .infinity : v
        }
        return (interval, magnitude)
    }

    /// |W| of constant `value`, when every entry of W is below `limit` in magnitude (else nil).
    private func absoluteWeight(value: Int, limit: Double) -> Tensor? {
        denseStart.lock.lock()
        if let t = denseStart.absoluteWeights[value] { denseStart.lock.unlock(); return t }
        denseStart.lock.unlock()
        let W = graph.constants[value]!
        let t: Tensor? = W.data.allSatisfy({ Swift.abs($0) < limit }) ? IntervalAffine.abs(W) : nil
        denseStart.lock.lock(); denseStart.absoluteWeights[value] = .some(t); denseStart.lock.unlock()
        return t
    }
}
