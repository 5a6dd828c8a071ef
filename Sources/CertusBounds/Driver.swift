import Foundation
import CertusTensor
import CertusGraph
import CertusSpec

/// Bounds of `c · y - d` for one spec row.
public struct RowBound: Sendable, Equatable {
    public var lower: Double
    public var upper: Double
}

extension BoundEngine {
    /// Bounds of every value that a relaxation needs, computed in topological order: IBP from
    /// the tightest bounds known so far, tightened by CROWN (or alpha-CROWN) where it matters.
    func intermediateBounds(box: ValueBounds, settings: BoundSettings,
                            relaxations: inout [Int: Relaxation]) throws -> [ValueBounds?] {
        var bounds = [ValueBounds?](repeating: nil, count: graph.values.count)
        bounds[graph.input] = box
        // Reference-compatible mode: instability masks and the bounds of neurons not re-bounded
        // come from a plain IBP pass, as in auto_LiRPA's CROWN.
        let pure = settings.referenceCompatible ? try intervalPass(box: box) : nil
        for (i, node) in graph.nodes.enumerated() {
            let ins = node.inputs.map { v -> IntervalTensor in
                if let t = graph.constants[v] { return IntervalTensor(constant: t) }
                let b = bounds[v]!
                let shape = graph.values[v].shape
                return IntervalTensor(lower: Tensor(shape: shape, data: b.lower), upper: Tensor(shape: shape, data: b.upper))
            }
            let iv: IntervalTensor
            do { iv = try node.op.interval(ins) } catch let e as BoundError {
                throw BoundError("node '\(node.name)' (\(node.opType)): \(e.message)")
            }
            var b = ValueBounds(lower: iv.lower.data, upper: iv.upper.data)
            if let pure, needsBounds.contains(node.output) { b = pure[node.output]! }
            if settings.method != .ibp, needsBounds.contains(node.output) {
                let rowsOfInterest = neuronsToBound(value: node.output, ibp: b)
                if !rowsOfInterest.isEmpty {
                    let n = b.lower.count, s = rowsOfInterest.count
                    var A = Matrix(zeros: 2 * s, n)
                    for (k, j) in rowsOfInterest.enumerated() { A[k, j] = 1; A[s + k, j] = -1 }
                    var lb: [Double]
                    if settings.method == .alphaCrown {
                        lb = try optimize(target: node.output, A: A, box: box, bounds: bounds, relaxations: &relaxations,
                                          iterations: settings.alphaIntermediateIterations, settings: settings)
                    } else {
                        lb = try backward(target: node.output, A: A, box: box, bounds: bounds, relaxations: &relaxations)
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
            guard !b.lower.contains(where: \.isNaN), !b.upper.contains(where: \.isNaN) else {
                throw BoundError("bounds of '\(graph.values[node.output].name)' are NaN")
            }
            bounds[node.output] = b
            _ = i
        }
        return bounds
    }

    /// The neurons of `value` whose bounds change a relaxation: for ReLU-like consumers only the
    /// unstable ones, for any other nonlinearity every neuron with a non-degenerate interval.
    func neuronsToBound(value v: Int, ibp: ValueBounds) -> [Int] {
        let consumers = graph.nodes.indices.filter { graph.nodes[$0].inputs.contains(v) && (kinds[$0] == .elementwise || kinds[$0] == .bilinear) }
        let reluOnly = consumers.allSatisfy { graph.nodes[$0].op is Relu || graph.nodes[$0].op is LeakyRelu }
        return ibp.lower.indices.filter { j in
            reluOnly ? (ibp.lower[j] < 0 && ibp.upper[j] > 0) : ibp.upper[j] > ibp.lower[j]
        }
    }

    /// Bounds of `c · y - d` for every atom of `rows`, over `box`, where y is the first output.
    public func bound(box inputBox: InputBox, atoms: [LinearAtom], settings: BoundSettings = BoundSettings()) throws -> [RowBound] {
        guard inputBox.count == graph.inputCount else {
            throw BoundError("the box has \(inputBox.count) inputs, the model \(graph.inputCount)")
        }
        guard zip(inputBox.lower, inputBox.upper).allSatisfy({ $0.0 <= $0.1 && $0.0.isFinite && $0.1.isFinite }) else {
            throw BoundError("the input box is empty or not finite")
        }
        let box = ValueBounds(lower: inputBox.lower, upper: inputBox.upper)
        let out = graph.outputs[0]
        let m = size(out)
        for a in atoms where a.c.count != m {
            throw BoundError("a spec row has \(a.c.count) coefficients, the model has \(m) outputs")
        }
        var relax: [Int: Relaxation] = [:]
        let bounds = try intermediateBounds(box: box, settings: settings, relaxations: &relax)
        let r = atoms.count
        var A = Matrix(zeros: 2 * r, m)
        for (k, a) in atoms.enumerated() {
            for j in 0..<m { A[k, j] = a.c[j]; A[r + k, j] = -a.c[j] }
        }
        let lb: [Double]
        if settings.method == .alphaCrown {
            lb = try optimize(target: out, A: A, box: box, bounds: bounds, relaxations: &relax,
                              iterations: settings.alphaIterations, settings: settings)
        } else {
            lb = try backward(target: out, A: A, box: box, bounds: bounds, relaxations: &relax,
                              intervalsOnly: settings.method == .ibp)
        }
        let result = atoms.enumerated().map { k, a in RowBound(lower: lb[k] - a.d, upper: -lb[r + k] - a.d) }
        guard result.allSatisfy({ !$0.lower.isNaN && !$0.upper.isNaN }) else { throw BoundError("a bound is NaN") }
        return result
    }
}
