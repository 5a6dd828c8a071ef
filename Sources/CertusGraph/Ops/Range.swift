import Foundation
import CertusTensor

/// ONNX `Range(start, limit, delta)` (opset 11) of constant scalars (named `RangeOperator` so as
/// not to shadow `Swift.Range` for importers): the 1-D tensor
/// `start + i * delta` for `i` in `0..<max(ceil((limit - start) / delta), 0)`. Its shape depends
/// on the values, so every input must be constant; the node is folded at load.
///
/// Errors (at load, naming the node): a computed input, a non-scalar input, delta 0, a
/// non-finite value, more than 10^8 elements.
package struct RangeOperator: Operator {
    package static let opType = "Range"
    package static var opsets: ClosedRange<Int> { 11...OperatorRegistry.newestOpset }
    package let start: Double, delta: Double, count: Int

    package init(start: Double, delta: Double, count: Int) { self.start = start; self.delta = delta; self.count = count }

    package static func make(_ node: NodeContext) throws -> RangeOperator {
        guard node.inputShapes.count == 3 else { throw node.error("Range takes 3 inputs (start, limit, delta), got \(node.inputShapes.count)") }
        let v = try ["start", "limit", "delta"].enumerated().map { i, what -> Double in
            let t = try node.constantInput(i, what: what)
            guard t.count == 1, t.data[0].isFinite else { throw node.error("Range \(what) must be one finite number, got \(t.data)") }
            return t.data[0]
        }
        guard v[2] != 0 else { throw node.error("Range delta is 0") }
        let n = Swift.max(Foundation.ceil((v[1] - v[0]) / v[2]), 0)
        guard n <= 1e8 else { throw node.error("Range of \(n) elements is too large") }
        return RangeOperator(start: v[0], delta: v[2], count: Int(n))
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 3...3, Self.opType)
        return [count]
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        Tensor(shape: [count], data: (0..<count).map { start + Double($0) * delta })
    }

    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] { [nil, nil, nil] }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor { IntervalTensor(constant: try evaluate([])) }
}
