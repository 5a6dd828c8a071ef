import XCTest
import Foundation
import Certus
import TestSupport

/// The piecewise-linear operators of issue 14 with an elementwise relaxation (Clip, Max and Min
/// with a constant, Floor, Sign): on many random intervals (tiny, huge, one-sided, infinite,
/// crossing one or both Clip kinks, at exact integers for Floor) and random parameter values
/// (NaN and out of [0, 1] included), the relaxation lines bound f at dense sample points, the
/// kinks and the ends; IBP images contain the samples; branching points lie strictly inside;
/// the LP/MILP encodings contain the graph. Also the multi-input Max/Min, ReduceMax/ReduceMin
/// and MaxPool evaluation and gradients on hand-made cases.
final class PiecewiseRelaxationTests: XCTestCase {
    typealias RNG = SplitMix64

    var operators: [any ElementwiseRelaxation] {
        Clip.representatives.map { $0 as any ElementwiseRelaxation }
            + Max.representatives.map { $0 as any ElementwiseRelaxation }
            + Min.representatives.map { $0 as any ElementwiseRelaxation }
            + [Floor(), Sign(), Max(constant: -1e30), Min(constant: 1e30), Max(constant: 3e20), Clip(low: -1e30, high: 2e29)]
            + PiecewiseLinear.representatives.map { $0 as any ElementwiseRelaxation }
    }

    /// Kinks and jumps of an operator (where intervals should start, end or cross).
    func specialPoints(_ op: any ElementwiseRelaxation) -> [Double] {
        switch op {
        case let c as Clip: return [c.low, c.high]
        case let m as Max: return [m.constant!]
        case let m as Min: return [m.constant!]
        case is Floor: return [-3, -1, 0, 1, 2, 5]
        case let p as PiecewiseLinear: return p.breakpoints.isEmpty ? [0] : p.breakpoints
        default: return [0]
        }
    }

    func randomInterval(_ trial: Int, _ special: [Double], _ rng: inout RNG) -> (Double, Double) {
        let (a, b) = rawInterval(trial, special, &rng)
        return a <= b ? (a, b) : (b, a)
    }

    func rawInterval(_ trial: Int, _ special: [Double], _ rng: inout RNG) -> (Double, Double) {
        let k = special[Int.random(in: 0..<special.count, using: &rng)]
        let k2 = special[Int.random(in: 0..<special.count, using: &rng)]
        switch trial % 10 {
        case 8: return (-.infinity, .infinity)
        case 0: return (k - Double.random(in: 0...3, using: &rng), k2 + Double.random(in: 0...3, using: &rng))   // across kinks
        case 1: let a = Double.random(in: -5...5, using: &rng); return (a, a + Double.random(in: 0...1e-6, using: &rng))  // tiny
        case 2: return (-Double.random(in: 1...1e6, using: &rng), Double.random(in: 1...1e6, using: &rng))                  // huge
        case 3: return (k, k + Double.random(in: 0...4, using: &rng))                                                         // at a kink
        case 4: return (k - Double.random(in: 0...4, using: &rng), k)
        case 5: return (-.infinity, k + Double.random(in: -2...2, using: &rng))
        case 6: return (k + Double.random(in: -2...2, using: &rng), .infinity)
        case 7: let a = Double(Int.random(in: -4...4, using: &rng)); return (a, a + Double(Int.random(in: 0...3, using: &rng)))  // integers
        default:
            let a = Double.random(in: -6...6, using: &rng), b = Double.random(in: -6...6, using: &rng)
            return (Swift.min(a, b), Swift.max(a, b))
        }
    }

