import XCTest
import Foundation
import Certus

/// The gradient nodes of the Jacobian graph (`ActivationDerivative`, Shi et al., NeurIPS 2022):
/// every activation's derivative range (`ClarkeDerivative.derivativeRange`), interval image and
/// linear relaxation against the Clarke derivative computed here from independent formulas, on
/// random intervals of every kind (tiny, wide, one-sided, touching or containing the kinks, the
/// GeLU extrema, several periods of Sin and Cos), with no tolerance: the ranges and lines carry
/// their own rounding slack, so a missing pad or a wrong extremum fails here.
final class ClarkeDerivativeTests: XCTestCase {
    typealias RNG = SplitMix64

    /// An activation with its Clarke derivative written out independently of the operator: the
    /// set's ends at x (equal away from kinks) and the points where the extremes of f' lie (f''
    /// changes sign, or a kink), which every sampled interval also checks when it holds them.
    struct Case {
        var name: String
        var op: any ElementwiseUnary
        var clarke: (Double) -> (Double, Double)
        var landmarks: (Double, Double) -> [Double]
    }

    static let sqrt2 = 2.0.squareRoot()

    /// The zeros of GeLU''(x) for the tanh form, found here by bisection on its own formula:
    /// f'' = sech^2(v) (v' + x v''/2 - x tanh(v) v'^2), v = k (x + c x^3), even in x.
    static let geluTanhCritical: Double = {
        let k = (2 / Double.pi).squareRoot(), c = 0.044715
        func h(_ x: Double) -> Double {
            let v = k * (x + c * x * x * x), vp = k * (1 + 3 * c * x * x), vpp = 6 * k * c * x
            return vp + 0.5 * x * (vpp - 2 * Foundation.tanh(v) * vp * vp)
        }
        var lo = 1.0, hi = 2.0   // h(1) > 0 > h(2)
        for _ in 0..<200 { let m = (lo + hi) / 2; if h(m) > 0 { lo = m } else { hi = m } }
        return lo
    }()

