import Foundation
import CertusTensor
import CertusGraph
import CertusSpec

/// Bounds of `c · y - d` for one spec row.
package struct RowBound: Sendable, Equatable {
    package var lower: Double
    package var upper: Double
}

extension BoundEngine {
    /// Bounds of every value that a relaxation needs, computed in topological order: IBP from
    /// the tightest bounds known so far, tightened by CROWN (or alpha-CROWN) where it matters.
    ///
    /// `known`: bounds already proven for a superset of this box (a branch-and-bound root's
    /// alpha-CROWN bounds); they are intersected in, and values that no split can reach (those
    /// computed before the first split neuron) keep them without a new CROWN pass.
    func intermediateBounds(box: ValueBounds, settings: BoundSettings,
                            relaxations: inout [Int: Relaxation], splits: SplitMap = [:],
                            known: [ValueBounds?]? = nil) throws -> [ValueBounds?] {
        var bounds = [ValueBounds?](repeating: nil, count: graph.values.count)
        bounds[graph.input] = box
        let firstSplitNode = splits.keys.compactMap { producer[$0] }.min() ?? Int.max
        // Reference-compatible mode: instability masks and the bounds of neurons not re-bounded
        // come from a plain IBP pass, as in auto_LiRPA's CROWN.
        let pure = settings.referenceCompatible ? try intervalPass(box: box) : nil
        // Known bounds of this very box, reused as they are up to the first split (below).
        let reuseUpToSplit = settings.reuseKnownBounds && pure == nil && known != nil && box == known?[graph.input]
        for (index, node) in graph.nodes.enumerated() {
            try settings.checkStop()
            if reuseUpToSplit, index <= firstSplitNode, let k = known?[node.output], k.lower.count == size(node.output) {
                // Nothing before this node differs from the known bounds' own pass over the same
                // box, whose IBP they were intersected with: IBP here would give them back.
                var b = k
                try applySplits(&b, value: node.output, splits: splits)
                bounds[node.output] = b
                continue
            }
            var b = try interval(of: node, bounds: bounds)
            if let pure, needsBounds.contains(node.output) { b = pure[node.output]! }
            let settled = intersect(&b, known: known?[node.output])
                && (settings.reuseKnownBounds || index <= firstSplitNode)
            // A node without a relaxation keeps its IBP bounds (a backward pass from its own output
            // would stop at once, at those very bounds).
            var relaxable = true
            if case .unsupported = kinds[index] { relaxable = false }
            if let copy = copies[node.output], let src = bounds[copy.source] {
                // A copy of an earlier value: its bounds relabelled (see `copies`).
                for (k, j) in copy.index.enumerated() {
                    b.lower[k] = max(b.lower[k], src.lower[j]); b.upper[k] = min(b.upper[k], src.upper[j])
                }
                relaxable = false
            }
            if settings.method != .ibp, relaxable, needsBounds.contains(node.output), !settled {
                let rowsOfInterest = neuronsToBound(value: node.output, ibp: b)
                if !rowsOfInterest.isEmpty {
                    let n = b.lower.count, s = rowsOfInterest.count
                    var lb = try neuronBoundRows(target: node.output, neurons: rowsOfInterest, box: box, bounds: bounds,
                                                 relaxations: &relaxations, settings: settings)
                    if settings.method == .alphaCrown && settings.alphaIntermediateIterations > 0 {
                        // Optimise only the neurons CROWN left unstable: for ReLU-like consumers a
                        // neuron that CROWN (with IBP) shows stable has an exact relaxation already.
                        let reluOnly = hasOnlyReluConsumers(node.output)
                        let open = rowsOfInterest.indices.filter { k in
                            let j = rowsOfInterest[k]
                            let lo = max(lb[k], b.lower[j]), hi = min(-lb[s + k], b.upper[j])
                            return !reluOnly || (lo < 0 && hi > 0)
                        }
                        // A batch of neurons at a time (as `neuronBoundRows`), so that a wide
                        // value's start matrix and the optimiser's records stay small.
                        let batch = neuronBatch(width: n, settings: settings)
                        for start in stride(from: 0, to: open.count, by: batch) {
                            try settings.checkStop()
                            let part = Array(open[start..<min(open.count, start + batch)]), m = part.count
                            let B = Matrix.plusMinusRows(part.map { rowsOfInterest[$0] }, width: n)
                            // For ReLU consumers a neuron shown stable (lower > 0 or upper < 0)
                            // needs no more work on either side.
                            let goal = reluOnly ? [Double](repeating: 0, count: 2 * m) : nil
                            let partner = reluOnly ? (0..<(2 * m)).map { $0 < m ? $0 + m : $0 - m } : nil
                            let opt = try optimize(target: node.output, A: B, box: box, bounds: bounds, relaxations: &relaxations,
                                                   iterations: settings.alphaIntermediateIterations, settings: settings,
                                                   goal: goal, partner: partner)
                            for (t, k) in part.enumerated() {
                                lb[k] = max(lb[k], opt[t]); lb[s + k] = max(lb[s + k], opt[m + t])
                            }
                        }
                    }
                    for (k, j) in rowsOfInterest.enumerated() {
                        let lo = lb[k], hi = -lb[s + k]
                        if settings.intersectWithIBP && !settings.referenceCompatible {
                            b.lower[j] = max(b.lower[j], lo); b.upper[j] = min(b.upper[j], hi)
                        } else {
                            b.lower[j] = lo; b.upper[j] = hi
                        }
                    }
                }
            }
            try applySplits(&b, value: node.output, splits: splits)
            bounds[node.output] = b
        }
        return bounds
    }

