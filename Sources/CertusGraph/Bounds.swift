import Foundation
import CertusTensor

// The bound-propagation requirements every operator meets. The engine (CertusBounds) consumes
// them generically: interval images for IBP, and for CROWN either "affine in its variable
// inputs" (the engine then uses `evaluate` and `backward` as the exact linear map) or a
// per-neuron linear relaxation given as data.

/// Elementwise lower and upper tensors of a value.
package struct IntervalTensor: Sendable, Equatable {
    package var lower: Tensor
    package var upper: Tensor

    package init(lower: Tensor, upper: Tensor) {
        self.lower = lower
        self.upper = upper
    }

    /// The degenerate interval of a constant.
    package init(constant t: Tensor) {
        lower = t
        upper = t
    }

    package var shape: [Int] { lower.shape }
}

/// Linear bounds of a scalar function on an interval: aL x + bL <= f(x) <= aU x + bU.
package struct NeuronRelaxation: Sendable, Equatable {
    package var aL: Double, bL: Double, aU: Double, bU: Double
    package init(aL: Double, bL: Double, aU: Double, bU: Double) {
        self.aL = aL; self.bL = bL; self.aU = aU; self.bU = bU
    }
    /// Both bounds equal to the same line (the function is affine on the interval).
    package static func line(_ a: Double, _ b: Double) -> NeuronRelaxation { .init(aL: a, bL: b, aU: a, bU: b) }
    /// Constant bounds [lo, hi].
    package static func constant(_ lo: Double, _ hi: Double) -> NeuronRelaxation { .init(aL: 0, bL: lo, aU: 0, bU: hi) }
    package var isFinite: Bool { aL.isFinite && bL.isFinite && aU.isFinite && bU.isFinite }

    /// The lines moved outward by `RoundingGuard.relative` of their magnitude on [l, u]
    /// (|a| max(|l|, |u|) + |b|): a line whose intercept is computed as f(t) - a t, evaluated
    /// at large |x|, cancels to a result whose rounding error (about one ulp of |a x|) can
    /// exceed the gap between the line and f (tangents of sin at x near 1e6 were off by 1e-10).
    /// Relaxations of smooth functions return padded lines; ReLU's lines are exact.
    package func paddedForRounding(l: Double, u: Double) -> NeuronRelaxation {
        let m = Swift.max(l.isFinite ? Swift.abs(l) : 0, u.isFinite ? Swift.abs(u) : 0)
        let pl = RoundingGuard.relative * (Swift.abs(aL) * m + Swift.abs(bL))
        let pu = RoundingGuard.relative * (Swift.abs(aU) * m + Swift.abs(bU))
        return NeuronRelaxation(aL: aL, bL: bL - pl, aU: aU, bU: bU + pu)
    }
}

/// Bounds are computed in Double with round-to-nearest, not with directed rounding. To keep
/// rounding from turning into a wrong claim, every bound that comes out of a computation whose
/// terms may be much larger than its result is moved outward by this fraction of the terms'
/// magnitude: relaxation lines (`NeuronRelaxation.paddedForRounding`), intermediate IBP and
/// CROWN bounds, and the concretisation of every linear bound over the input box. 2^-40
/// (about 9e-13) is 2^12 times one rounding (2^-53), which leaves room for the rounding of
/// sums of many terms while loosening bounds by a negligible amount.
package enum RoundingGuard {
    package static let relative = 0x1p-40
    /// `x` moved down by `relative` of `magnitude` (default |x|).
    @inline(__always)
    package static func down(_ x: Double, magnitude: Double? = nil) -> Double { x - relative * (magnitude ?? Swift.abs(x)) }
    /// `x` moved up by `relative` of `magnitude` (default |x|).
    @inline(__always)
    package static func up(_ x: Double, magnitude: Double? = nil) -> Double { x + relative * (magnitude ?? Swift.abs(x)) }
    /// `x` moved down by `relative` of `magnitude` when `guarded`, else `x` itself (the bound
    /// engine's switch for measuring the guard's cost; `BoundEngine.roundingGuard`).
    @inline(__always)
    package static func down(_ x: Double, magnitude: Double, _ guarded: Bool) -> Double { guarded ? x - relative * magnitude : x }
    /// `x` moved up by `relative` of `magnitude` when `guarded`, else `x` itself.
    @inline(__always)
    package static func up(_ x: Double, magnitude: Double, _ guarded: Bool) -> Double { guarded ? x + relative * magnitude : x }
}