    func randomParameter(_ rng: inout RNG) -> Double? {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return nil
        case 1: return .nan
        case 2: return Double.random(in: -1...2, using: &rng)
        case 3: return Double.random(in: 0...1, using: &rng) < 0.5 ? 0 : 1
        default: return Double.random(in: 0...1, using: &rng)
        }
    }

    func testRelaxationsAreSoundOnRandomIntervals() {
        var rng = RNG(seed: 1414)
        var crossingBoth = 0
        for op in operators {
            let special = specialPoints(op)
            for trial in 0..<700 {
                let (l, u) = randomInterval(trial, special, &rng)
                if let c = op as? Clip, l < c.low, u > c.high { crossingBoth += 1 }
                let pl = randomParameter(&rng), pu = randomParameter(&rng)
                let r = op.relaxation(l: l, u: u, lowerParameter: pl, upperParameter: pu)
                XCTAssertFalse(r.aL.isNaN || r.bL.isNaN || r.aU.isNaN || r.bU.isNaN, "\(op) [\(l), \(u)]: \(r)")
                let (lo, hi) = op.image(l: l, u: u)
                // Samples: finite points of [l, u] (an infinite end replaced by points far out).
                let a = l.isFinite ? l : (u.isFinite ? u - 1e4 : -1e4), b = u.isFinite ? u : a + 1e4
                var xs = [a, b] + special.filter { $0 >= a && $0 <= b }
                xs += special.flatMap { [$0.nextDown, $0.nextUp] }.filter { $0 >= a && $0 <= b }
                for _ in 0..<300 { xs.append(Double.random(in: a...b, using: &rng)) }
                for x in xs {
                    let y = op.apply(x)
                    let tol = 1e-12 * Swift.max(1, Swift.abs(x), Swift.abs(y))
                    XCTAssertLessThanOrEqual(r.aL * x + r.bL, y + tol, "\(op) lower at \(x) on [\(l), \(u)] p \(String(describing: pl)): \(r)")
                    XCTAssertGreaterThanOrEqual(r.aU * x + r.bU, y - tol, "\(op) upper at \(x) on [\(l), \(u)] p \(String(describing: pu)): \(r)")
                    XCTAssertTrue(lo <= y && y <= hi, "\(op) image [\(lo), \(hi)] misses f(\(x)) = \(y)")
                }
                if let p = op.branchingPoint(l: l, u: u, strategy: .midpoint) {
                    XCTAssertTrue(l < p && p < u, "\(op) branching point \(p) outside (\(l), \(u))")
                }
                // Derivatives with respect to the parameters are finite.
                let d = op.relaxationWithDerivatives(l: l, u: u, lowerParameter: pl, upperParameter: pu)
                XCTAssertTrue(d.lower.0.isFinite && d.lower.1.isFinite && d.upper.0.isFinite && d.upper.1.isFinite || !l.isFinite || !u.isFinite, "\(op) [\(l), \(u)]")
            }
        }
        XCTAssertGreaterThan(crossingBoth, 200)
    }

    /// Exactness where the function is affine or constant on the interval.
    func testExactCases() {
        XCTAssertEqual(Floor().relaxation(l: 2, u: 2.999, lowerParameter: 0.3, upperParameter: 0.7), .constant(2, 2))
        XCTAssertEqual(Floor().relaxation(l: -1, u: -0.5, lowerParameter: nil, upperParameter: nil), .constant(-1, -1))
        XCTAssertEqual(Sign().relaxation(l: 0.5, u: 4, lowerParameter: nil, upperParameter: nil), .constant(1, 1))
        XCTAssertEqual(Sign().relaxation(l: 0, u: 0, lowerParameter: nil, upperParameter: nil), .constant(0, 0))
        XCTAssertEqual(Clip(low: -1, high: 1).relaxation(l: -0.5, u: 1, lowerParameter: 0, upperParameter: 0), .line(1, 0))
        XCTAssertEqual(Clip(low: -1, high: 1).relaxation(l: 2, u: 3, lowerParameter: 0, upperParameter: 0), .line(0, 1))
        XCTAssertEqual(Max(constant: 2).relaxation(l: -3, u: 2, lowerParameter: nil, upperParameter: nil), .line(0, 2))
        XCTAssertEqual(Min(constant: 2).relaxation(l: -3, u: 2, lowerParameter: nil, upperParameter: nil).aL, 1)
        // Clip crossing both kinks with full parameters: lines through the far corners.
        let r = Clip(low: 0, high: 1).relaxation(l: -1, u: 3, lowerParameter: 1, upperParameter: 1)
        XCTAssertEqual(r.aL, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(r.aU, 0.5, accuracy: 1e-12)
        XCTAssertEqual(r.aL * 3 + r.bL, 1, accuracy: 1e-9)
        XCTAssertEqual(r.aU * -1 + r.bU, 0, accuracy: 1e-9)
    }

    /// The encodings contain the graph: every sampled (z, f(z)) satisfies the hull rows and y's
    /// bounds, and in exact mode some binary value a in {0, 1} satisfies every row; a point well
    /// off the graph violates the exact encoding.
    func testEncodingsContainTheGraph() {
        var rng = RNG(seed: 77)
        let ops: [any ElementwiseRelaxation] = Clip.representatives + Max.representatives + Min.representatives
        for op in ops {
            for trial in 0..<300 {
                var (l, u) = randomInterval(trial, specialPoints(op), &rng)
                if !l.isFinite && !u.isFinite { (l, u) = (-7, 9) }
                if !l.isFinite { l = u - 7 }
                if !u.isFinite { u = l + 9 }
                for mode in [PiecewiseLinearEncoding.Mode.hull, .exact] {
                    guard let e = op.piecewiseLinearEncoding(l: l, u: u, mode: mode) else {
                        // Only Clip across both kinks has no exact encoding.
                        XCTAssertTrue(mode == .exact && op is Clip, "\(op) [\(l), \(u)] \(mode)")
                        continue
                    }
                    for k in 0..<60 {
                        let z = k == 0 ? l : (k == 1 ? u : Double.random(in: l...u, using: &rng))
                        let y = op.apply(z)
                        let tol = 1e-9 * Swift.max(1, Swift.abs(z), Swift.abs(l), Swift.abs(u))
                        switch e {
                        case .affine(let s, let b):
                            XCTAssertEqual(s * z + b, y, accuracy: tol, "\(op) [\(l), \(u)]")
                        case .rows(let yl, let yu, let rows, let binary):
                            XCTAssertTrue(yl - tol <= y && y <= yu + tol, "\(op) [\(l), \(u)] y bounds")
                            let ok = (binary ? [0.0, 1.0] : [0.0]).contains { a in rows.allSatisfy { $0.holds(z: z, y: y, a: a, tolerance: tol) } }
                            XCTAssertTrue(ok, "\(op) [\(l), \(u)] \(mode): (\(z), \(y)) violates \(rows)")
                        }
                    }
                }
            }
        }
        // Max(z, 0) on [-1, 1] exactly: (0, 0.5) lies in the hull but not on the graph.
        if case .rows(_, _, let rows, true)? = Max(constant: 0).piecewiseLinearEncoding(l: -1, u: 1, mode: .exact) {
            XCTAssertFalse([0.0, 1.0].contains { a in rows.allSatisfy { $0.holds(z: 0, y: 0.5, a: a) } })
        } else { XCTFail("no exact encoding") }
    }

    func ctx(_ op: String, _ shapes: [[Int]], _ consts: [Tensor?], opset: Int = 13, attrs: [String: AttributeValue] = [:]) -> NodeContext {
        NodeContext(name: "n", opType: op, opset: opset, attributes: attrs, inputShapes: shapes, constantInputs: consts)
    }

    /// Loading picks the relaxation a node admits, and refusals name the node and the reason.
    func testLoadingAndBoundKinds() throws {
        let maxc = try OperatorRegistry.make(ctx("Max", [[2, 3], []], [nil, Tensor(scalar: 0.5)]))
        XCTAssertEqual((maxc as? Max)?.constant, 0.5)
        XCTAssertEqual(maxc.boundKind(constantInputs: [false, true]), .elementwise)
        let maxv = try OperatorRegistry.make(ctx("Max", [[2, 3], [2, 3]], [nil, nil]))
        guard case .unsupported(let why) = maxv.boundKind(constantInputs: [false, false]) else { return XCTFail() }
        XCTAssertTrue(why.contains("decomposition"), why)
        XCTAssertTrue(maxv is any BoundDecomposition, "Max of variables is bounded through its decomposition")
        let varying = try OperatorRegistry.make(ctx("Min", [[2, 3], [3]], [nil, Tensor(shape: [3], data: [1, 2, 3])]))
        XCTAssertNil((varying as? Min)?.constant)
        let widening = try OperatorRegistry.make(ctx("Max", [[1, 3], [2, 3]], [nil, Tensor(shape: [2, 3], repeating: 1)]))
        XCTAssertNil((widening as? Max)?.constant)
        let clip = try OperatorRegistry.make(ctx("Clip", [[4], [], []], [nil, Tensor(scalar: -1), Tensor(scalar: 2)], opset: 11))
        XCTAssertEqual((clip as? Clip)?.low, -1); XCTAssertEqual((clip as? Clip)?.high, 2)
        let clip6 = try OperatorRegistry.make(ctx("Clip", [[4]], [nil], opset: 6, attrs: ["min": .float(0)]))
        XCTAssertEqual((clip6 as? Clip)?.low, 0); XCTAssertEqual((clip6 as? Clip)?.high, Double(Float.greatestFiniteMagnitude))
        func refused(_ c: NodeContext, _ piece: String, line: UInt = #line) {
            XCTAssertThrowsError(try OperatorRegistry.make(c), line: line) { e in
                XCTAssertTrue("\(e)".contains("node 'n'") && "\(e)".contains(piece), "\(e)", line: line)
            }
        }
        refused(ctx("Clip", [[4], []], [nil, nil], opset: 11), "min (input 1) must be a constant")
        refused(ctx("Clip", [[4], [2]], [nil, Tensor(shape: [2], data: [0, 1])], opset: 13), "must be a scalar")
        refused(ctx("Clip", [[4], []], [nil, Tensor(scalar: 0)], opset: 10), "only from opset 11")
        refused(ctx("ReduceMax", [[2, 3], [1]], [nil, nil], opset: 18), "axes (input 1) must be a constant")
        refused(ctx("ReduceMin", [[2, 3], [1]], [nil, Tensor(shape: [1], data: [0])], opset: 13), "only from opset 18")
        refused(ctx("ReduceMax", [[2, 3]], [nil], attrs: ["axes": .ints([5])]), "out of range")
        refused(ctx("MaxPool", [[1, 3]], [nil], attrs: ["kernel_shape": .ints([2])]), "only 2-D pooling")
        refused(ctx("Max", [[2, 3], [4]], [nil, nil]), "cannot be broadcast")
        let rmax = try OperatorRegistry.make(ctx("ReduceMax", [[2, 1, 3]], [nil], attrs: ["axes": .ints([1])]))
        XCTAssertEqual(rmax.boundKind(constantInputs: [false]), .affine)   // a size-1 axis: a reshape
        let rmax2 = try OperatorRegistry.make(ctx("ReduceMax", [[2, 2, 3]], [nil], attrs: ["axes": .ints([1])]))
        if case .unsupported = rmax2.boundKind(constantInputs: [false]) {} else { XCTFail("ReduceMax over 2 elements claims a relaxation") }
    }

    /// Hand-made evaluation, interval and gradient of the multi-input operators.
    func testMultiInputEvaluationAndGradient() throws {
        let a = Tensor(shape: [2, 2], data: [1, -2, 3, .nan]), b = Tensor(shape: [2], data: [0, 5])
        let m = try Max().evaluate([a, b])
        XCTAssertEqual(Array(m.data[0..<3]), [1, 5, 3]); XCTAssertTrue(m.data[3].isNaN)
        let g = try Min().backward([Tensor(shape: [3], data: [1, 4, 2]), Tensor(shape: [1], data: [2])],
                                   output: Tensor(shape: [3], data: [1, 2, 2]), gradient: Tensor(shape: [3], data: [1, 1, 1]))
        XCTAssertEqual(g[0]?.data, [1, 0, 1]); XCTAssertEqual(g[1]?.data, [1])   // ties go to the first input
        let box = IntervalTensor(lower: Tensor(shape: [2, 3], data: [0, -1, 2, 5, 1, -3]), upper: Tensor(shape: [2, 3], data: [1, 4, 2, 6, 1, 0]))
        let r = try ReduceMax(axes: [1], keepDims: false).interval([box])
        XCTAssertEqual(r.lower.data, [2, 5]); XCTAssertEqual(r.upper.data, [4, 6])
        let rm = try ReduceMin(axes: [0, 1], keepDims: true).interval([box])
        XCTAssertEqual(rm.lower.shape, [1, 1]); XCTAssertEqual(rm.lower.data, [-3]); XCTAssertEqual(rm.upper.data, [0])
        let x = Tensor(shape: [2, 3], data: [0, 7, 7, 1, -1, 1])
        let gr = try ReduceMax(axes: [1], keepDims: false).backward([x], output: Tensor(shape: [2], data: [7, 1]), gradient: Tensor(shape: [2], data: [2, 3]))
        XCTAssertEqual(gr[0]?.data, [0, 2, 0, 3, 0, 0])
    }
}

