import XCTest
import Foundation
import Certus
import TestSupport

/// Input-splitting branch and bound: proofs on instances the shared references mark unsat, never a
/// proof on sat ones (with the attack off, the search must find the counterexample itself or give
/// up), the deadline, clipping soundness, progress reports, and strategy selection.
final class InputSplitTests: XCTestCase {
    /// No attack at all: only the prover can decide.
    var noAttack: VerifierSettings {
        var s = VerifierSettings()
        s.attackRestarts = 0
        s.randomSamples = 0
        s.cornerSampling = false
        s.timeout = 60
        return s
    }

    func verify(_ p: VerificationProblem, _ settings: VerifierSettings,
                progress: ProgressHandler? = nil) throws -> VerificationResult {
        try Verifier(settings: settings, provers: [InputSplitProver(settings: settings, progress: progress)])
            .verify(graph: p.graph, property: p.property)
    }

    func acas(_ net: String, _ prop: String) throws -> (VerificationProblem, String) {
        let onnx = "ACASXU_run2a_\(net)_batch_2000.onnx", spec = "\(prop).vnnlib"
        let p = try VerifyTestData.problem("benchmarks/acasxu/" + onnx, "benchmarks/acasxu/" + spec)
        let expected = try XCTUnwrap(try VerifyTestData.expected("acasxu")[onnx + "," + spec])
        return (p, expected)
    }

    /// ACAS Xu instances the shared answers list as unsat, chosen because CROWN alone cannot prove
    /// them but a few hundred domains can (fast in a debug build).
    func testProvesACASXuUnsatInstances() throws {
        for (net, prop) in [("1_1", "prop_2"), ("2_1", "prop_3")] {
            let (p, expected) = try acas(net, prop)
            XCTAssertEqual(expected, "unsat")
            let crown = try BoundEngine(graph: p.graph).bound(property: p.property)
            XCTAssertFalse(crown.verified, "\(net) \(prop): CROWN alone proves it; pick a harder instance")
            let r = try verify(p, noAttack)
            XCTAssertEqual(r.status, .unsat, "\(net) \(prop): \(r.details)")
            XCTAssertEqual(r.method, "input-split")
        }
    }

    /// Zoo smooth nets whose reference status comes from input-split CROWN (alpha-CROWN alone fails).
    func testProvesZooSpecsThatNeedInputSplitting() throws {
        for model in ["mlp_tanh", "mlp_gelu", "mlp_gelu_erf"] {
            XCTAssertEqual(try VerifyTestData.zooStatus(model, "b"), "unsat")
            let p = try VerifyTestData.problem("reference/zoo/\(model)/model.onnx", "reference/zoo/\(model)/b.vnnlib")
            let alpha = try BoundEngine(graph: p.graph).bound(property: p.property, settings: BoundSettings(method: .alphaCrown))
            XCTAssertFalse(alpha.verified, "\(model)/b")
            let r = try verify(p, noAttack)
            XCTAssertEqual(r.status, .unsat, "\(model)/b: \(r.details)")
        }
    }

