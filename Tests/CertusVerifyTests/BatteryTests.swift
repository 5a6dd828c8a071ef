import XCTest
import Foundation
import Certus

/// The network-level soundness battery (`SoundnessBattery`, `certus battery`), bounded for CI:
/// a few dozen random networks per method in a debug build. The long run (1,000+ networks per
/// method) is documented in docs/soundness.md.
final class BatteryTests: XCTestCase {
    /// Seeds per method here; `certus battery` runs any range. IBP takes every operator and is
    /// the cheapest: twice the seeds, for the coverage checks. The ranges moved when the recipes
    /// of issue 14 reshuffled every seed's network (1 December 2026): 0..<60 (IBP) no longer held
    /// an Abs, a bilinear Mul or a Softmax whose sampled input crosses its kink, and 0..<16 only
    /// one `sat` for `bab`; these are the first windows (in steps of 30 and 16) where every
    /// coverage assertion below holds.
    static let boundSeeds: Range<UInt64> = 210..<240
    static let ibpSeeds: Range<UInt64> = 210..<270
    static let verifySeeds: Range<UInt64> = 16..<32

    static var config: SoundnessBattery.Configuration {
        var c = SoundnessBattery.Configuration.quick
        c.timeout = 1
        return c
    }

    func assertNoFailures(_ r: SoundnessBattery.Report, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(r.failures.isEmpty, "\(r.method): \(r.failures.count) failures:\n" + r.failures.prefix(10).map(\.description).joined(separator: "\n"),
                      file: file, line: line)
    }

    // MARK: Coverage

    /// Every registered operator is emitted by the generator (in the general family), so a new
    /// operator fails this test until the battery has a recipe for it; even `Constant` (folded
    /// into an initializer, as at load), `Shape`, `Range`, `ConstantOfShape` and the comparisons
    /// (folded, their inputs being constant or static shapes) are emitted.
    func testGeneratorEmitsEveryRegisteredOperator() {
        let excluded: Set<String> = []
        var seen = Set<String>()
        for seed in 0..<400 as Range<UInt64> { seen.formUnion(RandomNetwork.generate(seed: seed, family: .general).opTypes) }
        let missing = Set(OperatorRegistry.supportedOpTypes).subtracting(excluded).subtracting(seen)
        XCTAssertTrue(missing.isEmpty, "operators the battery never emits: \(missing.sorted())")
        XCTAssertTrue(Set(OperatorRegistry.supportedOpTypes).isSubset(of: RandomNetwork.recipeOpTypes.union(excluded)),
                      "operators without a recipe: \(Set(OperatorRegistry.supportedOpTypes).subtracting(RandomNetwork.recipeOpTypes).sorted())")
    }

    /// Families hold what their methods can take: no operator without a relaxation in the
    /// relaxable family (as the bound engine sees it: MaxPool, LayerNormalization, Softmax,
    /// Max of two variables and the like replaced by their decompositions), only affine
    /// operators and ReLU in the piecewise-linear one, and ReLU in most piecewise-linear networks.
    func testFamiliesHoldWhatTheirMethodsTake() {
        var withRelu = 0, decomposed = 0
        for seed in 0..<150 as Range<UInt64> {
            for family in [RandomNetwork.Family.relaxable, .piecewiseLinear] {
                let net = RandomNetwork.generate(seed: seed, family: family)
                let g = family == .relaxable ? BoundDecompositions.expand(net.graph) : net.graph
                if g.nodes.count != net.graph.nodes.count { decomposed += 1 }
                for node in g.nodes {
                    let kind = node.op.boundKind(constantInputs: node.inputs.map { g.constants[$0] != nil })
                    if case .unsupported = kind { XCTFail("seed \(seed) \(family): \(node.opType) has no relaxation") }
                    if family == .piecewiseLinear && kind != .affine && node.opType != "Relu" {
                        XCTFail("seed \(seed): \(node.opType) in a piecewise-linear network")
                    }
                }
                if family == .piecewiseLinear && g.nodes.contains(where: { $0.opType == "Relu" }) { withRelu += 1 }
            }
        }
        XCTAssertGreaterThan(withRelu, 60)
        XCTAssertGreaterThan(decomposed, 10, "relaxable networks whose bounds go through a decomposition")
    }

