import Foundation
import CertusTensor

/// ONNX `Clip`, elementwise; any shape: y = min(max(x, min), max) with constant scalar bounds
/// (when min > max every output is max, as in onnxruntime). Before opset 11 `min` and `max` are
/// float attributes; from opset 11 they are optional scalar inputs, which must be constant
/// (computed bounds are refused with the node's name). An absent bound is -/+ the largest
/// float32, as in onnxruntime (so an infinite input is clipped to a finite value).
///
/// Two ReLU-like kinks, at `low` and `high`. IBP is exact (monotone). Relaxation on [l, u]:
/// - constant when [l, u] lies left of `low` or right of `high`; the identity between them;
/// - crossing `low` only (l < low < u <= high): the ReLU triangle shifted to (low, low): the
///   chord through (l, low) and (u, u) above, a line through (low, low) with slope p in [0, 1]
///   below (p the lower parameter, alpha-CROWN's);
/// - crossing `high` only: the mirror image (chord below, slope q in [0, 1] through
///   (high, high) above, q the upper parameter);
/// - crossing both: below, a line through (low, low) with slope p (high - low) / (u - low)
///   (at p = 1 it passes through (u, high)); above, a line through (high, high) with slope
///   q (high - low) / (high - l) (at q = 1 it passes through (l, low)). Every p, q in [0, 1]
///   is sound: the line through the kink with a slope between 0 and the one reaching the far
///   corner stays under (over) the graph.
/// Defaults: the steeper line when the interval's midpoint lies on the far side of the kink
/// (p = 1 when (l + u) / 2 > low, q = 1 when (l + u) / 2 < high), which minimises the line's
/// mean gap, as ReLU's default slope does. Infinite ends give the limits (slope 0 towards an
/// infinite end). The intercepts are not computed from the kink a line pivots on (with the
/// default bound 3.4e38 that cancels to nothing) but as the extremum of f(x) - a x over the
/// breakpoints, with a rounding pad (`PiecewiseLinearIntercept`).
package struct Clip: ElementwiseRelaxation {
    package static let opType = "Clip"
    package let low: Double
    package let high: Double

    package init(low: Double = -Self.float32Max, high: Double = Self.float32Max) { self.low = low; self.high = high }

    /// onnxruntime's default bounds (the float32 range).
    package static let float32Max = Double(Float.greatestFiniteMagnitude)

    package static func make(_ node: NodeContext) throws -> Clip {
        var low = -float32Max, high = float32Max
        if node.opset < 11 {
            guard node.inputShapes.count == 1 else {
                throw node.error("Clip takes min and max as inputs only from opset 11; this model has opset \(node.opset)")
            }
            low = try node.float("min", default: low)
            high = try node.float("max", default: high)
        } else {
            guard (1...3).contains(node.inputShapes.count) else { throw node.error("Clip takes 1 to 3 inputs, got \(node.inputShapes.count)") }
            for (i, what) in [(1, "min"), (2, "max")] where i < node.inputShapes.count {
                let t = try node.constantInput(i, what: "Clip's \(what)")
                guard t.count == 1 else { throw node.error("Clip's \(what) must be a scalar; it has shape \(t.shape)", kind: .shape) }
                if i == 1 { low = t.data[0] } else { high = t.data[0] }
            }
        }
        guard !low.isNaN, !high.isNaN else { throw node.unsupported("Clip with a NaN bound is not supported") }
        return Clip(low: low, high: high)
    }

    /// An omitted min (with max given) is no lower bound: onnxruntime's lowest float32.
    package static func omittedInput(at position: Int, inputShapes: [[Int]?]) -> Tensor? {
        position == 1 ? Tensor(shape: [], data: [-float32Max]) : nil
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(s, 1...3, Self.opType)
        return s[0]
    }

    /// Bounds `min` and `max` are parameters (no gradient).
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        var g = gradient
        for i in 0..<g.data.count { g.data[i] *= derivative(inputs[0].data[i], output.data[i]) }
        return [g] + [Tensor?](repeating: nil, count: inputs.count - 1)
    }

    /// min(max(x, low), high); NaN stays NaN.
    package func apply(_ x: Double) -> Double {
        if x.isNaN { return x }
        return Swift.min(Swift.max(x, low), high)
    }
    /// 1 strictly between the bounds, else 0 (0 at the kinks, in the Clarke gradient [0, 1]).
    package func derivative(_ x: Double, _ y: Double) -> Double { x > low && x < high ? 1 : 0 }
    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.dropFirst().allSatisfy { $0 } ? .elementwise : .unsupported("Clip with computed bounds is not supported")
    }
    /// Exact: clip is non-decreasing.
    package func image(l: Double, u: Double) -> (Double, Double) { MonotoneImage.increasing(l, u, apply) }
    /// A kink (`low` or `high`, when low < high) strictly inside (l, u).
    package func crossesShapeChange(l: Double, u: Double) -> Bool {
        low < high && ((l < low && low < u) || (l < high && high < u))
    }

    package static var representatives: [Clip] {
        [Clip(low: 0, high: 1), Clip(low: -1, high: 2), Clip(low: 0.5), Clip(high: -0.25), Clip(low: 1, high: 1), Clip(low: 2, high: -1)]
    }

    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        // Degenerate bounds: a constant.
        if low >= high { return .line(0, high) }
        if u <= low { return .line(0, low) }
        if l >= high { return .line(0, high) }
        if l >= low && u <= high { return .line(1, 0) }
        let d = defaultParameters(l: l, u: u)
        let p = unitParameter(lowerParameter) ?? d.lower ?? 0
        let q = unitParameter(upperParameter) ?? d.upper ?? 0
        var aL = 0.0, aU = 0.0
        // Slopes; the intercepts come from the breakpoints (`PiecewiseLinearIntercept`).
        if l >= low {
            aL = u.isFinite ? (high - l) / (u - l) : 0                 // chord (l, l) - (u, high)
        } else {
            let cap = u <= high ? 1 : (u.isFinite ? Swift.min(1, (high - low) / (u - low)) : 0)
            aL = p * cap                                               // through (low, low)
        }
        if u <= high {
            aU = l.isFinite ? (u - low) / (u - l) : 0                  // chord (l, low) - (u, u)
        } else {
            let cap = l >= low ? 1 : (l.isFinite ? Swift.min(1, (high - low) / (high - l)) : 0)
            aU = q * cap                                               // through (high, high)
        }
        if aL.isNaN { aL = 0 }
        if aU.isNaN { aU = 0 }
        let points = [l, u, low, high]
        return NeuronRelaxation(aL: aL, bL: PiecewiseLinearIntercept.intercept(slope: aL, points: points, l: l, u: u, below: true, tailSlopes: (0, 0), apply),
                                aU: aU, bU: PiecewiseLinearIntercept.intercept(slope: aU, points: points, l: l, u: u, below: false, tailSlopes: (0, 0), apply))
    }

    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        guard low < high, u > low, l < high, l < low || u > high else { return (nil, nil) }
        let mid = l / 2 + u / 2   // NaN for (-inf, inf): the flat line
        return (l < low ? (mid > low ? 1 : 0) : nil, u > high ? (mid < high ? 1 : 0) : nil)
    }

    /// The kink inside (l, u) nearest the midpoint (both strategies); splitting there makes the
    /// children cross one kink at most (exact once both are split).
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        guard low < high else { return nil }
        let inside = [low, high].filter { $0 > l && $0 < u }
        guard !inside.isEmpty else { return nil }
        let mid = l / 2 + u / 2
        return inside.min { Swift.abs($0 - mid) < Swift.abs($1 - mid) }
    }

    /// LP/MILP encoding (`PiecewiseLinearEncoding`): affine where [l, u] crosses no kink; one
    /// kink crossed: the shifted ReLU encoding (`kinkAt`), exact with one binary; both kinks: the
    /// convex hull (low <= y <= high and the two lines through a kink and the far corner) in
    /// `.hull` mode, nil in `.exact` mode (it would need two binaries).
    package func piecewiseLinearEncoding(l: Double, u: Double, mode: PiecewiseLinearEncoding.Mode) -> PiecewiseLinearEncoding? {
        guard l.isFinite, u.isFinite, l <= u, low.isFinite, high.isFinite else { return nil }
        if low >= high || l >= high { return .affine(slope: 0, intercept: high) }
        if u <= low { return .affine(slope: 0, intercept: low) }
        if l >= low && u <= high { return .affine(slope: 1, intercept: 0) }
        if u <= high { return .kinkAt(low, value: low, leftSlope: 0, rightSlope: 1, l: l, u: u, mode: mode) }
        if l >= low { return .kinkAt(high, value: high, leftSlope: 1, rightSlope: 0, l: l, u: u, mode: mode) }
        guard mode == .hull else { return nil }
        // Lower: (u - low) (y - low) >= (high - low) (z - low); upper: (high - l) (y - high) <= (high - low) (z - high).
        let w = high - low
        return .rows(yLower: low, yUpper: high, rows: [
            .init(z: -w, y: u - low, lower: (u - low) * low - w * low, upper: .infinity),
            .init(z: -w, y: high - l, lower: -.infinity, upper: (high - l) * high - w * high),
        ], binary: false)
    }
}

