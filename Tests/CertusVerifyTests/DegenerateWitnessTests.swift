import XCTest
import Foundation
import Certus
import TestSupport

/// Counterexamples for boxes that hold no float32 value (pinned decimals, sub-ulp intervals,
/// epsilon 0 at a decimal centre), counterexamples that hold with zero slack, and the CROWN pass
/// before attacking properties with many clauses. The shared cases come from
/// `../shared/cases/soundness` (README there); the held-out variants are built here, and every
/// counterexample is re-checked by `assertRealWitness` with a float32 forward pass written in
/// this file (Float arithmetic throughout, independent of `Graph.evaluateFirstFloat32`).
final class DegenerateWitnessTests: XCTestCase {
    // MARK: - Models built in code

    /// A fully connected network: Gemm layers (W is [out][in]), ReLU between them, and an
    /// optional final ReLU and/or negation.
    struct MLP {
        var layers: [(w: [[Double]], b: [Double])]
        var finalRelu = false
        var negate = false

        var inputs: Int { layers[0].w[0].count }
        var outputs: Int { layers.last!.w.count }

        func graph() -> Graph {
            var values = [ValueInfo(name: "x", shape: [1, inputs])]
            var constants: [Int: Tensor] = [:]
            var nodes: [Node] = []
            var current = 0
            func add(_ name: String, _ shape: [Int]) -> Int { values.append(ValueInfo(name: name, shape: shape)); return values.count - 1 }
            for (k, layer) in layers.enumerated() {
                let out = layer.w.count, inp = layer.w[0].count
                let w = add("W\(k)", [out, inp]); constants[w] = Tensor(shape: [out, inp], data: layer.w.flatMap { $0 })
                let b = add("b\(k)", [out]); constants[b] = Tensor(shape: [out], data: layer.b)
                let z = add("z\(k)", [1, out])
                nodes.append(Node(name: "fc\(k)", opType: "Gemm", op: Gemm(transB: true), inputs: [current, w, b], output: z))
                current = z
                if k < layers.count - 1 || finalRelu {
                    let h = add("h\(k)", [1, out])
                    nodes.append(Node(name: "relu\(k)", opType: "Relu", op: Relu(), inputs: [current], output: h))
                    current = h
                }
            }
            if negate {
                let n = add("neg", [1, outputs])
                nodes.append(Node(name: "neg", opType: "Neg", op: Neg(), inputs: [current], output: n))
                current = n
            }
            return Graph(values: values, constants: constants, nodes: nodes, input: 0, outputs: [current], metadata: ModelMetadata())
        }

        /// The network in Float arithmetic (weights, inputs, sums and activations all Float).
        func float32(_ x: [Double]) -> [Float] {
            var h = x.map { Float($0) }
            for (k, layer) in layers.enumerated() {
                h = layer.w.indices.map { j in
                    var s = Float(layer.b[j])
                    for i in h.indices { s += Float(layer.w[j][i]) * h[i] }
                    return (k < layers.count - 1 || finalRelu) ? max(s, 0) : s
                }
            }
            return negate ? h.map { -$0 } : h
        }

        /// The network in Double (reference for the Double evaluation).
        func double(_ x: [Double]) -> [Double] {
            var h = x
            for (k, layer) in layers.enumerated() {
                h = layer.w.indices.map { j in
                    var s = layer.b[j]
                    for i in h.indices { s += layer.w[j][i] * h[i] }
                    return (k < layers.count - 1 || finalRelu) ? max(s, 0) : s
                }
            }
            return negate ? h.map { -$0 } : h
        }

        /// Exact interval bounds of `c·y` over a box for a network without hidden ReLU (one layer).
        func linearRange(_ c: [Double], lower: [Double], upper: [Double]) -> (Double, Double) {
            precondition(layers.count == 1 && !finalRelu && !negate)
            var lo = 0.0, hi = 0.0
            for i in 0..<inputs {
                var a = 0.0
                for j in 0..<outputs { a += c[j] * layers[0].w[j][i] }
                lo += min(a * lower[i], a * upper[i]); hi += max(a * lower[i], a * upper[i])
            }
            for j in 0..<outputs { lo += c[j] * layers[0].b[j]; hi += c[j] * layers[0].b[j] }
            return (lo, hi)
        }

        static func random(_ sizes: [Int], _ rng: inout SplitMix64) -> MLP {
            MLP(layers: (0..<sizes.count - 1).map { k in
                (w: (0..<sizes[k + 1]).map { _ in (0..<sizes[k]).map { _ in Double(Float(rng.uniform(-1, 1))) } },
                 b: (0..<sizes[k + 1]).map { _ in Double(Float(rng.uniform(-0.5, 0.5))) })
            })
        }
    }

    func isFloat32(_ v: Double) -> Bool { Double(Float(v)) == v }

    /// Whether `[l, u]` holds a float32 value (checked on the float32 neighbours of `l`).
    func holdsFloat32(_ l: Double, _ u: Double) -> Bool {
        let f = Float(l)
        return [f.nextDown, f, f.nextUp].contains { l <= Double($0) && Double($0) <= u }
    }

    func single(_ lower: [Double], _ upper: [Double], _ clauses: [Clause], outputs: Int) -> Property {
        Property(numInputs: lower.count, numOutputs: outputs,
                 cases: [PropertyCase(box: InputBox(lower: lower, upper: upper), clauses: clauses)], source: "test")
    }

    func verify(_ graph: Graph, _ property: Property, _ settings: VerifierSettings = VerifierSettings(),
                method: VerificationMethod = .auto) throws -> VerificationResult {
        var s = settings
        s.timeout = min(s.timeout, 60)
        return try Verifier.forMethod(method, graph: graph, property: property, settings: s).verify(graph: graph, property: property)
    }

