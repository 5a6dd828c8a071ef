import Foundation
import CertusTensor

/// Inference-mode batch normalisation over channel axis 1:
/// y = scale * (x - mean) / sqrt(var + epsilon) + bias.
package struct BatchNormalization: Operator {
    package static let opType = "BatchNormalization"
    package let epsilon: Double

    package static func make(_ node: NodeContext) throws -> BatchNormalization {
        if try node.int("training_mode", default: 0) != 0 {
            throw node.unsupported("training_mode=1 is not supported (inference only)")
        }
        if node.opset < 7, try node.int("is_test", default: 1) == 0 {
            throw node.unsupported("is_test=0 (training) is not supported")
        }
        return BatchNormalization(epsilon: try node.float("epsilon", default: 1e-5))
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 5...5, Self.opType)
        guard s[0].count >= 2 else { throw ModelError(.shape, "BatchNormalization needs an input of rank >= 2, got \(s[0])") }
        let c = s[0][1]
        for (i, name) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] where s[i] != [c] {
            throw ModelError(.shape, "BatchNormalization \(name) has shape \(s[i]), expected [\(c)]")
        }
        return s[0]
    }

    /// Per-channel (multiplier, offset) so that y = multiplier * x + offset.
    package func affine(scale: [Double], bias: [Double], mean: [Double], variance: [Double]) -> ([Double], [Double]) {
        var mul = [Double](repeating: 0, count: scale.count), off = mul
        for c in 0..<scale.count {
            mul[c] = scale[c] / (variance[c] + epsilon).squareRoot()
            off[c] = bias[c] - mul[c] * mean[c]
        }
        return (mul, off)
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        var x = inputs[0]
        let (mul, off) = affine(scale: inputs[1].data, bias: inputs[2].data, mean: inputs[3].data, variance: inputs[4].data)
        let c = x.shape[1]
        let inner = x.shape.dropFirst(2).reduce(1, *)
        for i in 0..<x.data.count {
            let ch = (i / inner) % c
            x.data[i] = mul[ch] * x.data[i] + off[ch]
        }
        return x
    }

    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.dropFirst().allSatisfy { $0 } ? .affine : .unsupported("BatchNormalization with variable statistics")
    }

    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        guard x.dropFirst().allSatisfy({ $0.lower == $0.upper }) else { throw BoundError("BatchNormalization with variable statistics is not supported") }
        let (mul, _) = affine(scale: x[1].lower.data, bias: x[2].lower.data, mean: x[3].lower.data, variance: x[4].lower.data)
        let a = try evaluate([x[0].lower] + x.dropFirst().map(\.lower)), b = try evaluate([x[0].upper] + x.dropFirst().map(\.lower))
        var lo = a, hi = b
        let c = lo.shape[1], inner = lo.shape.dropFirst(2).reduce(1, *)
        for i in 0..<lo.count where mul[(i / inner) % c] < 0 { lo.data[i] = b.data[i]; hi.data[i] = a.data[i] }
        return IntervalTensor(lower: lo, upper: hi)
    }

    /// Gradient with respect to X; the statistics and affine parameters are parameters.
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        let (mul, _) = affine(scale: inputs[1].data, bias: inputs[2].data, mean: inputs[3].data, variance: inputs[4].data)
        var g = gradient
        let c = g.shape[1], inner = g.shape.dropFirst(2).reduce(1, *)
        for i in 0..<g.data.count { g.data[i] *= mul[(i / inner) % c] }
        return [g, nil, nil, nil, nil]
    }
}

extension BatchNormalization {
    /// (x - mean) / sqrt(var + eps) * scale + B: each term passes through the subtraction, the
    /// division, the scaling and the addition, and its coefficient through eps's addition and the
    /// square root: 8 roundings (a folded form rounds less).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .sums(roundings: 8) }
}
