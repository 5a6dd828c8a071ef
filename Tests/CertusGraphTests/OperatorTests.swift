import XCTest
import Foundation
import Certus

/// Operators checked against direct loops written here, on random data.
final class OperatorTests: XCTestCase {
    var rng = SystemRandomNumberGenerator()

    func random(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Double.random(in: -1...1, using: &rng) })
    }

    func ctx(_ op: String, _ shapes: [[Int]], _ attrs: [String: AttributeValue] = [:], constants: [Tensor?] = [], opset: Int = 17) -> NodeContext {
        NodeContext(name: "t", opType: op, opset: opset, attributes: attrs, inputShapes: shapes,
                    constantInputs: constants.isEmpty ? shapes.map { _ in nil } : constants)
    }

    func assertClose(_ a: [Double], _ b: [Double], _ tol: Double = 1e-12, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) where abs(x - y) > tol * max(1, abs(y)) {
            XCTFail("\(x) != \(y)", file: file, line: line); return
        }
    }

    /// The BLAS product equals a naive triple loop, for all transposition combinations.
    func testBLASGemmMatchesNaiveLoop() {
        for (m, n, k) in [(1, 1, 1), (3, 5, 4), (17, 9, 33), (64, 1, 128)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = random([m * k]).data, b = random([k * n]).data
                    let c = BLAS.matmul(a, b, m: m, n: n, k: k, transA: ta, transB: tb)
                    var ref = [Double](repeating: 0, count: m * n)
                    for i in 0..<m { for j in 0..<n { for p in 0..<k {
                        ref[i * n + j] += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j])
                    } } }
                    assertClose(c, ref, 1e-12)
                }
            }
        }
    }

    /// Both sides of `BLAS.smallRows` (loops below it, dgemm above) give alpha·A·op(B) + beta·C,
    /// with zero coefficients in A (inactive ReLUs) among the rows.
    func testGemmSmallAndLargeRowCountsAgree() {
        for m in [1, 2, BLAS.smallRows, BLAS.smallRows + 1, 40] {
            let (n, k) = (37, 53)
            for tb in [false, true] {
                var a = random([m * k]).data
                for i in stride(from: 0, to: a.count, by: 3) { a[i] = 0 }
                let b = random([k * n]).data, c0 = random([m * n]).data
                var c = c0
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                    BLAS.gemm(transB: tb, m: m, n: n, k: k, alpha: 0.5, a: pa.baseAddress!, b: pb.baseAddress!,
                              beta: 2, c: pc.baseAddress!)
                } } }
                var ref = c0.map { 2 * $0 }
                for i in 0..<m { for j in 0..<n { for p in 0..<k {
                    ref[i * n + j] += 0.5 * a[i * k + p] * (tb ? b[j * k + p] : b[p * n + j])
                } } }
                assertClose(c, ref, 1e-12)
            }
        }
    }

    func testGemmWithAlphaBetaAndBroadcastBias() throws {
        let op = try Gemm.make(ctx("Gemm", [[4, 3], [5, 4], [5]], ["transA": .int(1), "transB": .int(1), "alpha": .float(0.5), "beta": .float(2)]))
        let a = random([4, 3]), b = random([5, 4]), c = random([5])
        XCTAssertEqual(try op.outputShape([[4, 3], [5, 4], [5]]), [3, 5])
        let y = try op.evaluate([a, b, c])
        var ref = [Double](repeating: 0, count: 15)
        for i in 0..<3 { for j in 0..<5 {
            var s = 0.0
            for p in 0..<4 { s += a.data[p * 3 + i] * b.data[j * 4 + p] }
            ref[i * 5 + j] = 0.5 * s + 2 * c.data[j]
        } }
        assertClose(y.data, ref)
        XCTAssertThrowsError(try op.outputShape([[4, 3], [5, 3], [5]]))
    }

    func testMatMulBroadcastAndVectors() throws {
        let op = MatMul()
        XCTAssertEqual(try op.outputShape([[2, 1, 3, 4], [5, 4, 2]]), [2, 5, 3, 2])
        XCTAssertEqual(try op.outputShape([[4], [4, 2]]), [2])
        XCTAssertEqual(try op.outputShape([[3, 4], [4]]), [3])
        let a = random([2, 1, 3, 4]), b = random([5, 4, 2])
        let y = try op.evaluate([a, b])
        for bi in 0..<2 { for bj in 0..<5 { for i in 0..<3 { for j in 0..<2 {
            var s = 0.0
            for p in 0..<4 { s += a.data[bi * 12 + i * 4 + p] * b.data[bj * 8 + p * 2 + j] }
            XCTAssertEqual(y.data[((bi * 5 + bj) * 3 + i) * 2 + j], s, accuracy: 1e-12)
        } } } }
        // (W, x) order with 1-D x, as in the tiny sanity nets.
        let w = Tensor(shape: [2, 1], data: [2, 3]), x = Tensor(shape: [1], data: [4])
        XCTAssertEqual(try op.evaluate([w, x]), Tensor(shape: [2], data: [8, 12]))
        XCTAssertThrowsError(try op.outputShape([[3, 4], [5, 2]]))
    }

    func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: [Int], pad: [Int], dil: [Int], group: Int, out: [Int]) -> [Double] {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let (oh, ow) = (out[2], out[3])
        var y = [Double](repeating: 0, count: n * m * oh * ow)
        for bn in 0..<n { for oc in 0..<m {
            let g = oc / (m / group)
            for oy in 0..<oh { for ox in 0..<ow {
                var s = b?.data[oc] ?? 0
                for ci in 0..<cg { for i in 0..<kh { for j in 0..<kw {
                    let iy = oy * stride[0] - pad[0] + i * dil[0], ix = ox * stride[1] - pad[1] + j * dil[1]
                    if iy >= 0, iy < h, ix >= 0, ix < wd {
                        s += x.data[((bn * c + g * cg + ci) * h + iy) * wd + ix] * w.data[((oc * cg + ci) * kh + i) * kw + j]
                    }
                } } }
                y[((bn * m + oc) * oh + oy) * ow + ox] = s
            } }
        } }
        return y
    }

    func testConvStridePadDilationGroup() throws {
        let cases: [(x: [Int], w: [Int], s: [Int], p: [Int], d: [Int], g: Int)] = [
            ([1, 1, 8, 8], [4, 1, 3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1),
            ([1, 4, 8, 8], [8, 4, 3, 3], [2, 2], [1, 1, 1, 1], [1, 1], 1),
            ([2, 4, 7, 9], [6, 2, 3, 2], [2, 1], [0, 1, 2, 0], [2, 1], 2),
            ([1, 3, 5, 5], [3, 1, 3, 3], [1, 1], [0, 0, 0, 0], [1, 1], 3),
        ]
        for c in cases {
            let attrs: [String: AttributeValue] = ["strides": .ints(c.s), "pads": .ints(c.p), "dilations": .ints(c.d), "group": .int(c.g)]
            let op = try Conv.make(ctx("Conv", [c.x, c.w, [c.w[0]]], attrs))
            let shape = try op.outputShape([c.x, c.w, [c.w[0]]])
            let x = random(c.x), w = random(c.w), b = random([c.w[0]])
            let y = try op.evaluate([x, w, b])
            XCTAssertEqual(y.shape, shape)
            // Output size from the ONNX formula with asymmetric pads.
            XCTAssertEqual(shape[2], (c.x[2] + c.p[0] + c.p[2] - c.d[0] * (c.w[2] - 1) - 1) / c.s[0] + 1)
            assertClose(y.data, naiveConv(x, w, b, stride: c.s, pad: c.p, dil: c.d, group: c.g, out: shape), 1e-12)
        }
        // Channel mismatch is a shape error.
        let bad = try Conv.make(ctx("Conv", [[1, 3, 5, 5], [2, 2, 3, 3]]))
        XCTAssertThrowsError(try bad.outputShape([[1, 3, 5, 5], [2, 2, 3, 3]]))
    }

    func testConvSameUpperPadding() throws {
        let op = try Conv.make(ctx("Conv", [[1, 1, 5, 5], [1, 1, 3, 3]], ["auto_pad": .string("SAME_UPPER"), "strides": .ints([2, 2])]))
        XCTAssertEqual(try op.outputShape([[1, 1, 5, 5], [1, 1, 3, 3]]), [1, 1, 3, 3])
    }

    func testAveragePoolPaddingModes() throws {
        let x = Tensor(shape: [1, 1, 3, 3], data: (1...9).map(Double.init))
        let excl = try AveragePool.make(ctx("AveragePool", [[1, 1, 3, 3]], ["kernel_shape": .ints([2, 2]), "pads": .ints([1, 1, 0, 0])]))
        let y = try excl.evaluate([x])
        XCTAssertEqual(y.shape, [1, 1, 3, 3])
        XCTAssertEqual(y.data[0], 1)             // only x[0,0] inside
        XCTAssertEqual(y.data[4], (1 + 2 + 4 + 5) / 4)
        let incl = try AveragePool.make(ctx("AveragePool", [[1, 1, 3, 3]], ["kernel_shape": .ints([2, 2]), "pads": .ints([1, 1, 0, 0]), "count_include_pad": .int(1)]))
        XCTAssertEqual(try incl.evaluate([x]).data[0], 0.25)
        let strided = try AveragePool.make(ctx("AveragePool", [[1, 1, 3, 3]], ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "ceil_mode": .int(1)]))
        let z = try strided.evaluate([x])
        XCTAssertEqual(z.shape, [1, 1, 2, 2])
        XCTAssertEqual(z.data, [3, 4.5, 7.5, 9])
    }

    func testBatchNormalization() throws {
        let op = try BatchNormalization.make(ctx("BatchNormalization", [[1, 2, 2, 2], [2], [2], [2], [2]], ["epsilon": .float(1e-3)]))
        let x = random([1, 2, 2, 2])
        let scale = Tensor(shape: [2], data: [2, -1]), bias = Tensor(shape: [2], data: [0.5, 1])
        let mean = Tensor(shape: [2], data: [0.1, -0.2]), variance = Tensor(shape: [2], data: [4, 0.25])
        let y = try op.evaluate([x, scale, bias, mean, variance])
        for i in 0..<8 {
            let c = i / 4
            let ref = scale.data[c] * (x.data[i] - mean.data[c]) / (variance.data[c] + 1e-3).squareRoot() + bias.data[c]
            XCTAssertEqual(y.data[i], ref, accuracy: 1e-12)
        }
        XCTAssertThrowsError(try BatchNormalization.make(ctx("BatchNormalization", [[1, 2], [2], [2], [2], [2]], ["training_mode": .int(1)])))
    }

    func testActivationsAtKnownPoints() throws {
        XCTAssertEqual(Relu().apply(-2), 0); XCTAssertEqual(Relu().apply(3), 3)
        XCTAssertEqual(LeakyRelu(alpha: 0.1).apply(-2), -0.2, accuracy: 1e-15)
        XCTAssertEqual(Sigmoid().apply(0), 0.5); XCTAssertEqual(Sigmoid().apply(-800), 0); XCTAssertEqual(Sigmoid().apply(800), 1)
        XCTAssertEqual(Sigmoid().apply(2), 1 / (1 + exp(-2)), accuracy: 1e-15)
        XCTAssertEqual(Tanh().apply(0.5), tanh(0.5))
        // GeLU minimum, documented in algorithms.md: x* = -0.7517916, f = -0.16997.
        XCTAssertEqual(Gelu().apply(-0.7517916), -0.16997, accuracy: 1e-5)
        XCTAssertEqual(Gelu().apply(1), 0.8413447460685429, accuracy: 1e-12)
        XCTAssertEqual(Gelu(tanhApproximation: true).apply(1), 0.8411919906082768, accuracy: 1e-12)
        // GeLU as its Erf decomposition equals the Gelu op.
        for x in stride(from: -4.0, through: 4.0, by: 0.37) {
            XCTAssertEqual(x * 0.5 * (1 + Erf().apply(x / 2.0.squareRoot())), Gelu().apply(x), accuracy: 1e-14)
        }
        XCTAssertEqual(Sin().apply(.pi / 2), 1); XCTAssertEqual(Cos().apply(0), 1); XCTAssertEqual(Neg().apply(2), -2)
    }

    func testShapeOperators() throws {
        let x = random([2, 3, 4])
        let t = try Transpose.make(ctx("Transpose", [[2, 3, 4]], ["perm": .ints([2, 0, 1])]))
        let y = try t.evaluate([x])
        XCTAssertEqual(y.shape, [4, 2, 3])
        for a in 0..<2 { for b in 0..<3 { for c in 0..<4 {
            XCTAssertEqual(y.data[(c * 2 + a) * 3 + b], x.data[(a * 3 + b) * 4 + c])
        } } }
        let f = try Flatten.make(ctx("Flatten", [[2, 3, 4]], ["axis": .int(-1)]))
        XCTAssertEqual(try f.outputShape([[2, 3, 4]]), [6, 4])
        let r = try Reshape.make(ctx("Reshape", [[2, 3, 4], [3]], constants: [nil, Tensor(shape: [3], data: [0, -1, 2])]))
        XCTAssertEqual(try r.outputShape([[2, 3, 4], [3]]), [2, 6, 2])
        XCTAssertThrowsError(try Reshape.make(ctx("Reshape", [[2, 3, 4], [3]])))   // computed shape refused
        let bad = try Reshape.make(ctx("Reshape", [[2, 3, 4], [2]], constants: [nil, Tensor(shape: [2], data: [5, -1])]))
        XCTAssertThrowsError(try bad.outputShape([[2, 3, 4], [2]]))
        let sq = try Squeeze.make(ctx("Squeeze", [[1, 3, 1]], ["axes": .ints([0])], opset: 11))
        XCTAssertEqual(try sq.outputShape([[1, 3, 1]]), [3, 1])
        XCTAssertThrowsError(try sq.outputShape([[2, 3, 1]]))
        let usq = try Unsqueeze.make(ctx("Unsqueeze", [[3], [2]], constants: [nil, Tensor(shape: [2], data: [0, -1])]))
        XCTAssertEqual(try usq.outputShape([[3], [2]]), [1, 3, 1])
        let cat = try Concat.make(ctx("Concat", [[2, 1], [2, 3]], ["axis": .int(1)]))
        let a = Tensor(shape: [2, 1], data: [1, 2]), b = Tensor(shape: [2, 3], data: [3, 4, 5, 6, 7, 8])
        XCTAssertEqual(try cat.evaluate([a, b]), Tensor(shape: [2, 4], data: [1, 3, 4, 5, 2, 6, 7, 8]))
    }

    func testSoftmaxAxes() throws {
        let x = random([2, 3])
        let op = try Softmax.make(ctx("Softmax", [[2, 3]], ["axis": .int(0)]))
        let y = try op.evaluate([x])
        for j in 0..<3 {
            let e0 = exp(x.data[j]), e1 = exp(x.data[3 + j])
            XCTAssertEqual(y.data[j], e0 / (e0 + e1), accuracy: 1e-12)
        }
        // opset < 13: default axis 1 over the flattened tail.
        let legacy = try Softmax.make(ctx("Softmax", [[1, 2, 2]], opset: 11))
        let z = try legacy.evaluate([Tensor(shape: [1, 2, 2], data: [0, 0, 0, 0])])
        XCTAssertEqual(z.data, [0.25, 0.25, 0.25, 0.25])
    }

    func testBroadcastArithmetic() throws {
        let a = Tensor(shape: [2, 1], data: [1, 2]), b = Tensor(shape: [3], data: [10, 20, 30])
        XCTAssertEqual(try Add().evaluate([a, b]), Tensor(shape: [2, 3], data: [11, 21, 31, 12, 22, 32]))
        XCTAssertEqual(try Sub().evaluate([b, a]).data, [9, 19, 29, 8, 18, 28])
        XCTAssertEqual(try Div().evaluate([b, Tensor(scalar: 10)]).data, [1, 2, 3])
        XCTAssertEqual(try Mul().evaluate([a, a]).data, [1, 4])
        XCTAssertThrowsError(try Add().outputShape([[2, 3], [4]]))
    }

    func testUnsupportedOperatorListsSupported() {
        XCTAssertThrowsError(try OperatorRegistry.make(ctx("LSTM", [[1, 2]]))) { e in
            let d = "\(e)"
            XCTAssertTrue(d.contains("'LSTM'") && d.contains("node 't'") && d.contains("Softmax"), d)
        }
        XCTAssertEqual(OperatorRegistry.supportedOpTypes.count, OperatorRegistry.all.count)
        XCTAssertEqual(Set(OperatorRegistry.supportedOpTypes).count, OperatorRegistry.all.count, "op types are unique")
    }
}
