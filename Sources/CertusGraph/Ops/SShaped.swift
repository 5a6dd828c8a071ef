import Foundation
import Synchronization

/// Values on a grid of integer indices (tangent points tabulated by the grid index of the far
/// endpoint), computed on first use in chunks of `chunkSize` indices, so that a relaxation call
/// costs a lookup instead of a root search. Entries are a pure function of the index, so the
/// table is deterministic whichever thread fills a chunk first; a filled chunk is published by
/// an atomic compare-and-exchange (a chunk computed twice by racing threads is identical).
final class GridTable: @unchecked Sendable {
    static let chunkSize = 256
    /// Valid indices are 0..<count.
    let count: Int
    private let entry: @Sendable (Int) -> Double
    /// Per chunk, the address of its filled entries (0 until filled), published once with
    /// release ordering and read with acquire ordering: lookups take no lock.
    private let slots: UnsafeMutablePointer<Atomic<Int>>
    private let chunkCount: Int

    init(count: Int, entry: @escaping @Sendable (Int) -> Double) {
        self.count = count
        self.entry = entry
        chunkCount = (count + Self.chunkSize - 1) / Self.chunkSize
        slots = .allocate(capacity: chunkCount)
        for c in 0..<chunkCount { (slots + c).initialize(to: Atomic(0)) }
    }

    deinit {
        for c in 0..<chunkCount {
            if let p = UnsafeMutablePointer<Double>(bitPattern: slots[c].load(ordering: .acquiring)) { p.deallocate() }
        }
        slots.deinitialize(count: chunkCount)
        slots.deallocate()
    }