    /// CROWN lower bounds of z_j and -z_j for the given neurons j of `target` (in that order:
    /// the neurons' rows, then their negations), through `backwardRows`. The identity rows are
    /// made a batch of neurons at a time, so that a wide value (ten thousand neurons) never
    /// needs its whole 2n x n start matrix at once.
    func neuronBoundRows(target: Int, neurons: [Int], box: ValueBounds, bounds: [ValueBounds?],
                         relaxations: inout [Int: Relaxation], settings: BoundSettings) throws -> [Double] {
        let n = size(target), s = neurons.count
        // A dense producer: the unit rows' first step is a selection of its weights (DenseStart.swift).
        if let lb = try selectionStartRows(target: target, neurons: neurons, box: box, bounds: bounds,
                                           relaxations: &relaxations, settings: settings) {
            return lb
        }
        let batch = neuronBatch(width: n, settings: settings)
        var lb = [Double](repeating: 0, count: 2 * s)
        for start in stride(from: 0, to: s, by: batch) {
            try settings.checkStop()
            let part = Array(neurons[start..<min(s, start + batch)]), m = part.count
            let r = try backwardRows(target: target, A: Matrix.plusMinusRows(part, width: n), box: box, bounds: bounds,
                                     relaxations: &relaxations, settings: settings)
            for k in 0..<m { lb[start + k] = r[k]; lb[s + start + k] = r[m + k] }
        }
        return lb
    }

    /// How many neurons of a value of `width` neurons one intermediate-bound pass takes: their
    /// 2 x batch x width start rows stay within `rowBudget` per thread.
    func neuronBatch(width: Int, settings: BoundSettings) -> Int {
        max(1, rowBudget * max(1, settings.threads) / max(1, 2 * width))
    }

    /// Intersects `known` bounds (of a box containing this one) into `b`; false when there are
    /// none of the right size.
    func intersect(_ b: inout ValueBounds, known: ValueBounds?) -> Bool {
        guard let k = known, k.lower.count == b.lower.count else { return false }
        for j in b.lower.indices {
            b.lower[j] = max(b.lower[j], k.lower[j]); b.upper[j] = min(b.upper[j], k.upper[j])
        }
        return true
    }

    /// Clamps the split neurons of `value` to their split intervals and widens NaN
    /// ends to infinity (an overflowing model gets infinite bounds, not an error).
    /// - Throws: `InfeasibleDomain` when a split empties a neuron's interval.
    func applySplits(_ b: inout ValueBounds, value: Int, splits: SplitMap) throws {
        b.widenNaN()
        if let sp = splits[value] {
            for (j, r) in sp {
                b.lower[j] = max(b.lower[j], r.lower); b.upper[j] = min(b.upper[j], r.upper)
                if b.lower[j] > b.upper[j] { throw InfeasibleDomain() }
            }
        }
    }

    /// Whether every nonlinear consumer of `v` is ReLU-like (then only unstable neurons matter).
    func hasOnlyReluConsumers(_ v: Int) -> Bool {
        // A copy source serves the copies' consumers too.
        if copies.values.contains(where: { $0.source == v }) { return false }
        let consumers = graph.nodes.indices.filter { graph.nodes[$0].inputs.contains(v) && (kinds[$0] == .elementwise || kinds[$0] == .bilinear) }
        return consumers.allSatisfy { (graph.nodes[$0].op as? any ElementwiseRelaxation)?.isPiecewiseLinear == true }
    }

