import XCTest
import Foundation
import Certus
import CertusLP
import TestSupport

/// ReluSplitProver, MILPProver, the LP encoding and the dual re-check.
final class CompleteProverTests: XCTestCase {
    // MARK: - Helpers

    /// A prover outcome on a zoo spec must match its recorded status: proven only on unsat specs;
    /// on sat specs a counterexample that the verifier's check confirms (or unknown).
    func check(_ outcome: ProverOutcome, _ p: VerificationProblem, status: String, _ name: String) throws {
        switch outcome {
        case .proven:
            XCTAssertEqual(status, "unsat", "\(name): proven on a \(status) spec")
        case .counterexample(let x):
            XCTAssertEqual(status, "sat", "\(name): counterexample on an unsat spec")
            let cx = try CounterexampleCheck.confirm(graph: p.graph, property: p.property, candidate: x, settings: VerifierSettings())
            XCTAssertNotNil(cx, "\(name): counterexample rejected by the check")
        case .unknown(let why):
            XCTAssertEqual(status, "sat", "\(name): unknown on an unsat spec: \(why)")
        }
    }

    /// y = relu(x) + relu(-x - 0.5) on one input.
    func tinyGraph() -> Graph {
        let values = [ValueInfo(name: "x", shape: [1, 1]), ValueInfo(name: "W1", shape: [2, 1]), ValueInfo(name: "b1", shape: [2]),
                      ValueInfo(name: "z", shape: [1, 2]), ValueInfo(name: "h", shape: [1, 2]),
                      ValueInfo(name: "W2", shape: [1, 2]), ValueInfo(name: "b2", shape: [1]), ValueInfo(name: "y", shape: [1, 1])]
        let constants: [Int: Tensor] = [1: Tensor(shape: [2, 1], data: [1, -1]), 2: Tensor(shape: [2], data: [0, -0.5]),
                                        5: Tensor(shape: [1, 2], data: [1, 1]), 6: Tensor(shape: [1], data: [0])]
        let nodes = [Node(name: "fc1", opType: "Gemm", op: Gemm(transB: true), inputs: [0, 1, 2], output: 3),
                     Node(name: "relu", opType: "Relu", op: Relu(), inputs: [3], output: 4),
                     Node(name: "fc2", opType: "Gemm", op: Gemm(transB: true), inputs: [4, 5, 6], output: 7)]
        return Graph(values: values, constants: constants, nodes: nodes, input: 0, outputs: [7], metadata: ModelMetadata())
    }

    func tinyProperty(_ d: Double, lower: Double = -1, upper: Double = 1) -> Property {
        Property(numInputs: 1, numOutputs: 1,
                 cases: [PropertyCase(box: InputBox(lower: [lower], upper: [upper]), clauses: [Clause(atoms: [LinearAtom(c: [1], d: d)])])],
                 source: "tiny")
    }

    // MARK: - Zoo

