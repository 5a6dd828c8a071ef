import XCTest
import Foundation
import Certus
import CertusGraph
import CertusTensor
import TestSupport

/// Dense maps of affine nodes (`BoundEngine.denseAffine`): every affine operator of one variable
/// input becomes a dense step y = x W^T + b, with W its own Jacobian (`Operator.affineJacobian`),
/// so dense chains (the Float search, the chain's CROWN) reach Conv, BatchNormalization and
/// normalisation layers, not only Gemm and MatMul.
final class DenseAffineTests: XCTestCase {
    private func random(_ shape: [Int], _ rng: inout SystemRandomNumberGenerator) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Double.random(in: -2...2, using: &rng) })
    }

    /// A shared model without its final Softmax, if it has one (the graph `certus verify` bounds
    /// for pairwise properties; `OutputSoftmax`).
    private func logits(_ path: String) throws -> Graph {
        let graph = try ModelFile.load(TestData.sharedPath(path))
        let n = graph.outputCount
        var c = [Double](repeating: 0, count: n); c[0] = 1; c[1] = -1
        let pairwise = Property(numInputs: 1, numOutputs: n, cases: [PropertyCase(box: InputBox(lower: [0], upper: [0]), clauses: [Clause(atoms: [LinearAtom(c: c, d: 0)])])], source: "test")
        return OutputSoftmax.graphForBounds(graph, property: pairwise).graph
    }

    /// Gemm's and MatMul's Jacobians read from their weights equal the ones the default gives
    /// (`backward` applied to each unit output row), for every transpose flag and batch shape.
    func testWeightJacobiansEqualBackwardJacobians() throws {
        var rng = SystemRandomNumberGenerator()
        for (m, k, n) in [(1, 5, 3), (3, 4, 2)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let op = Gemm(alpha: 0.7, beta: 1.3, transA: transA, transB: transB)
                    let a = Tensor(shape: transA ? [k, m] : [m, k], repeating: 0)
                    let b = random(transB ? [n, k] : [k, n], &rng), c = random([n], &rng)
                    let inputs = [a, b, c], variable = [true, false, false]
                    let out0 = try op.evaluate(inputs)
                    let fast = try op.affineJacobian(inputs, variable: variable, position: 0, output: out0)
                    let slow = try op.genericAffineJacobian(inputs, variable: variable, position: 0, output: out0)
                    XCTAssertEqual(fast.count, m * n * m * k)
                    XCTAssertEqual(fast, slow, "Gemm m \(m) transA \(transA) transB \(transB)")
                    // And J x + f(0) is the operator at a random x.
                    let x = random(a.shape, &rng)
                    let y = try op.evaluate([x, b, c])
                    for o in 0..<(m * n) {
                        var s = out0.data[o]
                        for t in 0..<(m * k) { s += fast[o * m * k + t] * x.data[t] }
                        XCTAssertEqual(s, y.data[o], accuracy: 1e-12 * (1 + abs(y.data[o])))
                    }
                }
            }
        }
        for aShape in [[4], [3, 4], [2, 3, 4]] {
            let op = MatMul()
            let b = random([4, 5], &rng)
            let inputs = [Tensor(shape: aShape, repeating: 0), b], variable = [true, false]
            let out0 = try op.evaluate(inputs)
            let fast = try op.affineJacobian(inputs, variable: variable, position: 0, output: out0)
            let slow = try op.genericAffineJacobian(inputs, variable: variable, position: 0, output: out0)
            XCTAssertEqual(fast, slow, "MatMul A \(aShape)")
        }
    }

    /// Networks with Conv, BatchNormalization and input normalisation are dense chains now: the
    /// chain's evaluation equals the graph's at random points.
    func testConvolutionalNetworksAreDenseChains() throws {
        let models = ["reference/zoo/conv_relu/model.onnx", "reference/zoo/conv_bn_relu/model.onnx",
                      "reference/zoo/norm_mlp_relu/model.onnx", "benchmarks/sigmoid_mnist/logsig_200_50_onnx.onnx"]
        var rng = SystemRandomNumberGenerator()
        for m in models {
            let graph = try logits(m)
            let engine = BoundEngine(graph: graph)
            let n = graph.values[graph.input].shape.reduce(1, *)
            for _ in 0..<10 {
                let x = (0..<n).map { _ in Double.random(in: 0...1, using: &rng) }
                let chain = try XCTUnwrap(engine.evaluateChain(x), "\(m) is not a dense chain")
                let y = try graph.evaluateFirst(x)
                XCTAssertEqual(chain.count, y.count)
                for j in y.indices {
                    XCTAssertEqual(chain[j], y[j], accuracy: 1e-9 * (1 + abs(y[j])), "\(m) output \(j)")
                }
            }
        }
    }

    /// alpha-CROWN through the Float search on a convolutional Sigmoid chain (the sigmoid_mnist
    /// logsig net, whose layers are Conv nodes) stays below every sampled margin.
    func testAlphaCrownOnConvolutionalSigmoidChainIsSound() throws {
        let graph = try logits("benchmarks/sigmoid_mnist/logsig_200_50_onnx.onnx")
        let property = try PropertyLoader.load(path: TestData.sharedPath("benchmarks/sigmoid_mnist/mnist255_img1_eps3.vnnlib"),
                                               numOutputs: graph.outputCount)
        let engine = BoundEngine(graph: graph)
        let box = property.cases[0].box
        let atoms = property.rows.map(\.atom)
        let crown = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: .crown))
        let alpha = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: .alphaCrown))
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let x = box.lower.indices.map { i in Double.random(in: box.lower[i]...box.upper[i], using: &rng) }
            let y = try graph.evaluateFirst(x)
            for (k, atom) in atoms.enumerated() {
                let v = try XCTUnwrap(atom.slack(y))
                XCTAssertLessThanOrEqual(alpha[k].lower, v + 1e-9, "row \(k)")
                XCTAssertLessThanOrEqual(crown[k].lower, v + 1e-9, "row \(k)")
            }
        }
        for k in atoms.indices {
            XCTAssertGreaterThanOrEqual(alpha[k].lower, crown[k].lower - 1e-9 * max(1, abs(crown[k].lower)), "row \(k)")
        }
    }
}