    /// The battery's coverage counts ask each operator where it changes shape: the kinks of
    /// Clip and of Max/Min with a constant, the jumps of Floor and Sign.
    func testPiecewiseOperatorsReportTheirKinksAndJumps() {
        XCTAssertTrue(Clip(low: 0, high: 1).crossesShapeChange(l: -1, u: 0.5))
        XCTAssertTrue(Clip(low: 0, high: 1).crossesShapeChange(l: 0.5, u: 2))
        XCTAssertFalse(Clip(low: 0, high: 1).crossesShapeChange(l: 0, u: 1))
        XCTAssertFalse(Clip(low: 2, high: -1).crossesShapeChange(l: -5, u: 5))
        XCTAssertTrue(Max(constant: 1.5).crossesShapeChange(l: 1, u: 2))
        XCTAssertFalse(Min(constant: 1.5).crossesShapeChange(l: 1.5, u: 2))
        XCTAssertFalse(Max(constant: nil).crossesShapeChange(l: -1, u: 1))
        XCTAssertTrue(Floor().crossesShapeChange(l: 0.5, u: 1.5))
        XCTAssertFalse(Floor().crossesShapeChange(l: 1, u: 2))
        XCTAssertTrue(Floor().crossesShapeChange(l: -3, u: -1.5))
        XCTAssertTrue(Sign().crossesShapeChange(l: -1e-9, u: 1e-9))
        XCTAssertFalse(Sign().crossesShapeChange(l: 0, u: 1))
    }

    /// Every bound method and every verification method with a prover is in the battery.
    func testEveryMethodIsInTheBattery() {
        let battery = Set(SoundnessBattery.Method.allCases.map(\.rawValue))
        for m in BoundMethod.allCases { XCTAssertTrue(battery.contains(m.rawValue), "bound method \(m.rawValue) is not in the battery") }
        for m in VerificationMethod.allCases where m != .attack {
            XCTAssertTrue(battery.contains(m.rawValue), "verification method \(m.rawValue) is not in the battery")
        }
    }

    /// The same seed gives the same network, box and property.
    func testDeterministicPerSeed() {
        for seed in [0, 7, 123] as [UInt64] {
            let a = RandomNetwork.generate(seed: seed, family: .general), b = RandomNetwork.generate(seed: seed, family: .general)
            XCTAssertEqual(a.listing, b.listing)
            XCTAssertEqual(a.box, b.box)
            let oa = SoundnessBattery.check(method: .ibp, seed: seed, configuration: .quick)
            let ob = SoundnessBattery.check(method: .ibp, seed: seed, configuration: .quick)
            XCTAssertEqual(oa.log.dropLast(), ob.log.dropLast())   // the last line is the time taken
            XCTAssertEqual(oa.failures, ob.failures)
        }
    }

    // MARK: The checker can fail

