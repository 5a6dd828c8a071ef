import XCTest
import Foundation
import Certus

/// `Operator.sparseLinearMap` against the operator's own per-row `backward`: for random
/// coefficient rows, the sparse terms' J^T must give what `backward` gives, for every operator
/// that offers a sparse form (broadcasting arithmetic with a constant operand, Slice, Gather,
/// Transpose, Concat, Pad, Expand, Tile).
final class SparseLinearMapTests: XCTestCase {
    var rng = SplitMix64(seed: 7)

    func random(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Double.random(in: -2...2, using: &rng) })
    }

    /// `inputs`: the operator's inputs with constants at their values; `variable` marks the
    /// inputs the map is taken over (given at zero to the sparse map, as the engine does).
    func check(_ op: any Operator, _ inputs: [Tensor], variable: [Bool], file: StaticString = #filePath, line: UInt = #line) throws {
        let zeroed = inputs.enumerated().map { variable[$0.offset] ? Tensor(shape: $0.element.shape, repeating: 0) : $0.element }
        let out0 = try op.evaluate(zeroed)
        guard let map = try op.sparseLinearMap(zeroed, variable: variable) else {
            return XCTFail("\(type(of: op)): no sparse map", file: file, line: line)
        }
        XCTAssertEqual(map.inputs.count, inputs.count, file: file, line: line)
        for _ in 0..<3 {
            let g = random(out0.shape)
            let expected = try op.backward(zeroed, output: out0, gradient: g)
            for (i, isVar) in variable.enumerated() where isVar {
                guard let terms = map.inputs[i], let e = expected[i] else {
                    XCTFail("\(type(of: op)): input \(i) has no terms or no gradient", file: file, line: line); continue
                }
                var got = [Double](repeating: 0, count: inputs[i].count)
                for t in terms.output.indices { got[terms.input[t]] += terms.coefficient[t] * g.data[terms.output[t]] }
                for k in got.indices {
                    XCTAssertEqual(got[k], e.data[k], accuracy: 1e-12, "\(type(of: op)) input \(i) element \(k)", file: file, line: line)
                }
            }
            // The map is the whole linear part: f(x) = f(0) + J x at a random x.
            let x = inputs.enumerated().map { variable[$0.offset] ? random($0.element.shape) : $0.element }
            let y = try op.evaluate(x)
            var lin = out0.data
            for (i, isVar) in variable.enumerated() where isVar {
                let terms = map.inputs[i]!
                for t in terms.output.indices { lin[terms.output[t]] += terms.coefficient[t] * x[i].data[terms.input[t]] }
            }
            for k in lin.indices { XCTAssertEqual(lin[k], y.data[k], accuracy: 1e-12, "\(type(of: op)) output \(k)", file: file, line: line) }
        }
    }

    func testBroadcastingArithmeticWithAConstantOperand() throws {
        for (a, b) in [([2, 3], [2, 3]), ([2, 3], [3]), ([1, 3], [2, 1]), ([4], [])] as [([Int], [Int])] {
            try check(Add(), [random(a), random(b)], variable: [true, false])
            try check(Add(), [random(a), random(b)], variable: [true, true])
            try check(Sub(), [random(a), random(b)], variable: [false, true])
            try check(Sub(), [random(a), random(b)], variable: [true, true])
            try check(Mul(), [random(a), random(b)], variable: [true, false])
            try check(Mul(), [random(a), random(b)], variable: [false, true])
            let d = random(b)
            try check(Div(), [random(a), Tensor(shape: b, data: d.data.map { $0 >= 0 ? $0 + 0.5 : $0 - 0.5 })], variable: [true, false])
        }
    }

    func testDataMovement() throws {
        try check(Transpose(perm: [1, 0, 2]), [random([2, 3, 4])], variable: [true])
        try check(Transpose(perm: nil), [random([3, 5])], variable: [true])
        try check(ReduceSum(axes: [1], keepDims: false), [random([2, 3, 4])], variable: [true])
        try check(ReduceSum(axes: [0, 2], keepDims: true), [random([2, 3, 4])], variable: [true])
        try check(ReduceSum(axes: nil), [random([2, 3])], variable: [true])
        try check(ReduceMean(axes: [2], keepDims: true), [random([2, 3, 4])], variable: [true])
        try check(Concat(axis: 1), [random([2, 3]), random([2, 2]), random([2, 1])], variable: [true, false, true])
        try check(Concat(axis: 0), [random([1, 3]), random([2, 3])], variable: [true, true])
        try check(Gather(axis: 1, indices: [2, 0, 2], indicesShape: [3]), [random([2, 4]), Tensor(shape: [3], data: [2, 0, 2])],
                  variable: [true, false])
        try check(SliceOperator(inputShape: [3, 6], starts: [1, -1], ends: [3, 0], axes: [0, 1], steps: [1, -2]),
                  [random([3, 6])], variable: [true])
        try check(Pad(begins: [1, 0], ends: [0, 2], value: 0.5), [random([2, 3])], variable: [true])
        try check(Expand(shape: [3, 1, 4]), [random([2, 1]), Tensor(shape: [3], data: [3, 1, 4])], variable: [true, false])
        try check(Tile(repeats: [2, 3]), [random([2, 2]), Tensor(shape: [2], data: [2, 3])], variable: [true, false])
    }
}
