import XCTest
import Foundation
import Certus
import CertusLP

/// The per-neuron LP/MILP encodings of the piecewise-linear operators
/// (`ElementwiseRelaxation.piecewiseLinearEncoding`) and `NetworkLP` on LeakyReLU networks.
///
/// References are independent of the encoding's formulas: the operator's own `apply` for the
/// graph, barycentric coordinates for the convex hull of a two-piece function on [l, u] (the
/// triangle with vertices (l, f(l)), (0, 0), (u, f(u))), a dense grid with a Lipschitz margin for
/// network minima, and the model's evaluation at the MILP's minimiser.
final class PiecewiseLinearLPTests: XCTestCase {
    static let operators: [(name: String, op: any ElementwiseRelaxation)] = [
        ("Relu", Relu()), ("LeakyRelu 0.01", LeakyRelu(alpha: 0.01)), ("LeakyRelu 0.2", LeakyRelu(alpha: 0.2)),
        ("LeakyRelu 2", LeakyRelu(alpha: 2)), ("LeakyRelu -0.3", LeakyRelu(alpha: -0.3)),
    ]

    /// Unstable intervals (l < 0 < u), including lopsided ones.
    static let unstable: [(Double, Double)] = [(-1.3, 0.7), (-0.2, 5), (-4, 0.01), (-1e-3, 1e-3), (-37.5, 12.25)]
    /// Stable intervals, zero-width ones and those ending at the kink included.
    static let stable: [(Double, Double)] = [(0.5, 2), (-3, -1), (0, 0), (-2, 0), (0, 3), (1.5, 1.5), (-0.7, -0.7)]

    /// Whether (z, y) is in the triangle with vertices (l, f(l)), (0, 0), (u, f(u)) (the
    /// convex hull of the graph of a two-piece function with its kink at 0), within `tol`
    /// of its barycentric coordinates.
    static func inTriangle(_ z: Double, _ y: Double, l: Double, u: Double, f: (Double) -> Double, tol: Double) -> Bool {
        let (x1, y1, x2, y2, x3, y3) = (l, f(l), 0.0, 0.0, u, f(u))
        let det = (y2 - y3) * (x1 - x3) + (x3 - x2) * (y1 - y3)
        let a = ((y2 - y3) * (z - x3) + (x3 - x2) * (y - y3)) / det
        let b = ((y3 - y1) * (z - x3) + (x1 - x3) * (y - y3)) / det
        let c = 1 - a - b
        return a >= -tol && b >= -tol && c >= -tol
    }

    /// Whether (z, y, a) satisfies the encoding's rows and y's bounds within `tol`.
    static func satisfies(_ e: PiecewiseLinearEncoding, z: Double, y: Double, a: Double = 0, tol: Double) -> Bool {
        switch e {
        case .affine(let s, let b): return abs(y - (s * z + b)) <= tol
        case .rows(let lo, let hi, let rows, _):
            return y >= lo - tol && y <= hi + tol && rows.allSatisfy { $0.holds(z: z, y: y, a: a, tolerance: tol) }
        }
    }

    func testStableNeuronsAreAffineAndExact() {
        for (name, op) in Self.operators {
            for (l, u) in Self.stable {
                for mode in [PiecewiseLinearEncoding.Mode.hull, .exact] {
                    guard let e = op.piecewiseLinearEncoding(l: l, u: u, mode: mode) else { XCTFail("\(name) [\(l), \(u)]: no encoding"); continue }
                    guard case .affine(let s, let b) = e else { XCTFail("\(name) [\(l), \(u)] \(mode): \(e) is not affine"); continue }
                    for k in 0...20 {
                        let z = l + (u - l) * Double(k) / 20
                        XCTAssertEqual(s * z + b, op.apply(z), accuracy: 1e-12, "\(name) [\(l), \(u)] at \(z)")
                    }
                }
            }
        }
        // Every operator that says it is piecewise linear gives an encoding; the others none.
        for op in [Sigmoid() as any ElementwiseRelaxation, Tanh(), Gelu(), Sin()] {
            XCTAssertFalse(op.isPiecewiseLinear)
            XCTAssertNil(op.piecewiseLinearEncoding(l: -1, u: 1, mode: .hull), "\(type(of: op))")
        }
        for op in LeakyRelu.representatives + [LeakyRelu(alpha: 1)] {
            XCTAssertTrue(op.isPiecewiseLinear)
            XCTAssertNotNil(op.piecewiseLinearEncoding(l: -1, u: 1, mode: .exact), "alpha \(op.alpha)")
        }
        // alpha = 1 is the identity: affine even across 0.
        XCTAssertEqual(LeakyRelu(alpha: 1).piecewiseLinearEncoding(l: -1, u: 2, mode: .exact), .affine(slope: 1, intercept: 0))
        // Non-finite or reversed bounds: no encoding.
        XCTAssertNil(Relu().piecewiseLinearEncoding(l: -.infinity, u: 1, mode: .hull))
        XCTAssertNil(LeakyRelu(alpha: 0.1).piecewiseLinearEncoding(l: 1, u: -1, mode: .hull))
    }

