import XCTest
import Foundation
import Certus
import TestSupport

/// Every operator's `backward` against central finite differences, and whole-model gradients.
final class GradientTests: XCTestCase {
    var rng = SystemRandomNumberGenerator()

    func random(_ shape: [Int], _ range: ClosedRange<Double> = -1...1) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Double.random(in: range, using: &rng) })
    }

    func ctx(_ op: String, _ shapes: [[Int]], _ attrs: [String: AttributeValue] = [:], constants: [Tensor?] = [], opset: Int = 17) -> NodeContext {
        NodeContext(name: "t", opType: op, opset: opset, attributes: attrs, inputShapes: shapes,
                    constantInputs: constants.isEmpty ? shapes.map { _ in nil } : constants)
    }

    /// Checks the gradient of sum(w * op(inputs)) with respect to the inputs listed in `wrt`.
    func check(_ op: any Operator, _ inputs: [Tensor], wrt: [Int], tol: Double = 1e-6, file: StaticString = #filePath, line: UInt = #line) throws {
        let y = try op.evaluate(inputs)
        let w = random(y.shape)
        let grads = try op.backward(inputs, output: y, gradient: w)
        func f(_ xs: [Tensor]) throws -> Double {
            let out = try op.evaluate(xs)
            return zip(out.data, w.data).reduce(0) { $0 + $1.0 * $1.1 }
        }
        for i in wrt {
            guard let g = grads[i] else { XCTFail("\(type(of: op)): no gradient for input \(i)", file: file, line: line); continue }
            XCTAssertEqual(g.shape, inputs[i].shape, file: file, line: line)
            for k in 0..<inputs[i].count {
                var plus = inputs, minus = inputs
                let h = 1e-6
                plus[i].data[k] += h; minus[i].data[k] -= h
                let numeric = (try f(plus) - f(minus)) / (2 * h)
                XCTAssertEqual(g.data[k], numeric, accuracy: tol * max(1, abs(numeric)), "\(type(of: op)) input \(i)[\(k)]", file: file, line: line)
            }
        }
    }

    func testElementwiseAndArithmetic() throws {
        // Keep away from ReLU's kink.
        let x = Tensor(shape: [2, 3], data: [-1.3, -0.4, 0.2, 0.7, 1.9, -2.2])
        let unary: [any Operator] = [Relu(), LeakyRelu(alpha: 0.2), Sigmoid(), Tanh(), Gelu(), Gelu(tanhApproximation: true), Erf(), Sin(), Cos(), Neg(), Identity()]
        for op in unary { try check(op, [x], wrt: [0]) }
        let a = random([2, 3]), b = random([3], 0.5...2)
        for op in [Add(), Sub(), Mul(), Div()] as [any Operator] { try check(op, [a, b], wrt: [0, 1]) }
    }

    /// `backward(..., wanted:)`: MatMul makes only the wanted gradients (a weight's gradient is
    /// as large as the weight), each equal to the one the full call gives (itself checked by
    /// finite differences above and below), broadcast batches included.
    func testMatMulWantedGradientsOnly() throws {
        for (a, b) in [(random([2, 3, 4]), random([4, 5])), (random([4]), random([2, 4, 3])), (random([3, 4]), random([4, 2]))] {
            let op = MatMul()
            let y = try op.evaluate([a, b])
            let g = random(y.shape)
            let full = try op.backward([a, b], output: y, gradient: g)
            try check(op, [a, b], wrt: [0, 1])
            let onlyA = try op.backward([a, b], output: y, gradient: g, wanted: [true, false])
            let onlyB = try op.backward([a, b], output: y, gradient: g, wanted: [false, true])
            XCTAssertNil(onlyA[1]); XCTAssertNil(onlyB[0])
            XCTAssertEqual(onlyA[0]?.data, full[0]?.data)
            XCTAssertEqual(onlyB[1]?.data, full[1]?.data)
        }
        for (ta, tb) in [(0, 0), (1, 1)] {
            let op = try Gemm.make(ctx("Gemm", [], ["transA": .int(ta), "transB": .int(tb), "alpha": .float(0.7), "beta": .float(1.3)]))
            let a = random(ta == 1 ? [4, 3] : [3, 4]), b = random(tb == 1 ? [2, 4] : [4, 2]), c = random([2])
            let y = try op.evaluate([a, b, c])
            let g = random(y.shape)
            let full = try op.backward([a, b, c], output: y, gradient: g)
            let onlyA = try op.backward([a, b, c], output: y, gradient: g, wanted: [true, false, false])
            XCTAssertNil(onlyA[1])
            XCTAssertEqual(onlyA[0]?.data, full[0]?.data)
        }
    }

    /// IBP through MatMul and Gemm with constant weights (read in place) contains sampled outputs.
    func testLinearIntervalsWithConstantWeightsContainSamples() throws {
        let x = IntervalTensor(lower: Tensor(shape: [2, 3], data: [-1, 0, 0.5, -2, 1, 0]),
                               upper: Tensor(shape: [2, 3], data: [1, 0.5, 0.5, -1, 3, 2]))
        let w = random([3, 4]), wt = random([4, 3]), c = random([4])
        let gemm = try Gemm.make(ctx("Gemm", [], ["transB": .int(1), "alpha": .float(-0.7)]))
        let cases: [(any Operator, [Tensor])] = [(MatMul(), [w]), (gemm, [wt, c])]
        for (op, constants) in cases {
            let box = try op.interval([x] + constants.map { IntervalTensor(lower: $0, upper: $0) })
            for _ in 0..<200 {
                let s = Tensor(shape: [2, 3], data: (0..<6).map { Double.random(in: x.lower.data[$0]...x.upper.data[$0], using: &rng) })
                let y = try op.evaluate([s] + constants)
                for i in 0..<y.count {
                    XCTAssertLessThanOrEqual(box.lower.data[i], y.data[i] + 1e-12)
                    XCTAssertGreaterThanOrEqual(box.upper.data[i], y.data[i] - 1e-12)
                }
            }
        }
    }

    func testLinearOperators() throws {
        for (ta, tb) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let op = try Gemm.make(ctx("Gemm", [], ["transA": .int(ta), "transB": .int(tb), "alpha": .float(0.7), "beta": .float(1.3)]))
            let a = random(ta == 1 ? [4, 3] : [3, 4]), b = random(tb == 1 ? [2, 4] : [4, 2]), c = random([2])
            try check(op, [a, b, c], wrt: [0, 1, 2])
        }
        try check(MatMul(), [random([2, 3, 4]), random([4, 5])], wrt: [0, 1])
        try check(MatMul(), [random([4]), random([2, 4, 3])], wrt: [0, 1])
        let conv = try Conv.make(ctx("Conv", [[1, 4, 6, 5], [6, 2, 3, 3], [6]], ["strides": .ints([2, 1]), "pads": .ints([1, 0, 1, 2]), "dilations": .ints([1, 2]), "group": .int(2)]))
        try check(conv, [random([1, 4, 6, 5]), random([6, 2, 3, 3]), random([6])], wrt: [0])
        let bn = try BatchNormalization.make(ctx("BatchNormalization", [[1, 2, 3], [2], [2], [2], [2]]))
        try check(bn, [random([1, 2, 3]), random([2]), random([2]), random([2]), random([2], 0.5...1)], wrt: [0])
        let pool = try AveragePool.make(ctx("AveragePool", [[1, 2, 5, 5]], ["kernel_shape": .ints([3, 2]), "strides": .ints([2, 2]), "pads": .ints([1, 0, 1, 1])]))
        try check(pool, [random([1, 2, 5, 5])], wrt: [0])
    }

    func testDataMovementAndSoftmax() throws {
        let t = try Transpose.make(ctx("Transpose", [[2, 3, 4]], ["perm": .ints([1, 2, 0])]))
        try check(t, [random([2, 3, 4])], wrt: [0])
        let cat = try Concat.make(ctx("Concat", [[2, 1, 2], [2, 3, 2]], ["axis": .int(1)]))
        try check(cat, [random([2, 1, 2]), random([2, 3, 2])], wrt: [0, 1])
        let flat = try Flatten.make(ctx("Flatten", [[2, 3, 4]]))
        try check(flat, [random([2, 3, 4])], wrt: [0])
        for (axis, opset) in [(1, 17), (0, 17), (1, 11)] {
            let sm = try Softmax.make(ctx("Softmax", [[2, 3, 2]], ["axis": .int(axis)], opset: opset))
            try check(sm, [random([2, 3, 2])], wrt: [0])
        }
    }

    /// Whole-model gradients against finite differences on every zoo model (Conv, BatchNorm,
    /// GeLU and its Erf decomposition, residual Add, Sub/Div normalisation).
    func testModelGradientsOnZoo() throws {
        let zoo = TestData.sharedPath("reference/zoo")
        let models = TestData.zooModels
        XCTAssertEqual(models.count, 10)
        for m in models {
            let g = try ModelFile.load("\(zoo)/\(m)/model.onnx")
            let x = (0..<g.inputCount).map { _ in Double.random(in: 0...1, using: &rng) }
            let w = (0..<g.outputCount).map { _ in Double.random(in: -1...1, using: &rng) }
            let (y, dx) = try g.gradient(at: x, outputWeights: w)
            XCTAssertEqual(y, try g.evaluateFirst(x))
            func f(_ x: [Double]) throws -> Double { zip(try g.evaluateFirst(x), w).reduce(0) { $0 + $1.0 * $1.1 } }
            for i in stride(from: 0, to: x.count, by: max(1, x.count / 8)) {
                var p = x, q = x
                p[i] += 1e-6; q[i] -= 1e-6
                let numeric = (try f(p) - f(q)) / 2e-6
                XCTAssertEqual(dx[i], numeric, accuracy: 1e-4 * max(1, abs(numeric)), "\(m) x[\(i)]")
            }
        }
    }
}