/// A product of two variables (`BoundKind.bilinear`) that names the operand acting as a
/// bounded gate on the other, for CROWN's default McCormick plane (nil: no gate).
package protocol ProductRelaxation: Sendable {
    var gate: Int? { get }
    /// Branch and bound on an operand of x * y (GenBaB splits either operand of a product): the
    /// point p strictly inside (l, u) at which an operand with interval [l, u] is split into
    /// [l, p] and [p, u], or nil when it cannot be split (an infinite or degenerate interval).
    /// Default: the midpoint for every strategy. McCormick's planes on [lx, ux] x [ly, uy] are
    /// furthest from xy, by (ux - lx)(uy - ly) / 4, at the box's centre, and halving either side
    /// halves that gap on both children, which no other point does.
    func operandBranchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double?
}

extension ProductRelaxation {
    package func operandBranchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        guard l.isFinite, u.isFinite, u > l else { return nil }
        let p = l + 0.5 * (u - l)
        return p > l && p < u ? p : nil
    }
}

/// How a bound engine may treat an operator, given which inputs are constant.
package enum BoundKind: Sendable, Equatable {
    /// Affine in the variable inputs: out = J(in) + out(0). The engine uses `evaluate` with the
    /// variable inputs at zero for the offset and `backward` for J^T.
    case affine
    /// Elementwise with a per-neuron relaxation (`ElementwiseRelaxation`).
    case elementwise
    /// Product of two variable tensors (McCormick).
    case bilinear
    /// No linear relaxation: bounds through this operator fail with `reason`.
    case unsupported(String)
}

/// An elementwise operator with linear relaxations. `lowerParameter` and `upperParameter`, each in
/// [0, 1], choose among valid relaxations (the tangent point, the ReLU lower slope); nil gives
/// the CROWN default. Every parameter value must give a sound relaxation on [l, u] (values
/// outside [0, 1], NaN included, are clamped), for every l <= u, infinite ends included.
package protocol ElementwiseRelaxation: ElementwiseUnary {
    func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation
    /// The parameters that reproduce the default relaxation, or nil where that side has none.
    func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?)
    /// The relaxation with its derivatives with respect to its parameters (alpha-CROWN's
    /// gradient): `lower` is (d aL/d lowerParameter, d bL/d lowerParameter), `upper` the same for
    /// the upper line and `upperParameter`; zeros for a side without a parameter. The default
    /// takes central differences (three relaxation calls); operators give analytic ones.
    func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double))
    /// Branch and bound on this operator's input (GenBaB, Shi et al. 2024): the point p strictly
    /// inside (l, u) at which a neuron with input interval [l, u] is split into [l, p] and
    /// [p, u], or nil when no split can tighten its relaxation (ReLU with l >= 0 or u <= 0; an
    /// interval too narrow to matter). `.midpoint` gives the middle (ReLU-like kinks: the kink);
    /// `.optimized` the point that minimises the children's summed looseness (a precomputed
    /// table; `BranchingPoints`). Default: nil (never split).
    func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double?
    /// Whether the function is piecewise linear with its only kink at 0, where it branches
    /// (ReLU, LeakyReLU): a neuron whose interval does not cross 0 is exact, a split there is
    /// exact on both sides, and a domain with every such neuron split is decided exactly by its
    /// LP. Default false. A piecewise-linear operator gives its exact LP/MILP encoding
    /// (`piecewiseLinearEncoding`), which the LP builder (`NetworkLP`) asks for.
    var isPiecewiseLinear: Bool { get }
    /// The LP/MILP encoding of one neuron whose input z is known to lie in [l, u] (finite,
    /// l <= u) and whose output is y = f(z): in `.hull` mode the convex hull of the graph of f
    /// over [l, u], in `.exact` mode the graph itself with one binary variable. nil where the
    /// operator has none (the default; every `isPiecewiseLinear` operator gives one for every
    /// finite l <= u). The bounds are used as given: the caller widens them for rounding.
    func piecewiseLinearEncoding(l: Double, u: Double, mode: PiecewiseLinearEncoding.Mode) -> PiecewiseLinearEncoding?
    /// Whether the function is max(x, 0) and its relaxation's lower parameter is the lower
    /// line's slope itself (intercept 0), with the triangle's chord above: the shape the bound
    /// engine's branch-free fast paths and the Float parameter search compute inline. Default
    /// false (every other operator goes through `relaxation`).
    var isReluShaped: Bool { get }
}