    /// The entry at `index` (0 <= index < count).
    subscript(index: Int) -> Double {
        precondition(index >= 0 && index < count, "GridTable index \(index) outside 0..<\(count)")
        let c = index / Self.chunkSize, i = index % Self.chunkSize
        if let p = UnsafePointer<Double>(bitPattern: slots[c].load(ordering: .acquiring)) { return p[i] }
        // Fill the chunk (deterministic: a racing thread computes the same values; one wins).
        let start = c * Self.chunkSize, n = Swift.min(count, start + Self.chunkSize) - start
        let chunk = UnsafeMutablePointer<Double>.allocate(capacity: n)
        for k in 0..<n { (chunk + k).initialize(to: entry(start + k)) }
        let (won, current) = slots[c].compareExchange(expected: 0, desired: Int(bitPattern: chunk),
                                                      successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
        if won { return chunk[i] }
        chunk.deallocate()
        return UnsafePointer<Double>(bitPattern: current)![i]
    }
}

/// Linear relaxations of S-shaped functions (convex for x <= 0, concave for x >= 0): Sigmoid,
/// Tanh and Erf. The default (CROWN) choice follows the reference implementation: secants where
/// they are valid, tangents through the far endpoint found by bisection on a 0.01 grid with the
/// endpoint rounded outward (a tangent valid for a farther endpoint is valid for the true one),
/// and the midpoint tangent where the endpoint tangent falls on the wrong side of the midpoint.
/// The bisections run once per grid index (`GridTable`, filled lazily), not once per call.
///
/// Parameters in [0, 1] move the tangent point inside its valid range, so every value is sound.
package final class SShapedRelaxation: Sendable {
    package let f: @Sendable (Double) -> Double
    package let df: @Sendable (Double) -> Double
    /// The second derivative, for the parameter derivatives of tangent lines.
    package let d2f: @Sendable (Double) -> Double
    static let step = 0.01
    static let limit = 500.0
    /// Grid indices 0...limit/step (index 0 is never looked up).
    static let gridCount = Int((limit / step).rounded()) + 2
    /// dLower and dUpper by grid index of the far endpoint; NaN where no tangent point exists.
    let lowerTable: GridTable
    let upperTable: GridTable

    /// `f` must be increasing, convex for x <= 0 and concave for x >= 0, with derivatives `df`
    /// and `d2f`. Each instance owns its tangent-point tables: keep one instance per function
    /// (the operators hold theirs in a static constant) so that the tables are filled once.
    package init(f: @escaping @Sendable (Double) -> Double, df: @escaping @Sendable (Double) -> Double,
                d2f: @escaping @Sendable (Double) -> Double) {
        self.f = f
        self.df = df
        self.d2f = d2f
        lowerTable = GridTable(count: Self.gridCount) { Self.bisectLower(f: f, df: df, index: $0) ?? .nan }
        upperTable = GridTable(count: Self.gridCount) { Self.bisectUpper(f: f, df: df, index: $0) ?? .nan }
    }

    func tangent(_ t: Double) -> (Double, Double) {
        let k = df(t)
        return (k, f(t) - k * t)
    }

    /// The chord through (l, f(l)) and (u, f(u)); callers guarantee u - l > 1e-12. (The width
    /// must not be floored: a chord with a smaller slope than the true one cuts under a convex
    /// piece.)
    func secant(_ l: Double, _ u: Double) -> (Double, Double) {
        let fl = f(l)
        let k = (f(u) - fl) / (u - l)
        return (k, fl - k * l)
    }

    /// The largest tangent point d <= 0 (100 bisection steps, valid end) whose tangent lies
    /// below f at U = index * step, or nil when none is found above -1e6.
    static func bisectLower(f: (Double) -> Double, df: (Double) -> Double, index: Int) -> Double? {
        let U = Double(index) * step
        let fU = f(U)
        func ok(_ d: Double) -> Bool { df(d) * (U - d) + f(d) <= fU }
        var l = -1.0, r = 0.0
        while !ok(l) { l *= 2; if l < -1e6 { return nil } }
        for _ in 0..<100 {
            let m = (l + r) / 2
            if ok(m) { l = m } else { r = m }
        }
        return l
    }

    /// The smallest tangent point d >= 0 whose tangent lies above f at L = -index * step.
    static func bisectUpper(f: (Double) -> Double, df: (Double) -> Double, index: Int) -> Double? {
        let L = -Double(index) * step
        let fL = f(L)
        func ok(_ d: Double) -> Bool { df(d) * (L - d) + f(d) >= fL }
        var l = 0.0, r = 1.0
        while !ok(r) { r *= 2; if r > 1e6 { return nil } }
        for _ in 0..<100 {
            let m = (l + r) / 2
            if ok(m) { r = m } else { l = m }
        }
        return r
    }

    /// Tangent point d <= 0 whose tangent lies below f up to `upper` (upper >= 0): the largest d
    /// on the bisection's valid side for the grid point at or above `upper` (looked up; nil past
    /// the grid's end, `limit`).
    func dLower(upper: Double) -> Double? {
        guard upper <= Self.limit else { return nil }
        let index = Swift.max(0, Int(upper / Self.step)) + 1
        guard Double(index) * Self.step <= Self.limit else { return nil }
        let d = lowerTable[index]
        return d.isNaN ? nil : d
    }

    /// Tangent point d >= 0 whose tangent lies above f down to `lower` (lower <= 0).
    func dUpper(lower: Double) -> Double? {
        guard -lower <= Self.limit else { return nil }
        let index = Swift.max(0, Int(-lower / Self.step)) + 1
        guard Double(index) * Self.step <= Self.limit else { return nil }
        let d = upperTable[index]
        return d.isNaN ? nil : d
    }

    /// The unpadded lines on a finite interval with u - l >= 1e-12, and for each side that is a
    /// tangent placed by its (non-nil) parameter, the tangent point and its derivative with
    /// respect to the parameter.
    func lines(l: Double, u: Double, pl: Double?, pu: Double?) -> RelaxationLines {
        let m = (l + u) / 2
        var r = RelaxationLines(lo: (0, 0), hi: (0, 0))
        if u <= 0 {
            r.hi = secant(l, u)
            r.lo = tangent(l + (pl ?? 0.5) * (u - l))
            if let pl { r.loTangent = (l + pl * (u - l), u - l) }
        } else if l >= 0 {
            r.lo = secant(l, u)
            r.hi = tangent(l + (pu ?? 0.5) * (u - l))
            if let pu { r.hiTangent = (l + pu * (u - l), u - l) }
        } else {
            let sec = secant(l, u)
            let dL = dLower(upper: u), dU = dUpper(lower: l)
            // Lower side.
            if sec.0 < df(l) {
                r.lo = sec
            } else if let dL {
                r.lo = tangent(l + (pl ?? 1) * (dL - l))
                if let pl { r.loTangent = (l + pl * (dL - l), dL - l) }
            } else {
                r.lo = (0, f(l))   // f is increasing: f(l) bounds it below
            }
            // Upper side.
            if sec.0 < df(u) {
                r.hi = sec
            } else if let dU {
                r.hi = tangent(u - (pu ?? 1) * (u - dU))
                if let pu { r.hiTangent = (u - pu * (u - dU), -(u - dU)) }
            } else {
                r.hi = (0, f(u))
            }
            // Smoothness: the midpoint tangent where the endpoint tangent lies beyond the midpoint
            // (default parameters only; the midpoint is then inside the valid range).
            if pl == nil, let dL, dL >= m { r.lo = tangent(m) }
            if pu == nil, let dU, dU < m { r.hi = tangent(m) }
        }
        return r
    }

    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        relaxationWithDerivatives(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter, derivatives: false).relaxation
    }

