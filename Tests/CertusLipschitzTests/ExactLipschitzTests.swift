import XCTest
import Foundation
import Certus
import TestSupport

/// `ExactLipschitz` (the MILP over activation patterns) against independent references: the
/// reference's exact values (HiGHS, LipMIP-style) on the zoo's ReLU MLPs, gradient norms
/// attained at sampled points and on dense grids of random ReLU and LeakyReLU networks, and the
/// certified bounds of `Lipschitz.analyze` above it.
final class ExactLipschitzTests: XCTestCase {
    /// The reference's exact constants (`regions[].exact.rows[].value`) of the three small zoo
    /// ReLU MLPs, per output and overall, to 1e-6 relative; the gradient at the reported point
    /// attains the value (its pattern is realised off the kinks).
    func testZooReferenceValues() throws {
        let root = TestData.shared.appendingPathComponent("reference/lipschitz")
        for name in ["mlp_relu_small", "norm_mlp_relu", "mlp_relu_deep"] {
            let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent(name + ".json"))) as! [String: Any]
            let graph = try ModelFile.load(TestData.sharedPath("reference/" + (obj["onnx"] as! String)))
            for region in obj["regions"] as! [[String: Any]] {
                let center = region["center"] as! [Double], eps = region["eps"] as! Double
                let exact = region["exact"] as! [String: Any]
                XCTAssertEqual(exact["solved"] as? Bool, true)
                let expected = (exact["rows"] as! [[String: Any]]).map { $0["value"] as! Double }
                let box = InputBox(lower: center.map { $0 - eps }, upper: center.map { $0 + eps })
                let start = Date()
                let r = try ExactLipschitz.solve(model: graph, boxes: [box], norm: .inf)
                print("exact \(name) eps \(eps): \(r.perOutput.map { $0.value ?? .nan }) in \(Date().timeIntervalSince(start)) s, "
                      + "unstable \(r.perOutput.map(\.unstableNeurons)), sign binaries \(r.perOutput.map(\.signBinaries))")
                XCTAssertTrue(r.complete, "\(name) eps \(eps)")
                for (j, v) in r.perOutput.enumerated() {
                    XCTAssertEqual(v.output, j)
                    XCTAssertEqual(v.status, .optimal, "\(name) eps \(eps) output \(j): \(v.message ?? "")")
                    let value = try XCTUnwrap(v.value)
                    XCTAssertEqual(value, expected[j], accuracy: 1e-6 * expected[j], "\(name) eps \(eps) output \(j)")
                    XCTAssertEqual(try XCTUnwrap(v.milpObjective), value, accuracy: 1e-5 * value)
                    // The point is in the box and its true gradient attains the value.
                    let x = try XCTUnwrap(v.point)
                    for i in x.indices { XCTAssertTrue(box.lower[i] <= x[i] && x[i] <= box.upper[i]) }
                    var w = [Double](repeating: 0, count: graph.outputCount); w[j] = 1
                    let g = try graph.gradient(at: x, outputWeights: w).dx
                    XCTAssertEqual(g.reduce(0) { $0 + abs($1) }, try XCTUnwrap(v.attained), accuracy: 1e-12 * value)
                    XCTAssertEqual(try XCTUnwrap(v.attained), value, accuracy: 1e-6 * value, "\(name) eps \(eps) output \(j): not attained")
                    XCTAssertGreaterThan(try XCTUnwrap(v.margin), 0)
                }
                let overall = expected.max()!
                XCTAssertEqual(try XCTUnwrap(r.value), overall, accuracy: 1e-6 * overall, "\(name) eps \(eps) overall")
            }
        }
    }

    /// Random tiny ReLU and LeakyReLU MLPs (2-3 inputs), both polyhedral norms: the exact value
    /// is at least the gradient norm at 3000 random points and the box's corners, at least
    /// `Lipschitz.analyze`'s attained value, and at most its certified bound.
    func testRandomNetworksBetweenSampledAndCertified() throws {
        var rng = SplitMix64(seed: 11)
        func u() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        let activations: [any Operator] = [Relu(), LeakyRelu(alpha: 0.1), LeakyRelu(alpha: 0.5), LeakyRelu(alpha: 2), LeakyRelu(alpha: -0.3)]
        var checked = 0
        for (k, act) in activations.enumerated() {
            for trial in 0..<3 {
                let inputs = 2 + trial % 2
                let graph = LipschitzTests.mlp(seed: UInt64(100 * k + trial), act: act, sizes: [inputs, 6, 5, 2])
                let lo = (0..<inputs).map { _ in u() * 2 - 1 }
                let box = InputBox(lower: lo, upper: lo.map { $0 + 0.2 + u() })
                for norm in [LipschitzNorm.inf, .l1] {
                    let exact = try ExactLipschitz.solve(model: graph, box: box, norm: norm)
                    var s = LipschitzSettings()
                    s.norm = norm; s.samples = 200; s.ascentRuns = 3; s.ascentSteps = 10; s.method = .crown
                    let certified = try Lipschitz.analyze(model: graph, box: box, settings: s)
                    for v in exact {
                        let tag = "\(type(of: act).opType) \((act as? LeakyRelu)?.alpha ?? 0) trial \(trial) norm \(norm.rawValue) output \(v.output)"
                        XCTAssertEqual(v.status, .optimal, tag)
                        let value = try XCTUnwrap(v.value, tag)
                        var w = [0.0, 0.0]; w[v.output] = 1
                        var sampled = 0.0
                        var points: [[Double]] = (0..<3000).map { _ in (0..<inputs).map { box.lower[$0] + (box.upper[$0] - box.lower[$0]) * u() } }
                        for c in 0..<(1 << inputs) { points.append((0..<inputs).map { (c >> $0) & 1 == 1 ? box.upper[$0] : box.lower[$0] }) }
                        for x in points {
                            sampled = max(sampled, Self.norm(try graph.gradient(at: x, outputWeights: w).dx, norm))
                        }
                        XCTAssertGreaterThanOrEqual(value, sampled * (1 - 1e-9), "\(tag): below a sampled gradient norm")
                        let b = certified.perOutput.first { $0.output == v.output }!
                        XCTAssertGreaterThanOrEqual(value, b.lower * (1 - 1e-9), "\(tag): below the attained value")
                        XCTAssertLessThanOrEqual(value, b.upper * (1 + 1e-9), "\(tag): above the certified bound")
                        XCTAssertLessThanOrEqual(try XCTUnwrap(v.attained), value * (1 + 1e-9) + 1e-12, tag)
                        checked += 1
                    }
                }
            }
        }
        XCTAssertEqual(checked, 5 * 3 * 2 * 2)
    }

    /// One- and two-input networks, enumerated: the largest gradient norm on a dense grid (every
    /// linear piece wider than the grid's step is hit) equals the exact value to 1e-6, for both
    /// polyhedral norms.
    func testDenseGridAgreesOnLowDimensionalNetworks() throws {
        var agreed = 0
        let activations: [any Operator] = [Relu(), LeakyRelu(alpha: 0.2), LeakyRelu(alpha: 1.5)]
        for (k, act) in activations.enumerated() {
            for trial in 0..<4 {
                let inputs = 1 + trial % 2
                let graph = LipschitzTests.mlp(seed: UInt64(1000 + 10 * k + trial), act: act, sizes: [inputs, 6, 6, 1])
                let box = InputBox(lower: [Double](repeating: -1, count: inputs), upper: [Double](repeating: 1, count: inputs))
                var best: [LipschitzNorm: Double] = [.inf: 0, .l1: 0]
                let steps = inputs == 1 ? 20_000 : 250
                func coordinate(_ i: Int) -> Double { -1 + 2 * (Double(i) + 0.5) / Double(steps + 1) }
                func visit(_ x: [Double]) throws {
                    let g = try graph.gradient(at: x, outputWeights: [1]).dx
                    for norm in [LipschitzNorm.inf, .l1] { best[norm] = max(best[norm]!, Self.norm(g, norm)) }
                }
                for i in 0...steps {
                    if inputs == 1 { try visit([coordinate(i)]) } else { for j in 0...steps { try visit([coordinate(i), coordinate(j)]) } }
                }
                for norm in [LipschitzNorm.inf, .l1] {
                    let v = try ExactLipschitz.solve(model: graph, box: box, norm: norm)[0]
                    let value = try XCTUnwrap(v.value)
                    let tag = "\(type(of: act).opType) trial \(trial) inputs \(inputs) norm \(norm.rawValue)"
                    XCTAssertGreaterThanOrEqual(value, best[norm]! * (1 - 1e-9), tag)
                    XCTAssertEqual(value, best[norm]!, accuracy: 1e-6 * max(1, best[norm]!), tag)
                    agreed += 1
                }
            }
        }
        XCTAssertEqual(agreed, 3 * 4 * 2)
    }

    /// A deadline that has passed: no exact value is claimed (`timeLimit`), and what is reported
    /// is a true gradient norm, at most the exact constant.
    func testDeadlineGivesNoValue() throws {
        let graph = try ModelFile.load(TestData.sharedPath("reference/zoo/mlp_relu_deep/model.onnx"))
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: TestData.shared.appendingPathComponent("reference/lipschitz/mlp_relu_deep.json"))) as! [String: Any]
        let region = (obj["regions"] as! [[String: Any]])[1]
        let c = region["center"] as! [Double], eps = region["eps"] as! Double
        let exact = ((region["exact"] as! [String: Any])["rows"] as! [[String: Any]]).map { $0["value"] as! Double }
        let box = InputBox(lower: c.map { $0 - eps }, upper: c.map { $0 + eps })
        let r = try ExactLipschitz.solve(model: graph, boxes: [box], settings: { var s = ExactLipschitzSettings(); s.deadline = .distantPast; return s }())
        XCTAssertFalse(r.complete)
        XCTAssertNil(r.value)
        for v in r.perOutput {
            XCTAssertEqual(v.status, .timeLimit)
            XCTAssertNil(v.value)
            let attained = try XCTUnwrap(v.attained)
            XCTAssertGreaterThan(attained, 0)
            XCTAssertLessThanOrEqual(attained, exact[v.output] * (1 + 1e-9))
            var w = [Double](repeating: 0, count: graph.outputCount); w[v.output] = 1
            XCTAssertEqual(try graph.gradient(at: try XCTUnwrap(v.point), outputWeights: w).dx.reduce(0) { $0 + abs($1) }, attained, accuracy: 1e-12 * attained)
        }
    }

    /// The L2 input norm (a non-linear gradient norm) and a smooth activation are refused with
    /// a clear error; a product of two variables names its node.
    func testRefusals() throws {
        let relu = LipschitzTests.mlp(seed: 1, act: Relu(), sizes: [2, 3, 1])
        let box = InputBox(lower: [0, 0], upper: [1, 1])
        XCTAssertThrowsError(try ExactLipschitz.solve(model: relu, box: box, norm: .l2)) { e in
            XCTAssertTrue("\(e)".contains("L2"), "\(e)")
        }
        let sigmoid = LipschitzTests.mlp(seed: 1, act: Sigmoid(), sizes: [2, 3, 1])
        XCTAssertThrowsError(try ExactLipschitz.solve(model: sigmoid, box: box)) { e in
            XCTAssertTrue("\(e)".contains("act1") && "\(e)".contains("Sigmoid"), "\(e)")
        }
        // x * (-x): two operands (x * x itself is bounded as Pow(x, 2), refused as not piecewise linear).
        let values = [ValueInfo(name: "x", shape: [1, 2]), ValueInfo(name: "n", shape: [1, 2]), ValueInfo(name: "y", shape: [1, 2])]
        let square = Graph(values: values, constants: [:],
                           nodes: [Node(name: "negate", opType: "Neg", op: Neg(), inputs: [0], output: 1),
                                   Node(name: "square", opType: "Mul", op: Mul(), inputs: [0, 1], output: 2)],
                           input: 0, outputs: [2], metadata: ModelMetadata())
        XCTAssertThrowsError(try ExactLipschitz.solve(model: square, box: box)) { e in
            XCTAssertTrue("\(e)".contains("square") && "\(e)".contains("product"), "\(e)")
        }
        XCTAssertThrowsError(try ExactLipschitz.solve(model: relu, box: InputBox(lower: [0], upper: [1]))) { e in
            XCTAssertTrue("\(e)".contains("1 inputs"), "\(e)")
        }
        XCTAssertThrowsError(try ExactLipschitz.solve(model: relu, box: box, outputs: [3])) { e in
            XCTAssertTrue("\(e)".contains("output 3"), "\(e)")
        }
    }

    /// A residual network (fan-in of two variables) and convolutions are encoded too: on the
    /// zoo's resnet_relu and conv_relu the value lies between sampled gradient norms and the
    /// certified bound.
    func testResidualAndConvolutionalZooModels() throws {
        var rng = SplitMix64(seed: 3)
        func u() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        for (name, spec) in [("resnet_relu", "a"), ("conv_relu", "a")] {
            let dir = TestData.sharedPath("reference/zoo/\(name)")
            let graph = try ModelFile.load(dir + "/model.onnx")
            let boxes = try LipschitzRegion.load(path: dir + "/\(spec).json")
            var box = boxes[0]
            if name == "conv_relu" {
                // A narrower box around the spec's centre keeps the MILP small.
                box = InputBox(lower: zip(box.lower, box.upper).map { ($0 + $1) / 2 - 0.002 }, upper: zip(box.lower, box.upper).map { ($0 + $1) / 2 + 0.002 })
            }
            let exact = try ExactLipschitz.solve(model: graph, box: box, outputs: [0], norm: .inf,
                                                 deadline: Date(timeIntervalSinceNow: 300))[0]
            XCTAssertEqual(exact.status, .optimal, "\(name): \(exact.message ?? "")")
            let value = try XCTUnwrap(exact.value)
            var w = [Double](repeating: 0, count: graph.outputCount); w[0] = 1
            var sampled = 0.0
            for _ in 0..<500 {
                let x = (0..<box.count).map { box.lower[$0] + (box.upper[$0] - box.lower[$0]) * u() }
                sampled = max(sampled, Self.norm(try graph.gradient(at: x, outputWeights: w).dx, .inf))
            }
            var s = LipschitzSettings()
            s.outputs = [0]; s.samples = 100; s.ascentRuns = 2; s.ascentSteps = 5; s.method = .crown
            let certified = try Lipschitz.analyze(model: graph, box: box, settings: s)
            print("exact \(name): \(value), sampled \(sampled), certified \(certified.upper), unstable \(exact.unstableNeurons), \(exact.timeSeconds) s")
            XCTAssertGreaterThanOrEqual(value, sampled * (1 - 1e-9), name)
            XCTAssertLessThanOrEqual(value, certified.upper * (1 + 1e-9), name)
        }
    }

    static func norm(_ g: [Double], _ norm: LipschitzNorm) -> Double {
        switch norm {
        case .inf: return g.reduce(0) { $0 + abs($1) }
        case .l2: return g.reduce(0) { $0 + $1 * $1 }.squareRoot()
        case .l1: return g.map(abs).max()!
        }
    }
}
