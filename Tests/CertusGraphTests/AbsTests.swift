import XCTest
import Foundation
import Certus

/// The ONNX `Abs` operator (the L1 norm at the end of the Jacobian graph, Shi et al., NeurIPS
/// 2022): evaluation, gradient, exact interval image, and its relaxation (identity, -x, or the
/// chord above and a slope in [-1, 1] through the origin below) checked at 2000 points per
/// interval against |x| with no tolerance.
final class AbsTests: XCTestCase {
    typealias RNG = SplitMix64

    func ctx(_ shapes: [[Int]]) -> NodeContext {
        NodeContext(name: "a", opType: "Abs", opset: 13, attributes: [:], inputShapes: shapes, constantInputs: shapes.map { _ in nil })
    }

    func testLoadsEvaluatesAndDifferentiates() throws {
        let op = try OperatorRegistry.make(ctx([[2, 3]]))
        XCTAssertTrue(op is Abs)
        XCTAssertEqual(try op.outputShape([[2, 3]]), [2, 3])
        let x = Tensor(shape: [2, 3], data: [-1.5, 0, 2.25, -0.0, 3, -7])
        XCTAssertEqual(try op.evaluate([x]).data, [1.5, 0, 2.25, 0, 3, 7])
        let g = try XCTUnwrap(try op.backward([x], output: op.evaluate([x]), gradient: Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]))[0])
        // sign(x) (0 at 0: an element of the Clarke gradient [-1, 1]).
        XCTAssertEqual(g.data, [-1, 0, 3, 0, 5, -6])
        XCTAssertEqual(op.boundKind(constantInputs: [false]), .elementwise)
    }

    /// The image is exact: the sampled min and max of |x| (0 when 0 is inside).
    func testImageIsExact() {
        let a = Abs()
        XCTAssertTrue(a.image(l: -3, u: 2) == (0, 3))
        XCTAssertTrue(a.image(l: -2, u: 5) == (0, 5))
        XCTAssertTrue(a.image(l: 1, u: 4) == (1, 4))
        XCTAssertTrue(a.image(l: -4, u: -1) == (1, 4))
        XCTAssertTrue(a.image(l: -.infinity, u: 1) == (0, .infinity))
        XCTAssertTrue(a.image(l: 0, u: 0) == (0, 0))
    }

    static func randomInterval(_ trial: Int, _ rng: inout RNG) -> (Double, Double) {
        switch trial % 7 {
        case 0: let c = rng.uniform(-5, 5), w = [1e-14, 1e-10, 1e-6][trial / 7 % 3]; return (c - w, c + w)
        case 1: return (-rng.uniform(0, 50), rng.uniform(0, 50))
        case 2: let a = rng.uniform(0, 10); return (a, a + rng.uniform(0, 10))
        case 3: let a = rng.uniform(0, 10); return (-a - rng.uniform(0, 10), -a)
        case 4: let w = rng.uniform(0, 5); return [(0, w), (-w, 0), (0, 0)][trial / 7 % 3]
        case 5: let c = rng.uniform(-1e6, 1e6); return (c - rng.uniform(0, 1e6), c + rng.uniform(0, 1e6))
        default: let w = rng.uniform(1e-3, 3); return (-w * rng.uniform(0.9, 1.1), w)   // nearly symmetric
        }
    }

    /// Every parameter (none, default, ends, random, out of range) gives lines that hold |x| at
    /// 2000 points of every interval, evaluated as a bound engine does (a x + b in Double).
    func testRelaxationIsSound() {
        var rng = RNG(seed: 1)
        let a = Abs()
        for trial in 0..<1500 {
            let (l, u) = Self.randomInterval(trial, &rng)
            let d = a.defaultParameters(l: l, u: u)
            for p in [(nil, nil), d, (0, 0), (1, 1), (0.5, nil), (rng.uniform(0, 1), nil), (-3, nil), (2, nil), (.nan, nil)] as [(Double?, Double?)] {
                let r = a.relaxation(l: l, u: u, lowerParameter: p.0, upperParameter: p.1)
                guard r.isFinite else { return XCTFail("[\(l), \(u)] \(p): \(r)") }
                var xs = [l, u, l.nextUp, u.nextDown, 0]
                for k in 0..<1000 { xs.append(l + (u - l) * Double(k) / 999) }
                while xs.count < 2000 { xs.append(rng.uniform(l, u)) }
                for x in xs where l <= x && x <= u {
                    let y = Swift.abs(x)
                    guard r.aL * x + r.bL <= y, y <= r.aU * x + r.bU else {
                        return XCTFail("[\(l), \(u)] parameters \(p): |\(x)| outside [\(r.aL * x + r.bL), \(r.aU * x + r.bU)] (\(r))")
                    }
                }
            }
        }
    }

    /// The shape is the one documented: exact lines off 0; across 0 the chord (tight at both
    /// ends) above and slope 2p - 1 through the origin below, p defaulting to [u >= -l].
    func testRelaxationShape() {
        let a = Abs()
        XCTAssertEqual(a.relaxation(l: 0.5, u: 3, lowerParameter: nil, upperParameter: nil), .line(1, 0))
        XCTAssertEqual(a.relaxation(l: 0, u: 3, lowerParameter: nil, upperParameter: nil), .line(1, 0))
        XCTAssertEqual(a.relaxation(l: -3, u: -0.5, lowerParameter: nil, upperParameter: nil), .line(-1, 0))
        XCTAssertEqual(a.relaxation(l: -3, u: 0, lowerParameter: nil, upperParameter: nil), .line(-1, 0))
        for (l, u) in [(-1.0, 3.0), (-3.0, 1.0), (-2.0, 2.0), (-1e-3, 5e4)] {
            let r = a.relaxation(l: l, u: u, lowerParameter: nil, upperParameter: nil)
            XCTAssertEqual(r.aL, u >= -l ? 1 : -1, "[\(l), \(u)]")
            XCTAssertEqual(r.bL, 0, accuracy: 1e-9 * (u - l))
            XCTAssertEqual(r.aU * l + r.bU, -l, accuracy: 1e-9 * (u - l), "chord at l")
            XCTAssertEqual(r.aU * u + r.bU, u, accuracy: 1e-9 * (u - l), "chord at u")
            XCTAssertTrue(a.defaultParameters(l: l, u: u) == (u >= -l ? 1 : 0, nil))
            for p in [0.0, 0.25, 0.5, 1] {
                XCTAssertEqual(a.relaxation(l: l, u: u, lowerParameter: p, upperParameter: nil).aL, 2 * p - 1)
            }
        }
        XCTAssertTrue(a.defaultParameters(l: 1, u: 2) == (nil, nil))
        XCTAssertEqual(a.branchingPoint(l: -1, u: 2, strategy: .midpoint), 0)
        XCTAssertEqual(a.branchingPoint(l: -1, u: 2, strategy: .optimized), 0)
        XCTAssertNil(a.branchingPoint(l: 0, u: 2, strategy: .midpoint))
        XCTAssertNil(a.branchingPoint(l: -2, u: -1, strategy: .optimized))
    }

    /// alpha-CROWN's derivatives of the lines against central differences of the relaxation.
    func testRelaxationDerivatives() {
        let a = Abs()
        var rng = RNG(seed: 4)
        for _ in 0..<200 {
            let (l, u) = (-rng.uniform(0.01, 10), rng.uniform(0.01, 10))
            let p = rng.uniform(0.05, 0.95), h = 1e-6
            let (r, dl, du) = a.relaxationWithDerivatives(l: l, u: u, lowerParameter: p, upperParameter: nil)
            XCTAssertEqual(r, a.relaxation(l: l, u: u, lowerParameter: p, upperParameter: nil))
            let r1 = a.relaxation(l: l, u: u, lowerParameter: p + h, upperParameter: nil)
            let r0 = a.relaxation(l: l, u: u, lowerParameter: p - h, upperParameter: nil)
            XCTAssertEqual(dl.0, (r1.aL - r0.aL) / (2 * h), accuracy: 1e-6)
            XCTAssertEqual(dl.1, (r1.bL - r0.bL) / (2 * h), accuracy: 1e-6)
            XCTAssertTrue(du == (0, 0))
        }
    }

    /// Infinite ends: sound, no NaN, and the chord's limit (not a constant +inf) with one end
    /// finite.
    func testUnboundedIntervals() {
        let a = Abs()
        for (l, u) in [(-Double.infinity, 2.0), (-3.0, Double.infinity), (-Double.infinity, Double.infinity), (-1e308, 1e308), (-Double.greatestFiniteMagnitude, 1)] {
            for p in [nil, 0.0, 1.0] as [Double?] {
                let r = a.relaxation(l: l, u: u, lowerParameter: p, upperParameter: nil)
                XCTAssertFalse(r.aL.isNaN || r.bL.isNaN || r.aU.isNaN || r.bU.isNaN, "[\(l), \(u)]: \(r)")
                for x in [-1e300, -1e8, -3, -1, 0, 0.5, 1, 2, 1e8, 1e300] where l <= x && x <= u {
                    XCTAssertTrue(r.aL * x + r.bL <= Swift.abs(x) && Swift.abs(x) <= r.aU * x + r.bU, "[\(l), \(u)] \(String(describing: p)) at \(x): \(r)")
                }
            }
        }
        XCTAssertLessThan(a.relaxation(l: -.infinity, u: 2, lowerParameter: nil, upperParameter: nil).bU, 5)
        XCTAssertLessThan(a.relaxation(l: -3, u: .infinity, lowerParameter: nil, upperParameter: nil).bU, 7)
    }

    /// Piecewise linear with its kink at 0: the hull and the MILP encoding hold every point of
    /// the graph (with the binary on the right side).
    func testPiecewiseLinearEncodingHoldsTheGraph() throws {
        let a = Abs()
        XCTAssertTrue(a.isPiecewiseLinear)
        for (l, u) in [(-2.0, 3.0), (-5.0, 0.5), (1.0, 2.0), (-3.0, -1.0)] {
            for mode in [PiecewiseLinearEncoding.Mode.hull, .exact] {
                let e = try XCTUnwrap(a.piecewiseLinearEncoding(l: l, u: u, mode: mode))
                for k in 0...100 {
                    let z = l + (u - l) * Double(k) / 100, y = Swift.abs(z)
                    switch e {
                    case .affine(let s, let b): XCTAssertEqual(s * z + b, y, accuracy: 1e-12)
                    case .rows(let lo, let hi, let rows, _):
                        XCTAssertTrue(lo - 1e-12 <= y && y <= hi + 1e-12)
                        let bin = z >= 0 ? 1.0 : 0.0
                        for r in rows { XCTAssertTrue(r.holds(z: z, y: y, a: bin, tolerance: 1e-9), "\(mode) [\(l), \(u)] z \(z): \(r)") }
                    }
                }
            }
        }
    }

    /// End to end (Abs has no battery recipe yet): on random 3 -> 8 -> 8 -> 2 networks with Abs
    /// after both hidden layers, IBP, CROWN and alpha-CROWN bounds of both outputs over a box
    /// across 0 contain the outputs at 3000 sampled inputs and at the box's corners, and
    /// alpha-CROWN is never looser than CROWN.
    func testNetworkBoundsContainSampledOutputs() throws {
        var rng = RNG(seed: 31)
        func u(_ a: Double, _ b: Double) -> Double { a + (b - a) * Double(rng.next() >> 11) / Double(1 << 53) }
        for trial in 0..<4 {
            let sizes = [3, 8, 8, 2]
            var values = [ValueInfo(name: "x", shape: [1, 3])]
            var constants: [Int: Tensor] = [:]
            var nodes: [Node] = []
            var cur = 0
            for l in 1..<sizes.count {
                let (i, o) = (sizes[l - 1], sizes[l])
                values.append(ValueInfo(name: "W\(l)", shape: [o, i]))
                constants[values.count - 1] = Tensor(shape: [o, i], data: (0..<(o * i)).map { _ in u(-1.5, 1.5) })
                let w = values.count - 1
                values.append(ValueInfo(name: "b\(l)", shape: [o]))
                constants[values.count - 1] = Tensor(shape: [o], data: (0..<o).map { _ in u(-0.5, 0.5) })
                let b = values.count - 1
                values.append(ValueInfo(name: "z\(l)", shape: [1, o]))
                nodes.append(Node(name: "fc\(l)", opType: "Gemm", op: Gemm(transB: true), inputs: [cur, w, b], output: values.count - 1))
                cur = values.count - 1
                if l < sizes.count - 1 {
                    values.append(ValueInfo(name: "a\(l)", shape: [1, o]))
                    nodes.append(Node(name: "abs\(l)", opType: "Abs", op: Abs(), inputs: [cur], output: values.count - 1))
                    cur = values.count - 1
                }
            }
            let graph = Graph(values: values, constants: constants, nodes: nodes, input: 0, outputs: [cur], metadata: ModelMetadata())
            let box = InputBox(lower: [-0.6, -0.3, -0.9], upper: [0.4, 0.5, 0.2])
            let atoms = [LinearAtom(c: [1, 0], d: 0), LinearAtom(c: [0, 1], d: 0)]
            let engine = BoundEngine(graph: graph)
            var rows: [BoundMethod: [RowBound]] = [:]
            for m in [BoundMethod.ibp, .crown, .alphaCrown] { rows[m] = try engine.bound(box: box, atoms: atoms, settings: BoundSettings(method: m)) }
            var points = (0..<3000).map { _ in (0..<3).map { u(box.lower[$0], box.upper[$0]) } }
            for corner in 0..<8 { points.append((0..<3).map { (corner >> $0) & 1 == 0 ? box.lower[$0] : box.upper[$0] }) }
            for x in points {
                let y = try graph.evaluateFirst(x)
                for (m, r) in rows {
                    for k in 0..<2 {
                        XCTAssertLessThanOrEqual(r[k].lower, y[k], "trial \(trial) \(m.rawValue) output \(k) at \(x)")
                        XCTAssertGreaterThanOrEqual(r[k].upper, y[k], "trial \(trial) \(m.rawValue) output \(k) at \(x)")
                    }
                }
            }
            for k in 0..<2 { XCTAssertGreaterThanOrEqual(rows[.alphaCrown]![k].lower, rows[.crown]![k].lower - 1e-9) }
        }
    }
}