    /// Re-checks a `sat` result independently: x inside the box exactly; float32 everywhere except
    /// at the listed coordinates, whose intervals really hold no float32; y equal to the model in
    /// Double (and to `reference` when given); every atom holding in Double, with the listed
    /// equality atoms at zero slack also in the Float reference at an all-float32 point; the float32
    /// replay (when listed) equal to rounding x, within 1e-4 of the box, satisfying every atom
    /// (equality atoms included) within 1e-4 in Float.
    func assertRealWitness(_ r: VerificationResult, _ graph: Graph, _ p: Property, float32 reference: (([Double]) -> [Float])?,
                           _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(r.status, .sat, "\(name): \(r.details)", file: file, line: line)
        guard let cx = r.counterexample, p.cases.indices.contains(cx.caseIndex) else {
            return XCTFail("\(name): no counterexample", file: file, line: line)
        }
        let pc = p.cases[cx.caseIndex]
        XCTAssertTrue(pc.box.contains(cx.x), "\(name): x outside the box", file: file, line: line)
        for i in cx.x.indices {
            if cx.nonFloat32Coordinates.contains(i) {
                XCTAssertFalse(holdsFloat32(pc.box.lower[i], pc.box.upper[i]), "\(name): X_\(i) listed but its interval holds a float32", file: file, line: line)
            } else {
                XCTAssertTrue(isFloat32(cx.x[i]), "\(name): X_\(i) = \(cx.x[i]) is not float32 and not listed", file: file, line: line)
            }
        }
        let y = try graph.evaluateFirst(cx.x)
        XCTAssertEqual(y, cx.y, "\(name): y differs from model(x)", file: file, line: line)
        let atoms = pc.clauses[cx.clauseIndex].atoms
        for atom in atoms { XCTAssertLessThanOrEqual(atom.slack(y)!, 0, "\(name): atom fails in Double", file: file, line: line) }
        for (k, atom) in atoms.enumerated() where !cx.equalityAtoms.contains(k) {
            XCTAssertLessThanOrEqual(atom.slack(y)!, -VerifierSettings().safetyMargin(c: atom.c, d: atom.d, y: y),
                                     "\(name): atom \(k) neither clears the margin nor is listed as an equality atom", file: file, line: line)
        }
        let replayX: [Double]
        if cx.nonFloat32Coordinates.isEmpty {
            XCTAssertNil(cx.float32X, file: file, line: line)
            replayX = cx.x
        } else if let fx = cx.float32X {
            XCTAssertEqual(fx, cx.x.map { Double(Float($0)) }, "\(name): replay is not x rounded to float32", file: file, line: line)
            for i in fx.indices {
                XCTAssertLessThanOrEqual(max(0, pc.box.lower[i] - fx[i], fx[i] - pc.box.upper[i]), 1e-4, file: file, line: line)
            }
            replayX = fx
        } else {
            replayX = cx.x   // no replay possible (far from every float32): Double only
        }
        if let reference, cx.float32X != nil || cx.nonFloat32Coordinates.isEmpty {
            let y32 = reference(replayX).map(Double.init)
            for (k, atom) in atoms.enumerated() {
                let s = atom.slack(y32)!
                if cx.equalityAtoms.contains(k) && cx.nonFloat32Coordinates.isEmpty {
                    XCTAssertLessThanOrEqual(s, 0, "\(name): equality atom \(k) fails in float32", file: file, line: line)
                } else if !cx.nonFloat32Coordinates.isEmpty {
                    XCTAssertLessThanOrEqual(s, 1e-4, "\(name): replay fails atom \(k)", file: file, line: line)
                }
            }
        }
        XCTAssertEqual(cx.notes.isEmpty, cx.nonFloat32Coordinates.isEmpty && cx.equalityAtoms.isEmpty, file: file, line: line)
        let parsed = try parseVNNCompWitness(text: r.resultText, source: name)
        XCTAssertEqual(parsed.x, cx.x, file: file, line: line)
    }

    // MARK: - Shared cases (../shared/cases/soundness)

    func shared(_ model: String, _ spec: String) throws -> VerificationProblem {
        try VerifyTestData.problem("cases/soundness/\(model)", "cases/soundness/\(spec)")
    }

    func testSharedPinnedNonFloat32Coordinate() throws {
        let p = try shared("one_relu.onnx", "c14_pinned_non_f32_wide_x0.vnnlib")
        let r = try verify(p.graph, p.property)
        try assertRealWitness(r, p.graph, p.property, float32: nil, "c14")
        XCTAssertEqual(r.counterexample?.nonFloat32Coordinates, [1])
        XCTAssertEqual(r.counterexample?.x[1], 0.7)
        XCTAssertEqual(r.attack?.nonFloat32Coordinates, [0: [1]])
        XCTAssertEqual(r.attack?.rejectedCandidates, 0)
        // y = 2 relu(0.5 x0 + x1 - 0.5) - 0.5 >= 0.5 needs 0.5 x0 + 0.7 >= 1: x0 >= 0.6.
        XCTAssertGreaterThanOrEqual(r.counterexample?.x[0] ?? 0, 0.6)
    }

    func testSharedSubUlpBox() throws {
        let p = try shared("one_relu.onnx", "c15_subulp_box.vnnlib")
        let r = try verify(p.graph, p.property)
        try assertRealWitness(r, p.graph, p.property, float32: nil, "c15")
        XCTAssertEqual(r.counterexample?.nonFloat32Coordinates, [0])
        XCTAssertNotNil(r.counterexample?.float32X)
    }

    func testSharedEpsilonZeroJSONSpec() throws {
        let p = try shared("two_out.onnx", "j2_eps0_not_robust.json")
        let r = try verify(p.graph, p.property)
        try assertRealWitness(r, p.graph, p.property, float32: nil, "j2")
        XCTAssertEqual(r.counterexample?.x, [0.6, 0.5])
        XCTAssertEqual(r.counterexample?.nonFloat32Coordinates, [0])
        XCTAssertEqual(r.attack?.restarts, 0, "a single-point box takes no gradient runs")
    }

