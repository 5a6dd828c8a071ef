import XCTest
import Foundation
import Certus
import TestSupport

/// `--semantics float32` (issue 15, item 2): the planted float32-only violations of
/// Tests/Fixtures/float32 (scripts/make_float32_planted.py, with onnxruntime's float32 outputs as
/// the evidence), enclosure of float32 evaluations by float32 bounds, and float32 proofs of zoo
/// properties that hold with margin.
final class Float32SemanticsTests: XCTestCase {
    /// onnxruntime's evidence for one planted network (`NAME.ort.json`).
    struct Evidence: Decodable {
        struct Point: Decodable { var x: [Double]; var y: [Double] }
        var float32_expected: String
        var witness: Point?
        var samples: [Point]
    }

    static let planted = ["cancel_add", "cancel_matmul", "relu_offset", "sum_order", "sum_order_relu", "smooth_mlp"]

    func fixture(_ name: String) throws -> (VerificationProblem, Evidence) {
        let dir = "Tests/Fixtures/float32/"
        let p = try VerificationProblem.load(model: TestData.repoPath(dir + name + ".onnx"), spec: TestData.repoPath(dir + name + ".vnnlib"))
        let data = try Data(contentsOf: URL(fileURLWithPath: TestData.repoPath(dir + name + ".ort.json")))
        return (p, try JSONDecoder().decode(Evidence.self, from: data))
    }

    func zoo(_ model: String, _ spec: String) throws -> VerificationProblem {
        try VerifyTestData.problem("reference/zoo/\(model)/model.onnx", "reference/zoo/\(model)/\(spec).vnnlib")
    }

    func verify(_ p: VerificationProblem, _ semantics: NumericSemantics, method: VerificationMethod = .auto) throws -> VerificationResult {
        var s = VerifierSettings()
        s.timeout = 5   // the sum_order networks run to it under float32 (no proof, no float32 witness)
        s.semantics = semantics
        return try Verifier.forMethod(method, graph: p.graph, property: p.property, settings: s).verify(graph: p.graph, property: p.property)
    }