    /// The neurons of `value` whose bounds change a relaxation: for ReLU-like consumers only the
    /// unstable ones, for any other nonlinearity every neuron with a non-degenerate interval.
    func neuronsToBound(value v: Int, ibp: ValueBounds) -> [Int] {
        let reluOnly = hasOnlyReluConsumers(v)
        return ibp.lower.indices.filter { j in
            reluOnly ? (ibp.lower[j] < 0 && ibp.upper[j] > 0) : ibp.upper[j] > ibp.lower[j]
        }
    }

    /// Bounds of `c · y - d` for every atom of `rows`, over `box`, where y is the first output.
    package func bound(box inputBox: InputBox, atoms: [LinearAtom], settings: BoundSettings = BoundSettings()) throws -> [RowBound] {
        BLAS.beginSingleThread(); defer { BLAS.endSingleThread() }
        return try boundDomain(box: inputBox, atoms: atoms, splits: [], settings: settings).rows
    }

    /// The bounds of every intermediate value over `box` (alpha-CROWN's when `settings` asks
    /// for it), for reuse by the domains of a branch and bound inside that box.
    package func rootBounds(box inputBox: InputBox, settings: BoundSettings) throws -> IntermediateBounds {
        BLAS.beginSingleThread(); defer { BLAS.endSingleThread() }
        let box = try semanticBox(inputBox)   // float32 values only under --semantics float32
        var relax: [Int: Relaxation] = [:]
        return IntermediateBounds(values: try intermediateBounds(box: box, settings: settings, relaxations: &relax))
    }

    /// Bounds over one branch-and-bound domain: a box and ReLU split constraints. Also returns
    /// what branching heuristics need: the lower-bound coefficients at the input, and for every
    /// ReLU node its input bounds and the coefficients that reached its output.
    /// - Throws: `InfeasibleDomain` when the splits contradict the bounds (the domain is empty).
    /// `root`: `rootBounds` of a box containing this one (intersected in; see `intermediateBounds`).
    package func boundDomain(box inputBox: InputBox, atoms: [LinearAtom], splits: [NeuronSplit],
                            settings: BoundSettings = BoundSettings(), root: IntermediateBounds? = nil) throws -> DomainBounds {
        BLAS.beginSingleThread(); defer { BLAS.endSingleThread() }
        guard inputBox.count == graph.inputCount else {
            throw BoundError("the box has \(inputBox.count) inputs, the model \(graph.inputCount)")
        }
        guard zip(inputBox.lower, inputBox.upper).allSatisfy({ $0.0 <= $0.1 && $0.0.isFinite && $0.1.isFinite }) else {
            throw BoundError("the input box is empty or not finite")
        }
        let box = try semanticBox(inputBox)   // float32 values only under --semantics float32
        let out = graph.outputs[0]
        let m = size(out)
        for a in atoms where a.c.count != m {
            throw BoundError("a spec row has \(a.c.count) coefficients, the model has \(m) outputs")
        }
        var relax: [Int: Relaxation] = [:]
        let splitMap = NeuronSplit.byValue(splits)
        let bounds = try domainIntermediateBounds(box: box, splitMap: splitMap, settings: settings, root: root, relaxations: &relax)
        let r = atoms.count
        var A = Matrix(zeros: 2 * r, m)
        for (k, a) in atoms.enumerated() {
            for j in 0..<m { A[k, j] = a.c[j]; A[r + k, j] = -a.c[j] }
        }
        var lb: [Double]
        var crownRows: [RowBound]? = nil
        var crownRelax: [Int: Relaxation]? = nil
        let record = BackwardRecord()
        let domainMode = settings.alphaIntermediateIterations == 0 || !splits.isEmpty
        if settings.method == .alphaCrown && !domainMode {
            lb = try optimize(target: out, A: A, box: box, bounds: bounds, relaxations: &relax,
                              iterations: settings.alphaIterations, settings: settings)
        } else {
            lb = try backward(target: out, A: A, box: box, bounds: bounds, relaxations: &relax,
                              record: record, intervalsOnly: settings.method == .ibp, stop: settings)
            crownRelax = relax
            if settings.method == .alphaCrown {
                // A branch-and-bound domain: CROWN first (its coefficients steer branching and
                // give a counterexample candidate), then alpha and beta (the split constraints'
                // multipliers) optimised for the spec rows.
                crownRows = atoms.enumerated().map { k, a in RowBound(lower: lb[k] - a.d, upper: -lb[r + k] - a.d) }
                let opt = try optimize(target: out, A: A, box: box, bounds: bounds, relaxations: &relax,
                                       iterations: settings.alphaIterations, settings: settings, splits: splitMap)
                for k in lb.indices { lb[k] = max(lb[k], opt[k]) }
            }
        }
        // A NaN row (the model overflows) is widened to the trivially sound [-inf, +inf].
        func rows(_ lb: [Double]) -> [RowBound] {
            atoms.enumerated().map { k, a in
                let lo = lb[k] - a.d, hi = -lb[r + k] - a.d
                return RowBound(lower: lo.isNaN ? -.infinity : lo, upper: hi.isNaN ? .infinity : hi)
            }
        }
        let linear = rows(lb)
        // The output's own interval bounds each row too (a saturating output such as a
        // piecewise-linear sigmoid is bounded exactly by IBP, while its relaxation's line
        // still rises over the interval); branching keeps the linear bounds' coefficients.
        if settings.intersectWithIBP && !settings.referenceCompatible && settings.method != .ibp, let y = bounds[out] {
            for (k, a) in atoms.enumerated() {
                let (lo, hi) = BoundEngine.intervalRow(a.c, y)
                lb[k] = max(lb[k], lo); lb[r + k] = max(lb[r + k], -hi)
            }
        }
        let result = rows(lb)
        return domainBounds(rows: result, coefficientRows: crownRows ?? linear, record: record, bounds: bounds,
                            box: box, relaxations: crownRelax, withValues: settings.relaxedValues)
    }

