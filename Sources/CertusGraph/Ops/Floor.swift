import Foundation
import CertusTensor

/// ONNX `Floor`, elementwise; any shape. A step function: constant on [n, n + 1) for every
/// integer n, so its derivative is 0 wherever it exists (0 is also returned at the jumps).
/// Power-flow proxies use it for range reduction before a piecewise-linear sin/cos.
///
/// IBP is exact: [floor(l), floor(u)]. Relaxation on [l, u]: constant (exact) when
/// floor(l) = floor(u); otherwise, since x - 1 < floor(x) <= x and floor(l) <= floor(x) <= floor(u),
/// the lower line is the convex combination p (x - 1) + (1 - p) floor(l) and the upper line
/// q x + (1 - q) floor(u), with p and q the lower and upper parameters in [0, 1] (clamped; a
/// convex combination of two sound bounds is sound). An infinite floor(l) (floor(u)) forces
/// p = 1 (q = 1). Default: the side whose mean over [l, u] is tighter (p = 1 when
/// (l + u) / 2 - 1 > floor(l), q = 1 when (l + u) / 2 < floor(u)). Lines are padded for rounding.
package struct Floor: ElementwiseRelaxation, AttributeFree {
    package static let opType = "Floor"
    package init() {}
    /// floor(x); NaN and infinities stay as they are.
    package func apply(_ x: Double) -> Double { Foundation.floor(x) }
    /// 0: the function is flat between its jumps (at a jump the value 0 is returned as well).
    package func derivative(_ x: Double, _ y: Double) -> Double { 0 }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    /// Exact: floor is non-decreasing.
    package func image(l: Double, u: Double) -> (Double, Double) { MonotoneImage.increasing(l, u, apply) }
    /// A jump (an integer) strictly inside (l, u).
    package func crossesShapeChange(l: Double, u: Double) -> Bool { Foundation.floor(l) + 1 < u }

    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        let fl = apply(l), fu = apply(u)
        if fl == fu || !(l < u) { return .constant(fl, fu) }
        let d = defaultParameters(l: l, u: u)
        var p = unitParameter(lowerParameter) ?? d.lower!
        var q = unitParameter(upperParameter) ?? d.upper!
        if !fl.isFinite { p = 1 }
        if !fu.isFinite { q = 1 }
        // p (x - 1) + (1 - p) fl; written so that p = 0 or 1 gives an exact line.
        let bL = p == 1 ? -1 : (p == 0 ? fl : (1 - p) * fl - p)
        let bU = q == 1 ? 0 : (q == 0 ? fu : (1 - q) * fu)
        return NeuronRelaxation(aL: p, bL: bL, aU: q, bU: bU).paddedForRounding(l: l, u: u)
    }

    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        let fl = apply(l), fu = apply(u)
        guard fl != fu, l < u else { return (nil, nil) }
        let mid = l.isFinite && u.isFinite ? l / 2 + u / 2 : .nan
        let p: Double = !fl.isFinite ? 1 : (mid.isNaN ? 0 : (mid - 1 > fl ? 1 : 0))
        let q: Double = !fu.isFinite ? 1 : (mid.isNaN ? 0 : (mid < fu ? 1 : 0))
        return (p, q)
    }

    /// An integer strictly inside (l, u) nearest the midpoint (both strategies), where the
    /// function jumps; nil when there is none (the interval has one value, or only its upper end
    /// is an integer) or an end is infinite.
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        guard l.isFinite, u.isFinite, l < u else { return nil }
        let first = Foundation.floor(l) + 1, last = Foundation.ceil(u) - 1
        guard first <= last else { return nil }
        let k = Swift.min(last, Swift.max(first, (l / 2 + u / 2).rounded()))
        return k > l && k < u ? k : nil
    }
}