/// The LP/MILP encoding of a piecewise-linear function f on one neuron with input z in [l, u]
/// and output y = f(z) (`ElementwiseRelaxation.piecewiseLinearEncoding`), as data: the LP
/// builder (`NetworkLP` in CertusVerify) turns it into variables and rows without knowing the
/// operator. Either y is an affine function of z on all of [l, u] (a stable neuron: no variable,
/// no row, exact in both modes), or y is a variable in [yLower, yUpper] tied to z by `rows`:
/// in `.hull` mode the points (z, y) with z in [l, u] that satisfy the rows are the convex hull
/// of the graph (for ReLU the triangle relaxation, Ehlers 2017); in `.exact` mode they are the
/// graph itself once a binary a ∈ {0, 1} is chosen (a big-M formulation with one binary per
/// neuron, Tjeng, Xiao and Tedrake, ICLR 2019), and `binary` is true.
package enum PiecewiseLinearEncoding: Sendable, Equatable {
    /// Convex hull (an LP) or the exact graph (a MILP with one binary per unstable neuron).
    package enum Mode: Sendable, Equatable { case hull, exact }

    /// One linear row over a neuron's input z, output y and binary a (0 where the row does not
    /// use it): lower <= z * z + y * y + a * a <= upper (an infinite side is absent).
    package struct Row: Sendable, Equatable {
        package var z: Double, y: Double, a: Double
        package var lower: Double, upper: Double
        package init(z: Double, y: Double, a: Double = 0, lower: Double, upper: Double) {
            self.z = z; self.y = y; self.a = a; self.lower = lower; self.upper = upper
        }
        /// The row's value at a point.
        package func value(z zv: Double, y yv: Double, a av: Double = 0) -> Double { z * zv + y * yv + a * av }
        /// Whether the point satisfies the row within `tolerance` (absolute).
        package func holds(z zv: Double, y yv: Double, a av: Double = 0, tolerance: Double = 0) -> Bool {
            let v = value(z: zv, y: yv, a: av)
            return v >= lower - tolerance && v <= upper + tolerance
        }
    }

    /// y = slope * z + intercept on all of [l, u].
    case affine(slope: Double, intercept: Double)
    /// A variable y in [yLower, yUpper] with `rows` over (z, y, a); `binary` says whether the
    /// rows use the binary a (`.exact` mode).
    case rows(yLower: Double, yUpper: Double, rows: [Row], binary: Bool)

    /// The encoding of a function made of two linear pieces meeting at the origin,
    /// f(z) = leftSlope * z for z <= 0 and rightSlope * z for z >= 0 (ReLU: 0 and 1; LeakyReLU:
    /// alpha and 1), on [l, u] (finite, l <= u; nil otherwise).
    ///
    /// Stable (u <= 0, l >= 0 or equal slopes): y = slope * z. Unstable (l < 0 < u), with
    /// f(l) = sL l, f(u) = sR u and d = |sR - sL|:
    /// - convex (sL < sR, f = max(sL z, sR z)): y >= sL z, y >= sR z, and the chord through
    ///   (l, f(l)) and (u, f(u)) above: (u - l) y - (sR u - sL l) z <= (sL - sR) l u.
    ///   Exact mode adds y <= sR z + d (-l) (1 - a) and y <= sL z + d u a: a = 1 forces
    ///   y = sR z with z >= 0, a = 0 forces y = sL z with z <= 0 (for ReLU these are Tjeng's
    ///   y <= z - l (1 - a), y <= u a).
    /// - concave (sL > sR, f = min(sL z, sR z)): the mirror image: y <= sL z, y <= sR z, the
    ///   chord below, and y >= sR z - d (-l) (1 - a), y >= sL z - d u a.
    /// y lies in [min(f(l), f(u), 0), max(f(l), f(u), 0)] (the graph's range; a row that bounds y
    /// alone, such as ReLU's y >= 0, is given as this bound instead). Zero coefficients are
    /// dropped by the caller. The rows are exact for exact l and u; callers widen l and u so
    /// that rounding in the coefficients cannot cut the graph.
    package static func kinkAtZero(leftSlope sL: Double, rightSlope sR: Double, l: Double, u: Double,
                                  mode: Mode) -> PiecewiseLinearEncoding? {
        guard l.isFinite, u.isFinite, l <= u, sL.isFinite, sR.isFinite else { return nil }
        if u <= 0 { return .affine(slope: sL, intercept: 0) }
        if l >= 0 || sL == sR { return .affine(slope: sR, intercept: 0) }
        let fl = sL * l + 0, fu = sR * u + 0   // + 0: no negative zero
        var yLower = Swift.min(fl, fu, 0), yUpper = Swift.max(fl, fu, 0)
        let convex = sL < sR
        let d = Swift.abs(sR - sL)
        // Chord: (u - l) y - (f(u) - f(l)) z = (sL - sR) l u (equal at z = l and z = u).
        let chordRHS = l * u * (sL - sR)
        let chord = Row(z: -(fu - fl), y: u - l, lower: convex ? -.infinity : chordRHS, upper: convex ? chordRHS : .infinity)
        // The pieces: y >= s z (convex) or y <= s z (concave), i.e. y - s z >= 0 or <= 0.
        let pieces = [sL, sR].map { s in Row(z: -s, y: 1, lower: convex ? 0 : -.infinity, upper: convex ? .infinity : 0) }
        var rows: [Row] = []
        for r in pieces + [chord] {
            if r.z == 0 && r.a == 0 {
                // A bound on y alone (ReLU's y >= 0): tighten the variable's bounds instead.
                if r.lower > -.infinity { yLower = Swift.max(yLower, r.lower / r.y) }
                if r.upper < .infinity { yUpper = Swift.min(yUpper, r.upper / r.y) }
            } else {
                rows.append(r)
            }
        }
        guard mode == .exact else { return .rows(yLower: yLower, yUpper: yUpper, rows: rows, binary: false) }
        let m0 = d * -l, m1 = d * u
        if convex {
            // y - sR z + m0 a <= m0;  y - sL z - m1 a <= 0.
            rows.append(Row(z: -sR, y: 1, a: m0, lower: -.infinity, upper: m0))
            rows.append(Row(z: -sL, y: 1, a: -m1, lower: -.infinity, upper: 0))
        } else {
            // y - sR z - m0 a >= -m0;  y - sL z + m1 a >= 0.
            rows.append(Row(z: -sR, y: 1, a: -m0, lower: -m0, upper: .infinity))
            rows.append(Row(z: -sL, y: 1, a: m1, lower: 0, upper: .infinity))
        }
        return .rows(yLower: yLower, yUpper: yUpper, rows: rows, binary: true)
    }
}

