import Foundation
import CertusTensor
import CertusGraph

/// A chain of dense steps in Double (see `BoundEngine.denseChain`).
struct DenseChain {
    enum Step {
        /// y = x W^T + b, W stored outN x inN row-major (nil: identity).
        case linear(w: [Double]?, b: [Double], inN: Int, outN: Int, output: Int)
        /// A ReLU node and its input value.
        case relu(node: Int, input: Int)
        /// Any other elementwise node with a relaxation (Sigmoid, Tanh, GeLU, LeakyReLU, ...)
        /// and its input value.
        case general(node: Int, input: Int)
    }
    /// From the input to the target.
    var steps: [Step]
}

/// An affine node of one variable input as a dense map y = x W^T + b (see
/// `BoundEngine.denseAffine`).
struct DenseAffine {
    /// The map as a chain step (w nil: the identity, a constant shift).
    var step: DenseChain.Step
    /// Fraction of W's entries that are not zero (1 for the identity step, which stores none).
    var density: Double
    /// Whether b is zero everywhere (a pure linear map: no bias term to add).
    var zeroOffset: Bool
}

extension BoundEngine {
    /// The chain from the graph input to `target`, or nil when the cone holds anything other
    /// than dense layers, constant bias additions, reshapes and elementwise activations with a
    /// relaxation.
    func denseChain(target: Int) -> DenseChain? {
        var steps: [DenseChain.Step] = []
        var v = target
        while v != graph.input {
            guard let i = producer[v] else { return nil }
            let node = graph.nodes[i]
            let vars = node.inputs.filter { !isConstant[$0] }
            guard vars.count == 1, size(vars[0]) > 0 else { return nil }
            if let op = node.op as? any ElementwiseRelaxation, kinds[i] == .elementwise {
                steps.append(op.isReluShaped ? .relu(node: i, input: vars[0]) : .general(node: i, input: vars[0]))
            } else if affineClasses[i] == .passThrough {
                // Flatten, Reshape, Identity: same data.
            } else if let step = denseLinear(node: i) {
                steps.append(step)
            } else {
                return nil
            }
            v = vars[0]
        }
        return DenseChain(steps: steps.reversed())
    }

    /// Affine nodes whose Jacobian has at most this many entries become dense maps (2M
    /// entries: 16 MB in Double, 8 MB more as the Float search's copy).
    static let maximumDenseEntries = 1 << 21

    /// The dense linear step of node `i`, if it has one (`denseAffine`).
    func denseLinear(node i: Int) -> DenseChain.Step? { denseAffine(node: i)?.step }

    /// An affine node of one variable input as a dense map y = x W^T + b (computed once per
    /// node), for any operator the engine treats as affine (Gemm, MatMul, Conv,
    /// BatchNormalization, constant Add/Sub/Mul/Div, Pad, Slice, ...): W is the operator's own
    /// Jacobian (`Operator.affineJacobian`, the coefficients every backward pass through the
    /// node uses) and b the operator evaluated at 0 (`affineInputs`). A Jacobian equal to the
    /// identity (a constant shift) gives the identity step (w nil). Nil when the node is not
    /// affine in exactly one variable input, W would have more than `maximumDenseEntries`
    /// entries, or an entry is not finite. Dense chains (`denseChain`: the Float search, the
    /// chain's intermediate bounds) are made of these steps, and the backward and forward
    /// passes take them where W is mostly non-zero.
    func denseAffine(node i: Int) -> DenseAffine? {
        if let c = cachedDenseAffine(i) { return c }
        let d = try? makeDenseAffine(node: i)
        storeDenseAffine(i, d ?? nil)
        return d ?? nil
    }

    /// The dense map of node `i` when the backward and forward passes multiply by it: at least
    /// `denseBackwardDensity` of W non-zero (dense layers, 1x1 convolutions of a 1x1 image) or
    /// the identity (a constant shift); nil otherwise, and then the passes take the operator's
    /// sparse terms or its `backward`. A node whose sparse map (`Operator.sparseLinearMap`) is
    /// sparser than that is decided from its term count, without making W (decided once).
    func passDenseAffine(node i: Int) -> DenseAffine? {
        guard affineClasses[i] == .dense else { return nil }
        if let take = cachedPassDense(i) { return take ? denseAffine(node: i) : nil }
        var take = true
        let node = graph.nodes[i]
        if let position = node.inputs.firstIndex(where: { !isConstant[$0] }),
           let cache = try? affineInputs(node: i), let m = try? sparseMap(node: i, inputs: cache.inputs),
           position < m.inputs.count, let t = m.inputs[position] {
            let entries = Double(size(node.inputs[position])) * Double(size(node.output))
            let identity = size(node.inputs[position]) == size(node.output) && Self.isIdentity(t, count: size(node.output))
            if !identity && Double(t.output.count) < Self.denseBackwardDensity * entries { take = false }
        }
        if take { take = (denseAffine(node: i)?.density ?? 0) >= Self.denseBackwardDensity }
        storePassDense(i, take)
        return take ? denseAffine(node: i) : nil
    }

    /// Whether sparse terms are the identity on `count` elements (one term of coefficient 1 per
    /// output, from the same element).
    static func isIdentity(_ t: SparseLinearMap.Terms, count: Int) -> Bool {
        t.output.count == count && t.output.indices.allSatisfy { t.output[$0] == $0 && t.input[$0] == $0 && t.coefficient[$0] == 1 }
    }

    private func makeDenseAffine(node i: Int) throws -> DenseAffine? {
        let node = graph.nodes[i]
        guard kinds[i] == .affine, affineClasses[i] != .passThrough else { return nil }
        let variable = node.inputs.map { !isConstant[$0] }
        guard variable.filter({ $0 }).count == 1, let position = variable.firstIndex(of: true) else { return nil }
        let inN = size(node.inputs[position]), outN = size(node.output)
        guard inN > 0, outN > 0, inN.multipliedFullWidth(by: outN).high == 0,
              inN * outN <= Self.maximumDenseEntries else { return nil }
        let cache = try affineInputs(node: i)
        let b = cache.out0.data
        guard b.count == outN, b.allSatisfy({ $0.isFinite }) else { return nil }
        let zeroOffset = b.allSatisfy { $0 == 0 }
        // A constant shift (Add or Sub of a constant, Identity-like maps): its sparse map is one
        // term of coefficient 1 per output, from the same element; no dense matrix is needed.
        if inN == outN, let map = try sparseMap(node: i, inputs: cache.inputs), position < map.inputs.count,
           let t = map.inputs[position], Self.isIdentity(t, count: outN) {
            return DenseAffine(step: .linear(w: nil, b: b, inN: inN, outN: outN, output: node.output),
                               density: 1, zeroOffset: zeroOffset)
        }
        let w = try node.op.affineJacobian(cache.inputs, variable: variable, position: position, output: cache.out0)
        guard w.count == outN * inN else { return nil }
        var nonZero = 0, finite = true
        w.withUnsafeBufferPointer { p in
            for x in p {
                nonZero &+= x != 0 ? 1 : 0
                finite = finite && x - x == 0   // false for an infinity or NaN
            }
        }
        guard finite else { return nil }
        return DenseAffine(step: .linear(w: w, b: b, inN: inN, outN: outN, output: node.output),
                           density: Double(nonZero) / Double(w.count), zeroOffset: zeroOffset)
    }
}
