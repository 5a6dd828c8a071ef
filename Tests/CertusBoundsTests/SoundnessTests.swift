import XCTest
import Foundation
import Certus
import TestSupport

/// Soundness by sampling: every relaxation contains its function, and every method's bounds
/// contain the spec values at random points of the box.
final class SoundnessTests: XCTestCase {
    /// The library's SplitMix64 (the same sequence per seed as the copy these tests once had).
    typealias RNG = SplitMix64

    /// Every elementwise operator in the registry, in all its representative forms. Driven by
    /// `OperatorRegistry.all`, so an operator added there is covered here without anyone
    /// remembering to add it.
    static func elementwiseOperators() -> [(String, any ElementwiseUnary)] {
        func instances<T: ElementwiseUnary>(_ t: T.Type) -> [any ElementwiseUnary] { T.representatives }
        var out: [(String, any ElementwiseUnary)] = []
        for type in OperatorRegistry.all {
            guard let t = type as? any ElementwiseUnary.Type else { continue }
            for (k, op) in instances(t).enumerated() { out.append(("\(type.opType)#\(k)", op)) }
        }
        return out
    }

    /// [a, b] moved into `op`'s domain with its width kept: the first of [|a|, |a| + w],
    /// [|b|, |b| + w], [w, 2w] and [1, 1 + w] (w = b - a) without a domain violation.
    static func intoDomain(_ op: any ElementwiseUnary, _ a: Double, _ b: Double) -> (Double, Double) {
        let w = b - a
        for (l, u) in [(Swift.abs(a), Swift.abs(a) + w), (Swift.abs(b), Swift.abs(b) + w), (w, 2 * w), (1, 1 + w)]
        where l > 0 && op.domainViolation(l: l, u: u) == nil {
            return (l, u)
        }
        return (1, 1 + w)
    }

    /// Random intervals: tiny, moderate, huge, one-sided, pinned at extrema, inflections and
    /// zeros of the common activations (0, GeLU's minimum, +-sqrt 2, multiples of pi/2),
    /// spanning several periods, and far from the origin.
    static func randomInterval(_ trial: Int, _ rng: inout RNG) -> (Double, Double) {
        let landmarks: [Double] = [0, Gelu.argmin, Gelu.argminTanh, 2.0.squareRoot(), -(2.0.squareRoot()),
                                   .pi / 2, -.pi / 2, .pi, -.pi, 3 * .pi / 2, 2 * .pi, 1e3 * .pi + .pi / 2]
        let widths: [Double] = [1e-13, 1e-11, 1e-9, 1e-6, 1e-3, 0.05, 0.5, 2, 5, 20, 100, 1e4]
        let w = widths[Int.random(in: 0..<widths.count, using: &rng)] * Double.random(in: 0.5...1.5, using: &rng)
        switch trial % 6 {
        case 0, 1:   // around the origin
            let a = Double.random(in: -6...6, using: &rng) - w / 2
            return (a, a + w)
        case 2:      // containing or touching a landmark
            let m = landmarks[Int.random(in: 0..<landmarks.count, using: &rng)]
            let f = [0.0, 1.0, Double.random(in: 0...1, using: &rng)][Int.random(in: 0..<3, using: &rng)]
            return (m - f * w, m - f * w + w)
        case 3:      // one-sided with a huge end
            let a = Double.random(in: -3...3, using: &rng)
            return Bool.random(using: &rng) ? (a, a + 1e5 * Double.random(in: 0.5...1, using: &rng))
                                            : (a - 1e5 * Double.random(in: 0.5...1, using: &rng), a)
        case 4:      // far from the origin
            let a = Double.random(in: -1e5...1e5, using: &rng)
            return (a, a + w)
        default:     // across several periods
            let a = Double.random(in: -20...20, using: &rng)
            return (a, a + Double.random(in: 3...15, using: &rng))
        }
    }