    func testSharedZeroSlackNegRelu() throws {
        let p = try shared("neg_relu_out.onnx", "v1_negrelu_ge0.vnnlib")
        let r = try verify(p.graph, p.property)
        try assertRealWitness(r, p.graph, p.property, float32: nil, "v1")
        XCTAssertEqual(r.counterexample?.equalityAtoms, [0])
        XCTAssertEqual(r.counterexample?.y, [0])
        XCTAssertEqual(r.counterexample?.float32Y, [0])
    }

    // MARK: - Held-out: pinned and sub-ulp coordinates

    /// Spec files written here for the shared one_relu model, y = 2 relu(0.5 x0 + x1 - 0.5) - 0.5
    /// (answers by hand), and an epsilon-0 JSON spec for two_out: sat where the unsafe set is
    /// reached, never sat where it is not.
    func testHeldOutSpecFilesOnSharedModels() throws {
        let dir = try TestData.makeTemporaryFolder("certus-degenerate")
        defer { try? FileManager.default.removeItem(at: dir) }
        func vnnlib(_ name: String, _ x0: (String, String), _ x1: (String, String), _ unsafe: String) -> String {
            let path = dir.appendingPathComponent(name).path
            let text = """
                (declare-const X_0 Real)
                (declare-const X_1 Real)
                (declare-const Y_0 Real)
                (assert (>= X_0 \(x0.0)))
                (assert (<= X_0 \(x0.1)))
                (assert (>= X_1 \(x1.0)))
                (assert (<= X_1 \(x1.1)))
                (assert \(unsafe))

                """
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            return path
        }
        let model = TestData.sharedPath("cases/soundness/one_relu.onnx")
        // x1 pinned at 0.65: y >= 0.5 needs x0 >= 0.7 (sat); y >= 1.2 needs x0 >= 1.4 (impossible).
        // x0 in a sub-ulp interval at 0.3, x1 pinned at 0.45: y = -0.3 (up to 1e-11): y >= -0.31 sat, y >= -0.29 not.
        let cases: [(String, (String, String), (String, String), String, Bool, [Int])] = [
            ("pinned_sat.vnnlib", ("-1.0", "1.0"), ("0.65", "0.65"), "(>= Y_0 0.5)", true, [1]),
            ("pinned_unsat.vnnlib", ("-1.0", "1.0"), ("0.65", "0.65"), "(>= Y_0 1.2)", false, []),
            ("subulp_sat.vnnlib", ("0.3", "0.30000000001"), ("0.45", "0.45"), "(>= Y_0 -0.31)", true, [0, 1]),
            ("subulp_unsat.vnnlib", ("0.3", "0.30000000001"), ("0.45", "0.45"), "(>= Y_0 -0.29)", false, []),
        ]
        for (name, x0, x1, unsafe, sat, nonFloat32) in cases {
            let p = try VerificationProblem.load(model: model, spec: vnnlib(name, x0, x1, unsafe))
            let r = try verify(p.graph, p.property)
            if sat {
                try assertRealWitness(r, p.graph, p.property, float32: nil, name)
                XCTAssertEqual(r.counterexample?.nonFloat32Coordinates, nonFloat32, name)
            } else {
                XCTAssertNotEqual(r.status, .sat, "\(name): \(r.details)")
                XCTAssertEqual(r.status, .unsat, "\(name): \(r.details)")
            }
        }
        // Epsilon 0 at a decimal centre: two_out gives y = (0.1, 0.4) at (0.6, 0.5) (README), so
        // label 0 is not robust and label 1 is.
        let twoOut = TestData.sharedPath("cases/soundness/two_out.onnx")
        for (label, sat) in [(0, true), (1, false)] {
            let path = dir.appendingPathComponent("eps0_\(label).json").path
            FileManager.default.createFile(atPath: path, contents: Data(#"{"center": [0.6, 0.5], "epsilon": 0, "label": \#(label)}"#.utf8))
            let p = try VerificationProblem.load(model: twoOut, spec: path)
            let r = try verify(p.graph, p.property)
            if sat {
                try assertRealWitness(r, p.graph, p.property, float32: nil, "eps0 label \(label)")
            } else {
                XCTAssertEqual(r.status, .unsat, "\(r.details)")
                XCTAssertEqual(r.attack?.restarts, 0)
            }
        }
    }

    /// Random networks with some coordinates pinned at decimals that are not float32 and others
    /// in sub-ulp intervals; the unsafe set Y_j >= y_j(p) - delta holds at a point p of the box.
    func testHeldOutPinnedAndSubUlpBoxes() throws {
        var rng = SplitMix64(seed: 2024)
        let decimals = [0.7, 0.3, -0.1, 1.1, 0.123456789, -2.2, 0.6, 0.05]
        for trial in 0..<12 {
            let n = 2 + trial % 3
            let mlp = MLP.random([n, 6, 3], &rng)
            let graph = mlp.graph()
            var lower = [Double](repeating: -1, count: n), upper = [Double](repeating: 1, count: n)
            var degenerate: [Int] = []
            for i in 0..<n where i == trial % n || (trial >= 6 && i == (trial + 1) % n) {
                let v = decimals[(trial + i) % decimals.count]
                XCTAssertFalse(isFloat32(v))
                if (trial + i) % 2 == 0 {
                    lower[i] = v; upper[i] = v   // pinned
                } else {
                    lower[i] = v; upper[i] = v + 1e-11 * max(1, abs(v))   // far narrower than a float32 step
                }
                if !holdsFloat32(lower[i], upper[i]) { degenerate.append(i) }
            }
            XCTAssertFalse(degenerate.isEmpty, "trial \(trial)")
            let point = (0..<n).map { rng.uniform(lower[$0], upper[$0]) }
            let j = trial % 3
            let yp = mlp.double(point)[j]
            var c = [Double](repeating: 0, count: 3); c[j] = -1
            let p = single(lower, upper, [Clause(atoms: [LinearAtom(c: c, d: -(yp - 0.05))])], outputs: 3)
            let r = try verify(graph, p)
            try assertRealWitness(r, graph, p, float32: mlp.float32, "pinned trial \(trial)")
            XCTAssertEqual(r.counterexample?.nonFloat32Coordinates, degenerate, "trial \(trial)")
            XCTAssertEqual(r.attack?.nonFloat32Coordinates, [0: degenerate], "trial \(trial)")
        }
    }

    /// Epsilon-0 robustness specs at decimal centres (as `RobustnessSpec` builds them): not robust
    /// gives sat at the centre; robust gives no sat, and the single-point box takes no gradient run.
    func testHeldOutEpsilonZeroRobustness() throws {
        var rng = SplitMix64(seed: 77)
        for trial in 0..<8 {
            let mlp = MLP.random([3, 5, 4], &rng)
            let graph = mlp.graph()
            let centre = [0.1, 0.2, 0.3].map { $0 + Double(trial) * 0.01 }
            XCTAssertTrue(centre.contains { !isFloat32($0) })
            let y = mlp.double(centre)
            let best = y.indices.max { y[$0] < y[$1] }!, worst = y.indices.min { y[$0] < y[$1] }!
            func property(label: Int) -> Property {
                let clauses = (0..<4).filter { $0 != label }.map { j -> Clause in
                    var c = [Double](repeating: 0, count: 4); c[label] = 1; c[j] = -1   // Y_label - Y_j <= 0
                    return Clause(atoms: [LinearAtom(c: c, d: 0)])
                }
                return single(centre, centre, clauses, outputs: 4)
            }
            let bad = property(label: worst)
            let r = try verify(graph, bad)
            try assertRealWitness(r, graph, bad, float32: mlp.float32, "eps0 trial \(trial)")
            XCTAssertEqual(r.counterexample?.x, centre)
            let sortedY = y.sorted()
            if sortedY[3] - sortedY[2] > 1e-3 {
                let good = property(label: best)
                let g = try verify(graph, good)
                XCTAssertNotEqual(g.status, .sat, "robust centre, trial \(trial)")
                XCTAssertEqual(g.attack?.restarts ?? 0, 0, "trial \(trial)")
            }
        }
    }

    /// A coordinate pinned so far from 0 that no float32 lies within 1e-4: accepted on the Double
    /// check alone, with no replay listed.
    func testPinnedBeyondReplayToleranceIsCheckedInDouble() throws {
        let v = 3000.00012
        XCTAssertFalse(holdsFloat32(v - 1e-4, v + 1e-4))
        let mlp = MLP(layers: [(w: [[1, 1]], b: [-2999])])   // y = x0 + x1 - 2999
        let graph = mlp.graph()
        let p = single([0, v], [1, v], [Clause(atoms: [LinearAtom(c: [-1], d: -1.5)])], outputs: 1)   // y >= 1.5
        let r = try verify(graph, p)
        try assertRealWitness(r, graph, p, float32: nil, "far pinned")
        XCTAssertEqual(r.counterexample?.nonFloat32Coordinates, [1])
        XCTAssertNil(r.counterexample?.float32X)
        XCTAssertTrue(r.counterexample?.notes.first?.contains("Double only") ?? false)
    }

    /// The float32 replay must also violate: y = 1e6 x - 699999.9999 at x pinned to 0.7 is 1e-4 in
    /// Double but about -0.012 at the float32 0.699999988, so `Y_0 >= 0` is not accepted; the
    /// attack reports the rejection and stops at once (one point, no gradient runs).
    func testReplayThatDoesNotViolateIsRejected() throws {
        let mlp = MLP(layers: [(w: [[1e6]], b: [-699999.9999])])
        let graph = mlp.graph()
        let p = single([0.7], [0.7], [Clause(atoms: [LinearAtom(c: [-1], d: 0)])], outputs: 1)
        XCTAssertLessThan(LinearAtom(c: [-1], d: 0).slack(try graph.evaluateFirst([0.7]))!, -1e-5)
        let r = try verify(graph, p, method: .attack)
        XCTAssertNotEqual(r.status, .sat, "\(r.details)")
        XCTAssertEqual(r.attack?.lastRejection, .replay)
        XCTAssertEqual(r.attack?.restarts, 0)
        XCTAssertFalse(r.attack?.timedOut ?? true)
        // With provers the Double violation blocks any proof.
        let auto = try verify(graph, p)
        XCTAssertNotEqual(auto.status, .unsat)
        XCTAssertNotEqual(auto.status, .sat)
    }

    /// y = relu(1e-30 x0 + a x1) - a with a = 1 + 2^-40 (not a float32) and x1 pinned at 1: at every
    /// point of the box y is exactly 0 in Double, but -2^-40 in float32 storage (the hidden value a
    /// rounds to 1). All-float32 points, so the equality rule needs float32 slack <= 0 too.
    var doubleOnlyZero: (mlp: MLP, lower: [Double], upper: [Double]) {
        let a = 1 + 0x1p-40
        return (MLP(layers: [(w: [[1e-30, a]], b: [0]), (w: [[1]], b: [-a])]), [-1, 1], [1, 1])
    }

    /// Candidates that keep failing the check end the attack after `maxRejectedCandidates`, even
    /// when it was told to run until the deadline: here every point of a free, all-float32 box
    /// has y exactly 0 in Double but -2^-40 in float32 storage (`doubleOnlyZero`), so `Y_0 >= 0`
    /// never passes the equality rule.
    func testRejectedCandidatesStopTheAttack() throws {
        let (mlp, lower, upper) = doubleOnlyZero
        let graph = mlp.graph()
        XCTAssertEqual(try graph.evaluateFirst([0.5, 1]), [0])
        XCTAssertEqual(try graph.evaluateFirstFloat32([0.5, 1]), [-0x1p-40])
        let p = single(lower, upper, [Clause(atoms: [LinearAtom(c: [-1], d: 0)])], outputs: 1)   // y >= 0
        var s = VerifierSettings()
        s.attackUntilDeadline = true
        s.maxRejectedCandidates = 200
        s.timeout = 600
        let r = try verify(graph, p, s, method: .attack)
        XCTAssertNotEqual(r.status, .sat)
        XCTAssertEqual(r.status, .unknown, "\(r.details)")
        XCTAssertEqual(r.attack?.stoppedOnRejections, true)
        XCTAssertEqual(r.attack?.rejectedCandidates, 200)
        XCTAssertEqual(r.attack?.lastRejection, .margin)
        XCTAssertTrue(r.details.joined().contains("rejected"))
    }

    // MARK: - Held-out: zero slack

    /// Outputs that are exactly 0 (or exactly equal) on part of the box: -relu(z) >= 0,
    /// relu(z) <= 0, and two identical outputs with Y_0 >= Y_1.
    func testHeldOutZeroSlack() throws {
        var rng = SplitMix64(seed: 5)
        var found = 0
        for trial in 0..<12 {
            var mlp = MLP.random([2, 6, 1], &rng)
            mlp.finalRelu = true
            let kind = trial % 3
            if kind == 0 { mlp.negate = true }
            if kind == 2 { mlp.layers[1].w.append(mlp.layers[1].w[0]); mlp.layers[1].b.append(mlp.layers[1].b[0]) }
            // Make sure the output is exactly 0 somewhere on the box (else shift the last bias down).
            let samples = (0..<400).map { _ in [rng.uniform(-1, 1), rng.uniform(-1, 1)] }
            if kind != 2 && !samples.contains(where: { mlp.double($0)[0] == 0 }) {
                mlp.layers[1].b = mlp.layers[1].b.map { $0 - 5 }
                XCTAssertTrue(samples.contains { mlp.double($0)[0] == 0 })
            }
            let graph = mlp.graph()
            let atom: LinearAtom
            switch kind {
            case 0: atom = LinearAtom(c: [-1], d: 0)        // Y_0 >= 0
            case 1: atom = LinearAtom(c: [1], d: 0)         // Y_0 <= 0
            default: atom = LinearAtom(c: [-1, 1], d: 0)    // Y_0 >= Y_1
            }
            let p = single([-1, -1], [1, 1], [Clause(atoms: [atom])], outputs: mlp.outputs)
            let r = try verify(graph, p)
            try assertRealWitness(r, graph, p, float32: mlp.float32, "zero slack trial \(trial)")
            if r.counterexample?.equalityAtoms == [0] { found += 1 }
        }
        XCTAssertEqual(found, 12, "these unsafe sets hold only with equality")
    }

    /// relu(z) <= 0 where z >= 0.25 on the whole box: never sat (the equality rule needs exact 0).
    func testZeroSlackNeedsExactZero() throws {
        let mlp = MLP(layers: [(w: [[0.25, 0.25]], b: [0.75])], finalRelu: true)
        let graph = mlp.graph()
        let p = single([-1, -1], [1, 1], [Clause(atoms: [LinearAtom(c: [1], d: 0)])], outputs: 1)
        XCTAssertEqual(try verify(graph, p).status, .unsat)
        // At an all-float32 point, a Double slack of -1e-13 (inside the margin) with a float32 slack
        // above 0 is not accepted: y >= -1e-13 for `doubleOnlyZero` (y = 0 in Double, -2^-40 in float32).
        let (dz, lower, upper) = doubleOnlyZero
        let q = single(lower, upper, [Clause(atoms: [LinearAtom(c: [-1], d: 1e-13)])], outputs: 1)
        var s = VerifierSettings()
        s.maxRejectedCandidates = 50
        let r = try verify(dz.graph(), q, s, method: .attack)
        XCTAssertNotEqual(r.status, .sat)
        XCTAssertEqual(r.attack?.lastRejection, .margin)
        // At x pinned at 0.1 (no float32 there), y = x - 0.1 is exactly 0 in Double, a real point of
        // the box: y <= 1e-12 and y <= 0 hold, and the replay at float32(0.1) misses by 1.5e-9, within
        // the tolerance: sat. y <= -1e-12 does not hold at 0.1 (Double slack 1e-12): never sat.
        let lin = MLP(layers: [(w: [[1]], b: [-0.1])])   // y = x - 0.1
        for (d, sat) in [(1e-12, true), (0, true), (-1e-12, false)] {
            let pinned = single([0.1], [0.1], [Clause(atoms: [LinearAtom(c: [1], d: d)])], outputs: 1)
            let t = try verify(lin.graph(), pinned, method: .attack)
            if sat {
                try assertRealWitness(t, lin.graph(), pinned, float32: lin.float32, "y = x - 0.1 <= \(d) at 0.1")
                XCTAssertEqual(t.counterexample?.equalityAtoms, [0])
            } else {
                XCTAssertNotEqual(t.status, .sat, "y <= \(d): \(t.details)")
                XCTAssertEqual(t.attack?.rejectedCandidates, 0, "the clause fails in Double: no candidate")
            }
        }
    }

    // MARK: - Held-out: equality at non-float32 points, and minima reached at one float32 point

    /// y = x with X_0 pinned at a decimal that is not a float32: `Y_0 <= v` and `Y_0 >= v` hold
    /// with zero slack at v (Double), and the replay at float32(v) satisfies them within 1e-4, so
    /// both are sat (VNN-LIB text written here, decimals parsed as in a spec file). An atom whose
    /// Double slack at v is positive, by one Double ulp or by half the float32 rounding error
    /// (which the replay satisfies), is never sat.
    func testPinnedDecimalEqualityIsSat() throws {
        let identity = MLP(layers: [(w: [[1]], b: [0])])
        let graph = identity.graph()
        for text in ["0.3", "0.7", "-0.45", "12.34", "0.001", "-987.65", "-2.7", "123.456"] {
            let v = Double(text)!
            XCTAssertFalse(isFloat32(v), text)
            for op in ["<=", ">="] {
                let spec = """
                    (declare-const X_0 Real)
                    (declare-const Y_0 Real)
                    (assert (>= X_0 \(text)))
                    (assert (<= X_0 \(text)))
                    (assert (\(op) Y_0 \(text)))

                    """
                let p = try VNNLib.parse(text: spec, source: "pin\(text)_\(op).vnnlib")
                let r = try verify(graph, p)
                try assertRealWitness(r, graph, p, float32: identity.float32, "pinned \(text), Y_0 \(op) \(text)")
                XCTAssertEqual(r.counterexample?.x, [v])
                XCTAssertEqual(r.counterexample?.nonFloat32Coordinates, [0])
                XCTAssertEqual(r.counterexample?.equalityAtoms, [0])
                XCTAssertEqual(r.counterexample?.float32X, [Double(Float(v))])
                XCTAssertTrue(r.counterexample?.notes.contains { $0.contains("box's own values") } ?? false)
            }
            // Positive Double slack at v: one Double ulp, and halfway to float32(v) (where the
            // replay holds with slack <= 0): not sat in either direction.
            let f = Double(Float(v))
            let half = v + (f - v) / 2
            XCTAssertNotEqual(half, v)
            let towardF: LinearAtom = f > v ? LinearAtom(c: [-1], d: -half) : LinearAtom(c: [1], d: half)   // Y beyond half, toward f
            for atom in [LinearAtom(c: [-1], d: -v.nextUp), LinearAtom(c: [1], d: v.nextDown), towardF] {
                XCTAssertGreaterThan(atom.slack([v])!, 0)
                let p = single([v], [v], [Clause(atoms: [atom])], outputs: 1)
                var s = VerifierSettings()
                s.timeout = 5
                s.finalAttack = false   // a search that gives up answers at once
                let r = try verify(graph, p, s)
                XCTAssertNotEqual(r.status, .sat, "pinned \(text), \(atom): \(r.details)")
                XCTAssertEqual(r.attack?.rejectedCandidates, 0, "pinned \(text): the clause fails in Double")
            }
        }
    }

    /// A free coordinate next to a pinned one: y = relu(x0) - relu(x1) with x1 pinned at v > 0 is
    /// exactly -v wherever x0 <= 0, so `Y_0 <= -v` is sat (zero slack at the box's value), and
    /// `Y_0 <= -v` by one Double ulp less is not (y >= -v everywhere).
    func testPinnedEqualityWithFreeCoordinate() throws {
        let mlp = MLP(layers: [(w: [[1, 0], [0, 1]], b: [0, 0]), (w: [[1, -1]], b: [0])])
        let graph = mlp.graph()
        for v in [0.3, 0.7, 2.2, 0.05] {
            let p = single([-1, v], [1, v], [Clause(atoms: [LinearAtom(c: [1], d: -v)])], outputs: 1)
            let r = try verify(graph, p)
            try assertRealWitness(r, graph, p, float32: mlp.float32, "x1 = \(v), Y_0 <= -\(v)")
            XCTAssertEqual(r.counterexample?.nonFloat32Coordinates, [1])
            XCTAssertEqual(r.counterexample?.equalityAtoms, [0])
            XCTAssertLessThanOrEqual(r.counterexample?.x[0] ?? 1, 0)
            let q = single([-1, v], [1, v], [Clause(atoms: [LinearAtom(c: [1], d: -v.nextUp)])], outputs: 1)
            // (The attack alone: a prover cannot close a 1-ulp gap and would search to the time limit.)
            let t = try verify(graph, q, method: .attack)
            XCTAssertNotEqual(t.status, .sat, "x1 = \(v), Y_0 <= -nextUp(\(v)): \(t.details)")
        }
    }

    /// y = x on intervals narrower than one float32 step: atoms that hold with zero slack at an
    /// end of the interval (or with a slack smaller than the margin everywhere) are sat, in both
    /// directions; atoms beyond the interval's image are not.
    func testSubUlpBoxEquality() throws {
        let identity = MLP(layers: [(w: [[1]], b: [0])])
        let graph = identity.graph()
        for v in [0.65, -1.1, 45.678, 0.0123, -2.7000000001, 0.30000000001] {
            let w = 5e-11 * max(1, abs(v))
            let lo = v, hi = v + w
            XCTAssertFalse(holdsFloat32(lo, hi), "\(v)")
            let satAtoms = [LinearAtom(c: [-1], d: -lo), LinearAtom(c: [1], d: hi),     // Y >= lo, Y <= hi: everywhere
                            LinearAtom(c: [-1], d: -hi), LinearAtom(c: [1], d: lo)]     // Y >= hi, Y <= lo: at one end
            for atom in satAtoms {
                let p = single([lo], [hi], [Clause(atoms: [atom])], outputs: 1)
                let r = try verify(graph, p)
                try assertRealWitness(r, graph, p, float32: identity.float32, "[\(lo), \(hi)] \(atom)")
                XCTAssertEqual(r.counterexample?.nonFloat32Coordinates, [0])
                XCTAssertEqual(r.counterexample?.equalityAtoms, [0])
            }
            let unsatAtoms = [LinearAtom(c: [-1], d: -(hi + w)), LinearAtom(c: [1], d: lo - w),
                              LinearAtom(c: [-1], d: -hi.nextUp), LinearAtom(c: [1], d: lo.nextDown)]
            for atom in unsatAtoms {
                let p = single([lo], [hi], [Clause(atoms: [atom])], outputs: 1)
                var s = VerifierSettings()
                s.timeout = 5
                s.finalAttack = false   // a search that gives up answers at once
                let r = try verify(graph, p, s)
                XCTAssertNotEqual(r.status, .sat, "[\(lo), \(hi)] \(atom): \(r.details)")
            }
        }
    }

    /// The vee `y = -sum_i (relu(x_i - c_i) + relu(c_i - x_i)) = -sum_i |x_i - c_i|` with float32
    /// centres c: `Y_0 >= 0` holds only at x = c, with zero slack. With the attack reduced to the
    /// box centre and no final attack, each complete prover must find it from its own minimiser
    /// (MILP optimum, ReLU-split leaf LP, input-split candidate snapped to float32).
    func testZeroOnlyAtOneFloat32PointIsFoundByCompleteProvers() throws {
        for centre in [[0.3], [-0.65], [0.1234], [0.3, -0.77]] {
            let c = centre.map { Double(Float($0)) }
            let n = c.count
            var w1: [[Double]] = [], b1: [Double] = []
            for i in 0..<n {
                var e = [Double](repeating: 0, count: n); e[i] = 1
                w1.append(e); b1.append(-c[i])
                w1.append(e.map { -$0 }); b1.append(c[i])
            }
            let mlp = MLP(layers: [(w: w1, b: b1), (w: [[Double](repeating: -1, count: 2 * n)], b: [0])])
            let graph = mlp.graph()
            XCTAssertEqual(try graph.evaluateFirst(c), [0])
            let p = single([Double](repeating: -1, count: n), [Double](repeating: 1, count: n),
                           [Clause(atoms: [LinearAtom(c: [-1], d: 0)])], outputs: 1)   // Y_0 >= 0
            var s = VerifierSettings()
            s.attackRestarts = 0; s.randomSamples = 0; s.faceSamples = 0; s.cornerSampling = false
            s.finalAttack = false
            s.timeout = 30
            for method in [VerificationMethod.milp, .branchAndBound, .inputSplit] {
                let r = try verify(graph, p, s, method: method)
                try assertRealWitness(r, graph, p, float32: mlp.float32, "vee at \(c), \(method)")
                XCTAssertEqual(r.method, method.rawValue, "\(method): found by the prover, \(r.details)")
                XCTAssertEqual(r.counterexample?.x, c)
                XCTAssertEqual(r.counterexample?.equalityAtoms, [0])
            }
        }
    }

    /// The vee with a centre that is not a float32 (c = 0.3 as a Double constant): y = 0 only at
    /// x = 0.3, which the box holds as a Double but no float32 input reaches (y = -1.2e-8 at the
    /// nearest float32). The provers' minimisers snap off the zero: never sat; and, since a point
    /// of the box does violate in Double, never unsat.
    func testZeroOnlyAtNonFloat32PointIsNotSat() throws {
        let c = 0.3
        let mlp = MLP(layers: [(w: [[1], [-1]], b: [-c, c]), (w: [[-1, -1]], b: [0])])
        let graph = mlp.graph()
        XCTAssertEqual(try graph.evaluateFirst([c]), [0])
        let p = single([-1], [1], [Clause(atoms: [LinearAtom(c: [-1], d: 0)])], outputs: 1)
        var s = VerifierSettings()
        s.attackRestarts = 2
        s.finalAttack = false
        s.timeout = 5
        for method in [VerificationMethod.milp, .reluSplit, .inputSplit] {
            let r = try verify(graph, p, s, method: method)
            XCTAssertNotEqual(r.status, .sat, "\(method): \(r.details)")
            XCTAssertNotEqual(r.status, .unsat, "\(method): \(r.details)")
        }
    }

    // MARK: - Unit checks of the witness point

    func testWitnessPointUsesBoxValuesWhereNoFloat32Exists() {
        let box = InputBox(lower: [0.7, 0.6, 0.5, -1], upper: [0.7, 0.6000000001, 0.5 + 1e-10, 1])
        XCTAssertEqual(CounterexampleCheck.nonFloat32Coordinates(of: box), [0, 1])
        let w = CounterexampleCheck.witnessPoint([0.7, 0.9, 0.5000000000001, 0.3], in: box)
        XCTAssertEqual(w?.nonFloat32, [0, 1])
        XCTAssertEqual(w?.x[0], 0.7)
        XCTAssertEqual(w?.x[1], 0.6000000001, "clamped into the interval")
        XCTAssertEqual(w?.x[2], 0.5, "a float32 inside the interval is used")
        XCTAssertEqual(w?.x[3], Double(Float(0.3)))
        XCTAssertTrue(box.contains(w!.x))
        XCTAssertNil(CounterexampleCheck.witnessPoint([.nan, 0, 0, 0], in: box))
        XCTAssertNil(CounterexampleCheck.witnessPoint([0, 0], in: box))
        let replay = CounterexampleCheck.float32Replay(w!.x, box: box, tolerance: 1e-4)
        XCTAssertEqual(replay, w!.x.map { Double(Float($0)) })
        XCTAssertNil(CounterexampleCheck.float32Replay([3000.00012], box: InputBox(lower: [3000.00012], upper: [3000.00012]), tolerance: 1e-4))
    }

    func testCounterexampleJSONRoundTripAndOldForm() throws {
        let cx = Counterexample(x: [0.7], y: [1], caseIndex: 0, clauseIndex: 2, nonFloat32Coordinates: [0],
                                float32X: [Double(Float(0.7))], float32Y: [1], equalityAtoms: [])
        let data = try JSONEncoder().encode(cx)
        XCTAssertEqual(try JSONDecoder().decode(Counterexample.self, from: data), cx)
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("\"non_float32_coordinates\":[0]"), text)
        let old = try JSONDecoder().decode(Counterexample.self, from: Data(#"{"x":[1],"y":[2],"case_index":0,"clause_index":0}"#.utf8))
        XCTAssertEqual(old.nonFloat32Coordinates, [])
        XCTAssertNil(old.float32X)
    }

    /// `Graph.evaluateFirstFloat32` equals the Float reference network on random inputs (Gemm
    /// sums are exactly rounded there, so allow a few float32 ulps against the Float loop).
    func testFloat32EvaluationMatchesFloatArithmetic() throws {
        var rng = SplitMix64(seed: 9)
        let mlp = MLP.random([4, 8, 8, 3], &rng)
        let graph = mlp.graph()
        for _ in 0..<200 {
            let x = (0..<4).map { _ in rng.uniform(-2, 2) }
            let a = try graph.evaluateFirstFloat32(x), b = mlp.float32(x)
            for j in a.indices {
                XCTAssertEqual(Double(Float(a[j])), a[j], "not a float32")
                XCTAssertEqual(a[j], Double(b[j]), accuracy: 8 * Double(max(abs(b[j]), 1).ulp))
            }
        }
    }

    // MARK: - Many disjuncts: the bound before the attack

    /// 5,000 unsafe disjuncts on a small linear model, each below the model's exact minimum over
    /// the box (computed here from the weights): unsat, and the attack makes no gradient run.
    /// With one violated disjunct among them: sat on that disjunct, and the attack works on it alone.
    func testManyDisjunctsAreBoundedBeforeTheAttack() throws {
        var rng = SplitMix64(seed: 11)
        let mlp = MLP.random([3, 4], &rng)
        let graph = mlp.graph()
        let lower = [-1.0, -0.5, 0], upper = [1.0, 0.5, 2]
        var clauses: [Clause] = []
        for _ in 0..<5000 {
            let c = (0..<4).map { _ in rng.uniform(-1, 1) }
            let (lo, _) = mlp.linearRange(c, lower: lower, upper: upper)
            clauses.append(Clause(atoms: [LinearAtom(c: c, d: lo - 0.01 - rng.uniform(0, 1))]))   // c·y <= d: impossible
        }
        let settings = VerifierSettings()
        let p = single(lower, upper, clauses, outputs: 4)
        let r = try verify(graph, p, settings)
        XCTAssertEqual(r.status, .unsat, "\(r.details)")
        XCTAssertEqual(r.attack?.skippedClauses, 5000)
        XCTAssertEqual(r.attack?.restarts, 0)
        XCTAssertEqual(r.attack?.gradientSteps, 0)

        // One violated disjunct (its threshold at the middle of the exact range).
        let k = 3217
        let c = clauses[k].atoms[0].c
        let (lo, hi) = mlp.linearRange(c, lower: lower, upper: upper)
        var q = p
        q.cases[0].clauses[k] = Clause(atoms: [LinearAtom(c: c, d: (lo + hi) / 2)])
        let s = try verify(graph, q, settings)
        try assertRealWitness(s, graph, q, float32: mlp.float32, "one violated of 5000")
        XCTAssertEqual(s.counterexample?.clauseIndex, k)
        XCTAssertEqual(s.attack?.skippedClauses, 4999)
        XCTAssertLessThanOrEqual(s.attack?.restarts ?? .max, settings.attackRestarts)
    }

    /// The same on a ReLU network, with thresholds 2 to 4 below an interval bound computed here
    /// (CROWN need not beat interval arithmetic on every row, so the gap leaves it room).
    func testManyDisjunctsOnReluNetwork() throws {
        var rng = SplitMix64(seed: 12)
        let mlp = MLP.random([2, 8, 3], &rng)
        let graph = mlp.graph()
        let lower = [-1.0, -1.0], upper = [1.0, 1.0]
        // Interval bounds of the hidden ReLUs, then of c·y.
        let hidden = mlp.layers[0]
        let hLo = hidden.w.indices.map { j in max(0, hidden.b[j] + (0..<2).map { min(hidden.w[j][$0] * lower[$0], hidden.w[j][$0] * upper[$0]) }.reduce(0, +)) }
        let hHi = hidden.w.indices.map { j in max(0, hidden.b[j] + (0..<2).map { max(hidden.w[j][$0] * lower[$0], hidden.w[j][$0] * upper[$0]) }.reduce(0, +)) }
        var clauses: [Clause] = []
        for _ in 0..<5000 {
            let c = (0..<3).map { _ in rng.uniform(-1, 1) }
            var lo = 0.0
            for j in 0..<8 {
                var a = 0.0
                for o in 0..<3 { a += c[o] * mlp.layers[1].w[o][j] }
                lo += min(a * hLo[j], a * hHi[j])
            }
            for o in 0..<3 { lo += c[o] * mlp.layers[1].b[o] }
            clauses.append(Clause(atoms: [LinearAtom(c: c, d: lo - 2 - rng.uniform(0, 2))]))
        }
        let p = single(lower, upper, clauses, outputs: 3)
        let settings = VerifierSettings()
        let r = try verify(graph, p, settings)
        XCTAssertEqual(r.status, .unsat, "\(r.details)")
        // CROWN need not beat the interval bound on every row; most rows it must refute, and the
        // attack works only on the rest (at most its capped restarts per open clause).
        let skipped = r.attack?.skippedClauses ?? 0
        XCTAssertGreaterThan(skipped, 4000, "\(r.details)")
        XCTAssertLessThanOrEqual(r.attack?.restarts ?? .max, (5000 - skipped) * settings.inputSplit.attackRestartsBeforeSearch)
        // Few clauses: the attack runs first, as before (no bound before it).
        let few = single(lower, upper, Array(clauses.prefix(4)), outputs: 3)
        let f = try verify(graph, few)
        XCTAssertEqual(f.status, .unsat)
        XCTAssertEqual(f.attack?.skippedClauses, 0)
        XCTAssertGreaterThan(f.attack?.restarts ?? 0, 0)
    }
}