/// The intercept of a sound line of slope `a` for a continuous piecewise-linear f on [l, u]
/// whose kinks are among `points`: b = max (upper line) or min (lower line) of f(x) - a x over
/// the points inside [l, u] (the ends and the kinks); towards an infinite end f has slope
/// `tailSlopes.left` (`.right`), and where f - a x grows without bound in the bound's direction
/// the intercept is infinite. f(x) - a x is computed as (1 - a) x where f(x) = x
/// (accurate even when x is huge and a is near 1, where x - a x cancels), and the result is
/// moved outward by 4 `RoundingGuard.relative` of the largest term, which covers the rounding
/// of every candidate. Used by Clip, Max and Min.
package enum PiecewiseLinearIntercept {
    package static func intercept(slope a: Double, points: [Double], l: Double, u: Double, below: Bool,
                                  tailSlopes: (left: Double, right: Double), _ f: (Double) -> Double) -> Double {
        // An infinite end where f - a x is unbounded in the bound's direction: no finite line.
        if u == .infinity && (below ? tailSlopes.right < a : tailSlopes.right > a) { return below ? -.infinity : .infinity }
        if l == -.infinity && (below ? tailSlopes.left > a : tailSlopes.left < a) { return below ? -.infinity : .infinity }
        var best = below ? Double.infinity : -Double.infinity
        var magnitude = 0.0
        for x in points where x.isFinite && x >= l && x <= u {
            let fx = f(x)
            let c: Double
            if fx == x {
                c = (1 - a) * x
                magnitude = Swift.max(magnitude, Swift.abs(c))
            } else {
                c = fx - a * x
                magnitude = Swift.max(magnitude, Swift.abs(fx) + Swift.abs(a * x))
            }
            best = below ? Swift.min(best, c) : Swift.max(best, c)
        }
        let pad = 4 * RoundingGuard.relative * Swift.max(magnitude, Swift.abs(best).isFinite ? Swift.abs(best) : 0)
        return below ? best - pad : best + pad
    }
}