    /// Bounds of c . y for y in the box `y` (IBP of one spec row): each end the sum of c_j times
    /// the end of y_j its sign selects, moved outward by `RoundingGuard` of the terms' magnitude;
    /// infinite where a used end is.
    static func intervalRow(_ c: [Double], _ y: ValueBounds) -> (lower: Double, upper: Double) {
        var lo = 0.0, hi = 0.0, magnitude = 0.0
        for (j, cj) in c.enumerated() where cj != 0 {
            let a = cj * y.lower[j], b = cj * y.upper[j]
            lo += Swift.min(a, b); hi += Swift.max(a, b)
            magnitude += Swift.max(Swift.abs(a), Swift.abs(b))
        }
        if lo.isNaN { lo = -.infinity }
        if hi.isNaN { hi = .infinity }
        return (RoundingGuard.down(lo, magnitude: magnitude), RoundingGuard.up(hi, magnitude: magnitude))
    }

    /// The intermediate bounds of a domain (its splits as a neuron → active map) and the
    /// relaxations they give: the dense-chain pass when it applies, the general one otherwise.
    func domainIntermediateBounds(box: ValueBounds, splitMap: SplitMap, settings: BoundSettings,
                                  root: IntermediateBounds?, relaxations relax: inout [Int: Relaxation]) throws -> [ValueBounds?] {
        try settings.chainFastPath
            ? chainIntermediateBounds(box: box, settings: settings, relaxations: &relax, splits: splitMap, known: root?.values)
                ?? intermediateBounds(box: box, settings: settings, relaxations: &relax, splits: splitMap, known: root?.values)
            : intermediateBounds(box: box, settings: settings, relaxations: &relax, splits: splitMap, known: root?.values)
    }

