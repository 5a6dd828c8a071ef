import XCTest
import Foundation
import Certus

/// The network-level soundness battery (`SoundnessBattery`, `certus battery`), bounded for CI:
/// a few dozen random networks per method in a debug build. The long run (1,000+ networks per
/// method) is documented in docs/soundness.md.
final class BatteryTests: XCTestCase {
    /// Seeds per method here; `certus battery` runs any range.
    static let boundSeeds: Range<UInt64> = 0..<30
    static let verifySeeds: Range<UInt64> = 0..<16

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
    /// operator fails this test until the battery has a recipe for it. No exclusions: even
    /// `Constant` (folded into an initializer, as at load) and `Shape` (folded, its input's
    /// shape being static) are emitted.
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
    /// relaxable family, only affine operators and ReLU in the piecewise-linear one, and ReLU
    /// in most piecewise-linear networks.
    func testFamiliesHoldWhatTheirMethodsTake() {
        var withRelu = 0
        for seed in 0..<150 as Range<UInt64> {
            for family in [RandomNetwork.Family.relaxable, .piecewiseLinear] {
                let net = RandomNetwork.generate(seed: seed, family: family)
                let g = net.graph
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

    // MARK: The bounded battery

    func testBoundMethodsAreSound() {
        for m in [SoundnessBattery.Method.ibp, .crown, .alphaCrown] {
            // IBP takes every operator and is the cheapest: twice the seeds, for the coverage checks.
            let seeds = m == .ibp ? 0..<(2 * Self.boundSeeds.upperBound) : Self.boundSeeds
            let r = SoundnessBattery.run(method: m, seeds: seeds, configuration: Self.config)
            assertNoFailures(r)
            XCTAssertGreaterThanOrEqual(r.decided, seeds.count * 9 / 10, "\(m.rawValue): \(r.outcomes) \(r.reasons)")
            XCTAssertGreaterThan(r.rowsChecked, seeds.count * 2)
            XCTAssertGreaterThan(r.neuronsChecked, seeds.count * 10)
            XCTAssertGreaterThan(r.outcomes["verified", default: 0], 0, "\(m.rawValue): no property was verified; the wrong-verified check ran on nothing")
            if m == .ibp {
                // Scales: pre-activations of Sin/Cos span more than a half period, GeLU's and the
                // S-shapes' cross their minimum and inflection.
                for op in ["Sin", "Cos"] { XCTAssertGreaterThan(r.widestInput[op] ?? 0, Double.pi, op) }
                for op in ["Gelu", "Sigmoid", "Tanh", "Erf"] { XCTAssertGreaterThan(r.widestInput[op] ?? 0, 2, op) }
                for op in ["Sin", "Cos", "Gelu", "Sigmoid", "Tanh", "Erf", "Relu", "LeakyRelu"] {
                    XCTAssertGreaterThan(r.crossing[op, default: 0], 0, "\(op): no node's sampled input crosses its extremum/inflection/kink")
                }
            }
        }
    }

    func testVerificationMethodsAreSound() {
        for m in [SoundnessBattery.Method.inputSplit, .reluSplit, .milp, .auto] {
            let r = SoundnessBattery.run(method: m, seeds: Self.verifySeeds, configuration: Self.config)
            assertNoFailures(r)
            // A battery that only says "unknown" checks nothing: both answers must occur.
            XCTAssertGreaterThan(r.outcomes["unsat", default: 0], 1, "\(m.rawValue): \(r.outcomes) \(r.reasons)")
            XCTAssertGreaterThan(r.outcomes["sat", default: 0], 1, "\(m.rawValue): \(r.outcomes) \(r.reasons)")
            XCTAssertGreaterThanOrEqual(r.decided, Self.verifySeeds.count / 2, "\(m.rawValue): \(r.outcomes) \(r.reasons)")
        }
    }
}