    /// Hull mode: the rows and y's bounds hold on the graph and cut out exactly the triangle
    /// (the convex hull of the graph on [l, u]), checked on random points of the bounding box.
    func testHullRowsAreTheConvexHullOfTheGraph() {
        var rng = SplitMix64(seed: 11)
        func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * Double(rng.next() >> 11) / Double(1 << 53) }
        for (name, op) in Self.operators {
            for (l, u) in Self.unstable {
                guard let e = op.piecewiseLinearEncoding(l: l, u: u, mode: .hull),
                      case .rows(let yLo, let yHi, let rows, let binary) = e else { XCTFail("\(name) [\(l), \(u)]: not rows"); continue }
                XCTAssertFalse(binary)
                XCTAssertTrue(rows.allSatisfy { $0.a == 0 }, "\(name): an LP row uses the binary")
                let scale = max(1, abs(l), abs(u)) * max(1, abs(op.apply(l)), abs(op.apply(u)))
                let tol = 1e-12 * scale
                // The graph is inside.
                for k in 0...200 {
                    let z = l + (u - l) * Double(k) / 200
                    XCTAssertTrue(Self.satisfies(e, z: z, y: op.apply(z), tol: tol), "\(name) [\(l), \(u)]: graph point \(z) cut")
                }
                XCTAssertTrue(Self.satisfies(e, z: 0, y: 0, tol: tol))
                // Every point of the triangle (random convex combinations of its vertices) is kept.
                let vertices = [(l, op.apply(l)), (0.0, 0.0), (u, op.apply(u))]
                for _ in 0..<1000 {
                    let (p, q) = (uniform(0, 1), uniform(0, 1))
                    let (w1, w2) = (min(p, q), max(p, q) - min(p, q))
                    let w = [w1, w2, 1 - w1 - w2]
                    let z = zip(w, vertices).map { $0 * $1.0 }.reduce(0, +), y = zip(w, vertices).map { $0 * $1.1 }.reduce(0, +)
                    XCTAssertTrue(Self.satisfies(e, z: z, y: y, tol: 1e-11 * scale), "\(name) [\(l), \(u)]: (\(z), \(y)) in the hull is cut")
                }
                // Points of the bounding box clearly outside the triangle are cut.
                let ys = vertices.map(\.1)
                let (bl, bh) = (ys.min()!, ys.max()!)
                var outside = 0
                for _ in 0..<4000 {
                    let z = uniform(l, u), y = uniform(bl - 0.1 * (bh - bl), bh + 0.1 * (bh - bl))
                    guard !Self.inTriangle(z, y, l: l, u: u, f: op.apply, tol: 1e-7) else { continue }
                    XCTAssertFalse(Self.satisfies(e, z: z, y: y, tol: tol), "\(name) [\(l), \(u)]: (\(z), \(y)) outside the hull is kept")
                    outside += 1
                }
                XCTAssertGreaterThan(outside, 1000, "\(name) [\(l), \(u)]")
                XCTAssertLessThanOrEqual(yLo, bl); XCTAssertGreaterThanOrEqual(yHi, bh)
            }
        }
    }

    /// Exact mode: the graph satisfies the rows for some binary value (the one of its side of
    /// the kink), and every point off the graph, inside the hull or not, is cut for both values.
    func testMILPRowsAreExactlyTheGraph() {
        var rng = SplitMix64(seed: 12)
        func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * Double(rng.next() >> 11) / Double(1 << 53) }
        for (name, op) in Self.operators {
            for (l, u) in Self.unstable {
                guard let e = op.piecewiseLinearEncoding(l: l, u: u, mode: .exact),
                      case .rows(_, _, let rows, let binary) = e else { XCTFail("\(name) [\(l), \(u)]: not rows"); continue }
                XCTAssertTrue(binary)
                XCTAssertTrue(rows.contains { $0.a != 0 })
                // The MILP rows include the hull's (the LP is its relaxation).
                if case .rows(_, _, let hullRows, _) = op.piecewiseLinearEncoding(l: l, u: u, mode: .hull)! {
                    for r in hullRows { XCTAssertTrue(rows.contains(r), "\(name): hull row \(r) missing in MILP mode") }
                }
                let scale = max(1, abs(l), abs(u)) * max(1, abs(op.apply(l)), abs(op.apply(u)))
                let tol = 1e-12 * scale
                for k in 0...200 {
                    let z = l + (u - l) * Double(k) / 200
                    let y = op.apply(z)
                    let side: Double = z > 0 ? 1 : z < 0 ? 0 : (k % 2 == 0 ? 1 : 0)   // at 0 both sides
                    XCTAssertTrue(Self.satisfies(e, z: z, y: y, a: side, tol: tol), "\(name) [\(l), \(u)]: graph point \(z) cut (a = \(side))")
                    // Off the graph by 1e-6 of the scale: cut for both binary values.
                    for dy in [1e-6 * scale, -1e-6 * scale, 0.3 * (u - l)] {
                        for a in [0.0, 1.0] {
                            XCTAssertFalse(Self.satisfies(e, z: z, y: y + dy, a: a, tol: tol),
                                           "\(name) [\(l), \(u)]: (\(z), f(z) + \(dy)) kept with a = \(a)")
                        }
                    }
                }
                // Random points of the bounding box: kept for some binary iff on the graph.
                for _ in 0..<2000 {
                    let z = uniform(l, u), y = uniform(min(op.apply(l), op.apply(u), 0) - 1, max(op.apply(l), op.apply(u), 0) + 1)
                    let kept = [0.0, 1.0].contains { Self.satisfies(e, z: z, y: y, a: $0, tol: tol) }
                    if abs(y - op.apply(z)) > 1e-9 * scale { XCTAssertFalse(kept, "\(name) [\(l), \(u)]: (\(z), \(y)) off the graph kept") }
                }
                // A wrong binary value cuts the graph away from the kink (a = 1 means z >= 0).
                XCTAssertFalse(Self.satisfies(e, z: l, y: op.apply(l), a: 1, tol: tol), "\(name): (l, f(l)) kept with a = 1")
                XCTAssertFalse(Self.satisfies(e, z: u, y: op.apply(u), a: 0, tol: tol), "\(name): (u, f(u)) kept with a = 0")
            }
        }
    }

    /// ReLU's encoding is the classic one, row for row: y in [0, u], y >= z, the triangle's chord
    /// (u - l) y - u z <= -u l, and Tjeng's y - z - l a <= -l, y - u a <= 0.
    func testReluEncodingIsTheTriangleAndTjengsBigM() {
        let (l, u) = (-1.5, 2.5)
        let e = Relu().piecewiseLinearEncoding(l: l, u: u, mode: .exact)
        let expected = PiecewiseLinearEncoding.rows(yLower: 0, yUpper: u, rows: [
            .init(z: -1, y: 1, lower: 0, upper: .infinity),
            .init(z: -u, y: u - l, lower: -.infinity, upper: -u * l),
            .init(z: -1, y: 1, a: -l, lower: -.infinity, upper: -l),
            .init(z: 0, y: 1, a: -u, lower: -.infinity, upper: 0),
        ], binary: true)
        XCTAssertEqual(e, expected)
    }

    // MARK: - NetworkLP

    /// The MILP optimum of the output of small LeakyReLU networks (2 -> h -> h -> 1) over
    /// [-1, 1]^2 is their true minimum and maximum: never above a dense grid's, never below the
    /// grid's minus its Lipschitz margin, reached by the model at the MILP's minimiser; the LP
    /// relaxation is never above the MILP.
    func testMILPOptimumOfLeakyReluNetworksMatchesTheGrid() throws {
        var checked = 0
        for (seed, alpha, h) in [(0 as UInt64, 0.01, 4), (1, 0.2, 5), (2, 0.2, 6), (3, 2.0, 4), (4, -0.3, 5), (5, 0.01, 6), (6, 0, 5)] {
            // alpha 0: ReLU itself, through the same encoding.
            let act: any Operator = alpha == 0 ? Relu() : LeakyRelu(alpha: alpha)
            let net = try GeneralBranchingTests.net(seed: seed, h: h, act: act, slope: max(1, abs(alpha)), scale: 2)
            let engine = BoundEngine(graph: net.graph)
            let box = InputBox(lower: [-1, -1], upper: [1, 1])
            var gridMax = -Double.infinity
            for i in 0...100 { for j in 0...100 {
                gridMax = max(gridMax, try net.graph.evaluateFirst([-1 + 0.02 * Double(i), -1 + 0.02 * Double(j)])[0])
            } }
            for sign in [1.0, -1.0] {
                let atom = LinearAtom(c: [sign], d: 0)
                let db = try engine.boundDomain(box: box, atoms: [atom], splits: [])
                let milp = try NetworkLP(graph: engine.graph, box: box, relus: db.splittable, mode: .milp)
                XCTAssertGreaterThan(milp.unstableCount, 0, "seed \(seed): nothing unstable, the MILP is trivial")
                XCTAssertEqual(milp.reluInputVariables.count, 2)
                try milp.setObjective(row: atom)
                var options = LPOptions()
                options.mipGap = 0
                options.timeLimit = 60
                let r = milp.lp.solve(options: options)
                XCTAssertEqual(r.status, .optimal, "seed \(seed)")
                guard r.status == .optimal, let v = r.objective, let x = milp.inputPoint(r) else { continue }
                // sign * y: the minimum (sign 1) or minus the maximum (sign -1).
                let grid = sign > 0 ? net.gridMinimum : -gridMax
                print("MILP seed \(seed) alpha \(alpha) sign \(sign): \(v) at \(x), grid \(grid), \(milp.unstableCount) unstable")
                let tol = 1e-6 * max(1, abs(grid))
                XCTAssertLessThanOrEqual(v, grid + tol, "seed \(seed) alpha \(alpha) sign \(sign): MILP optimum above a grid value")
                if sign > 0 { XCTAssertGreaterThanOrEqual(v, net.gridMinimum - net.margin - tol, "seed \(seed): MILP below the true minimum") }
                // GLPK's MIP solution may leave the box by its feasibility tolerance (about 1e-8 seen).
                XCTAssertTrue(x.enumerated().allSatisfy { box.lower[$0.offset] - 1e-6 <= $0.element && $0.element <= box.upper[$0.offset] + 1e-6 },
                              "seed \(seed): minimiser \(x) outside the box")
                XCTAssertEqual(sign * (try net.graph.evaluateFirst(x)[0]), v, accuracy: tol, "seed \(seed): the model at the minimiser")
                // The LP relaxation is a lower bound on the MILP.
                let relax = try NetworkLP(graph: engine.graph, box: box, relus: db.splittable)
                try relax.setObjective(row: atom)
                let rr = relax.lp.solve()
                XCTAssertEqual(rr.status, .optimal)
                XCTAssertLessThanOrEqual(rr.objective ?? .infinity, v + tol, "seed \(seed): LP relaxation above the MILP")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 14)
    }

    /// With every LeakyReLU neuron's side fixed by the activation pattern at a sampled input,
    /// the LP has no unstable neuron and is exact: its minimum over the domain is at most the
    /// output at that input and is the output at its own minimiser.
    func testFullySplitLeakyReluDomainLPIsExact() throws {
        let net = try GeneralBranchingTests.net(seed: 7, h: 5, act: LeakyRelu(alpha: 0.1), slope: 1, scale: 2)
        let engine = BoundEngine(graph: net.graph)
        let box = InputBox(lower: [-1, -1], upper: [1, 1])
        let atom = LinearAtom(c: [1], d: 0)
        let anchor = [0.3, -0.6]
        let all = try net.graph.evaluateAll(anchor)
        var splits: [NeuronSplit] = []
        for v in engine.splittableInputs { for (j, z) in all[v]!.enumerated() { splits.append(NeuronSplit(value: v, index: j, active: z >= 0)) } }
        let db = try engine.boundDomain(box: box, atoms: [atom], splits: splits)
        let net0 = try NetworkLP(graph: engine.graph, box: box, relus: db.splittable)
        XCTAssertEqual(net0.unstableCount, 0)
        try net0.setObjective(row: atom)
        let r = net0.lp.solve()
        XCTAssertEqual(r.status, .optimal)
        guard let v = r.objective, let x = net0.inputPoint(r) else { return XCTFail("no solution") }
        let y0 = try net.graph.evaluateFirst(anchor)[0]
        XCTAssertLessThanOrEqual(v, y0 + 1e-7)
        XCTAssertEqual(try net.graph.evaluateFirst(x)[0], v, accuracy: 1e-6)
        XCTAssertLessThanOrEqual(net0.lp.safeLowerBound(rowDuals: r.rowDuals), v)
    }

    /// A network with an operator that is neither affine nor piecewise linear is refused with
    /// an error naming the node and operator.
    func testSigmoidNetworkIsRefusedNamingTheNode() throws {
        let net = try GeneralBranchingTests.net(seed: 0, h: 3, act: Sigmoid(), slope: 0.25, scale: 1)
        let engine = BoundEngine(graph: net.graph)
        let box = InputBox(lower: [-1, -1], upper: [1, 1])
        let db = try engine.boundDomain(box: box, atoms: [LinearAtom(c: [1], d: 0)], splits: [])
        XCTAssertThrowsError(try NetworkLP(graph: engine.graph, box: box, relus: db.splittable)) { e in
            let text = "\(e)"
            XCTAssertTrue(e is LPEncodingError)
            XCTAssertTrue(text.contains("'act1' (Sigmoid) is neither affine nor piecewise linear"), text)
        }
    }

    // MARK: - Branch and bound

    /// Branch and bound on LeakyReLU networks finishes fully split domains by their exact LP
    /// (they used to stay open, the LP builder refusing LeakyReLU): a threshold below the true
    /// minimum (grid minimum minus its Lipschitz margin) is proven with leaf LPs refuting
    /// domains; a threshold above the grid minimum is never proven.
    func testBranchAndBoundProvesLeakyReluPropertiesWithLeafLPs() throws {
        var lpRefuted = 0, proved = 0
        for (seed, alpha) in [(0 as UInt64, 0.1), (1, 0.01), (2, 2.0), (3, -0.3)] {
            let net = try GeneralBranchingTests.net(seed: seed, h: 6, act: LeakyRelu(alpha: alpha), slope: max(1, abs(alpha)), scale: 2)
            let holds = GeneralBranchingTests.property(threshold: net.gridMinimum - net.margin - 1e-3)
            var s = VerifierSettings()
            s.reluSplit.betaIterations = 0   // weaker domain bounds: more domains reach the leaf LP
            let (outcome, stats) = try BranchAndBoundProver(settings: s).run(graph: net.graph, property: holds,
                                                                             deadline: Deadline(secondsFromNow: 60))
            print("bab LeakyRelu(\(alpha)) seed \(seed): \(outcome) \(stats.summary)")
            XCTAssertEqual(outcome, .proven, "seed \(seed) alpha \(alpha): \(stats.summary)")
            XCTAssertEqual(stats.unresolvedLeaves, 0)
            if outcome == .proven { proved += 1 }
            lpRefuted += stats.lpRefuted
            let violated = GeneralBranchingTests.property(threshold: net.gridMinimum + 1e-3)
            let (v, vstats) = try BranchAndBoundProver(settings: s).run(graph: net.graph, property: violated,
                                                                        deadline: Deadline(secondsFromNow: 60))
            XCTAssertNotEqual(v, .proven, "seed \(seed) alpha \(alpha): a violated property was proven: \(vstats.summary)")
        }
        XCTAssertEqual(proved, 4)
        XCTAssertGreaterThan(lpRefuted, 0, "no domain was refuted by its leaf LP")
    }
}