    /// `DomainBounds` of rows bounded by one recorded backward pass (its input coefficients, the
    /// coefficients that reached every ReLU, and the ReLU input bounds used).
    func domainBounds(rows result: [RowBound], coefficientRows: [RowBound], record: BackwardRecord,
                      bounds: [ValueBounds?], box: ValueBounds, relaxations: [Int: Relaxation]? = nil,
                      withValues: Bool = false) -> DomainBounds {
        let r = result.count
        var domain = DomainBounds(rows: result)
        if let Ain = record.atInput {
            domain.inputCoefficients = (0..<r).map { Array(Ain.row($0)) }
            domain.coefficientRows = coefficientRows
        }
        // The relaxed network's values at the rows' minimisers (BBPS), when asked for.
        var relaxed: [Int: Matrix] = [:]
        if withValues, record.atInput != nil, let relaxations {
            let sub = BackwardRecord()
            sub.atInput = record.atInput!.selectingRows(Array(0..<r))
            for (k, M) in record.atNode { sub.atNode[k] = M.selectingRows(Array(0..<r)) }
            relaxed = (try? relaxedForward(target: graph.outputs[0], record: sub, box: box, bounds: bounds,
                                           relaxations: relaxations, params: [:]).values) ?? [:]
        }
        for (i, node) in graph.nodes.enumerated() where kinds[i] == .elementwise {
            guard let op = node.op as? any ElementwiseRelaxation else { continue }
            let v = node.inputs[0]
            guard let b = bounds[v] else { continue }
            let lambda = record.atNode[i].map { M in (0..<r).map { Array(M.row($0)) } }
            var info = DomainBounds.NeuronInfo(node: i, value: v, operation: op, lower: b.lower, upper: b.upper, lambda: lambda)
            if let Z = relaxed[v], Z.rows == r { info.relaxedInput = (0..<r).map { Array(Z.row($0)) } }
            domain.splittable.append(info)
        }
        for (i, node) in graph.nodes.enumerated() where kinds[i] == .bilinear {
            guard let op = node.op as? any ProductRelaxation, node.inputs.count == 2 else { continue }
            let (x, y) = (node.inputs[0], node.inputs[1])
            let n = size(node.output)
            guard let bx = bounds[x], let by = bounds[y], bx.lower.count == n, by.lower.count == n else { continue }
            let lambda = record.atNode[i].map { M in (0..<r).map { Array(M.row($0)) } }
            domain.products.append(DomainBounds.ProductInfo(
                node: i, operation: op, x: x, y: y, xLower: bx.lower, xUpper: bx.upper, yLower: by.lower, yUpper: by.upper,
                xSplittable: x != graph.input, ySplittable: y != graph.input, lambda: lambda))
        }
        return domain
    }