    /// Sat instances, the prover alone (no attack before it): it returns a counterexample that the
    /// verifier's re-check accepts, or gives up; it never proves them.
    func testNeverProvesSatInstances() throws {
        var problems: [(String, VerificationProblem)] = []
        let (acasSat, expected) = try acas("1_7", "prop_3")
        XCTAssertEqual(expected, "sat")
        problems.append(("acas 1_7 prop_3", acasSat))
        for model in ["mlp_tanh", "mlp_gelu", "mlp_relu_small", "mlp_sigmoid"] {
            XCTAssertEqual(try VerifyTestData.zooStatus(model, "c"), "sat")
            problems.append(("\(model)/c", try VerifyTestData.problem("reference/zoo/\(model)/model.onnx", "reference/zoo/\(model)/c.vnnlib")))
        }
        var found = 0
        for (name, p) in problems {
            let o = try InputSplitProver(settings: noAttack).prove(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 8))
            switch o {
            case .proven:
                XCTFail("\(name): proven, but the property is violated")
            case .counterexample(let x):
                let cx = try XCTUnwrap(try CounterexampleCheck.confirm(graph: p.graph, property: p.property, candidate: x, settings: noAttack), name)
                let y = try p.graph.evaluateFirst(cx.x)
                XCTAssertNotNil(p.property.violatingClause(x: cx.x, y: y), name)
                found += 1
            case .unknown:
                break
            }
        }
        // These counterexamples are easy to reach from a sub-box: the search finds all of them.
        XCTAssertEqual(found, problems.count)
    }

    /// A hard instance with a short limit ends in timeout, close to the limit.
    func testDeadlineIsRespected() throws {
        let (p, _) = try acas("4_2", "prop_2")
        var s = noAttack
        s.timeout = 1.5
        let start = Date()
        let r = try verify(p, s)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, .timeout, "\(r.details)")
        XCTAssertLessThan(elapsed, 4.0)
        // The prover alone, with a passed deadline, gives unknown (never proven).
        let o = try InputSplitProver(settings: s).prove(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 0))
        guard case .unknown(let why) = o else { return XCTFail("\(o)") }
        XCTAssertTrue(why.contains("timeout"), why)
    }

    /// A search cut into short slices that each continue from the open domains the last one left
    /// (`InputSplitContinuation`) proves what an uninterrupted search proves, and never proves a
    /// violated property: the saved domains cover everything not yet shown safe.
    func testContinuationResumesWhereTheDeadlineStopped() throws {
        // Holds: ACAS Xu 1_1 prop_2 (CROWN alone cannot prove it; a few hundred domains can).
        let (p, expected) = try acas("1_1", "prop_2")
        XCTAssertEqual(expected, "unsat")
        var s = noAttack
        s.inputSplit.workers = 2
        let c = InputSplitContinuation()
        var resumed = 0, slices = 0
        var last: ProverOutcome = .unknown("not run")
        while slices < 400 {
            slices += 1
            if c.count > 0 { resumed += 1 }
            last = try InputSplitProver(settings: s, continuation: c).prove(graph: p.graph, property: p.property,
                                                                             deadline: Deadline(secondsFromNow: 0.02))
            if case .unknown = last { XCTAssertGreaterThan(c.count, 0, "a timed-out slice left no open domains"); continue }
            break
        }
        guard case .proven = last else { return XCTFail("\(slices) slices: \(last)") }
        XCTAssertGreaterThan(resumed, 0, "no slice resumed: make the slices shorter")
        XCTAssertEqual(c.count, 0, "a finished search leaves nothing to resume")

        // Violated: mlp_relu_small/c. Slices never end in a proof; a counterexample is genuine.
        XCTAssertEqual(try VerifyTestData.zooStatus("mlp_relu_small", "c"), "sat")
        let v = try VerifyTestData.problem("reference/zoo/mlp_relu_small/model.onnx", "reference/zoo/mlp_relu_small/c.vnnlib")
        let cv = InputSplitContinuation()
        for _ in 0..<50 {
            let o = try InputSplitProver(settings: s, continuation: cv).prove(graph: v.graph, property: v.property,
                                                                               deadline: Deadline(secondsFromNow: 0.005))
            if case .proven = o { return XCTFail("a violated property was proven by resumed slices") }
            if case .counterexample(let x) = o {
                let cx = try XCTUnwrap(try CounterexampleCheck.confirm(graph: v.graph, property: v.property, candidate: x, settings: s))
                XCTAssertNotNil(v.property.violatingClause(x: cx.x, y: try v.graph.evaluateFirst(cx.x)))
                break
            }
        }
        // A continuation saved for one property is not used for another: a fresh search starts.
        let o = try InputSplitProver(settings: s, continuation: c).prove(graph: v.graph, property: v.property, deadline: Deadline(secondsFromNow: 8))
        if case .proven = o { XCTFail("proven on the violated property") }
    }

    /// The domain limit stops the search with unknown.
    func testDomainLimitGivesUnknown() throws {
        let (p, _) = try acas("4_2", "prop_2")
        var s = noAttack
        s.inputSplit.maxDomains = 50
        let o = try InputSplitProver(settings: s).prove(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 30))
        guard case .unknown(let why) = o else { return XCTFail("\(o)") }
        XCTAssertTrue(why.contains("domain limit"), why)
    }

    /// One worker and two workers agree, and progress reports are consistent.
    func testWorkersAndProgress() throws {
        let p = try VerifyTestData.problem("reference/zoo/mlp_gelu/model.onnx", "reference/zoo/mlp_gelu/b.vnnlib")
        final class Log: @unchecked Sendable {
            let lock = NSLock(); var items: [BranchAndBoundProgress] = []
        }
        for workers in [1, 2] {
            var s = noAttack
            s.inputSplit.workers = workers
            s.inputSplit.progressInterval = 0
            let log = Log()
            let r = try verify(p, s) { pr in log.lock.lock(); log.items.append(pr); log.lock.unlock() }
            XCTAssertEqual(r.status, .unsat, "workers \(workers): \(r.details)")
            let last = try XCTUnwrap(log.items.last)
            XCTAssertEqual(last.open, 0)
            XCTAssertEqual(last.globalLowerBound, .infinity)
            XCTAssertGreaterThan(last.done, 0)
            XCTAssertGreaterThanOrEqual(last.bounded, last.done)
            // bounded domains = closed ones + split ones; each split adds two, starting from one.
            XCTAssertEqual(last.bounded, 2 * last.done - 1, "a binary tree with \(last.done) leaves")
            XCTAssertGreaterThan(log.items.count, 1)
            for (a, b) in zip(log.items, log.items.dropFirst()) {
                XCTAssertLessThanOrEqual(a.bounded, b.bounded)
                XCTAssertLessThanOrEqual(a.elapsed, b.elapsed)
            }
        }
    }

    /// Clipping never removes a point where the clause holds: sample points of sub-boxes of a
    /// property, and every sampled point whose output satisfies a clause (in Double) lies in the
    /// clipped box of that clause.
    func testClippingKeepsEveryViolatingPoint() throws {
        let p = try VerifyTestData.problem("reference/zoo/mlp_relu_small/model.onnx", "reference/zoo/mlp_relu_small/c.vnnlib")
        let engine = BoundEngine(graph: p.graph)
        var rng = SystemRandomNumberGenerator()
        let pc = p.property.cases[0]
        var checkedPoints = 0, clippedAway = 0
        // The reference attack's counterexample: sub-boxes around it hold violating points.
        let xstar = [-0.1479, -0.535, -1.1944, 0.22416588057730205]
        XCTAssertNotNil(p.property.violatingClause(x: xstar, y: try p.graph.evaluateFirst(xstar)))
        for _ in 0..<20 {
            // A random sub-box containing x*.
            var lo = pc.box.lower, hi = pc.box.upper
            for i in lo.indices {
                lo[i] = Double.random(in: lo[i]...xstar[i], using: &rng)
                hi[i] = Double.random(in: xstar[i]...hi[i], using: &rng)
            }
            for clause in pc.clauses {
                // As the prover bounds domains: CROWN, then alpha on the spec rows; the clip uses
                // the CROWN rows that go with the coefficients.
                var bs = BoundSettings(method: .alphaCrown)
                bs.alphaIntermediateIterations = 0
                bs.alphaIterations = 10
                let db = try engine.boundDomain(box: InputBox(lower: lo, upper: hi), atoms: clause.atoms, splits: [], settings: bs)
                for (k, row) in db.rows.enumerated() { XCTAssertGreaterThanOrEqual(row.lower, db.coefficientRows[k].lower) }
                let clipped = InputSplitProver.clip(lower: lo, upper: hi, rows: Array(zip(db.inputCoefficients, db.coefficientRows)))
                if let (cl, cu) = clipped {
                    for i in lo.indices { XCTAssertTrue(lo[i] <= cl[i] && cu[i] <= hi[i]) }
                    if lo.indices.contains(where: { cl[$0] > lo[$0] || cu[$0] < hi[$0] }) { clippedAway += 1 }
                }
                for k in 0..<200 {
                    // Half uniform in the sub-box, half close to x*.
                    let x = lo.indices.map { i in
                        k % 2 == 0 ? Double.random(in: lo[i]...hi[i], using: &rng)
                            : min(hi[i], max(lo[i], xstar[i] + Double.random(in: -0.02...0.02, using: &rng)))
                    }
                    let y = try p.graph.evaluateFirst(x)
                    guard clause.isSatisfied(by: y) else { continue }
                    checkedPoints += 1
                    guard let (cl, cu) = clipped else { XCTFail("clause refuted, but holds at \(x)"); continue }
                    for i in x.indices { XCTAssertTrue(cl[i] <= x[i] && x[i] <= cu[i], "x_\(i) = \(x[i]) clipped away: [\(cl[i]), \(cu[i])]") }
                }
            }
        }
        XCTAssertGreaterThan(checkedPoints, 50, "too few violating points sampled for the test to mean anything")
        XCTAssertGreaterThan(clippedAway, 0, "clipping never removed anything")
    }

    /// Strategy: auto picks input splitting for few inputs, not for MNIST's 784; explicit methods
    /// map to their provers; relu-split and milp are unavailable until registered.
    func testStrategySelection() throws {
        let (acasP, _) = try acas("1_1", "prop_2")
        let names = { (ps: [any PropertyProver]) in ps.map(\.name) }
        XCTAssertEqual(names(try Verifier.provers(for: acasP.graph, property: acasP.property, method: .auto)), ["crown", "input-split"])
        XCTAssertEqual(Verifier.freeInputDimension(of: acasP.property), 5)
        let mnist = try VerifyTestData.problem("benchmarks/mnistfc/mnist-net_256x2.onnx", "benchmarks/mnistfc/prop_0_0.03.vnnlib")
        XCTAssertGreaterThan(Verifier.freeInputDimension(of: mnist.property), 20)
        XCTAssertEqual(names(try Verifier.provers(for: mnist.graph, property: mnist.property, method: .auto)), ["crown", "alpha-crown", "bab"])
        var low = VerifierSettings()
        low.inputSplitMaxDimension = 4
        XCTAssertFalse(names(try Verifier.provers(for: acasP.graph, property: acasP.property, method: .auto, settings: low)).contains("input-split"))
        XCTAssertEqual(names(try Verifier.provers(for: acasP.graph, property: acasP.property, method: .attack)), [])
        XCTAssertEqual(names(try Verifier.provers(for: acasP.graph, property: acasP.property, method: .crown)), ["crown"])
        XCTAssertEqual(names(try Verifier.provers(for: acasP.graph, property: acasP.property, method: .alphaCrown)), ["alpha-crown"])
        XCTAssertEqual(names(try Verifier.provers(for: acasP.graph, property: acasP.property, method: .inputSplit)), ["input-split"])
        XCTAssertEqual(names(try Verifier.provers(for: acasP.graph, property: acasP.property, method: .reluSplit)), ["bab"])
        XCTAssertEqual(names(try Verifier.provers(for: acasP.graph, property: acasP.property, method: .milp)), ["milp"])
        XCTAssertEqual(Set(VerificationMethod.allCases.map(\.rawValue)),
                       ["auto", "attack", "crown", "alpha-crown", "input-split", "bab", "relu-split", "milp"])
    }

    func testSettingsValidation() throws {
        var s = VerifierSettings()
        s.inputSplit.batchSize = 0
        XCTAssertThrowsError(try s.validate()) { XCTAssertEqual(($0 as? SettingsError)?.setting, "inputSplit.batchSize") }
        s = VerifierSettings()
        s.inputSplit.workers = 0
        XCTAssertThrowsError(try s.validate())
        s = VerifierSettings()
        s.inputSplit.sbCoefficientFloor = .nan
        XCTAssertThrowsError(try s.validate())
        XCTAssertNoThrow(try VerifierSettings().validate())
    }
}