    /// For every elementwise operator: thousands of random intervals; the IBP image (through
    /// `Operator.interval`, as the engine calls it, and through `image`) and the lower and upper
    /// relaxation lines for the default, extreme, random and out-of-range parameters (clamped)
    /// contain f at dense points
    /// of the interval (evenly spaced, random, and near both ends).
    func testEveryElementwiseOperatorIsSoundOnEveryInterval() throws {
        let ops = Self.elementwiseOperators()
        // The registry holds these at least; the list above must have found them.
        for name in ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Erf", "Sin", "Cos", "Neg", "Identity"] {
            XCTAssertTrue(ops.contains { $0.0.hasPrefix(name + "#") }, "\(name) missing from the battery")
        }
        var rng = RNG(seed: 7)
        for (name, op) in ops {
            var checked = 0, relaxed = 0
            let trials = 3000
            for trial in 0..<trials {
                var (a, b) = Self.randomInterval(trial, &rng)
                if op.domainViolation(l: a, u: b) != nil {
                    // Outside the domain (Log, Sqrt, Reciprocal, Pow): IBP refuses it; the
                    // interval is then moved into the domain, keeping its width.
                    XCTAssertThrowsError(try (op as any Operator).interval([IntervalTensor(lower: Tensor(shape: [1], data: [a]), upper: Tensor(shape: [1], data: [b]))]), "\(name) on [\(a), \(b)]")
                    (a, b) = Self.intoDomain(op, a, b)
                }
                let viaOperator = try (op as any Operator).interval([IntervalTensor(lower: Tensor(shape: [1], data: [a]), upper: Tensor(shape: [1], data: [b]))])
                let (ilo, ihi) = (viaOperator.lower.data[0], viaOperator.upper.data[0])
                let direct = op.image(l: a, u: b)
                XCTAssertEqual(direct.0, ilo, "\(name): interval() and image() disagree on [\(a), \(b)]")
                XCTAssertEqual(direct.1, ihi, "\(name): interval() and image() disagree on [\(a), \(b)]")
                guard ilo <= ihi else { XCTFail("\(name) image of [\(a), \(b)] is empty: [\(ilo), \(ihi)]"); return }
                let relax = op as? any ElementwiseRelaxation
                var lines: [(Double?, Double?, NeuronRelaxation)] = []
                if let relax {
                    let d = relax.defaultParameters(l: a, u: b)
                    for (pl, pu) in [(nil, nil), (0.0, 0.0), (1.0, 1.0), d, (-0.5, 1.5), (Double.nan, 2.0),
                                     (Double.random(in: 0...1, using: &rng), Double.random(in: 0...1, using: &rng))] as [(Double?, Double?)] {
                        lines.append((pl, pu, relax.relaxation(l: a, u: b, lowerParameter: pl, upperParameter: pu)))
                    }
                    relaxed += 1
                }
                var xs: [Double] = [a, b, a.nextUp, b.nextDown]
                for k in 0...200 { xs.append(a + (b - a) * Double(k) / 200) }
                for _ in 0..<40 { xs.append(Double.random(in: a...b, using: &rng)) }
                for x in xs where a <= x && x <= b {
                    let y = op.apply(x)
                    if y.isInfinite {
                        // Overflow (Exp far right): only an infinite image end contains it.
                        XCTAssertTrue(y > 0 ? ihi == .infinity : ilo == -.infinity, "\(name): image [\(ilo), \(ihi)] of [\(a), \(b)] misses f(\(x)) = \(y)")
                        checked += 1
                        continue
                    }
                    let tol = 1e-10 * (1 + Swift.abs(y))
                    if !(ilo - tol <= y && y <= ihi + tol) {
                        XCTFail("\(name): image [\(ilo), \(ihi)] of [\(a), \(b)] misses f(\(x)) = \(y)")
                        return
                    }
                    for (pl, pu, r) in lines {
                        let lo = r.aL * x + r.bL, hi = r.aU * x + r.bU
                        let t = 1e-10 * (1 + Swift.abs(y) + Swift.abs(r.aL * x) + Swift.abs(r.bL) + Swift.abs(r.aU * x) + Swift.abs(r.bU))
                        if !(lo <= y + t) || !(y <= hi + t) {
                            XCTFail("\(name) on [\(a), \(b)] parameters \(String(describing: pl)), \(String(describing: pu)): f(\(x)) = \(y) outside [\(lo), \(hi)] (lines \(r))")
                            return
                        }
                    }
                    checked += 1
                }
            }
            XCTAssertGreaterThan(checked, trials * 200, name)
            if op is any ElementwiseRelaxation { XCTAssertEqual(relaxed, trials, name) }
        }
    }

    /// Intervals with an infinite end (as overflowing models produce): the image and every
    /// relaxation stay sound (no NaN that could be read as a bound) at large finite points.
    func testElementwiseOperatorsOnUnboundedIntervals() throws {
        for (name, op) in Self.elementwiseOperators() {
            for (a, b) in [(-Double.infinity, 2.0), (-3.0, Double.infinity), (-Double.infinity, Double.infinity), (-Double.infinity, -1.0),
                           (0.5, Double.infinity)] {
                if op.domainViolation(l: a, u: b) != nil { continue }   // refused by IBP (checked above)
                let (ilo, ihi) = op.image(l: a, u: b)
                XCTAssertFalse(ilo.isNaN || ihi.isNaN, "\(name) image of [\(a), \(b)] has NaN: [\(ilo), \(ihi)]")
                let xs = [-1e8, -1e3, -30, -3, -1, -0.5, 0, 0.5, 1, 3, 30, 1e3, 1e8].filter { a <= $0 && $0 <= b }
                var lines: [NeuronRelaxation] = []
                if let relax = op as? any ElementwiseRelaxation {
                    for (pl, pu) in [(nil, nil), (0.0, 0.0), (1.0, 1.0)] as [(Double?, Double?)] {
                        lines.append(relax.relaxation(l: a, u: b, lowerParameter: pl, upperParameter: pu))
                    }
                }
                for x in xs {
                    let y = op.apply(x)
                    XCTAssertTrue(ilo <= y && y <= ihi, "\(name) image [\(ilo), \(ihi)] of [\(a), \(b)] misses f(\(x)) = \(y)")
                    for r in lines {
                        let lo = r.aL * x + r.bL, hi = r.aU * x + r.bU
                        // A NaN line evaluates to no bound at all; it must not pass as one.
                        XCTAssertFalse(lo.isNaN || hi.isNaN, "\(name) on [\(a), \(b)]: NaN line \(r) at \(x)")
                        XCTAssertTrue(lo <= y + 1e-9 * (1 + Swift.abs(y)) && y <= hi + 1e-9 * (1 + Swift.abs(y)),
                                      "\(name) on [\(a), \(b)]: f(\(x)) = \(y) outside [\(lo), \(hi)]")
                    }
                }
            }
        }
    }

    /// The cases of the issue, with the right images computed independently (by hand: sin and
    /// GeLU extrema).
    func testKnownImagesOfNonMonotoneOperators() throws {
        func ibp(_ op: any Operator, _ a: Double, _ b: Double) throws -> (Double, Double) {
            let r = try op.interval([IntervalTensor(lower: Tensor(shape: [1], data: [a]), upper: Tensor(shape: [1], data: [b]))])
            return (r.lower.data[0], r.upper.data[0])
        }
        var (lo, hi) = try ibp(Sin(), 0, 6)
        XCTAssertEqual(lo, -1); XCTAssertEqual(hi, 1)
        (lo, hi) = try ibp(Cos(), -1, 1)
        XCTAssertEqual(lo, cos(1), accuracy: 1e-15); XCTAssertEqual(hi, 1)
        (lo, hi) = try ibp(Gelu(), -2, 2)
        XCTAssertEqual(lo, -0.16997, accuracy: 1e-5); XCTAssertEqual(hi, 1.9545, accuracy: 1e-4)
        (lo, hi) = try ibp(Gelu(), -3, -1)
        XCTAssertEqual(lo, -0.158655, accuracy: 1e-5); XCTAssertEqual(hi, -0.00405, accuracy: 1e-5)
        XCTAssertLessThanOrEqual(lo, hi)
        // sin around 1e5 * pi + pi/2 (a crest far from the origin).
        let crest = 1e5 * Double.pi + .pi / 2
        (lo, hi) = try ibp(Sin(), crest - 1e-3, crest + 1e-3)
        XCTAssertEqual(hi, 1)
    }

    /// y = 100 sin(x + c) (and cos) for x in [0, w] with c between 1e5 and 3e6: the tangent
    /// and secant lines cancel terms near 1e6 at the box's ends, and without the rounding guard
    /// (`RoundingGuard`) CROWN's bound missed the value at a box end by 1e-8, enough for a wrong
    /// `unsat` (found by replaying held-out Sin networks). Every sampled value must lie inside
    /// the bounds exactly, with no tolerance.
    func testLargePreActivationsThroughSinAndCosStaySound() throws {
        var rng = RNG(seed: 23)
        for op in [Sin() as any Operator, Cos() as any Operator] {
            for trial in 0..<150 {
                let c = pow(10, Double.random(in: 5...6.5, using: &rng)) * (Bool.random(using: &rng) ? 1 : -1)
                let w = pow(10, Double.random(in: -7 ... -0.5, using: &rng))
                let values = [ValueInfo(name: "x", shape: [1, 1]), ValueInfo(name: "W1", shape: [1, 1]), ValueInfo(name: "b1", shape: [1]),
                              ValueInfo(name: "z", shape: [1, 1]), ValueInfo(name: "s", shape: [1, 1]),
                              ValueInfo(name: "W2", shape: [1, 1]), ValueInfo(name: "y", shape: [1, 1])]
                let constants: [Int: Tensor] = [1: Tensor(shape: [1, 1], data: [1]), 2: Tensor(shape: [1], data: [c]),
                                                5: Tensor(shape: [1, 1], data: [100])]
                let nodes = [Node(name: "fc1", opType: "Gemm", op: Gemm(), inputs: [0, 1, 2], output: 3),
                             Node(name: "act", opType: type(of: op).opType, op: op, inputs: [3], output: 4),
                             Node(name: "fc2", opType: "Gemm", op: Gemm(), inputs: [4, 5], output: 6)]
                let graph = Graph(values: values, constants: constants, nodes: nodes, input: 0, outputs: [6], metadata: ModelMetadata())
                let engine = BoundEngine(graph: graph)
                let box = InputBox(lower: [0], upper: [w])
                var alpha = BoundSettings(method: .alphaCrown)
                alpha.alphaIterations = 10; alpha.alphaIntermediateIterations = 3
                for settings in [BoundSettings(method: .ibp), BoundSettings(method: .crown), alpha] {
                    let b = try engine.bound(box: box, atoms: [LinearAtom(c: [1], d: 0)], settings: settings)[0]
                    for k in 0...400 {
                        let x = k == 400 ? w : w * Double(k) / 400
                        let y = try graph.evaluateFirst([x])[0]
                        if !(b.lower <= y && y <= b.upper) {
                            XCTFail("\(type(of: op).opType) c = \(c), w = \(w), \(settings.method): y(\(x)) = \(y) outside [\(b.lower), \(b.upper)] (trial \(trial))")
                            return
                        }
                    }
                }
            }
        }
    }

    /// 10,000 random points (plus corners and the centre) in each zoo box: every row's value
    /// lies inside [lower, upper] of IBP, CROWN and alpha-CROWN.
    func testZooBoundsContainSampledValues() throws {
        var rng = RNG(seed: 11)
        for (m, s) in ReferenceBoundsTests.zooCases {
            let dir = TestData.sharedPath("reference/zoo/\(m)")
            let graph = try ModelFile.load("\(dir)/model.onnx")
            let property = try PropertyLoader.load(path: "\(dir)/\(s).vnnlib", numOutputs: graph.outputCount)
            let atoms = property.rows.map(\.atom)
            let box = property.cases[0].box
            let engine = BoundEngine(graph: graph)
            var fast = BoundSettings(method: .alphaCrown)
            fast.alphaIterations = 20; fast.alphaIntermediateIterations = 5
            let all = try [BoundSettings(method: .ibp), BoundSettings(method: .crown), fast].map {
                try engine.bound(box: box, atoms: atoms, settings: $0)
            }
            var points: [[Double]] = [zip(box.lower, box.upper).map { ($0 + $1) / 2 }, box.lower, box.upper]
            let samples = m.hasPrefix("conv") ? 3000 : 10_000   // conv nets are slower to evaluate in debug builds
            for _ in 0..<samples { points.append(zip(box.lower, box.upper).map { Double.random(in: $0...$1, using: &rng) }) }
            for x in points {
                let y = try graph.evaluateFirst(x)
                for (k, a) in atoms.enumerated() {
                    let v = a.slack(y)!
                    for (method, b) in zip(["IBP", "CROWN", "alpha-CROWN"], all) {
                        let tol = 1e-9 * max(1, abs(v))
                        if !(b[k].lower <= v + tol && v <= b[k].upper + tol) {
                            XCTFail("\(m)/\(s) \(method) row \(k): value \(v) outside [\(b[k].lower), \(b[k].upper)]")
                            return
                        }
                    }
                }
            }
        }
    }
}