    /// Bounds of several branch-and-bound domains of one box at once (`boundDomain` for each),
    /// with their alpha/beta search batched: under alpha-CROWN on a dense ReLU chain, one Float
    /// search optimises every domain's rows together (a split neuron's relaxation and multiplier
    /// given per row), so each weight matrix is read once per iteration for the whole batch
    /// instead of once per domain. Each domain then gets one CROWN pass and one Double pass with
    /// the parameters found, both with its own bounds; the better of the two is reported, and
    /// CROWN's coefficients are kept for branching and the counterexample candidate, as in
    /// `boundDomain`. In this batched mode only lower bounds are computed: every row's `upper`
    /// is +inf (a branch-and-bound child keeps its parent's).
    /// Results are in the order of `domains`; `InfeasibleDomain` marks an empty domain.
    package func boundDomains(box inputBox: InputBox, domains: [(atoms: [LinearAtom], splits: [NeuronSplit])],
                             settings: BoundSettings, root: IntermediateBounds?) -> [Result<DomainBounds, Error>] {
        BLAS.beginSingleThread(); defer { BLAS.endSingleThread() }
        let count = domains.count
        var crownSettings = settings
        crownSettings.method = .crown
        crownSettings.threads = 1
        /// One domain at a time (what the batch falls back to).
        func each(_ s: BoundSettings) -> [Result<DomainBounds, Error>] {
            concurrentResults(count) { t in
                try self.boundDomain(box: inputBox, atoms: domains[t].atoms, splits: domains[t].splits, settings: s, root: root)
            }
        }
        let batched = settings.method == .alphaCrown && settings.alphaIterations > 0 && settings.floatSearch
            && settings.alphaIntermediateIterations == 0 && count > 1
        guard batched else {
            var single = settings
            single.threads = 1
            return each(single)
        }
        let out = graph.outputs[0]
        guard let box = try? semanticBox(inputBox) else { return each(crownSettings) }
        guard inputBox.count == graph.inputCount,
              zip(inputBox.lower, inputBox.upper).allSatisfy({ $0.0 <= $0.1 && $0.0.isFinite && $0.1.isFinite }),
              domains.allSatisfy({ $0.atoms.allSatisfy { $0.c.count == size(out) } }) else { return each(crownSettings) }
        var baseRelax: [Int: Relaxation] = [:]
        let allSplits = NeuronSplit.byValue(domains.flatMap(\.splits))
        let splitMaps = domains.map { NeuronSplit.byValue($0.splits) }   // each domain's, made once
        // Batching needs the Float search's dense chain (dense layers and activations); other
        // networks bound each domain with alpha/beta-CROWN on its own (the domains on the cores).
        var single = settings
        single.threads = 1
        guard let baseBounds = try? domainIntermediateBounds(box: box, splitMap: [:], settings: crownSettings,
                                                             root: root, relaxations: &baseRelax)
        else { return each(single) }
        // Every activation's default relaxation on the shared bounds (the chain's lines).
        for i in splittableNodes where baseRelax[i] == nil {
            if let b = baseBounds[graph.nodes[i].inputs[0]] { baseRelax[i] = relaxation(node: i, bounds: b) }
        }
        // (Each domain's own splits: the union of several domains' maps may hold both sides of one neuron.)
        guard let chain = floatChain(target: out, relaxations: baseRelax, protect: splitNeurons(allSplits)),
              splitMaps.allSatisfy({ floatSearchHandles(chain, splits: $0) })
        else { return each(single) }
        // Each domain's intermediate bounds and relaxations, on the cores.
        struct Prepared { var bounds: [ValueBounds?]; var relax: [Int: Relaxation]; var splitMap: SplitMap }
        let prepared = concurrentResults(count) { t in
            let sm = splitMaps[t]
            var relax: [Int: Relaxation] = [:]
            let bounds = try self.domainIntermediateBounds(box: box, splitMap: sm, settings: crownSettings,
                                                           root: root, relaxations: &relax)
            return Prepared(bounds: bounds, relax: relax, splitMap: sm)
        }
        // The rows of every feasible domain, with their splits.
        let live = (0..<count).filter { if case .success = prepared[$0] { return true } else { return false } }
        let m = size(out)
        var rowsOf: [Int: Range<Int>] = [:]
        var data: [Double] = []
        var rowSplits: [SplitMap] = []
        var rowBounds: [[ValueBounds?]] = []   // each row's domain bounds (general activations' lines)
        var goals: [Double] = []     // a row needs no more work once its bound refutes it
        for t in live {
            guard case .success(let p) = prepared[t] else { continue }
            let atoms = domains[t].atoms, start = rowSplits.count
            for a in atoms { data += a.c; rowSplits.append(p.splitMap); rowBounds.append(p.bounds); goals.append(a.d) }
            rowsOf[t] = start..<rowSplits.count
        }
        let A = Matrix(rows: rowSplits.count, cols: m, data: data)
        // Groups of whole domains on the cores: search, then each domain's Double evaluation.
        let groups = max(1, min(settings.threads, live.count))
        let parts = (0..<groups).map { g in Array(live[(g * live.count / groups)..<((g + 1) * live.count / groups)]) }
        var results = prepared.map { r in r.map { _ in DomainBounds(rows: []) } }
        results.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            DispatchQueue.concurrentPerform(iterations: groups) { g in
                let idx = parts[g].flatMap { Array(rowsOf[$0]!) }
                guard !idx.isEmpty else { return }
                let found = self.floatSearch(chain: chain, A: A.selectingRows(idx), box: box, bounds: baseBounds,
                                             iterations: settings.alphaIterations, settings: settings,
                                             goal: idx.map { goals[$0] }, partner: nil, rowSplits: idx.map { rowSplits[$0] },
                                             rowBounds: idx.map { rowBounds[$0] })
                var offset = 0
                for t in parts[g] {
                    guard case .success(var prep) = prepared[t] else { continue }
                    let n2 = rowsOf[t]!.count
                    let local = Array(offset..<(offset + n2))
                    offset += n2
                    // The domain's share of the parameters (none: CROWN's relaxation).
                    var p: [Int: NodeParameters]? = nil
                    if let found {
                        var q: [Int: NodeParameters] = [:]
                        for (node, np) in found {
                            var e = NodeParameters(lower: np.lower.selectingRows(local),
                                                   upper: np.upper.rows == 0 ? np.upper : np.upper.selectingRows(local))
                            if let beta = np.beta, let sp = prep.splitMap[self.graph.nodes[node].inputs[0]] {
                                // Signed multipliers (`NodeParameters.beta`) with the domain's split ends.
                                e.beta = beta.selectingRows(local)
                                e.setSplits(sp, count: np.lower.cols)
                            }
                            q[node] = e
                        }
                        p = q
                    }
                    let atoms = domains[t].atoms
                    let Ad = A.selectingRows(Array(rowsOf[t]!))
                    base[t] = Result {
                        // CROWN (lower rows only): its coefficients steer branching and give the
                        // counterexample candidate; the optimised pass's coefficients branch worse.
                        let record = BackwardRecord()
                        let crown = try self.backward(target: out, A: Ad, box: box, bounds: prep.bounds,
                                                      relaxations: &prep.relax, record: record)
                        let crownRelax = prep.relax
                        var lb = crown
                        if let p, let opt = try? self.backward(target: out, A: Ad, box: box, bounds: prep.bounds,
                                                              relaxations: &prep.relax, parameters: p) {
                            for k in lb.indices where opt[k] > lb[k] { lb[k] = opt[k] }
                        }
                        let rows = atoms.enumerated().map { k, a in RowBound(lower: lb[k] - a.d, upper: .infinity) }
                        let crownRows = atoms.enumerated().map { k, a in RowBound(lower: crown[k] - a.d, upper: .infinity) }
                        guard rows.allSatisfy({ !$0.lower.isNaN }) else { throw BoundError("a bound is NaN") }
                        return self.domainBounds(rows: rows, coefficientRows: crownRows, record: record, bounds: prep.bounds, box: box,
                                                 relaxations: crownRelax, withValues: settings.relaxedValues)
                    }
                }
            }
        }
        return results
    }

    /// Values feeding piecewise-linear activations (ReLU, LeakyReLU): the neurons a split at 0 makes exact.
    package var reluInputs: [Int] {
        splittableNodes.filter { (graph.nodes[$0].op as! any ElementwiseRelaxation).isPiecewiseLinear }.map { graph.nodes[$0].inputs[0] }
    }
    /// The elementwise nodes with a relaxation (`ElementwiseRelaxation`), whose inputs branch
    /// and bound may split, in graph order.
    package var splittableNodes: [Int] {
        graph.nodes.indices.filter { kinds[$0] == .elementwise && graph.nodes[$0].op is any ElementwiseRelaxation }
    }
    /// The input values of `splittableNodes` (what a `NeuronSplit` names).
    package var splittableInputs: [Int] { splittableNodes.map { graph.nodes[$0].inputs[0] } }
    /// Whether the network is affine layers and piecewise-linear activations only (ReLU,
    /// LeakyReLU; no products of variables): its fully split domains have exact LPs.
    package var isPiecewiseLinear: Bool {
        graph.nodes.indices.allSatisfy { Self.isPiecewiseLinear(graph.nodes[$0].op, kind: kinds[$0]) }
    }

    /// `isPiecewiseLinear` of a graph before an engine is made for it.
    static func isPiecewiseLinear(_ graph: Graph) -> Bool {
        graph.nodes.allSatisfy { n in
            isPiecewiseLinear(n.op, kind: n.op.boundKind(constantInputs: n.inputs.map { graph.constants[$0] != nil }))
        }
    }

    /// Whether a node of this bound kind is affine or a piecewise-linear activation.
    private static func isPiecewiseLinear(_ op: any Operator, kind: BoundKind) -> Bool {
        kind == .affine || (kind == .elementwise && (op as? any ElementwiseRelaxation)?.isPiecewiseLinear == true)
    }
    /// The operators of `splittableNodes`.
    package var splittableOperations: [any ElementwiseRelaxation] {
        splittableNodes.map { graph.nodes[$0].op as! any ElementwiseRelaxation }
    }
}