extension PiecewiseRelaxationTests {
    /// `PiecewiseLinear` (fused ReLU sums): the image is the exact range on finite intervals (the
    /// sampled extremes, breakpoints included, reach it up to rounding), alpha's analytic
    /// derivatives match central differences where the extremum's point does not jump, and both
    /// branching strategies pick a breakpoint strictly inside.
    func testPiecewiseLinearImageDerivativesAndBranching() {
        var rng = RNG(seed: 31)
        for op in PiecewiseLinear.representatives where !op.breakpoints.isEmpty {
            for _ in 0..<300 {
                let a = Double.random(in: -8...8, using: &rng), b = Double.random(in: -8...8, using: &rng)
                let (l, u) = (Swift.min(a, b), Swift.max(a, b))
                let (lo, hi) = op.image(l: l, u: u)
                let xs = [l, u] + op.breakpoints.filter { $0 >= l && $0 <= u } + (0..<50).map { _ in Double.random(in: l...u, using: &rng) }
                let ys = xs.map(op.apply)
                XCTAssertEqual(lo, ys.min()!, accuracy: 1e-9)
                XCTAssertEqual(hi, ys.max()!, accuracy: 1e-9)
                for strategy in BranchingPointStrategy.allCases {
                    if let p = op.branchingPoint(l: l, u: u, strategy: strategy) {
                        XCTAssertTrue(l < p && p < u && op.breakpoints.contains(p), "\(strategy) \(p) on [\(l), \(u)]")
                    } else {
                        XCTAssertFalse(op.breakpoints.contains { $0 > l && $0 < u }, "no point although a kink is inside [\(l), \(u)]")
                    }
                }
                let p = Double.random(in: 0.05...0.95, using: &rng), h = 1e-7
                let d = op.relaxationWithDerivatives(l: l, u: u, lowerParameter: p, upperParameter: p)
                let r1 = op.relaxation(l: l, u: u, lowerParameter: p + h, upperParameter: p + h)
                let r0 = op.relaxation(l: l, u: u, lowerParameter: p - h, upperParameter: p - h)
                XCTAssertEqual(d.lower.0, (r1.aL - r0.aL) / (2 * h), accuracy: 1e-5 * Swift.max(1, Swift.abs(d.lower.0)))
                XCTAssertEqual(d.upper.0, (r1.aU - r0.aU) / (2 * h), accuracy: 1e-5 * Swift.max(1, Swift.abs(d.upper.0)))
                // The intercept's derivative holds on either side of a jump of the extremum's point.
                let fdL = (r1.bL - r0.bL) / (2 * h), fdU = (r1.bU - r0.bU) / (2 * h)
                let rightL = (r1.bL - d.relaxation.bL) / h, leftL = (d.relaxation.bL - r0.bL) / h
                XCTAssertTrue(Swift.abs(d.lower.1 - fdL) <= 1e-4 * Swift.max(1, Swift.abs(fdL)) || Swift.abs(d.lower.1 - rightL) <= 1e-4 * Swift.max(1, Swift.abs(rightL))
                              || Swift.abs(d.lower.1 - leftL) <= 1e-4 * Swift.max(1, Swift.abs(leftL)), "lower intercept derivative \(d.lower.1) vs \(fdL)")
                let rightU = (r1.bU - d.relaxation.bU) / h, leftU = (d.relaxation.bU - r0.bU) / h
                XCTAssertTrue(Swift.abs(d.upper.1 - fdU) <= 1e-4 * Swift.max(1, Swift.abs(fdU)) || Swift.abs(d.upper.1 - rightU) <= 1e-4 * Swift.max(1, Swift.abs(rightU))
                              || Swift.abs(d.upper.1 - leftU) <= 1e-4 * Swift.max(1, Swift.abs(leftU)), "upper intercept derivative \(d.upper.1) vs \(fdU)")
            }
        }
    }
}