/// How `ElementwiseRelaxation.branchingPoint` places a split (`certus verify --branch-points`).
public enum BranchingPointStrategy: String, Sendable, Codable, CaseIterable {
    /// The midpoint of the interval (the kink for piecewise-linear functions).
    case midpoint = "mid"
    /// Pre-optimised points (GenBaB): minimise the two children's summed relaxation looseness.
    case optimized = "opt"
}

/// A relaxation parameter clamped into [0, 1] (NaN to 0), so that any value gives a sound line.
@inline(__always)
package func unitParameter(_ p: Double?) -> Double? {
    guard let p else { return nil }
    return p.isNaN ? 0 : Swift.min(1, Swift.max(0, p))
}

extension ElementwiseRelaxation {
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) { (nil, nil) }

    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? { nil }

    package var isPiecewiseLinear: Bool { false }

    package func piecewiseLinearEncoding(l: Double, u: Double, mode: PiecewiseLinearEncoding.Mode) -> PiecewiseLinearEncoding? { nil }

    package var isReluShaped: Bool { false }

    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        let pl = unitParameter(lowerParameter), pu = unitParameter(upperParameter)
        let rel = relaxation(l: l, u: u, lowerParameter: pl, upperParameter: pu)
        let h = 1e-4
        var dl = (0.0, 0.0), du = (0.0, 0.0)
        if let pl {
            let a = Swift.max(0, pl - h), b = Swift.min(1, pl + h)
            let f1 = relaxation(l: l, u: u, lowerParameter: b, upperParameter: pu)
            let f0 = relaxation(l: l, u: u, lowerParameter: a, upperParameter: pu)
            dl = ((f1.aL - f0.aL) / (b - a), (f1.bL - f0.bL) / (b - a))
        }
        if let pu {
            let a = Swift.max(0, pu - h), b = Swift.min(1, pu + h)
            let f1 = relaxation(l: l, u: u, lowerParameter: pl, upperParameter: b)
            let f0 = relaxation(l: l, u: u, lowerParameter: pl, upperParameter: a)
            du = ((f1.aU - f0.aU) / (b - a), (f1.bU - f0.bU) / (b - a))
        }
        return (rel, dl, du)
    }
}