    /// Lower and upper bounds of every output over `box` (the engine's semantics).
    func outputBounds(_ engine: BoundEngine, _ box: InputBox, outputs m: Int, method: BoundMethod) throws -> [(Double, Double)] {
        var atoms: [LinearAtom] = []
        for j in 0..<m {
            var c = [Double](repeating: 0, count: m); c[j] = 1
            atoms.append(LinearAtom(c: c, d: 0))
            c[j] = -1
            atoms.append(LinearAtom(c: c, d: 0))
        }
        let rows = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: method))
        return (0..<m).map { (rows[2 * $0].lower, -rows[2 * $0 + 1].lower) }
    }

    // MARK: - Planted float32-only violations

    /// Over the reals every planted property holds (`unsat`); under float32 none is `unsat`, and
    /// where onnxruntime's own float32 evaluation violates it at the recorded witness, the
    /// answer is `sat` with a counterexample whose float32 evaluation violates the property.
    func testPlantedRealUnsatFloat32NeverUnsat() throws {
        for name in Self.planted {
            let (p, ev) = try fixture(name)
            let real = try verify(p, .real)
            XCTAssertEqual(real.status, .unsat, "\(name) real: \(real.details)")
            XCTAssertEqual(real.semantics, .real)
            // The stored evidence: onnxruntime's float32 output at the witness violates the property.
            if let w = ev.witness {
                XCTAssertTrue(p.property.cases[0].box.contains(w.x), name)
                XCTAssertTrue(p.property.cases[0].clauses.contains { $0.isSatisfied(by: w.y) }, "\(name): onnxruntime witness \(w.y)")
            }
            let f = try verify(p, .float32)
            XCTAssertEqual(f.semantics, .float32)
            if ev.float32_expected != "unsat" { XCTAssertNotEqual(f.status, .unsat, "\(name) float32: \(f.details)") }
            if ev.float32_expected == "sat" {
                XCTAssertEqual(f.status, .sat, "\(name) float32: \(f.details)")
                let cx = try XCTUnwrap(f.counterexample, name)
                let box = p.property.cases[cx.caseIndex].box
                XCTAssertTrue(box.contains(cx.x), name)
                XCTAssertTrue(cx.x.allSatisfy { Double(Float($0)) == $0 }, "\(name): not float32 \(cx.x)")
                let y32 = try p.graph.evaluateFirstFloat32(cx.x)
                XCTAssertEqual(cx.y, y32, name)
                XCTAssertTrue(p.property.cases[cx.caseIndex].clauses[cx.clauseIndex].isSatisfied(by: y32), "\(name): \(y32)")
                // ...while the real-valued (Double) evaluation there does not violate it.
                XCTAssertFalse(p.property.cases[cx.caseIndex].clauses.contains { $0.isSatisfied(by: try! p.graph.evaluateFirst(cx.x)) }, name)
            }
            if ev.float32_expected == "unsat" { XCTAssertEqual(f.status, .unsat, "\(name) float32: \(f.details)") }
        }
    }

    /// Every prover on its own under float32: never `unsat` on a planted violation (MILP refuses
    /// float32: `unknown`).
    func testEveryMethodUnderFloat32NeverUnsatOnPlanted() throws {
        for name in Self.planted where name != "smooth_mlp" {
            let (p, _) = try fixture(name)
            for method in [VerificationMethod.crown, .alphaCrown, .inputSplit, .branchAndBound, .milp] {
                let r = try verify(p, .float32, method: method)
                XCTAssertNotEqual(r.status, .unsat, "\(name) \(method.rawValue): \(r.details)")
            }
            // The bound provers alone (no attack) do not prove them either.
            for m in [BoundMethod.crown, .alphaCrown] {
                let report = try BoundEngine(graph: p.graph, semantics: .float32).bound(property: p.property, settings: BoundSettings(method: m))
                XCTAssertFalse(report.verified, "\(name) \(m.rawValue) float32 bound: \(report.propertyLower)")
                let realReport = try BoundEngine(graph: p.graph).bound(property: p.property, settings: BoundSettings(method: m))
                XCTAssertTrue(realReport.verified, "\(name) \(m.rawValue) real bound: \(realReport.propertyLower)")
            }
        }
    }

    // MARK: - Enclosure

    /// At every recorded sample point (a degenerate box), the float32 IBP and CROWN bounds enclose
    /// onnxruntime's float32 output; the real-valued bounds miss it at some point of each planted
    /// network (which is what makes the float32 terms necessary, and this test able to fail).
    func testFloat32BoundsEncloseOnnxRuntimeOutputs() throws {
        for name in Self.planted {
            let (p, ev) = try fixture(name)
            let m = p.property.numOutputs
            let f32 = BoundEngine(graph: p.graph, semantics: .float32), real = BoundEngine(graph: p.graph)
            var realMisses = 0
            for s in ev.samples + (ev.witness.map { [$0] } ?? []) {
                let box = InputBox(lower: s.x, upper: s.x)
                for method in [BoundMethod.ibp, .crown] {
                    for (j, (lo, hi)) in try outputBounds(f32, box, outputs: m, method: method).enumerated() {
                        XCTAssertTrue(lo <= s.y[j] && s.y[j] <= hi, "\(name) \(method.rawValue) at \(s.x): \(s.y[j]) not in [\(lo), \(hi)]")
                    }
                }
                for (j, (lo, hi)) in try outputBounds(real, box, outputs: m, method: .crown).enumerated() where !(lo <= s.y[j] && s.y[j] <= hi) {
                    realMisses += 1
                }
            }
            if name != "smooth_mlp" { XCTAssertGreaterThan(realMisses, 0, "\(name): the real bounds enclose every onnxruntime output") }
        }
    }

    /// Over random sub-boxes of zoo and fixture networks (ReLU, Sigmoid, Tanh, Conv, BatchNorm,
    /// residual Add), float32 bounds (IBP, CROWN, alpha-CROWN) enclose the float32 evaluation
    /// `Graph.evaluateFirstFloat32` at 200 random float32 points of each box.
    func testFloat32BoundsEncloseFloat32EvaluationAtRandomPoints() throws {
        var rng = SplitMix64(seed: 15)
        var problems: [(String, VerificationProblem)] = []
        for model in ["mlp_relu_small", "mlp_sigmoid", "mlp_tanh", "conv_bn_relu", "resnet_relu", "norm_mlp_relu"] {
            problems.append((model, try zoo(model, "b")))
        }
        problems.append(("smooth_mlp", try fixture("smooth_mlp").0))
        for (name, p) in problems {
            let engine = BoundEngine(graph: p.graph, semantics: .float32)
            let full = p.property.cases[0].box
            for trial in 0..<3 {
                // A sub-box: the whole box, then random parts of it.
                var lo = full.lower, hi = full.upper
                if trial > 0 {
                    for k in lo.indices {
                        let a = full.lower[k] + (full.upper[k] - full.lower[k]) * rng.nextUnit()
                        let b = full.lower[k] + (full.upper[k] - full.lower[k]) * rng.nextUnit()
                        (lo[k], hi[k]) = (min(a, b), max(a, b))
                    }
                }
                let box = InputBox(lower: lo, upper: hi)
                for method in [BoundMethod.ibp, .crown, .alphaCrown] {
                    let b = try outputBounds(engine, box, outputs: p.property.numOutputs, method: method)
                    for _ in 0..<200 {
                        let x = lo.indices.map { k -> Double in
                            let v = lo[k] + (hi[k] - lo[k]) * rng.nextUnit()
                            return BoundEngine.roundDownToFloat32(max(BoundEngine.roundUpToFloat32(lo[k]), min(v, hi[k])))
                        }
                        guard zip(x, zip(lo, hi)).allSatisfy({ $0.0 >= $0.1.0 && $0.0 <= $0.1.1 }) else { continue }
                        let y = try p.graph.evaluateFirstFloat32(x)
                        for (j, (l, u)) in b.enumerated() {
                            XCTAssertTrue(l <= y[j] && y[j] <= u, "\(name) \(method.rawValue): \(y[j]) not in [\(l), \(u)]")
                        }
                    }
                }
            }
        }
    }

    /// The soundness battery's random networks (piecewise-linear and relaxable families, a quarter
    /// of them with pre-activations near 1e2 to 1e6 or large cancelling terms, where float32
    /// rounding is large): wherever float32 bounds exist (every operator modelled, a float32 value
    /// in every coordinate), float32 IBP, CROWN and alpha-CROWN bounds over the box contain
    /// `evaluateFirstFloat32` at 100 random float32 points.
    func testFloat32BoundsEncloseRandomNetworks() throws {
        var checked = 0, large = 0
        for family in [RandomNetwork.Family.piecewiseLinear, .relaxable] {
            for seed in UInt64(0)..<250 {
                let net = RandomNetwork.generate(seed: seed, family: family)
                let engine = BoundEngine(graph: net.graph, semantics: .float32)
                guard let (lo, hi) = BoundEngine.float32Box(lower: net.box.lower, upper: net.box.upper) else { continue }
                let m = net.graph.outputCount
                var bounds: [[(Double, Double)]] = []
                do {
                    for method in [BoundMethod.ibp, .crown, .alphaCrown] {
                        bounds.append(try outputBounds(engine, net.box, outputs: m, method: method))
                    }
                } catch {
                    continue   // an operator without a float32 model, or an unbounded interval
                }
                checked += 1
                if net.scale == .largeMagnitude { large += 1 }
                var rng = SplitMix64(seed: seed ^ 0xF32)
                for _ in 0..<100 {
                    let x = lo.indices.map { k in
                        max(lo[k], min(hi[k], BoundEngine.roundDownToFloat32(rng.uniform(lo[k], hi[k]))))
                    }
                    let y = try net.graph.evaluateFirstFloat32(x)
                    for b in bounds {
                        for (j, (l, u)) in b.enumerated() where y[j].isFinite {
                            XCTAssertTrue(l <= y[j] && y[j] <= u, "\(family.rawValue) seed \(seed) (\(net.scale.rawValue)): \(y[j]) not in [\(l), \(u)]\n\(net.listing.joined(separator: "\n"))")
                        }
                    }
                }
            }
        }
        print("float32 enclosure: \(checked) random networks checked, \(large) of them at large magnitudes")
        XCTAssertGreaterThan(checked, 150)
        XCTAssertGreaterThan(large, 30)
    }

    /// The verifier under float32 on random networks, with a property that a known float32 point
    /// violates (`Y_0 <= d`, d the least float32 output among 300 random float32 points of the
    /// box): an `unsat` would be wrong, whichever prover gives it; `sat` counterexamples must
    /// violate in float32. The provers also run alone (CROWN, alpha-CROWN, input splitting,
    /// branch and bound, 1 s each), since the attack finds these points before them.
    func testVerifierNeverUnsatWhereAFloat32PointViolates() throws {
        var decided = 0, tried = 0, proverRuns = 0
        for family in [RandomNetwork.Family.piecewiseLinear, .relaxable] {
            for seed in UInt64(0)..<60 {
                let net = RandomNetwork.generate(seed: seed, family: family)
                guard let (lo, hi) = BoundEngine.float32Box(lower: net.box.lower, upper: net.box.upper) else { continue }
                var rng = SplitMix64(seed: seed &+ 0x5EED)
                var best: (x: [Double], y: Double)? = nil
                for _ in 0..<300 {
                    let x = lo.indices.map { k in max(lo[k], min(hi[k], BoundEngine.roundDownToFloat32(rng.uniform(lo[k], hi[k])))) }
                    let y = try net.graph.evaluateFirstFloat32(x)[0]
                    if y.isFinite && y < (best?.y ?? .infinity) { best = (x, y) }
                }
                guard let best else { continue }
                let m = net.graph.outputCount
                var c = [Double](repeating: 0, count: m); c[0] = 1
                let property = Property(numInputs: net.graph.inputCount, numOutputs: m,
                                        cases: [PropertyCase(box: net.box, clauses: [Clause(atoms: [LinearAtom(c: c, d: best.y)])])],
                                        source: "random \(family.rawValue) \(seed)")
                var s = VerifierSettings()
                s.timeout = 2
                s.semantics = .float32
                tried += 1
                for method in [VerificationMethod.auto, .branchAndBound] {
                    let r = try Verifier.forMethod(method, graph: net.graph, property: property, settings: s).verify(graph: net.graph, property: property)
                    XCTAssertNotEqual(r.status, .unsat, "\(family.rawValue) seed \(seed) \(method.rawValue): \(r.details)\n\(net.listing.joined(separator: "\n"))")
                    if r.status == .sat, let cx = r.counterexample {
                        decided += 1
                        XCTAssertLessThanOrEqual(try net.graph.evaluateFirstFloat32(cx.x)[0], best.y, "\(family.rawValue) seed \(seed)")
                        XCTAssertTrue(net.box.contains(cx.x))
                    }
                }
                // The provers alone (the attack finds these points first): none may prove it.
                let shrunk = Verifier.float32Property(property).0
                let provers: [any PropertyProver] = [BoundProver(method: .crown, semantics: .float32),
                                                     BoundProver(method: .alphaCrown, semantics: .float32),
                                                     InputSplitProver(settings: s), BranchAndBoundProver(settings: s)]
                for prover in provers {
                    let outcome = try? prover.prove(graph: net.graph, property: shrunk, deadline: Deadline(secondsFromNow: 1))
                    XCTAssertNotEqual(outcome, .proven, "\(family.rawValue) seed \(seed) \(prover.name) proved a property a float32 point violates")
                    if outcome != nil { proverRuns += 1 }
                }
            }
        }
        print("float32 verifier on random networks: \(tried) properties, \(decided) sat answers (x2 methods), \(proverRuns) prover runs")
        XCTAssertGreaterThan(tried, 80)
        XCTAssertGreaterThan(proverRuns, 200)
    }

    /// The float32 box: ends rounded inward to float32 values; no float32 inside: nil.
    func testFloat32BoxRoundsInward() {
        let lower = [0.1, -0.1, 1, 0.3, -1e-40], upper = [0.3, 0.1, 1, 0.7, 1e-40]
        let (lo, hi) = BoundEngine.float32Box(lower: lower, upper: upper)!
        for k in lower.indices {
            // Float32 values, inside, and the next float32 outward is outside.
            XCTAssertEqual(Double(Float(lo[k])), lo[k]); XCTAssertEqual(Double(Float(hi[k])), hi[k])
            XCTAssertTrue(lower[k] <= lo[k] && hi[k] <= upper[k], "\(k)")
            XCTAssertLessThan(Double(Float(lo[k]).nextDown), lower[k], "\(k)")
            XCTAssertGreaterThan(Double(Float(hi[k]).nextUp), upper[k], "\(k)")
        }
        XCTAssertEqual(lo[0], Double(Float(0.1)))            // Float(0.1) lies above 0.1
        XCTAssertEqual(hi[0], Double(Float(0.3).nextDown))   // Float(0.3) lies above 0.3
        XCTAssertEqual(lo[2], 1); XCTAssertEqual(hi[2], 1)
        XCTAssertNil(BoundEngine.float32Box(lower: [0.7], upper: [0.7]))   // no float32 equals 0.7
        // A property whose every box holds no float32: unsat under float32 (nothing to violate).
        let p = Property(numInputs: 1, numOutputs: 1, cases: [PropertyCase(box: InputBox(lower: [0.7], upper: [0.7]),
                                                                       clauses: [Clause(atoms: [LinearAtom(c: [1], d: 100)])])], source: "t")
        XCTAssertTrue(Verifier.float32Property(p).0.cases.isEmpty)
    }

    /// Sin's bounds and relaxation without a float32 model of its own (the protocol's default,
    /// `Float32Rounding.unmodelled`): every registered operator has one now.
    struct ModelFreeSin: ElementwiseRelaxation {
        static let opType = "ModelFreeSin"
        static var representatives: [ModelFreeSin] { [ModelFreeSin()] }
        static func make(_ node: NodeContext) throws -> ModelFreeSin { ModelFreeSin() }
        func apply(_ x: Double) -> Double { Sin().apply(x) }
        func derivative(_ x: Double, _ y: Double) -> Double { Sin().derivative(x, y) }
        func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
        func image(l: Double, u: Double) -> (Double, Double) { Sin().image(l: l, u: u) }
        func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
            Sin().relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
        }
    }

    /// An operator without a float32 model makes float32 bounds fail with a message naming it,
    /// so the answer is unknown, never unsat.
    func testUnmodelledOperatorIsRefused() throws {
        // x [1, 2] -> sin(x): y_0 >= 100 is unsafe (it never is).
        let values = [ValueInfo(name: "x", shape: [1, 2]), ValueInfo(name: "y", shape: [1, 2])]
        let graph = Graph(values: values, constants: [:],
                          nodes: [Node(name: "sine", opType: ModelFreeSin.opType, op: ModelFreeSin(), inputs: [0], output: 1)],
                          input: 0, outputs: [1], metadata: ModelMetadata())
        let property = Property(numInputs: 2, numOutputs: 2, cases: [PropertyCase(box: InputBox(lower: [0.5, 0.5], upper: [0.7, 0.7]),
                                clauses: [Clause(atoms: [LinearAtom(c: [-1, 0], d: -100)])])], source: "t")
        let p = VerificationProblem(graph: graph, property: property)
        XCTAssertThrowsError(try BoundEngine(graph: p.graph, semantics: .float32).bound(property: p.property)) { e in
            XCTAssertTrue("\(e)".contains("float32") && "\(e)".contains("sine"), "\(e)")
        }
        let r = try verify(p, .float32, method: .crown)
        XCTAssertNotEqual(r.status, .unsat, "\(r.details)")
        XCTAssertEqual(try verify(p, .real, method: .crown).status, .unsat)
    }

    /// GeLU as its Erf pattern (mlp_gelu_erf, fused into `Gelu`) has a float32 model now
    /// (`Gelu.float32Rounding`; Erf's own for an unfused Erf): its `a` spec, which holds with
    /// margin, is unsat under float32 as over the reals.
    func testGeluFromErfIsModelled() throws {
        let p = try zoo("mlp_gelu_erf", "a")
        XCTAssertNoThrow(try BoundEngine(graph: p.graph, semantics: .float32).bound(property: p.property))
        XCTAssertEqual(try verify(p, .float32, method: .crown).status, .unsat)
        XCTAssertEqual(try verify(p, .real, method: .crown).status, .unsat)
    }

    /// A final Softmax is not dropped under float32 (its rounding can tie or swap outputs whose
    /// logits differ): it stays, bounded through its whole-kernel float32 model
    /// (`Softmax.float32Rounding`), so the argmax property that CROWN proves over the reals
    /// through the logits is proven under float32 through the probabilities, with a lower
    /// bound of its own.
    func testFinalSoftmaxIsKeptUnderFloat32() throws {
        let helper = OutputSoftmaxTests(name: "helper", testClosure: { _ in })   // its network builders
        let net = try helper.classifier(softmax: true)
        let p = helper.argmaxProperty(label: 0, centre: [1, -1], eps: 0.1)
        var s = VerifierSettings()
        s.timeout = 5
        let real = try Verifier.forMethod(.crown, graph: net, property: p, settings: s).verify(graph: net, property: p)
        XCTAssertEqual(real.status, .unsat)
        XCTAssertTrue(real.details.contains { $0.contains("removed") }, "\(real.details)")
        s.semantics = .float32
        let r = try Verifier.forMethod(.crown, graph: net, property: p, settings: s).verify(graph: net, property: p)
        XCTAssertEqual(r.status, .unsat, "\(r.details)")
        XCTAssertFalse(r.details.contains { $0.contains("removed") }, "\(r.details)")
        // The probabilities' float32 bounds are wider than their real ones (the model's terms).
        let box = Verifier.float32Property(p).0.cases[0].box
        func bounds(_ semantics: NumericSemantics) throws -> [RowBound] {
            try BoundEngine(graph: net, semantics: semantics).bound(box: box, atoms: p.cases[0].clauses.flatMap(\.atoms))
        }
        let (b32, b64) = (try bounds(.float32), try bounds(.real))
        for (a, b) in zip(b32, b64) { XCTAssertLessThan(a.lower, b.lower) }
    }

    // MARK: - Ordinary properties

    /// Properties that hold with margin stay provable under float32: the zoo's `a` specs (CROWN
    /// margins 1.7 to 16), the `b` specs that branch and bound proves over the reals, and two
    /// unsat ACAS Xu instances.
    func testFloat32ProvesZooPropertiesWithMargin() throws {
        for model in ["mlp_relu_small", "mlp_relu_deep", "mlp_sigmoid", "mlp_tanh", "conv_relu", "conv_bn_relu", "resnet_relu", "norm_mlp_relu"] {
            let p = try zoo(model, "a")
            let r = try verify(p, .float32)
            XCTAssertEqual(r.status, .unsat, "\(model)/a float32: \(r.details)")
        }
        for model in ["mlp_relu_small", "resnet_relu"] {
            let p = try zoo(model, "b")
            let r = try verify(p, .float32, method: .branchAndBound)
            XCTAssertEqual(r.status, .unsat, "\(model)/b float32: \(r.details)")
        }
        // ACAS Xu instances known unsat (input splitting under float32 too).
        for (net, prop) in [("1_1", "prop_1"), ("1_2", "prop_3")] {
            let p = try VerifyTestData.problem("benchmarks/acasxu/ACASXU_run2a_\(net)_batch_2000.onnx", "benchmarks/acasxu/\(prop).vnnlib")
            var s = VerifierSettings()
            s.timeout = 60
            s.semantics = .float32
            let r = try Verifier.forMethod(.auto, graph: p.graph, property: p.property, settings: s).verify(graph: p.graph, property: p.property)
            XCTAssertEqual(r.status, .unsat, "ACAS Xu \(net) \(prop) float32: \(r.details)")
        }
        // sat specs stay sat (the attack's points violate in float32 too).
        for model in ["mlp_relu_small", "mlp_sigmoid"] {
            let p = try zoo(model, "c")
            let r = try verify(p, .float32)
            XCTAssertEqual(r.status, .sat, "\(model)/c float32: \(r.details)")
        }
    }
}
