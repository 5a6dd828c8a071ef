import Foundation
import CertusTensor

/// A continuous piecewise-linear function of one variable, applied elementwise (any shape):
///
///     f(x) = c + Σ_k m_k max(x - t_k, 0),   k = 0 ..< K,
///
/// with breakpoints t_k, slope changes m_k and offset c (constants). Not an ONNX operator: the
/// bound engine's copy of a graph gets it from `PiecewiseLinearFusion`, which recognises the
/// ReLU-sum exports of smooth functions (`Unsqueeze(x, -1) - t → Relu → MatMul(m) → Add(c)`, as
/// in the VNN-COMP ml4acopf power-flow proxies, whose Sigmoid, Sin and Cos are 54- and 55-piece
/// ReLU sums). Bounding the sum as one function of x is what makes such a network's bounds
/// tight: CROWN relaxes each of the K ReLUs of the sum on its own, and with slope changes of both
/// signs those relaxations do not cancel (a saturating sigmoid-like sum bounded in [0, 1] got an
/// upper bound of 2.1 on a wide input interval).
///
/// f is 0-sloped left of every breakpoint (f = c there) and has slope S = Σ m_k right of them.
/// Bounds (all computed from the candidate points of [l, u]: its ends and the breakpoints
/// inside, where a piecewise-linear function takes its extrema):
/// - **IBP**: the exact [min f, max f] over the candidate points (towards an infinite end, the
///   tail's slope decides whether f is bounded), moved outward for the rounding of the sum;
/// - **linear relaxation**: any slope a gives the sound line a x + max_x (f(x) - a x) above f
///   (and min below), the extremum over the candidate points (`intercept`), so every parameter
///   value is sound. The slope ranges over the slopes of the upper concave (lower convex) hull of
///   f's graph on [l, u]: parameter p in [0, 1] gives a = s_last + p (s_first - s_last), each
///   such line touching the hull; the default is the hull's slope at the midpoint, the supporting
///   line of least mean gap (as for the tangent of a concave function). alpha-CROWN's gradient
///   is analytic: da/dp = s_first - s_last and db/dp = -x* da/dp, x* the point attaining the
///   extremum;
/// - **branching** (GenBaB): at a breakpoint strictly inside (l, u), which leaves each child
///   fewer kinks (f is exact on an interval without one). `.midpoint`: the breakpoint nearest the
///   midpoint; `.optimized`: the breakpoint that minimises the children's summed relaxation gap
///   (the integral of the upper minus the lower default line over each child).
///
/// Rounding: every f(x) the bounds use is a Double sum of K + 1 terms; each extremum is moved
/// outward by a multiple of `RoundingGuard.relative` of the terms' magnitude
/// (Σ |m_k| max(x - t_k, 0) + |c| + |a x|), which covers K up to about 4,000 roundings per
/// term, and the right tail's slope S carries its own error bound.
package struct PiecewiseLinear: ElementwiseRelaxation {
    package static let opType = "PiecewiseLinear"

    /// Breakpoints t_k and slope changes m_k in the model's order (evaluation sums in this order).
    package let thresholds: [Double]
    package let weights: [Double]
    /// The constant c.
    package let offset: Double
    /// The distinct breakpoints, increasing.
    package let breakpoints: [Double]
    /// f and the terms' magnitude at each of `breakpoints`.
    let values: [Double]
    let magnitudes: [Double]
    /// The slope right of each breakpoint (prefix sums of m over the sorted breakpoints), and
    /// the right tail's slope S with a bound on its rounding error.
    let slopesRight: [Double]
    let tailSlope: Double
    let tailSlopeError: Double
    /// Relative rounding allowance for one evaluation (`RoundingGuard.relative`, more for long sums).
    let padRelative: Double

    /// - Precondition: `thresholds` and `weights` have the same count, and every number is finite
    ///   (`PiecewiseLinearFusion` checks both before building one).
    package init(thresholds: [Double], weights: [Double], offset: Double) {
        precondition(thresholds.count == weights.count)
        self.thresholds = thresholds
        self.weights = weights
        self.offset = offset
        padRelative = RoundingGuard.relative * Swift.max(4, Double(thresholds.count + 4) / 1024)
        let order = thresholds.indices.sorted { thresholds[$0] < thresholds[$1] }
        var bs: [Double] = [], slopes: [Double] = []
        var s = 0.0, sumAbs = 0.0
        for k in order {
            s += weights[k]; sumAbs += Swift.abs(weights[k])
            if let last = bs.last, last == thresholds[k] { slopes[slopes.count - 1] = s } else { bs.append(thresholds[k]); slopes.append(s) }
        }
        breakpoints = bs
        slopesRight = slopes
        tailSlope = s
        // |fl(Σ m_k) - Σ m_k| <= gamma_K Σ |m_k|; the guard's relative factor is far above gamma_K.
        tailSlopeError = padRelative * sumAbs
        var vs: [Double] = [], ms: [Double] = []
        for b in bs {
            vs.append(Self.sum(thresholds, weights, offset, b))
            ms.append(Self.magnitude(thresholds, weights, offset, b))
        }
        values = vs
        magnitudes = ms
    }

    /// Not an ONNX operator: only `PiecewiseLinearFusion` builds one.
    package static func make(_ node: NodeContext) throws -> PiecewiseLinear {
        throw node.unsupported("PiecewiseLinear is internal to Certus's bound engine, not an ONNX operator")
    }

    /// Instances for the soundness tests: a saturating sigmoid-like sum, one kink (a shifted
    /// ReLU), repeated and unsorted breakpoints with slope changes of both signs, a function
    /// growing to the right, and one without breakpoints.
    package static var representatives: [PiecewiseLinear] {
        let sigmoidTs = stride(from: -6.0, through: 6.0, by: 0.5).map { $0 }
        func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        var ms: [Double] = []
        var previous = 0.0
        for (i, t) in sigmoidTs.enumerated() {
            let next = i + 1 < sigmoidTs.count ? (sigmoid(sigmoidTs[i + 1]) - sigmoid(t)) / 0.5 : 0
            ms.append(next - previous)
            previous = next
        }
        return [
            PiecewiseLinear(thresholds: sigmoidTs, weights: ms, offset: sigmoid(-6)),
            PiecewiseLinear(thresholds: [0.5], weights: [2], offset: -1),
            PiecewiseLinear(thresholds: [1, -2, 1, 3, 0], weights: [-1.5, 2, 0.5, -3, 1], offset: 0.25),
            PiecewiseLinear(thresholds: [-1, 0, 2], weights: [0.5, 1, 0.25], offset: 0),
            PiecewiseLinear(thresholds: [], weights: [], offset: 3),
        ]
    }

    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }

    /// c + Σ_k m_k max(x - t_k, 0), summed in the model's order (as its MatMul does); NaN stays NaN.
    package func apply(_ x: Double) -> Double { Self.sum(thresholds, weights, offset, x) }

    static func sum(_ t: [Double], _ m: [Double], _ c: Double, _ x: Double) -> Double {
        if x.isNaN { return x }
        var s = 0.0
        for k in t.indices { s += m[k] * Swift.max(x - t[k], 0) }
        return s + c
    }

    static func magnitude(_ t: [Double], _ m: [Double], _ c: Double, _ x: Double) -> Double {
        var s = Swift.abs(c)
        for k in t.indices { s += Swift.abs(m[k]) * Swift.max(x - t[k], 0) }
        return s
    }

    /// The slope at x: the slope right of the last breakpoint below x (0 left of all); at a
    /// breakpoint the left slope (an element of the Clarke gradient).
    package func derivative(_ x: Double, _ y: Double) -> Double {
        var lo = 0, hi = breakpoints.count   // the number of breakpoints < x
        while lo < hi { let mid = (lo + hi) / 2; if breakpoints[mid] < x { lo = mid + 1 } else { hi = mid } }
        return lo == 0 ? 0 : slopesRight[lo - 1]
    }

    /// The finite candidate points of an interval, increasing, with f and the terms' magnitude at each.
    typealias Candidates = (x: [Double], f: [Double], m: [Double])

    /// The finite candidate points of [l, u] (its finite ends and the breakpoints strictly
    /// inside), increasing, with f and the terms' magnitude at each. Computed once per image or
    /// relaxation and handed to the hull and intercept steps.
    func candidates(_ l: Double, _ u: Double) -> Candidates {
        var xs: [Double] = [], fs: [Double] = [], ms: [Double] = []
        if l.isFinite { xs.append(l); fs.append(apply(l)); ms.append(Self.magnitude(thresholds, weights, offset, l)) }
        for (i, b) in breakpoints.enumerated() where b > l && b < u {
            xs.append(b); fs.append(values[i]); ms.append(magnitudes[i])
        }
        if u.isFinite && u > l { xs.append(u); fs.append(apply(u)); ms.append(Self.magnitude(thresholds, weights, offset, u)) }
        return (xs, fs, ms)
    }

    /// Exact up to the rounding pad: f's extrema over [l, u] lie at the candidate points; an
    /// infinite left end adds c (f's value left of every breakpoint), an infinite right end makes
    /// the image unbounded on the side the tail's slope S runs to (both sides when S is within its
    /// rounding error of 0, unless there is no breakpoint).
    package func image(l: Double, u: Double) -> (Double, Double) {
        if l.isNaN || u.isNaN || l > u { return (-.infinity, .infinity) }
        let (xs, fs, ms) = candidates(l, u)
        var lo = Double.infinity, hi = -Double.infinity, mag = 0.0
        for i in xs.indices { lo = Swift.min(lo, fs[i]); hi = Swift.max(hi, fs[i]); mag = Swift.max(mag, ms[i]) }
        if l == -.infinity {
            // Left of every breakpoint f = c exactly (every term is m_k * 0).
            lo = Swift.min(lo, offset); hi = Swift.max(hi, offset); mag = Swift.max(mag, Swift.abs(offset))
        } else if xs.isEmpty {
            return (-.infinity, .infinity)   // [+inf, +inf]
        }
        if u == .infinity && !breakpoints.isEmpty {
            if tailSlope + tailSlopeError > 0 { hi = .infinity }
            if tailSlope - tailSlopeError < 0 { lo = -.infinity }
        }
        let pad = padRelative * mag
        return (lo - pad, hi + pad)
    }

    /// The intercept b of the line a x + b above (`below` false) or below f on [l, u]: the
    /// extremum of f(x) - a x over the candidate points, moved outward for rounding, and the
    /// point attaining it; infinite when f - a x is unbounded in the bound's direction towards an
    /// infinite end (left tail slope 0, right tail slope S within its error).
    func intercept(slope a: Double, l: Double, u: Double, below: Bool, points: Candidates) -> (b: Double, at: Double) {
        let unbounded = below ? -Double.infinity : Double.infinity
        if l == -.infinity && (below ? a < 0 : a > 0) { return (unbounded, l) }
        if u == .infinity && !breakpoints.isEmpty {
            if below ? !(tailSlope - tailSlopeError >= a) : !(tailSlope + tailSlopeError <= a) { return (unbounded, u) }
        }
        if u == .infinity && breakpoints.isEmpty && (below ? a > 0 : a < 0) { return (unbounded, u) }
        // Every tail left is bounded in the bound's direction, with its extremum at its finite
        // end, which is a candidate point; only f = c on the whole line has none.
        let (xs, fs, ms) = points
        if xs.isEmpty {
            guard l == -.infinity, u == .infinity, breakpoints.isEmpty, a == 0 else { return (unbounded, .nan) }
            let pad = padRelative * Swift.abs(offset)
            return (below ? offset - pad : offset + pad, .nan)
        }
        var best = below ? Double.infinity : -Double.infinity, at = xs[0], mag = 0.0
        for i in xs.indices {
            let c = fs[i] - a * xs[i]
            mag = Swift.max(mag, ms[i] + Swift.abs(a * xs[i]) + Swift.abs(fs[i]))
            if below ? c < best : c > best { best = c; at = xs[i] }
        }
        guard best.isFinite else { return (unbounded, at) }
        let pad = padRelative * mag
        return (below ? best - pad : best + pad, at)
    }

    /// The slopes of the upper concave hull (`below` false) or lower convex hull of the
    /// candidate points, in order from left to right, with each segment's left end.
    func hullSlopes(_ xs: [Double], _ fs: [Double], below: Bool) -> [(slope: Double, from: Double)] {
        guard xs.count >= 2 else { return [] }
        var stack: [Int] = []
        for i in xs.indices {
            while stack.count >= 2 {
                let a = stack[stack.count - 2], b = stack[stack.count - 1]
                // Cross product of (b - a) and (i - a): > 0 is a left turn.
                let cross = (xs[b] - xs[a]) * (fs[i] - fs[a]) - (fs[b] - fs[a]) * (xs[i] - xs[a])
                if below ? cross <= 0 : cross >= 0 { stack.removeLast() } else { break }
            }
            stack.append(i)
        }
        return zip(stack, stack.dropFirst()).map { (i, j) in ((fs[j] - fs[i]) / (xs[j] - xs[i]), xs[i]) }
    }

    /// The slope range [first, last] of one side's hull on [l, u] (finite ends) and the hull's
    /// slope at the midpoint, or nil for an infinite end or fewer than two points.
    func slopeRange(l: Double, u: Double, below: Bool, points: Candidates) -> (from: Double, to: Double, middle: Double)? {
        guard l.isFinite, u.isFinite, u > l else { return nil }
        let hull = hullSlopes(points.x, points.f, below: below)
        guard let first = hull.first, let last = hull.last else { return nil }
        let mid = l / 2 + u / 2
        let middle = hull.last(where: { $0.from <= mid })?.slope ?? first.slope
        guard first.slope.isFinite, last.slope.isFinite, middle.isFinite else { return nil }
        return (first.slope, last.slope, middle)
    }

    /// The slope of one side for parameter p (nil: the default): on finite intervals between the
    /// hull's first and last slopes; towards an infinite end the tail's slope (0 on the left, S
    /// on the right, moved by its error bound to the sound side).
    func slope(l: Double, u: Double, below: Bool, parameter p: Double?, points: Candidates) -> (a: Double, range: Double) {
        if l == -.infinity || u == .infinity {
            // The left tail's slope 0 (with both ends infinite only S = 0 gives a finite line).
            if l == -.infinity || breakpoints.isEmpty { return (0, 0) }
            return (below ? tailSlope - tailSlopeError : tailSlope + tailSlopeError, 0)
        }
        guard let r = slopeRange(l: l, u: u, below: below, points: points) else { return (derivative(l / 2 + u / 2, 0), 0) }
        // Upper hull slopes decrease from `from` to `to`; lower hull slopes increase.
        let lowEnd = Swift.min(r.from, r.to), highEnd = Swift.max(r.from, r.to), width = highEnd - lowEnd
        guard let p = unitParameter(p), width > 0 else { return (r.middle, 0) }
        return (lowEnd + p * width, width)
    }

    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        relaxationWithDerivatives(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter).relaxation
    }

    /// The parameters of the hull's midpoint slopes (finite intervals with a kink inside).
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        guard l.isFinite, u.isFinite, u > l else { return (nil, nil) }
        let points = candidates(l, u)
        func p(_ below: Bool) -> Double? {
            guard let r = slopeRange(l: l, u: u, below: below, points: points) else { return nil }
            let lo = Swift.min(r.from, r.to), hi = Swift.max(r.from, r.to)
            guard hi > lo else { return nil }
            return Swift.min(1, Swift.max(0, (r.middle - lo) / (hi - lo)))
        }
        return (p(true), p(false))
    }

    /// Analytic: a = lowEnd + p width, b = extremum of f(x) - a x at x*: da/dp = width,
    /// db/dp = -x* width.
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        if l.isNaN || u.isNaN { return (.constant(-.infinity, .infinity), (0, 0), (0, 0)) }
        let points = candidates(l, u)
        let lowSide = slope(l: l, u: u, below: true, parameter: lowerParameter, points: points)
        let highSide = slope(l: l, u: u, below: false, parameter: upperParameter, points: points)
        let lb = intercept(slope: lowSide.a, l: l, u: u, below: true, points: points)
        let ub = intercept(slope: highSide.a, l: l, u: u, below: false, points: points)
        let rel = NeuronRelaxation(aL: lowSide.a, bL: lb.b, aU: highSide.a, bU: ub.b)
        func d(_ side: (a: Double, range: Double), _ at: Double) -> (Double, Double) {
            side.range > 0 && at.isFinite ? (side.range, -at * side.range) : (0, 0)
        }
        return (rel, d(lowSide, lb.at), d(highSide, ub.at))
    }

    /// A breakpoint inside.
    package func crossesShapeChange(l: Double, u: Double) -> Bool { breakpoints.contains { $0 > l && $0 < u } }

    /// A breakpoint strictly inside (l, u) (see the type's documentation), or nil when none is
    /// (f is affine on [l, u]) or an end is infinite.
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        guard l.isFinite, u.isFinite, u > l else { return nil }
        let inside = breakpoints.filter { $0 > l && $0 < u }
        guard !inside.isEmpty else { return nil }
        let mid = l / 2 + u / 2
        switch strategy {
        case .midpoint:
            return inside.min { Swift.abs($0 - mid) < Swift.abs($1 - mid) }
        case .optimized:
            func gap(_ a: Double, _ b: Double) -> Double {
                let r = relaxation(l: a, u: b, lowerParameter: nil, upperParameter: nil)
                // The integral of (upper - lower) over [a, b].
                let m = a / 2 + b / 2
                return ((r.aU - r.aL) * m + (r.bU - r.bL)) * (b - a)
            }
            var best = inside[0], bestGap = Double.infinity
            for p in inside {
                let g = gap(l, p) + gap(p, u)
                if g < bestGap { best = p; bestGap = g }
            }
            return best
        }
    }
}