    func testReluSplitDecidesZooReluSpecs() throws {
        let prover = ReluSplitProver(settings: VerifierSettings())
        for model in ["mlp_relu_small", "mlp_relu_deep", "resnet_relu", "norm_mlp_relu"] {
            for spec in ["a", "b", "c"] {
                let (p, ref) = try VerifyTestData.zoo(model, spec)
                let (outcome, stats) = try prover.run(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 60))
                try check(outcome, p, status: ref.status, "relu-split \(model)/\(spec)")
                if ref.status == "unsat" { XCTAssertEqual(outcome, ProverOutcome.proven, "\(model)/\(spec): \(stats.summary)") }
                // The b specs are beyond (alpha-)CROWN on these nets except where our CROWN already
                // verifies them: the search must branch there.
                if spec == "b" && ["mlp_relu_small", "resnet_relu"].contains(model) { XCTAssertGreaterThan(stats.branched, 0) }
                print("relu-split \(model)/\(spec): \(outcome) \(stats.summary)")
            }
        }
    }

    /// The same decisions with LP tightening of the root bounds, one domain per batch, and
    /// without reusing the root bounds (the tightening LPs must actually run).
    func testReluSplitVariantsDecideZooReluSpecs() throws {
        var s = VerifierSettings()
        s.reluSplit.lpTightenMaxUnstable = 1000
        s.reluSplit.lpTightenTimeFraction = 1
        s.reluSplit.batchDomains = 1
        s.reluSplit.reuseRootBounds = false
        let prover = ReluSplitProver(settings: s)
        var lps = 0
        for model in ["mlp_relu_small", "mlp_relu_deep", "norm_mlp_relu"] {
            for spec in ["a", "b", "c"] {
                let (p, ref) = try VerifyTestData.zoo(model, spec)
                let (outcome, stats) = try prover.run(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 60))
                try check(outcome, p, status: ref.status, "relu-split (variants) \(model)/\(spec)")
                if ref.status == "unsat" { XCTAssertEqual(outcome, ProverOutcome.proven, "\(model)/\(spec): \(stats.summary)") }
                lps += stats.lpSolved
            }
        }
        XCTAssertGreaterThan(lps, 0, "no tightening LP was solved")
    }

    func testMILPOptimaMatchReferenceAndDecideZoo() throws {
        let prover = MILPProver(settings: VerifierSettings())
        for (model, spec) in [("mlp_relu_small", "a"), ("mlp_relu_small", "b"), ("mlp_relu_small", "c"), ("mlp_relu_deep", "b"),
                              ("resnet_relu", "b"), ("norm_mlp_relu", "b"), ("norm_mlp_relu", "c")] {
            let (p, ref) = try VerifyTestData.zoo(model, spec)
            let mins = try prover.minimize(graph: p.graph, property: p.property, caseIndex: 0, deadline: Deadline(secondsFromNow: 60))
            XCTAssertEqual(mins.count, ref.exact.rows.count)
            for (clause, m) in zip(p.property.cases[0].clauses, mins) {
                // The clause's atom is y_label - y_j <= 0: find j.
                guard let j = clause.atoms[0].c.firstIndex(where: { $0 < 0 }), let row = ref.exact.rows.first(where: { $0.j == j }) else {
                    return XCTFail("\(model)/\(spec): no reference row")
                }
                guard case .optimal(let v, _) = m else { XCTFail("\(model)/\(spec) row \(j): \(m)"); continue }
                XCTAssertEqual(v, row.min, accuracy: 1e-5, "\(model)/\(spec) row \(j)")
            }
            let outcome = try prover.prove(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 60))
            try check(outcome, p, status: ref.status, "milp \(model)/\(spec)")
            if ref.status == "unsat" { XCTAssertEqual(outcome, .proven) }
            // Sat specs: the MILP finds the counterexample itself (the attack is not involved).
            if ref.status == "sat", case .counterexample = outcome {} else if ref.status == "sat" { XCTFail("milp \(model)/\(spec): \(outcome)") }
        }
    }

    func testMILPAndReluSplitAgreeThroughTheVerifier() throws {
        var s = VerifyTestData.quickSettings
        s.timeout = 60
        for (model, spec) in [("mlp_relu_small", "b"), ("mlp_relu_small", "c"), ("resnet_relu", "b")] {
            let (p, ref) = try VerifyTestData.zoo(model, spec)
            let a = try Verifier(settings: s, provers: [ReluSplitProver(settings: s)]).verify(graph: p.graph, property: p.property)
            let b = try Verifier(settings: s, provers: [MILPProver(settings: s)]).verify(graph: p.graph, property: p.property)
            XCTAssertEqual(a.status, b.status, "\(model)/\(spec)")
            XCTAssertEqual(a.status.rawValue, ref.status, "\(model)/\(spec): \(a.details)")
        }
    }

    func testMILPRefusesLargeNetworks() throws {
        let (p, _) = try VerifyTestData.zoo("mlp_relu_small", "b")   // CROWN alone does not verify it
        var s = VerifierSettings()
        s.milp.maxUnstable = 1
        let outcome = try MILPProver(settings: s).prove(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 30))
        guard case .unknown(let why) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(why.contains("maxUnstable"), why)
    }

    func testUnsupportedOperatorIsRefusedCleanly() throws {
        let p = try VerifyTestData.problem("reference/zoo/mlp_tanh/model.onnx", "reference/zoo/mlp_tanh/b.vnnlib")
        XCTAssertThrowsError(try MILPProver().prove(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 10)))
        let r = try Verifier(settings: VerifyTestData.quickSettings, provers: [MILPProver()]).verify(graph: p.graph, property: p.property)
        XCTAssertNotEqual(r.status, .unsat)
    }

    // MARK: - Tiny network: splits, infeasibility, counterexamples

    func testTinyNetworkProvenAndCounterexample() throws {
        let g = tinyGraph()
        let prover = ReluSplitProver()
        // y >= 0 everywhere: y <= -0.01 is unsat.
        XCTAssertEqual(try prover.prove(graph: g, property: tinyProperty(-0.01), deadline: Deadline(secondsFromNow: 10)), .proven)
        // y = 0 on [-0.5, 0]: y <= 0.01 is sat.
        let out = try prover.prove(graph: g, property: tinyProperty(0.01), deadline: Deadline(secondsFromNow: 10))
        guard case .counterexample(let x) = out else { return XCTFail("\(out)") }
        XCTAssertLessThanOrEqual(try g.evaluateFirst(x)[0], 0.01)
        XCTAssertEqual(try MILPProver().prove(graph: g, property: tinyProperty(-0.01), deadline: Deadline(secondsFromNow: 10)), .proven)
    }

    func testContradictorySplitsArePruned() throws {
        let g = tinyGraph()
        let engine = BoundEngine(graph: g)
        let z = engine.reluInputs[0]
        let atom = LinearAtom(c: [1], d: 0)
        // On x in [0.2, 1], z0 = x is stably active: the inactive split is empty.
        XCTAssertThrowsError(try engine.boundDomain(box: InputBox(lower: [0.2], upper: [1]), atoms: [atom],
                                                    splits: [NeuronSplit(value: z, index: 0, active: false)])) { e in
            XCTAssertTrue(e is InfeasibleDomain)
        }
        // x >= 0 and -x - 0.5 >= 0 contradict only jointly: bounds do not see it, the LP does.
        let splits = [NeuronSplit(value: z, index: 0, active: true), NeuronSplit(value: z, index: 1, active: true)]
        let box = InputBox(lower: [-1], upper: [1])
        let db = try engine.boundDomain(box: box, atoms: [atom], splits: splits)
        let net = try NetworkLP(graph: engine.graph, box: box, relus: db.splittable)
        XCTAssertEqual(net.unstableCount, 0)
        try net.setObjective(row: atom)
        XCTAssertEqual(net.lp.solve().status, .infeasible)
        let elastic = try NetworkLP(graph: engine.graph, box: box, relus: db.splittable, elastic: true)
        try elastic.setSlackObjective()
        let r = elastic.lp.solve()
        XCTAssertEqual(r.status, .optimal)
        XCTAssertGreaterThan(elastic.lp.safeLowerBound(rowDuals: r.rowDuals), 0.2)   // min slack is 0.25
    }

    // MARK: - Dual re-check

    func testDualRecheckIsValidForAnyDualAndIgnoresTheReportedObjective() throws {
        // min x0 + 2 x1  s.t.  x0 + x1 >= 1,  x0 - x1 <= 0.5,  0 <= x <= 10: optimum 1.25 at (0.75, 0.25).
        let lp = LinearProgram()
        let x0 = try lp.addVariable(lower: 0, upper: 10), x1 = try lp.addVariable(lower: 0, upper: 10)
        try lp.addConstraint([(x0, 1), (x1, 1)], lower: 1, upper: .infinity)
        try lp.addConstraint([(x0, 1), (x1, -1)], lower: -.infinity, upper: 0.5)
        try lp.setObjective([(x0, 1), (x1, 2)])
        var r = lp.solve()
        XCTAssertEqual(r.status, .optimal)
        XCTAssertEqual(r.objective ?? 0, 1.25, accuracy: 1e-9)
        let safe = lp.safeLowerBound(rowDuals: r.rowDuals)
        XCTAssertLessThan(safe, 1.25)
        XCTAssertGreaterThan(safe, 1.25 - 1e-5)
        // A tampered objective changes nothing: the bound comes from the duals and the problem.
        r.objective = 1e9
        XCTAssertEqual(lp.safeLowerBound(rowDuals: r.rowDuals), safe)
        // Tampered duals never give more than the true optimum.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let y = r.rowDuals.map { $0 * Double.random(in: -3...3, using: &rng) + Double.random(in: -2...2, using: &rng) }
            XCTAssertLessThanOrEqual(lp.safeLowerBound(rowDuals: y), 1.25)
        }
        XCTAssertLessThanOrEqual(lp.safeLowerBound(rowDuals: r.rowDuals.map { $0 * 1.01 }), 1.25)
        XCTAssertEqual(lp.safeLowerBound(rowDuals: [.nan, 0]), -.infinity)
        XCTAssertEqual(lp.safeLowerBound(rowDuals: [1]), -.infinity)
        // A tampered objective coefficient: the bound follows the problem as it stands.
        try lp.setObjective([(x0, 1), (x1, -2)])   // optimum now -20 + 10 = ... (x1 = 10, x0 = 9.5): 9.5 - 20 = -10.5
        XCTAssertLessThanOrEqual(lp.safeLowerBound(rowDuals: r.rowDuals), -10.5)
    }

    func testLeafLPMatchesExactMinimumOnFullySplitDomain() throws {
        // Fix every unstable ReLU of mlp_relu_small/b by the activation pattern at the reference
        // argmin: the exact LP's optimum is at most the row minimum, and its re-checked bound below it.
        let (p, ref) = try VerifyTestData.zoo("mlp_relu_small", "b")
        let engine = BoundEngine(graph: p.graph)
        let pc = p.property.cases[0]
        let atom = pc.clauses[0].atoms[0]
        let root = try engine.boundDomain(box: pc.box, atoms: [atom], splits: [])
        var splits: [NeuronSplit] = []
        for info in root.splittable {
            for j in info.lower.indices where info.lower[j] < 0 && info.upper[j] > 0 {
                splits.append(NeuronSplit(value: info.value, index: j, active: j % 2 == 0))
            }
        }
        let db: DomainBounds
        do { db = try engine.boundDomain(box: pc.box, atoms: [atom], splits: splits) } catch is InfeasibleDomain { return }
        let net = try NetworkLP(graph: engine.graph, box: pc.box, relus: db.splittable)
        try net.setObjective(row: atom)
        let r = net.lp.solve()
        guard r.status == .optimal, let x = net.inputPoint(r) else { return }
        // The LP point is a real input; the row there equals the LP objective (the LP is exact).
        let y = try p.graph.evaluateFirst(x)
        XCTAssertEqual(atom.slack(y)!, r.objective!, accuracy: 1e-6)
        XCTAssertLessThanOrEqual(net.lp.safeLowerBound(rowDuals: r.rowDuals), r.objective!)
        XCTAssertGreaterThanOrEqual(r.objective! + 1e-6, ref.exact.rows.map(\.min).min()!)   // never below the true minimum
    }

    // MARK: - Domain bounds: root alpha bounds and beta-CROWN

    /// mnist-net_256x2 prop_0_0.03 with its root alpha-CROWN bounds, the root domain's CROWN
    /// bounds, and the pre-activations at the box centre (to pick splits that hold there).
    struct DomainFixture {
        var engine: BoundEngine
        var box: InputBox
        var atoms: [LinearAtom]
        var root: IntermediateBounds
        var top: DomainBounds
        var centre: [Double]
        var preacts: [Int: [Double]]
    }

    func domainFixture() throws -> DomainFixture {
        let p = try VerifyTestData.problem("benchmarks/mnistfc/mnist-net_256x2.onnx", "benchmarks/mnistfc/prop_0_0.03.vnnlib")
        let engine = BoundEngine(graph: p.graph)
        let pc = p.property.cases[0]
        let atoms = pc.clauses.flatMap(\.atoms)
        let root = try engine.rootBounds(box: pc.box, settings: BoundSettings(method: .alphaCrown))
        let top = try engine.boundDomain(box: pc.box, atoms: atoms, splits: [], settings: BoundSettings(method: .crown), root: root)
        let centre = zip(pc.box.lower, pc.box.upper).map { ($0 + $1) / 2 }
        return DomainFixture(engine: engine, box: pc.box, atoms: atoms, root: root, top: top, centre: centre,
                             preacts: try engine.graph.evaluateAll(centre))
    }

    /// The outputs at `count` points near the centre (within half the box width, clipped to
    /// the box) that satisfy every split: sampled points of the domain.
    func domainOutputs(_ f: DomainFixture, splits: [NeuronSplit], count: Int, rng: inout SplitMix64) throws -> [[Double]] {
        var out: [[Double]] = []
        for _ in 0..<count {
            let x = (0..<f.centre.count).map { i -> Double in
                let w = (f.box.upper[i] - f.box.lower[i]) * 0.5
                return min(f.box.upper[i], max(f.box.lower[i], f.centre[i] + w * (Double(rng.next() % 2001) / 1000 - 1)))
            }
            let values = try f.engine.graph.evaluateAll(x)
            guard splits.allSatisfy({ ($0.active ? 1.0 : -1.0) * values[$0.value]![$0.index] >= 0 }) else { continue }
            out.append(values[f.engine.graph.outputs[0]]!)
        }
        return out
    }

    /// Inside a split domain, CROWN, CROWN with the root's alpha bounds and alpha/beta-CROWN all
    /// bound every sampled point of the domain (points of the box whose ReLU inputs have the
    /// split signs), and beta-CROWN is never looser than CROWN with the same root bounds.
    func testDomainBoundsWithRootAndBetaContainDomainPoints() throws {
        let f = try domainFixture()
        let (engine, box, atoms, root) = (f.engine, f.box, f.atoms, f.root)
        // Split the unstable neurons with the signs they have at the box centre (so the domain
        // holds the centre), three per layer.
        var splits: [NeuronSplit] = []
        for info in f.top.splittable {
            var taken = 0
            for j in info.lower.indices where info.lower[j] < 0 && info.upper[j] > 0 && taken < 3 {
                splits.append(NeuronSplit(value: info.value, index: j, active: f.preacts[info.value]![j] >= 0))
                taken += 1
            }
        }
        XCTAssertGreaterThan(splits.count, 3)
        let crown = try engine.boundDomain(box: box, atoms: atoms, splits: splits, settings: BoundSettings(method: .crown))
        let withRoot = try engine.boundDomain(box: box, atoms: atoms, splits: splits, settings: BoundSettings(method: .crown), root: root)
        var bs = BoundSettings(method: .alphaCrown)
        bs.alphaIntermediateIterations = 0
        bs.alphaIterations = 30
        let beta = try engine.boundDomain(box: box, atoms: atoms, splits: splits, settings: bs, root: root)
        for k in atoms.indices {
            XCTAssertGreaterThanOrEqual(beta.rows[k].lower, withRoot.rows[k].lower - 1e-9 * max(1, abs(withRoot.rows[k].lower)))
        }
        // Sample the domain: points near the centre (most keep the split signs).
        var rng = SplitMix64(seed: 7)
        let outputs = try domainOutputs(f, splits: splits, count: 400, rng: &rng)
        for y in outputs {
            for (k, a) in atoms.enumerated() {
                let v = a.slack(y)!
                for (name, b) in [("crown", crown), ("root", withRoot), ("beta", beta)] {
                    XCTAssertGreaterThanOrEqual(v, b.rows[k].lower - 1e-9 * max(1, abs(v)), "\(name) row \(k)")
                    XCTAssertLessThanOrEqual(v, b.rows[k].upper + 1e-9 * max(1, abs(v)), "\(name) row \(k)")
                }
            }
        }
        XCTAssertGreaterThan(outputs.count, 20, "too few sampled points in the domain")
    }

    /// A batch of domains bounded together (one alpha/beta search with per-row splits) gives,
    /// for each domain, bounds that contain that domain's sampled points and are never looser
    /// than its CROWN bounds.
    func testBatchedDomainBoundsAreSoundPerDomain() throws {
        let f = try domainFixture()
        let (engine, box, atoms, root) = (f.engine, f.box, f.atoms, f.root)
        var unstable: [(Int, Int)] = []
        for info in f.top.splittable { for j in info.lower.indices where info.lower[j] < 0 && info.upper[j] > 0 { unstable.append((info.value, j)) } }
        XCTAssertGreaterThan(unstable.count, 8)
        // Four domains holding the centre, with different split sets.
        let domains: [(atoms: [LinearAtom], splits: [NeuronSplit])] = (0..<4).map { d in
            let chosen = unstable.enumerated().filter { $0.offset % 4 == d || $0.offset < 2 }.prefix(5).map(\.element)
            return (atoms, chosen.map { NeuronSplit(value: $0.0, index: $0.1, active: f.preacts[$0.0]![$0.1] >= 0) })
        }
        var bs = BoundSettings(method: .alphaCrown)
        bs.alphaIntermediateIterations = 0
        bs.alphaIterations = 20
        bs.reuseKnownBounds = true
        let results = engine.boundDomains(box: box, domains: domains, settings: bs, root: root)
        var rng = SplitMix64(seed: 11)
        for (d, res) in results.enumerated() {
            let db = try res.get()
            var crownSettings = bs
            crownSettings.method = .crown
            let crown = try engine.boundDomain(box: box, atoms: atoms, splits: domains[d].splits, settings: crownSettings, root: root)
            for k in atoms.indices {
                XCTAssertGreaterThanOrEqual(db.rows[k].lower, crown.rows[k].lower - 1e-9 * max(1, abs(crown.rows[k].lower)))
            }
            let outputs = try domainOutputs(f, splits: domains[d].splits, count: 300, rng: &rng)
            for y in outputs {
                for (k, a) in atoms.enumerated() {
                    XCTAssertGreaterThanOrEqual(a.slack(y)!, db.rows[k].lower - 1e-9 * max(1, abs(db.rows[k].lower)), "domain \(d) row \(k)")
                }
            }
            XCTAssertGreaterThan(outputs.count, 20, "domain \(d): too few sampled points")
        }
    }

    // MARK: - Deadline

    func testDeadlineIsRespected() throws {
        // A hard unsat instance (the search needs far more than 2 s).
        let p = try VerifyTestData.problem("benchmarks/mnistfc/mnist-net_256x2.onnx", "benchmarks/mnistfc/prop_1_0.03.vnnlib")
        let start = Date()
        let out = try ReluSplitProver().prove(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 2))
        let elapsed = Date().timeIntervalSince(start)
        guard case .unknown(let why) = out else { return XCTFail("\(out)") }
        XCTAssertTrue(why.contains("time limit"), why)
        XCTAssertLessThan(elapsed, 8, "took \(elapsed) s")
        let passed = try ReluSplitProver().prove(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 0))
        guard case .unknown = passed else { return XCTFail("\(passed)") }
    }
}