extension ElementwiseUnary {
    /// IBP: each element's interval mapped through `image(l:u:)` (a protocol requirement, so the
    /// operator's own image is called). A NaN end (from inf - inf upstream) widens to infinity.
    /// - Throws: `BoundError` with the operator's `domainViolation` reason when an element's
    ///   interval leaves its domain.
    package func interval(_ inputs: [IntervalTensor]) throws -> IntervalTensor {
        var lo = inputs[0].lower, hi = inputs[0].upper
        for i in 0..<lo.count {
            if let why = domainViolation(l: lo.data[i].isNaN ? -.infinity : lo.data[i], u: hi.data[i].isNaN ? .infinity : hi.data[i]) {
                throw BoundError(why)
            }
            let (a, b) = image(l: lo.data[i], u: hi.data[i])
            lo.data[i] = a.isNaN ? -.infinity : a; hi.data[i] = b.isNaN ? .infinity : b
        }
        return IntervalTensor(lower: lo, upper: hi)
    }
}

/// Helpers for operators that are linear in a variable input with constant parameters:
/// the interval image from the centre and the radius mapped through |J|.
package enum IntervalAffine {
    /// Interval of an affine map, given the map applied to the centre (with its offset) and the
    /// map with absolute coefficients applied to the radius (without offset).
    package static func combine(center: Tensor, radius: Tensor) -> IntervalTensor {
        var lo = center, hi = center
        for i in 0..<lo.count {
            lo.data[i] = center.data[i] - radius.data[i]
            hi.data[i] = center.data[i] + radius.data[i]
        }
        return IntervalTensor(lower: lo, upper: hi)
    }

    package static func midRadius(_ x: IntervalTensor) -> (Tensor, Tensor) {
        var c = x.lower, r = x.lower
        for i in 0..<c.count {
            c.data[i] = 0.5 * (x.lower.data[i] + x.upper.data[i])
            r.data[i] = 0.5 * (x.upper.data[i] - x.lower.data[i])
        }
        return (c, r)
    }

    package static func abs(_ t: Tensor) -> Tensor {
        var a = t
        for i in 0..<a.count { a.data[i] = Swift.abs(a.data[i]) }
        return a
    }

    /// Applies a monotone relabelling (reshape, transpose, concat) to both ends.
    package static func relabel(_ inputs: [IntervalTensor], _ f: ([Tensor]) throws -> Tensor) throws -> IntervalTensor {
        IntervalTensor(lower: try f(inputs.map(\.lower)), upper: try f(inputs.map(\.upper)))
    }
}

/// Thrown when a bound cannot be computed soundly (unsupported operator, unbounded interval).
package struct BoundError: Error, CustomStringConvertible, Sendable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}