/// A branch-and-bound split (GenBaB's general form; beta-CROWN's ReLU split is the case
/// `point` 0): neuron `index` of graph value `value` (the input of a splittable node) is
/// constrained to z <= `point` (`above` false) or z >= `point` (`above` true), which narrows its
/// interval to [l, point] or [point, u].
package struct NeuronSplit: Hashable, Sendable {
    package var value: Int
    package var index: Int
    /// The branching point p (0 for ReLU-like kinks).
    package var point: Double
    /// true: z >= point; false: z <= point.
    package var above: Bool
    package init(value: Int, index: Int, point: Double, above: Bool) {
        self.value = value; self.index = index; self.point = point; self.above = above
    }
    /// A ReLU split at 0: active (z >= 0) or inactive (z <= 0).
    package init(value: Int, index: Int, active: Bool) { self.init(value: value, index: index, point: 0, above: active) }
    /// Whether this is the z >= point side (for a ReLU split: the active side).
    package var active: Bool { above }

    /// Splits as value -> neuron -> the interval they leave (several splits of one neuron
    /// intersect): the form the bound passes take.
    static func byValue(_ splits: [NeuronSplit]) -> SplitMap {
        var map: SplitMap = [:]
        for sp in splits {
            var r = map[sp.value]?[sp.index] ?? SplitInterval()
            if sp.above { r.lower = Swift.max(r.lower, sp.point) } else { r.upper = Swift.min(r.upper, sp.point) }
            map[sp.value, default: [:]][sp.index] = r
        }
        return map
    }
}