    static func geluTanhPrime(_ x: Double) -> Double {
        let k = (2 / Double.pi).squareRoot(), c = 0.044715
        let t = Foundation.tanh(k * (x + c * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x)
    }

    /// Multiples of `period` shifted by `offset` inside [l, u] (at most 64 of them).
    static func lattice(_ l: Double, _ u: Double, period: Double, offset: Double) -> [Double] {
        let first = ((l - offset) / period).rounded(.up), last = ((u - offset) / period).rounded(.down)
        guard first <= last, last - first < 64 else { return [] }
        return stride(from: first, through: last, by: 1).map { offset + $0 * period }.filter { l <= $0 && $0 <= u }
    }

    static func point(_ v: Double) -> (Double, Double) { (v, v) }

    static let cases: [Case] = {
        func step(_ left: Double) -> (Double) -> (Double, Double) {
            { x in x > 0 ? (1, 1) : (x < 0 ? (left, left) : (Swift.min(left, 1), Swift.max(left, 1))) }
        }
        let zero: (Double, Double) -> [Double] = { l, u in l <= 0 && 0 <= u ? [0] : [] }
        var out: [Case] = [
            Case(name: "Relu", op: Relu(), clarke: step(0), landmarks: zero),
            Case(name: "Sigmoid", op: Sigmoid(), clarke: { x in let e = exp(-Swift.abs(x)); return point(e / ((1 + e) * (1 + e))) }, landmarks: zero),
            Case(name: "Tanh", op: Tanh(), clarke: { x in let e = exp(-2 * Swift.abs(x)); return point(4 * e / ((1 + e) * (1 + e))) }, landmarks: zero),
            Case(name: "Erf", op: Erf(), clarke: { x in point(2 / Double.pi.squareRoot() * exp(-x * x)) }, landmarks: zero),
            Case(name: "Gelu", op: Gelu(), clarke: { x in
                point(0.5 * erfc(-x / sqrt2) + x * exp(-0.5 * x * x) / (2 * Double.pi).squareRoot())
            }, landmarks: { l, u in [-sqrt2, sqrt2].filter { l <= $0 && $0 <= u } }),
            Case(name: "Gelu(tanh)", op: Gelu(tanhApproximation: true), clarke: { x in point(geluTanhPrime(x)) },
                 landmarks: { l, u in [-geluTanhCritical, geluTanhCritical].filter { l <= $0 && $0 <= u } }),
            Case(name: "Sin", op: Sin(), clarke: { x in point(Foundation.cos(x)) },
                 landmarks: { l, u in lattice(l, u, period: .pi, offset: 0) }),
            Case(name: "Cos", op: Cos(), clarke: { x in point(-Foundation.sin(x)) },
                 landmarks: { l, u in lattice(l, u, period: .pi, offset: .pi / 2) }),
        ]
        out.append(Case(name: "Abs", op: Abs(), clarke: step(-1), landmarks: zero))
        for alpha in [0.01, 0.2, 0, 2, -0.5] {
            out.append(Case(name: "LeakyRelu(\(alpha))", op: LeakyRelu(alpha: alpha), clarke: step(alpha), landmarks: zero))
        }
        return out
    }()

    /// Intervals of every kind the Jacobian graph meets: tiny, moderate, wide (up to [-50, 50]),
    /// one-sided, with an end exactly at 0, containing 0, around the GeLU extrema (both forms),
    /// several periods, far from the origin.
    static func randomInterval(_ trial: Int, _ rng: inout RNG) -> (Double, Double) {
        let marks: [Double] = [0, sqrt2, -sqrt2, geluTanhCritical, -geluTanhCritical, .pi / 2, -.pi, 3 * .pi / 2]
        switch trial % 9 {
        case 0:   // tiny
            let c = rng.uniform(-6, 6), w = [1e-14, 1e-12, 1e-9, 1e-6][trial / 9 % 4] * rng.uniform(0.5, 1.5)
            return (c, c + w)
        case 1:   // wide, up to [-50, 50]
            return (-rng.uniform(0, 50), rng.uniform(0, 50))
        case 2:   // one-sided
            let a = rng.uniform(0, 8), b = a + rng.uniform(0, 20)
            return trial / 9 % 2 == 0 ? (a, b) : (-b, -a)
        case 3:   // an end exactly at 0, or the point 0
            let w = rng.uniform(0, 5)
            return [(0, w), (-w, 0), (0, 0)][trial / 9 % 3]
        case 4:   // containing 0
            return (-rng.uniform(0, 4), rng.uniform(0, 4))
        case 5:   // containing or touching an extremum / landmark
            let m = marks[Int(rng.next() % UInt64(marks.count))], w = rng.uniform(0, 3)
            let f = [0.0, 1.0, rng.uniform(0, 1)][trial / 9 % 3]
            return (m - f * w, m - f * w + w)
        case 6:   // several periods
            let a = rng.uniform(-30, 30)
            return (a, a + rng.uniform(6.3, 40))
        case 7:   // moderate, anywhere
            let a = rng.uniform(-8, 8)
            return (a, a + rng.uniform(0, 2))
        default:  // far from the origin
            let a = rng.uniform(-1e4, 1e4)
            return (a, a + rng.uniform(0, 10))
        }
    }

    /// Relaxation parameters to try: none, the default, both ends, the middle, a random one and
    /// out-of-range values (clamped by contract).
    static func parameterSets(_ op: any ElementwiseRelaxation, _ l: Double, _ u: Double, _ rng: inout RNG) -> [(Double?, Double?)] {
        let d = op.defaultParameters(l: l, u: u)
        return [(nil, nil), d, (0, 0), (1, 1), (0.5, 0.5), (rng.uniform(0, 1), rng.uniform(0, 1)), (-1, 2), (.nan, .nan)]
    }

    /// 2000 points of [l, u]: both ends and their neighbours, evenly spaced, random, and the case's
    /// landmarks inside.
    static func samples(_ l: Double, _ u: Double, _ c: Case, _ rng: inout RNG) -> [Double] {
        var xs: [Double] = [l, u, l.nextUp, u.nextDown]
        xs += c.landmarks(l, u)
        for k in 0..<1000 { xs.append(l + (u - l) * Double(k) / 999) }
        while xs.count < 2000 { xs.append(rng.uniform(l, u)) }
        return xs.filter { l <= $0 && $0 <= u }
    }

    func testDerivativeIsTheActivationsDerivative() throws {
        for c in Self.cases {
            let d = try XCTUnwrap(ActivationDerivative(base: c.op), c.name)
            for x in stride(from: -7.0, through: 7.0, by: 0.173) where x != 0 {
                let (lo, hi) = c.clarke(x)
                XCTAssertEqual(d.apply(x), lo, accuracy: 1e-12, "\(c.name) at \(x)")
                XCTAssertEqual(lo, hi, c.name)
            }
            // At a kink the evaluation is one element of the Clarke set.
            let (lo, hi) = c.clarke(0)
            XCTAssertTrue(lo - 1e-12 <= d.apply(0) && d.apply(0) <= hi + 1e-12, "\(c.name) at 0: \(d.apply(0))")
            let t = Tensor(shape: [2, 2], data: [-1.5, 0.3, 2.2, -0.01])
            XCTAssertEqual(try d.evaluate([t]).data, t.data.map(d.apply), c.name)
            XCTAssertEqual(try d.outputShape([[2, 2]]), [2, 2])
            XCTAssertEqual(d.boundKind(constantInputs: [false]), .elementwise)
            XCTAssertFalse(d.isPiecewiseLinear, c.name)
        }
    }

    /// The heart of the soundness argument: on every interval, the range, the interval image
    /// (through `Operator.interval`, as the engine calls it) and the lower and upper lines for
    /// every parameter contain the Clarke set at 2000 points, with no tolerance. At a kink
    /// inside the interval both ends of the Clarke set (0 and 1 for ReLU, alpha and 1 for
    /// LeakyReLU) must be inside; at a kink that is an end of the interval, the inside's slope.
    func testRangeImageAndRelaxationContainTheClarkeSet() throws {
        var rng = RNG(seed: 2022)
        for c in Self.cases {
            let d = try XCTUnwrap(ActivationDerivative(base: c.op), c.name)
            var checked = 0
            for trial in 0..<240 {
                let (l, u) = Self.randomInterval(trial, &rng)
                let range = d.base.derivativeRange(l: l, u: u)
                let iv = try d.interval([IntervalTensor(lower: Tensor(shape: [1], data: [l]), upper: Tensor(shape: [1], data: [u]))])
                let (ilo, ihi) = (iv.lower.data[0], iv.upper.data[0])
                let lines = Self.parameterSets(d, l, u, &rng).map { p in (p, d.relaxation(l: l, u: u, lowerParameter: p.0, upperParameter: p.1)) }
                for x in Self.samples(l, u, c, &rng) {
                    // An end of the interval at the kink takes the inside's one-sided derivative
                    // (`kinkRange`); everywhere else the whole Clarke set and the evaluation.
                    let kinkEnd = x == 0 && ((l == 0 && u > 0) || (u == 0 && l < 0))
                    let (clo, chi) = kinkEnd ? c.clarke(l == 0 ? 5e-324 : -5e-324) : c.clarke(x)
                    let values = kinkEnd ? [clo, chi] : [clo, chi, d.apply(x)]
                    for v in values {
                        guard range.lower <= v && v <= range.upper else {
                            return XCTFail("\(c.name): derivativeRange \(range) of [\(l), \(u)] misses f'(\(x)) = \(v)")
                        }
                        guard ilo <= v && v <= ihi else {
                            return XCTFail("\(c.name): interval [\(ilo), \(ihi)] of [\(l), \(u)] misses f'(\(x)) = \(v)")
                        }
                        for (p, r) in lines {
                            guard r.isFinite, r.aL * x + r.bL <= v, v <= r.aU * x + r.bU else {
                                return XCTFail("\(c.name) on [\(l), \(u)] parameters \(p): f'(\(x)) = \(v) outside [\(r.aL * x + r.bL), \(r.aU * x + r.bU)] (\(r))")
                            }
                        }
                    }
                    checked += 1
                }
            }
            XCTAssertGreaterThan(checked, 240 * 1500, c.name)
        }
    }

    /// ReLU', LeakyReLU' and Abs' on intervals that hold the kink inside: the relaxation
    /// contains both Clarke extremes at x = 0 exactly, also when an end is within a subnormal
    /// of it (slopes through the kink's corners would overflow), and on the degenerate [0, 0].
    /// An interval that only touches the kink at one end ([0, u] or [l, 0], a branch-and-bound
    /// child) has the slope of its inside only (`kinkRange`: the other slope belongs to the other
    /// child; the supremum of the gradient norm over differentiable points never needs it).
    func testKinkHoldsBothClarkeExtremes() throws {
        var rng = RNG(seed: 11)
        for alpha in [0.0, 0.01, 0.3, 2, -0.5, -1] {
            let d = try XCTUnwrap(ActivationDerivative(base: alpha == 0 ? Relu() as any ElementwiseUnary : alpha == -1 ? Abs() as any ElementwiseUnary : LeakyRelu(alpha: alpha)))
            let left = alpha == -1 ? -1.0 : alpha
            let edges: [(Double, Double)] = [(-5e-324, 1), (-1, 5e-324), (-1e-310, 2), (-3, 1e-300), (-5e-324, 5e-324), (0, 0), (0, 3), (-2, 0)]
            for trial in 0..<300 + edges.count {
                let w = rng.uniform(1e-9, 20), f = [0.0, 1.0, rng.uniform(0, 1)][trial % 3]
                let (l, u) = trial < 300 ? (-f * w, (1 - f) * w) : edges[trial - 300]
                let extremes: [Double]
                if l >= 0 && u > 0 { extremes = [1, 1] }
                else if u <= 0 && l < 0 { extremes = [left, left] }
                else { extremes = [Swift.min(left, 1), Swift.max(left, 1)] }
                let range = d.base.derivativeRange(l: l, u: u)
                XCTAssertEqual(range.lower, extremes[0], "alpha \(alpha) on [\(l), \(u)]")
                XCTAssertEqual(range.upper, extremes[1], "alpha \(alpha) on [\(l), \(u)]")
                for p in Self.parameterSets(d, l, u, &rng) {
                    let r = d.relaxation(l: l, u: u, lowerParameter: p.0, upperParameter: p.1)
                    XCTAssertTrue(r.isFinite && r.bL <= extremes[0] && extremes[1] <= r.bU,
                                  "alpha \(alpha) on [\(l), \(u)] parameters \(p): lines at 0 are [\(r.bL), \(r.bU)], Clarke set \(extremes)")
                }
            }
        }
    }

    /// The ranges are exact, not merely sound: on every interval they lie within 1e-9 of the
    /// sampled extremes (the samples hold the interior extrema), so a loosened range (a grid,
    /// a Lipschitz margin, an extremum counted where it is not) fails here.
    func testRangesAreExact() throws {
        var rng = RNG(seed: 5)
        for c in Self.cases {
            let d = try XCTUnwrap(ActivationDerivative(base: c.op), c.name)
            for trial in 0..<900 {
                let (l, u) = Self.randomInterval(trial, &rng)
                var lo = Double.infinity, hi = -Double.infinity
                for x in Self.samples(l, u, c, &rng) { let v = c.clarke(x); lo = Swift.min(lo, v.0); hi = Swift.max(hi, v.1) }
                let r = d.base.derivativeRange(l: l, u: u)
                XCTAssertTrue(r.lower >= lo - 1e-9 && r.upper <= hi + 1e-9,
                              "\(c.name) on [\(l), \(u)]: range \(r) wider than the sampled [\(lo), \(hi)]")
                if r.lower < lo - 1e-9 || r.upper > hi + 1e-9 { break }
            }
        }
    }

    /// The relaxation is not trivially loose. Sigmoid' on [-1, 3] (a bell cut off on one side):
    /// the average gap between the lines is below the range's width (what constant bounds
    /// would give) by a clear margin; and on every interval the default lines are never looser
    /// on average than the range itself (the constant candidate is always available).
    func testRelaxationIsTight() throws {
        let sig = try XCTUnwrap(ActivationDerivative(base: Sigmoid()))
        func averageGap(_ d: ActivationDerivative, _ l: Double, _ u: Double) -> (gap: Double, width: Double) {
            let r = d.relaxation(l: l, u: u, lowerParameter: nil, upperParameter: nil)
            let (ilo, ihi) = d.image(l: l, u: u)
            var s = 0.0
            for k in 0..<1001 { let x = l + (u - l) * Double(k) / 1000; s += (r.aU - r.aL) * x + r.bU - r.bL }
            return (s / 1001, ihi - ilo)
        }
        // 0.090 against 0.205 today.
        let (gap, width) = averageGap(sig, -1, 3)
        XCTAssertLessThan(gap, 0.6 * width, "Sigmoid' on [-1, 3]: average gap \(gap), range width \(width)")
        // A monotone stretch: the lines follow the slope (0.017 against 0.165 today).
        let (gap2, width2) = averageGap(sig, 0.5, 2.5)
        XCTAssertLessThan(gap2, 0.2 * width2, "Sigmoid' on [0.5, 2.5]: average gap \(gap2), range width \(width2)")
        var rng = RNG(seed: 3)
        for c in Self.cases {
            let d = try XCTUnwrap(ActivationDerivative(base: c.op))
            for trial in 0..<200 {
                let (l, u) = Self.randomInterval(trial, &rng)
                let (g, w) = averageGap(d, l, u)
                XCTAssertLessThanOrEqual(g, w + 1e-9 * (1 + Swift.abs(l) + Swift.abs(u)), "\(c.name) on [\(l), \(u)]")
            }
        }
    }

    /// Infinite ends (an overflowing forward pass): the image and the relaxation stay sound and
    /// free of NaN at large finite points.
    func testUnboundedIntervals() throws {
        for c in Self.cases {
            let d = try XCTUnwrap(ActivationDerivative(base: c.op))
            for (l, u) in [(-Double.infinity, 2.0), (-3.0, Double.infinity), (-Double.infinity, Double.infinity), (-Double.infinity, -1.0), (0.5, Double.infinity)] {
                let (ilo, ihi) = d.image(l: l, u: u)
                XCTAssertFalse(ilo.isNaN || ihi.isNaN, "\(c.name) on [\(l), \(u)]")
                let r = d.relaxation(l: l, u: u, lowerParameter: nil, upperParameter: nil)
                for x in [-1e8, -1e3, -30, -3, -1, 0, 0.5, 1, 3, 30, 1e3, 1e8] where l <= x && x <= u {
                    let (clo, chi) = c.clarke(x)
                    XCTAssertTrue(ilo <= clo && chi <= ihi, "\(c.name) image [\(ilo), \(ihi)] of [\(l), \(u)] misses f'(\(x))")
                    let lo = r.aL * x + r.bL, hi = r.aU * x + r.bU
                    XCTAssertTrue(lo <= clo && chi <= hi, "\(c.name) on [\(l), \(u)]: f'(\(x)) outside [\(lo), \(hi)] (\(r))")
                }
            }
        }
    }

    /// The tanh form of GeLU' has exactly two extrema, at +-c (f'' changes sign once on x > 0
    /// and is even): the premise of its exact range. Sampled on a fine grid up to 60 (beyond,
    /// x tanh(v) v'^2 grows like x^5 and dominates).
    func testGeluTanhDerivativeHasTwoExtrema() {
        let k = (2 / Double.pi).squareRoot(), c = 0.044715
        func h(_ x: Double) -> Double {
            let v = k * (x + c * x * x * x), vp = k * (1 + 3 * c * x * x), vpp = 6 * k * c * x
            return vp + 0.5 * x * (vpp - 2 * Foundation.tanh(v) * vp * vp)
        }
        var changes: [Double] = []
        var prev = h(0)
        for i in 1...600_000 { let x = Double(i) * 1e-4; let v = h(x); if (v > 0) != (prev > 0) { changes.append(x) }; prev = v }
        XCTAssertEqual(changes.count, 1, "\(changes)")
        XCTAssertEqual(changes.first ?? 0, Self.geluTanhCritical, accuracy: 1e-4)
        // And the maximum/minimum of f' really are there.
        let m = Self.geluTanhPrime(Self.geluTanhCritical)
        XCTAssertGreaterThan(m, Self.geluTanhPrime(Self.geluTanhCritical - 1e-3))
        XCTAssertGreaterThan(m, Self.geluTanhPrime(Self.geluTanhCritical + 1e-3))
    }

    /// Gradient of the gradient node (for attacks on the Jacobian graph): f'' against central
    /// differences of f', away from kinks.
    func testBackwardIsTheSecondDerivative() throws {
        let xs: [Double] = [-2.7, -1.3, -0.4, 0.2, 0.9, 1.9, 3.3]
        for c in Self.cases {
            let d = try XCTUnwrap(ActivationDerivative(base: c.op))
            let t = Tensor(shape: [xs.count], data: xs)
            let y = try d.evaluate([t])
            let g = try XCTUnwrap(try d.backward([t], output: y, gradient: Tensor(shape: [xs.count], repeating: 1))[0])
            for (i, x) in xs.enumerated() {
                let h = 1e-5
                let numeric = (c.clarke(x + h).0 - c.clarke(x - h).0) / (2 * h)
                XCTAssertEqual(g.data[i], numeric, accuracy: 1e-6, "\(c.name) f''(\(x))")
            }
        }
    }

    /// Activations without a derivative range get no gradient node (never an approximation),
    /// and the node cannot be loaded from a file.
    func testUnsupportedAndNotLoadable() {
        XCTAssertNil(ActivationDerivative(base: Neg()))
        XCTAssertNil(ActivationDerivative(base: Identity()))
        XCTAssertThrowsError(try ActivationDerivative(of: Neg())) { e in
            XCTAssertTrue("\(e)".contains("'Neg'"), "\(e)")
        }
        XCTAssertNoThrow(try ActivationDerivative(of: Gelu(tanhApproximation: true)))
        let ctx = NodeContext(name: "n", opType: ActivationDerivative.opType, opset: 17, attributes: [:], inputShapes: [[1, 2]], constantInputs: [nil])
        XCTAssertThrowsError(try OperatorRegistry.make(ctx))
        XCTAssertThrowsError(try ActivationDerivative.make(ctx))
        XCTAssertFalse(OperatorRegistry.supportedOpTypes.contains(ActivationDerivative.opType))
    }
}
