import XCTest
import Foundation
import Certus
import CertusLP
import TestSupport

/// `MILPCertificate` and `MILPProver`'s use of it: a MILP refutation counts only with a
/// certificate (branch and bound over the binaries, every leaf a re-checked dual bound), checked
/// against the zoo's exact minima (an independent solver's), and tampered GLPK claims are caught.
final class MILPCertificateTests: XCTestCase {
    /// The reference minimum of a clause `y_label - y_j <= 0` (its row j).
    func referenceMinimum(_ clause: Clause, _ ref: VerifyTestData.ExactRef) -> Double? {
        guard let j = clause.atoms[0].c.firstIndex(where: { $0 < 0 }) else { return nil }
        return ref.exact.rows.first { $0.j == j }?.min
    }

    /// On unsat zoo specs every claimed clause is certified, and the certificate's lower bound
    /// is positive and never above the exact minimum recorded by the reference solver.
    func testCertificatesOfUnsatSpecsAreBelowTheExactMinima() throws {
        let prover = MILPProver(settings: VerifierSettings())
        var certified = 0, branched = 0
        for (model, spec) in [("mlp_relu_small", "a"), ("mlp_relu_small", "b"), ("mlp_relu_deep", "b"), ("resnet_relu", "b"),
                              ("norm_mlp_relu", "b")] {
            let (p, ref) = try VerifyTestData.zoo(model, spec)
            XCTAssertEqual(ref.status, "unsat")
            let mins = try prover.minimizeAndCertify(graph: p.graph, property: p.property, caseIndex: 0,
                                                     deadline: Deadline(secondsFromNow: 60))
            for (clause, m) in zip(p.property.cases[0].clauses, mins) {
                guard let exact = referenceMinimum(clause, ref) else { return XCTFail("\(model)/\(spec): no reference row") }
                guard case .certified(let lower, let leaves, let lps)? = m.certificate else {
                    XCTFail("\(model)/\(spec): \(m.minimum) certificate \(String(describing: m.certificate))"); continue
                }
                XCTAssertGreaterThan(lower, 0, "\(model)/\(spec)")
                XCTAssertLessThanOrEqual(lower, exact + 1e-9, "\(model)/\(spec): certified bound above the exact minimum")
                certified += 1
                if lps > 1 { branched += 1 }
                XCTAssertGreaterThanOrEqual(lps, leaves)
            }
        }
        XCTAssertGreaterThan(certified, 0)
        XCTAssertGreaterThan(branched, 0, "no certificate needed branching: the tree search is not exercised")
    }

    /// A tampered GLPK answer (every optimum or incumbent reported as +1, above the margin) on
    /// sat specs is a wrong claim of refutation for their violated clauses: the certificate must
    /// reject it (contradicted or failed, never certified), and the prover must not answer proven.
    func testTamperedMILPClaimsAreCaught() throws {
        var prover = MILPProver(settings: VerifierSettings())
        prover.tamper = { m in
            switch m {
            case .optimal(_, let x), .feasible(_, let x): return .optimal(1, x: x)
            default: return m
            }
        }
        for (model, spec) in [("mlp_relu_small", "c"), ("mlp_relu_deep", "c"), ("resnet_relu", "c"), ("norm_mlp_relu", "c")] {
            let (p, ref) = try VerifyTestData.zoo(model, spec)
            XCTAssertEqual(ref.status, "sat")
            let mins = try prover.minimizeAndCertify(graph: p.graph, property: p.property, caseIndex: 0,
                                                     deadline: Deadline(secondsFromNow: 60), tamper: prover.tamper)
            var caught = 0
            for (clause, m) in zip(p.property.cases[0].clauses, mins) {
                guard let exact = referenceMinimum(clause, ref), exact < 0 else { continue }
                switch m.certificate {
                case .certified?: XCTFail("\(model)/\(spec): a violated clause (exact minimum \(exact)) was certified")
                case .contradicted(let v, _)?:
                    XCTAssertLessThanOrEqual(v, 0)
                    caught += 1
                case .failed?: caught += 1
                case nil: XCTFail("\(model)/\(spec): the tampered claim was not checked")
                }
            }
            XCTAssertGreaterThan(caught, 0, "\(model)/\(spec)")
            let outcome = try prover.prove(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 60))
            XCTAssertNotEqual(outcome, .proven, "\(model)/\(spec): a tampered MILP answer gave proven")
        }
    }

    /// A tampered "infeasible" answer on a sat spec is not taken either.
    func testTamperedInfeasibleClaimIsCaught() throws {
        var prover = MILPProver(settings: VerifierSettings())
        prover.tamper = { _ in .infeasible }
        let (p, _) = try VerifyTestData.zoo("mlp_relu_small", "c")
        let outcome = try prover.prove(graph: p.graph, property: p.property, deadline: Deadline(secondsFromNow: 60))
        XCTAssertNotEqual(outcome, .proven)
    }

    /// The certificate search itself, on an LP whose true minimum is known: y = relu(x) +
    /// relu(-x - 0.5) on x in [-1, 1] (minimum 0 on [-0.5, 0]). `y + 0.01` is certified with a
    /// bound in (0, 0.01]; `y - 0.01` (negative at the minimum) is contradicted, with a point
    /// where the network is below 0.01; a node limit of 0 or a passed deadline fail.
    func testCertificateSearchOnATinyNetwork() throws {
        let g = tinyGraph()
        let engine = BoundEngine(graph: g)
        let box = InputBox(lower: [-1], upper: [1])
        func run(_ d: Double, nodes: Int = 1000, deadline: Deadline = Deadline(secondsFromNow: 30)) throws -> MILPCertificate.Outcome {
            let atom = LinearAtom(c: [1], d: d)
            let db = try engine.boundDomain(box: box, atoms: [atom], splits: [], settings: BoundSettings(method: .crown))
            let net = try NetworkLP(graph: engine.graph, box: box, relus: db.splittable, mode: .milp)
            XCTAssertEqual(net.binaryVariables.count, 2)
            try net.setObjective(row: atom)
            return MILPCertificate.search(net: net,
                                          elastic: { try NetworkLP(graph: engine.graph, box: box, relus: db.splittable, mode: .milp, elastic: true) },
                                          dualMargin: 1e-7, nodeLimit: nodes, lpTimeLimit: 10, deadline: deadline)
        }
        guard case .certified(let lower, _, _) = try run(-0.01) else { return XCTFail("y >= 0 not certified") }
        XCTAssertGreaterThan(lower, 0)
        XCTAssertLessThanOrEqual(lower, 0.01 + 1e-12)
        guard case .contradicted(let v, let x) = try run(0.01) else { return XCTFail("y <= 0.01 is reachable") }
        XCTAssertLessThanOrEqual(v, 0)
        XCTAssertLessThanOrEqual(try g.evaluateFirst(x)[0], 0.01 + 1e-6)
        guard case .failed = try run(-0.01, nodes: 0) else { return XCTFail("a zero-node limit should fail") }
        guard case .failed = try run(-0.01, deadline: Deadline(secondsFromNow: 0)) else { return XCTFail("a passed deadline should fail") }
    }

    /// y = relu(x) + relu(-x - 0.5) on one input (as in CompleteProverTests).
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
}