extension PiecewiseLinearEncoding {
    /// The encoding of two linear pieces meeting at (k, v): f(z) = v + leftSlope (z - k) for
    /// z <= k and v + rightSlope (z - k) for z >= k, on [l, u] (finite): `kinkAtZero` on the
    /// shifted variables z - k and y - v, with every row's bounds moved by its coefficients
    /// times (k, v). Used by Clip, Max and Min with a constant.
    package static func kinkAt(_ k: Double, value v: Double, leftSlope: Double, rightSlope: Double,
                               l: Double, u: Double, mode: Mode) -> PiecewiseLinearEncoding? {
        guard k.isFinite, v.isFinite else { return nil }
        guard let e = kinkAtZero(leftSlope: leftSlope, rightSlope: rightSlope, l: l - k, u: u - k, mode: mode) else { return nil }
        switch e {
        case .affine(let s, let b):
            return .affine(slope: s, intercept: v + b - s * k)
        case .rows(let yl, let yu, let rows, let binary):
            let moved = rows.map { r -> Row in
                let shift = r.z * k + r.y * v
                return Row(z: r.z, y: r.y, a: r.a, lower: r.lower + shift, upper: r.upper + shift)
            }
            return .rows(yLower: yl + v, yUpper: yu + v, rows: moved, binary: binary)
        }
    }
}

extension Clip {
    /// A selection of x or a (float32) bound: exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}
