import Foundation
import CertusTensor

/// ONNX `Cast` to element type `to`. Certus computes every value in Double, so a cast to a
/// floating type of at least single precision (FLOAT, DOUBLE) is the identity (shape-only for the
/// bounds, as onnxruntime's float32 storage is already what every other operator models). A cast
/// to an integer or boolean type (truncation toward zero; nonzero to 1) is piecewise constant and
/// is supported only on constants, where it is folded at load (shape and index arithmetic).
///
/// Errors (at load, naming the node): a cast to an integer or boolean type of a computed value;
/// a cast to FLOAT16, BFLOAT16, FLOAT8 or a non-numeric type; a constant outside the target
/// integer type's range or not finite.
package struct Cast: Operator, ShapeOnly {
    package static let opType = "Cast"
    /// The ONNX TensorProto.DataType of the result.
    package let to: Int

    package init(to: Int) { self.to = to }

    static let floating: Set<Int> = [1, 11]                   // FLOAT, DOUBLE
    /// Integer types with their ranges; BOOL (9) is handled apart.
    static let integers: [Int: ClosedRange<Double>] = [
        2: 0...255, 3: -128...127, 4: 0...65535, 5: -32768...32767,
        6: -2147483648...2147483647, 12: 0...4294967295,
        7: -9223372036854775808.0...9223372036854775807.0, 13: 0...18446744073709551615.0,
    ]

    package static func make(_ node: NodeContext) throws -> Cast {
        let to = try node.int("to")
        guard node.inputShapes.count == 1 else { throw node.error("Cast takes 1 input, got \(node.inputShapes.count)") }
        if floating.contains(to) { return Cast(to: to) }
        guard integers[to] != nil || to == 9 else {
            throw node.unsupported("Cast to element type \(to) is not supported (only FLOAT, DOUBLE, integer and BOOL targets)")
        }
        guard node.constantInputs.first ?? nil != nil else {
            throw node.unsupported("Cast to an integer or boolean type (\(to)) of a computed value is piecewise constant; only constants are supported")
        }
        return Cast(to: to)
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...1, Self.opType)
        return s[0]
    }

    /// The identity for floating targets; integer and boolean targets only ever see constants
    /// (`make` refuses them on computed values), so a relaxation of them is refused.
    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        Self.floating.contains(to) || constantInputs.allSatisfy({ $0 })
            ? .affine : .unsupported("Cast to integer or boolean type \(to) of a computed value has no linear relaxation")
    }

    /// Floating targets: the input interval; other targets: only degenerate (constant) intervals.
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        if Self.floating.contains(to) { return x[0] }
        guard x[0].lower.data == x[0].upper.data else {
            throw BoundError("Cast to integer or boolean type \(to) of a non-constant value is not supported")
        }
        return IntervalTensor(constant: try evaluate([x[0].lower]))
    }

    /// The identity's gradient for floating targets; zero (the derivative almost everywhere) for
    /// the piecewise-constant integer and boolean casts.
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        Self.floating.contains(to) ? [gradient] : [Tensor(shape: inputs[0].shape, repeating: 0)]
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        if Self.floating.contains(to) { return inputs[0] }
        var x = inputs[0]
        for i in x.data.indices {
            let v = x.data[i]
            if to == 9 { x.data[i] = v != 0 ? 1 : 0; continue }   // NaN is nonzero: true
            guard v.isFinite, let range = Self.integers[to], range.contains(v.rounded(.towardZero)) else {
                throw ModelError(.invalidModel, "Cast of \(v) to integer type \(to) is out of range")
            }
            x.data[i] = v.rounded(.towardZero)
        }
        return x
    }
}