    /// Sin with the monotone interval [sin l, sin u] (the bug of issue 10): the battery reports
    /// an unsound intermediate bound at that node, and unsound rows.
    func testBatteryCatchesAMonotoneSinInterval() {
        struct MonotoneSin: Operator {
            static let opType = "Sin"
            static func make(_ node: NodeContext) throws -> MonotoneSin { MonotoneSin() }
            func outputShape(_ s: [[Int]]) throws -> [Int] { s[0] }
            func evaluate(_ x: [Tensor]) throws -> Tensor { Tensor(shape: x[0].shape, data: x[0].data.map { sin($0) }) }
            func backward(_ x: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
                [Tensor(shape: x[0].shape, data: zip(x[0].data, gradient.data).map { cos($0) * $1 })]
            }
            func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
                IntervalTensor(lower: try evaluate([x[0].lower]), upper: try evaluate([x[0].upper]))
            }
            func boundKind(constantInputs: [Bool]) -> BoundKind { .unsupported("test operator") }
        }
        // y = relu(sin x - 0.9) on x in [0, 6]: IBP gives sin in [sin 0, sin 6] = [0, -0.28].
        let values = [ValueInfo(name: "x", shape: [1, 1]), ValueInfo(name: "s", shape: [1, 1]),
                      ValueInfo(name: "c", shape: []), ValueInfo(name: "d", shape: [1, 1]), ValueInfo(name: "y", shape: [1, 1])]
        let nodes = [Node(name: "sin", opType: "Sin", op: MonotoneSin(), inputs: [0], output: 1),
                     Node(name: "sub", opType: "Sub", op: Sub(), inputs: [1, 2], output: 3),
                     Node(name: "relu", opType: "Relu", op: Relu(), inputs: [3], output: 4)]
        let g = Graph(values: values, constants: [2: Tensor(scalar: 0.9)], nodes: nodes, input: 0, outputs: [4], metadata: ModelMetadata())
        let net = RandomNetwork(seed: 1, family: .general, graph: g, box: InputBox(lower: [0], upper: [6]))
        let o = SoundnessBattery.check(method: .ibp, network: net, configuration: .quick)
        XCTAssertTrue(o.failures.contains { $0.kind == "unsound intermediate bound" && $0.message.hasPrefix("Sin (sin)") },
                      o.failures.map(\.description).joined(separator: "\n"))
        XCTAssertTrue(o.failures.contains { $0.kind == "unsound bound" }, o.failures.map(\.description).joined(separator: "\n"))
    }

    /// k sin(x) as one elementwise operator (a Sin with its output weight folded in) whose
    /// lower relaxation line is raised by `lift`, else k times the real Sin's lines (rounding
    /// guard included): the kind of error the rounding guard removed, a line cancelling terms of
    /// 8e5 that ends up slightly above the function.
    struct LiftedWeightedSin: ElementwiseRelaxation {
        static let opType = "WeightedSin"
        static var representatives: [LiftedWeightedSin] { [LiftedWeightedSin(k: 1, lift: 0)] }
        static func make(_ node: NodeContext) throws -> LiftedWeightedSin { LiftedWeightedSin(k: 1, lift: 0) }
        let k: Double, lift: Double
        func apply(_ x: Double) -> Double { k * Sin().apply(x) }
        func derivative(_ x: Double, _ y: Double) -> Double { k * Sin().derivative(x, y) }
        func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
        /// k sin's whole range, [-|k|, |k|]: sound but loose, so that the output's interval (which
        /// every spec row is intersected with) does not mask the relaxation under test.
        func image(l: Double, u: Double) -> (Double, Double) { (-Swift.abs(k), Swift.abs(k)) }
        func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
            precondition(k > 0)
            let r = Sin().relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
            return NeuronRelaxation(aL: k * r.aL, bL: k * r.bL + lift, aU: k * r.aU, bU: k * r.bU)
        }
    }

    /// y = 100 sin(794489.39 + 3.4e-4 x) on x in [0, 1] (the tester's wrong unsat, in one input):
    /// y rises from -51.3495 to -51.3206, so its minimum is at the corner x = 0. The lower line
    /// is lifted so that CROWN's lower bound of y ends 1e-8 above that minimum (relative 2e-10 of
    /// y; the rows c·y - d, with d near the sampled range, see it as 1e-8 of a small value). The
    /// battery must report it; lifted 1e-8 less than the honest slack, it must report nothing.
    func testBatteryCatchesABoundTooTightByRoundingAtLargeMagnitude() throws {
        let (s0, w, k) = (794489.3932839942, 794489.3936205783 - 794489.3932839942, 100.0)
        func network(lift: Double) -> RandomNetwork {
            let values = [ValueInfo(name: "x", shape: [1, 1]), ValueInfo(name: "w", shape: []), ValueInfo(name: "wx", shape: [1, 1]),
                          ValueInfo(name: "s0", shape: []), ValueInfo(name: "z", shape: [1, 1]), ValueInfo(name: "y", shape: [1, 1])]
            let nodes = [Node(name: "scale", opType: "Mul", op: Mul(), inputs: [0, 1], output: 2),
                         Node(name: "offset", opType: "Add", op: Add(), inputs: [2, 3], output: 4),
                         Node(name: "sin", opType: "WeightedSin", op: LiftedWeightedSin(k: k, lift: lift), inputs: [4], output: 5)]
            let g = Graph(values: values, constants: [1: Tensor(scalar: w), 3: Tensor(scalar: s0)],
                          nodes: nodes, input: 0, outputs: [5], metadata: ModelMetadata())
            return RandomNetwork(seed: 3, family: .relaxable, scale: .largeMagnitude, graph: g, box: InputBox(lower: [0], upper: [1]))
        }
        // The exact minimum over the box (y is increasing on it: checked on a grid).
        let honest = network(lift: 0)
        let ys = try (0...1000).map { try honest.graph.evaluateFirst([Double($0) / 1000])[0] }
        XCTAssertEqual(ys, ys.sorted())
        let yMin = ys[0]
        /// CROWN's lower bounds of y: as a spec row, and as the node's intermediate bound.
        func crownLower(_ net: RandomNetwork) throws -> (row: Double, node: Double) {
            let engine = BoundEngine(graph: net.graph)
            let p = Property(numInputs: 1, numOutputs: 1,
                             cases: [PropertyCase(box: net.box, clauses: [Clause(atoms: [LinearAtom(c: [1], d: 0)])])], source: "test")
            let root = try engine.rootBounds(box: net.box, settings: BoundSettings(method: .crown))
            return (try engine.bound(property: p, settings: BoundSettings(method: .crown)).rows[0].lower,
                    try XCTUnwrap(root.bounds(value: 5, index: 0)).lower)
        }
        let h = try crownLower(honest)
        let slack = yMin - h.row
        XCTAssertGreaterThan(slack, 0); XCTAssertGreaterThan(yMin - h.node, 0)

        // The row too tight by 1e-8, the node's bound (CROWN's, or IBP's where tighter) by at most that.
        let tight = network(lift: slack + 1e-8)
        let t = try crownLower(tight)
        XCTAssertGreaterThan(t.row - yMin, 0.5e-8); XCTAssertLessThan(t.row - yMin, 2e-8); XCTAssertLessThan(t.node - yMin, 2e-8)
        let o = SoundnessBattery.check(method: .crown, network: tight, configuration: .quick)
        XCTAssertTrue(o.failures.contains { $0.kind == "unsound bound" || $0.kind == "unsound intermediate bound" },
                      "a CROWN bound \(t.row - yMin) above the minimum \(yMin) went unreported:\n" + o.log.joined(separator: "\n"))

        // Sound by 1e-8: nothing to report.
        let clean = SoundnessBattery.check(method: .crown, network: network(lift: slack - 1e-8), configuration: .quick)
        XCTAssertGreaterThan(clean.rowsChecked, 0)
        XCTAssertTrue(clean.failures.isEmpty, clean.failures.map(\.description).joined(separator: "\n"))
    }

    // MARK: The bounded battery

    func testBoundMethodsAreSound() {
        var largeInputs: [String: Int] = [:]
        for m in [SoundnessBattery.Method.ibp, .crown, .alphaCrown] {
            let seeds = m == .ibp ? Self.ibpSeeds : Self.boundSeeds
            let r = SoundnessBattery.run(method: m, seeds: seeds, configuration: Self.config)
            assertNoFailures(r)
            XCTAssertGreaterThanOrEqual(r.decided, seeds.count * 9 / 10, "\(m.rawValue): \(r.outcomes) \(r.reasons)")
            XCTAssertGreaterThan(r.rowsChecked, seeds.count * 2)
            XCTAssertGreaterThan(r.neuronsChecked, seeds.count * 10)
            XCTAssertGreaterThan(r.outcomes["verified", default: 0], 0, "\(m.rawValue): no property was verified; the wrong-verified check ran on nothing")
            // Large magnitudes (pre-activations of 1e2 to 1e6, output weights of 1e2 to 1e3,
            // thresholds within 1e-11 to 1e-6 relative): present, and checked.
            XCTAssertGreaterThan(r.scales[RandomNetwork.Scale.largeMagnitude.rawValue, default: 0], seeds.count / 10, "\(m.rawValue): \(r.scales)")
            XCTAssertGreaterThan(r.largeMagnitudeOutcomes["verified", default: 0] + r.largeMagnitudeOutcomes["not verified", default: 0],
                                 seeds.count / 10, "\(m.rawValue): \(r.largeMagnitudeOutcomes)")
            for (op, n) in r.largeInputs { largeInputs[op, default: 0] += n }
            if m != .ibp {
                // GeLU's input crosses its minimum in relaxable networks too (CROWN's GeLU lines
                // change shape there).
                XCTAssertGreaterThan(r.crossing["Gelu", default: 0], 0, "\(m.rawValue): no GeLU input crosses its minimum")
                XCTAssertGreaterThan(r.crossing["Mul (bilinear)", default: 0], 0, "\(m.rawValue): no bilinear Mul has both operands around 0")
            }
            // ReLU sums the bound engine fuses into one PiecewiseLinear node, their input
            // crossing breakpoints (counted on the fused graph).
            XCTAssertGreaterThan(r.crossing["PiecewiseLinear", default: 0], 0, "\(m.rawValue): no fused ReLU sum crosses a breakpoint; \(r.elementwiseNodes)")
            if m == .ibp {
                // Scales: pre-activations of Sin/Cos span more than a half period, GeLU's and the
                // S-shapes' cross their minimum and inflection.
                for op in ["Sin", "Cos"] { XCTAssertGreaterThan(r.widestInput[op] ?? 0, Double.pi, op) }
                for op in ["Gelu", "Sigmoid", "Tanh", "Erf"] { XCTAssertGreaterThan(r.widestInput[op] ?? 0, 2, op) }
                // Elementwise-like operators whose inputs cross what matters to them: both
                // operands of a product around 0, a negative divisor, a softmax whose dominant
                // entry changes.
                for op in ["Sin", "Cos", "Gelu", "Sigmoid", "Tanh", "Erf", "Relu", "LeakyRelu", "Abs", "Mul (bilinear)", "Div", "Softmax"] {
                    XCTAssertGreaterThan(r.crossing[op, default: 0], 0, "\(op): no node's sampled input crosses its extremum/inflection/kink")
                }
            }
        }
        // Inputs of |x| >= 100 into the periodic functions, GeLU, ReLU and an S-shape.
        for op in ["Sin", "Cos", "Gelu", "Relu"] { XCTAssertGreaterThan(largeInputs[op, default: 0], 0, "\(op): no large input; \(largeInputs)") }
        XCTAssertGreaterThan(largeInputs["Sigmoid", default: 0] + largeInputs["Tanh", default: 0] + largeInputs["Erf", default: 0], 0, "\(largeInputs)")
    }

    func testVerificationMethodsAreSound() {
        var large: [String: Int] = [:]
        for m in [SoundnessBattery.Method.inputSplit, .reluSplit, .bab, .milp, .auto] {
            let r = SoundnessBattery.run(method: m, seeds: Self.verifySeeds, configuration: Self.config)
            assertNoFailures(r)
            XCTAssertGreaterThan(r.scales[RandomNetwork.Scale.largeMagnitude.rawValue, default: 0], 0, "\(m.rawValue): \(r.scales)")
            for (k, n) in r.largeMagnitudeOutcomes { large[k, default: 0] += n }
            // A battery that only says "unknown" checks nothing: both answers must occur.
            XCTAssertGreaterThan(r.outcomes["unsat", default: 0], 1, "\(m.rawValue): \(r.outcomes) \(r.reasons)")
            XCTAssertGreaterThan(r.outcomes["sat", default: 0], 1, "\(m.rawValue): \(r.outcomes) \(r.reasons)")
            XCTAssertGreaterThanOrEqual(r.decided, Self.verifySeeds.count / 2, "\(m.rawValue): \(r.outcomes) \(r.reasons)")
        }
        // Some large-magnitude property is decided each way (an unsat there went through the search).
        XCTAssertGreaterThan(large["unsat", default: 0], 0, "\(large)")
        XCTAssertGreaterThan(large["sat", default: 0], 0, "\(large)")
    }
}