/// The interval the splits of one neuron leave (-inf / +inf where that side is not split).
package struct SplitInterval: Hashable, Sendable {
    package var lower = -Double.infinity
    package var upper = Double.infinity
    package init() {}
    package init(lower: Double, upper: Double) { self.lower = lower; self.upper = upper }
    /// The beta-CROWN constraint directions this neuron has: z >= lower and/or z <= upper.
    var hasLower: Bool { lower > -.infinity }
    var hasUpper: Bool { upper < .infinity }
}

/// Split constraints by value (a splittable node's input) and neuron.
typealias SplitMap = [Int: [Int: SplitInterval]]

/// Proven bounds of every intermediate value over some box (opaque; see `BoundEngine.rootBounds`).
package struct IntermediateBounds: Sendable {
    var values: [ValueBounds?]

    /// The bounds of `value`'s neuron `index`, if known.
    package func bounds(value: Int, index: Int) -> (lower: Double, upper: Double)? {
        guard value < values.count, let b = values[value], index < b.lower.count else { return nil }
        return (b.lower[index], b.upper[index])
    }

    /// Intersects a proven interval into one neuron's bounds (callers must have proven it, e.g.
    /// by an LP whose dual was re-checked).
    package mutating func tighten(value: Int, index: Int, lower: Double, upper: Double) {
        guard value < values.count, var b = values[value], index < b.lower.count, !lower.isNaN, !upper.isNaN else { return }
        b.lower[index] = max(b.lower[index], lower)
        b.upper[index] = min(b.upper[index], upper)
        values[value] = b
    }
}

/// The domain's splits contradict its bounds: no input satisfies them.
package struct InfeasibleDomain: Error, Sendable {}

/// Everything a branch-and-bound step needs from one bound computation.
package struct DomainBounds: Sendable {
    /// One elementwise node whose input branch and bound may split (ReLU, Sigmoid, ...).
    package struct NeuronInfo: Sendable {
        /// The node's index in `graph.nodes` and its input value.
        package var node: Int
        package var value: Int
        /// The node's operator: its relaxation and where it can be split (`branchingPoint`).
        package var operation: any ElementwiseRelaxation
        /// Bounds of the node's input (after splits).
        package var lower: [Double]
        package var upper: [Double]
        /// Per spec row, the coefficients of the lower bound on the node's output (CROWN only).
        package var lambda: [[Double]]?
        /// Per spec row, the node's input in the relaxed network at the row's CROWN minimiser
        /// (`BoundSettings.relaxedValues`; BBPS's estimate), or nil.
        package var relaxedInput: [[Double]]? = nil
    }
    /// One product of two variables, x * y elementwise (`BoundKind.bilinear`), whose operands
    /// branch and bound may split (`ProductRelaxation.operandBranchingPoint`).
    package struct ProductInfo: Sendable {
        /// The node's index in `graph.nodes`, its operator and its two operand values.
        package var node: Int
        package var operation: any ProductRelaxation
        package var x: Int
        package var y: Int
        /// Bounds of the operands (after splits), one entry per output element.
        package var xLower: [Double], xUpper: [Double]
        package var yLower: [Double], yUpper: [Double]
        /// Whether each operand may be split (not the graph input, which input splitting owns).
        package var xSplittable: Bool, ySplittable: Bool
        /// Per spec row, the coefficients of the lower bound on the product's output (CROWN only).
        package var lambda: [[Double]]?
    }
    /// Bounds of c . y - d per atom (the upper bound is +inf where it was not computed: the
    /// batched mode of `BoundEngine.boundDomains`).
    package var rows: [RowBound]
    /// Per atom, the lower bound's coefficients on the input (CROWN only; empty otherwise).
    package var inputCoefficients: [[Double]] = []
    /// The bounds of the linear functions whose input coefficients are `inputCoefficients`
    /// (CROWN's; `rows` may be tighter when alpha/beta optimisation followed). Whatever uses the
    /// coefficients together with a bound (clipping) must use these.
    package var coefficientRows: [RowBound] = []
    /// Every elementwise node with a relaxation, in graph order (ReLU nodes among them).
    package var splittable: [NeuronInfo] = []
    /// Every product of two variables with operand bounds, in graph order.
    package var products: [ProductInfo] = []
    package init(rows: [RowBound]) { self.rows = rows }
}