    /// The relaxation and its parameter derivatives (`ElementwiseRelaxation`): a tangent at
    /// t(p) has slope f'(t) and intercept f(t) - f'(t) t, so d/dp = (f''(t), -f''(t) t) t'(p);
    /// secants and constants do not move. The rounding pad's derivative is included.
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?,
                                          derivatives: Bool = true)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        let pl = unitParameter(lowerParameter), pu = unitParameter(upperParameter)
        if !(u - l >= 1e-12) || !l.isFinite || !u.isFinite {
            // Degenerate or unbounded interval: f is within [f(l), f(u)] (monotone), constant
            // bounds are exact.
            return (.constant(Swift.min(f(l), f(u)), Swift.max(f(l), f(u))), (0, 0), (0, 0))
        }
        let second: ((Double) -> Double)? = derivatives ? { self.d2f($0) } : nil
        return lines(l: l, u: u, pl: pl, pu: pu).padded(l: l, u: u, d2f: second)
    }

    /// Parameters reproducing the default relaxation.
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        let m = (l + u) / 2
        if !(u - l >= 1e-12) || !l.isFinite || !u.isFinite { return (nil, nil) }
        if u <= 0 { return (0.5, nil) }
        if l >= 0 { return (nil, 0.5) }
        let sec = secant(l, u)
        var pl: Double? = nil, pu: Double? = nil
        if !(sec.0 < df(l)), let dL = dLower(upper: u) {
            pl = dL >= m ? (m - l) / (dL - l) : 1
        }
        if !(sec.0 < df(u)), let dU = dUpper(lower: l) {
            pu = dU < m ? (u - m) / (u - dU) : 1
        }
        return (pl, pu)
    }
}

/// A relaxation's two lines before rounding padding, with the tangent point t and dt/dp of each
/// side that is a tangent moved by its parameter (nil: the side does not depend on it).
struct RelaxationLines {
    var lo: (Double, Double)
    var hi: (Double, Double)
    var loTangent: (t: Double, dt: Double)? = nil
    var hiTangent: (t: Double, dt: Double)? = nil

    /// d(slope, intercept)/dp of the tangent at t(p): (f''(t), -f''(t) t) dt/dp.
    static func tangentDerivative(_ tangent: (t: Double, dt: Double)?, _ d2f: (Double) -> Double) -> (Double, Double) {
        guard let tangent else { return (0, 0) }
        let k = d2f(tangent.t) * tangent.dt
        return (k, -k * tangent.t)
    }

    /// The padded relaxation (`NeuronRelaxation.paddedForRounding`) and, when `d2f` is given,
    /// the derivatives of the padded lines (the pad R (|a| M + |b|) moves with a and b).
    func padded(l: Double, u: Double, d2f: ((Double) -> Double)?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        let rel = NeuronRelaxation(aL: lo.0, bL: lo.1, aU: hi.0, bU: hi.1).paddedForRounding(l: l, u: u)
        guard let d2f else { return (rel, (0, 0), (0, 0)) }
        return (rel, Self.paddedDerivative(line: lo, Self.tangentDerivative(loTangent, d2f), l: l, u: u, sign: -1),
                Self.paddedDerivative(line: hi, Self.tangentDerivative(hiTangent, d2f), l: l, u: u, sign: 1))
    }

    /// Derivative of a line padded by sign R (|a| M + |b|), M = max(|l|, |u|) over finite ends.
    static func paddedDerivative(line: (Double, Double), _ d: (Double, Double), l: Double, u: Double, sign: Double) -> (Double, Double) {
        let m = Swift.max(l.isFinite ? Swift.abs(l) : 0, u.isFinite ? Swift.abs(u) : 0)
        func sgn(_ x: Double) -> Double { x > 0 ? 1 : (x < 0 ? -1 : 0) }
        let pad = RoundingGuard.relative * (sgn(line.0) * d.0 * m + sgn(line.1) * d.1)
        return (d.0, d.1 + sign * pad)
    }
}

/// An S-shaped activation (Sigmoid, Tanh, Erf): increasing, convex for x <= 0 and concave for
/// x >= 0. The type gives f (`apply`), f' and its `SShapedRelaxation`; this extension gives the
/// rest of its bound semantics: the monotone interval image, the relaxation with tabulated
/// tangent points and analytic parameter derivatives, CROWN's default parameters, GenBaB's
/// branching points (`BranchingPoints`, looked up for `branchingFunction`) and the shape change
/// at the inflection 0 (Shi et al., "Neural Network Verification with Branch-and-Bound for
/// General Nonlinearities", 2024).
package protocol SShapedActivation: ElementwiseRelaxation {
    /// One instance per function (its tangent tables are filled once).
    static var shape: SShapedRelaxation { get }
    /// The function's entry in the pre-optimised branching-point tables.
    static var branchingFunction: BranchingPoints.Function { get }
}

extension SShapedActivation {
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func image(l: Double, u: Double) -> (Double, Double) { MonotoneImage.increasing(l, u, apply) }
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        Self.shape.relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    /// Analytic (`SShapedRelaxation.relaxationWithDerivatives`).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        Self.shape.relaxationWithDerivatives(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) { Self.shape.defaultParameters(l: l, u: u) }
    /// Anywhere strictly inside (GenBaB): `BranchingPoints`.
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        BranchingPoints.point(Self.branchingFunction, l: l, u: u, strategy: strategy)
    }
    /// The inflection at 0.
    package func crossesShapeChange(l: Double, u: Double) -> Bool { l < 0 && 0 < u }
}
